package save

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrUnsafeDir is a state directory that someone else could change.
var ErrUnsafeDir = errors.New("not a private directory")

// PrepareStateDir makes dir, and every directory from top down to it, a
// real directory owned by us that nobody else may write (as OpenSSH's
// StrictModes checks ~/.ssh): another local user who could plant journal
// entries there would have them uploaded with our token. Missing
// directories are created 0700; dir itself is made 0700. top is where the
// check starts (the cache directory; its parents, such as /tmp or a home
// directory, are not ours to judge).
func PrepareStateDir(top, dir string) error {
	top, dir = filepath.Clean(top), filepath.Clean(dir)
	rel, err := filepath.Rel(top, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("state directory %s is not under %s", dir, top)
	}
	paths := []string{top}
	if rel != "." {
		p := top
		for _, part := range strings.Split(rel, string(filepath.Separator)) {
			p = filepath.Join(p, part)
			paths = append(paths, p)
		}
	}
	for _, p := range paths {
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("state directory: %w", err)
		}
		if err := checkPrivate(p); err != nil {
			return err
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return nil
}

// checkPrivate refuses a path that is a symlink, not a directory, owned by
// someone else, or writable by group or others.
func checkPrivate(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if fi.Mode()&os.ModeSymlink != 0 || !fi.IsDir() {
		return fmt.Errorf("%s: a symlink or not a directory: %w; remove it or choose another --cache-dir", p, ErrUnsafeDir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s: owned by uid %d, not by us (uid %d): %w; remove it or choose another --cache-dir", p, st.Uid, os.Geteuid(), ErrUnsafeDir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s: writable by group or others (mode %04o): %w; chmod go-w it or choose another --cache-dir", p, fi.Mode().Perm(), ErrUnsafeDir)
	}
	return nil
}
