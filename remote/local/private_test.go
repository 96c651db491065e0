package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"notebookfs/remote"
)

// A store opened in an existing 0755 directory, with a -wal left 0644 by
// an earlier version, ends up 0700 with every file 0600, WAL and SHM
// included, while it serves saves: no other user reads notebooks or token
// hashes from them.
func TestStoreFilesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "store.db-wal"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "store.db-wal"), 0o644)
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.AddUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewToken(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	data := []byte(`{"secret":"TOPSECRET"}`)
	if _, err := s.As("alice").Create(ctx, "alice", "s", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("store dir: %v %v", fi.Mode(), err)
	}
	seen := 0
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		seen++
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
	if seen < 3 {
		t.Errorf("only %d files in the store dir (want store.db, -wal, -shm)", seen)
	}
}

// A store directory others may write, or one owned by another user, or a
// database that is a symlink, is refused.
func TestStoreRefusesUnsafeDir(t *testing.T) {
	open := func(dir string) error {
		s, err := Open(dir, nil)
		if err == nil {
			s.Close()
		}
		return err
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	if err := open(dir); !errors.Is(err, ErrNotPrivate) {
		t.Errorf("world-writable dir: %v", err)
	}
	dir = t.TempDir()
	if err := os.Symlink(filepath.Join(t.TempDir(), "elsewhere.db"), filepath.Join(dir, "store.db")); err != nil {
		t.Fatal(err)
	}
	if err := open(dir); !errors.Is(err, ErrNotPrivate) {
		t.Errorf("store.db a symlink: %v", err)
	}
	if os.Geteuid() == 0 {
		dir = t.TempDir()
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := open(dir); !errors.Is(err, ErrNotPrivate) {
			t.Errorf("dir of another user: %v", err)
		}
	}
}
