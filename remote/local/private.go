package local

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrNotPrivate is a store directory or file that other local users could
// read or change.
var ErrNotPrivate = errors.New("store is not private")

// dbFiles are the database and the files SQLite keeps beside it.
func dbFiles(db string) []string {
	return []string{db, db + "-wal", db + "-shm", db + "-journal"}
}

// makePrivate makes dir 0700 and creates dir/store.db 0600 if missing, so
// that SQLite's -wal and -shm (created with the database's mode) are 0600
// too; the existing files are made 0600. A directory or file owned by
// someone else, a directory writable by group or others, or a file that is
// a symlink or not a regular file is refused: someone could swap the
// database under us.
func makePrivate(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := ownedByUs(dir, fi); err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o): %w; chmod 700 it or use another directory", dir, fi.Mode().Perm(), ErrNotPrivate)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
	}
	db := dir + string(os.PathSeparator) + "store.db"
	f, err := os.OpenFile(db, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return fmt.Errorf("%s is a symlink: %w", db, ErrNotPrivate)
		}
		return err
	}
	f.Close()
	for _, p := range dbFiles(db) {
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file: %w", p, ErrNotPrivate)
		}
		if err := ownedByUs(p, fi); err != nil {
			return err
		}
		if fi.Mode().Perm() != 0o600 {
			if err := os.Chmod(p, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkFiles fails unless every database file present is 0600, after the
// first connection created the -wal and -shm.
func checkFiles(db string) error {
	for _, p := range dbFiles(db) {
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != 0o600 {
			return fmt.Errorf("%s has mode %04o, want 0600: %w", p, fi.Mode().Perm(), ErrNotPrivate)
		}
	}
	return nil
}

// ownedByUs refuses what another user owns.
func ownedByUs(p string, fi os.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by us (uid %d): %w", p, st.Uid, os.Geteuid(), ErrNotPrivate)
	}
	return nil
}
