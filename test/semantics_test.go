//go:build linux

package test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"notebookfs/remote"
	"notebookfs/remote/local"
)

// withOrgAndShare gives alice an organization "acme" (owner) and a
// notebook "theirs" of bob's shared with her for reading.
func withOrgAndShare(t testing.TB, s *local.Store) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.AddOrg(ctx, "acme"))
	must(s.AddMember(ctx, "acme", user, "owner"))
	must(s.AddUser(ctx, "bob"))
	data := nb("bob's")
	theirs, err := s.As("bob").Create(ctx, "bob", "theirs", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	must(err)
	must(s.As("bob").Share(ctx, "bob", theirs.ID, user, []string{"read"}))
}

// Each case pins one line of the README's Semantics section.
func TestSemanticsErrnos(t *testing.T) {
	e := mount(t, envOptions{setup: withOrgAndShare})
	mustWrite(t, e.ns("a.ipynb"), nb("a"))
	shared := filepath.Join(e.dir, "shared", "bob", "theirs.ipynb")

	t.Run("top level is fixed", func(t *testing.T) {
		if got := readDir(t, e.dir); len(got) != 3 || got[0] != "owned" || got[1] != "public" || got[2] != "shared" {
			t.Errorf("root lists %v", got)
		}
		wantErrno(t, "mkdir at root", os.Mkdir(filepath.Join(e.dir, "x"), 0o755), syscall.EPERM)
		wantErrno(t, "mkdir under owned/", os.Mkdir(filepath.Join(e.dir, "owned", "x"), 0o755), syscall.EPERM)
		wantErrno(t, "mkdir under shared/", os.Mkdir(filepath.Join(e.dir, "shared", "x"), 0o755), syscall.EPERM)
		wantErrno(t, "file under owned/", os.WriteFile(filepath.Join(e.dir, "owned", "x.ipynb"), nil, 0o644), syscall.EPERM)
	})
	t.Run("owned lists me and my organizations", func(t *testing.T) {
		if got := readDir(t, filepath.Join(e.dir, "owned")); len(got) != 2 || got[0] != "acme" || got[1] != user {
			t.Errorf("owned/ lists %v", got)
		}
		fi, err := os.Stat(filepath.Join(e.dir, "owned", "acme"))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("owned/acme: %v %v", fi.Mode(), err)
		}
	})
	t.Run("missing notebook is ENOENT", func(t *testing.T) {
		_, err := os.Open(e.ns("nope.ipynb"))
		wantErrno(t, "open missing", err, syscall.ENOENT)
		_, err = os.Stat(filepath.Join(e.dir, "owned", "nobody"))
		wantErrno(t, "stat missing namespace", err, syscall.ENOENT)
	})
	t.Run("rename across namespaces is EXDEV", func(t *testing.T) {
		err := os.Rename(e.ns("a.ipynb"), filepath.Join(e.dir, "owned", "acme", "a.ipynb"))
		wantErrno(t, "rename to acme", err, syscall.EXDEV)
	})
	t.Run("mv across namespaces copies", func(t *testing.T) {
		mustWrite(t, e.ns("moving.ipynb"), nb("moving"))
		run(t, "mv", e.ns("moving.ipynb"), filepath.Join(e.dir, "owned", "acme", "moving.ipynb"))
		if b := mustRead(t, filepath.Join(e.dir, "owned", "acme", "moving.ipynb")); !bytes.Equal(b, nb("moving")) {
			t.Errorf("moved content %q", b)
		}
		if _, err := os.Stat(e.ns("moving.ipynb")); !os.IsNotExist(err) {
			t.Errorf("source still there: %v", err)
		}
	})
	t.Run("read-only shared notebook", func(t *testing.T) {
		fi, err := os.Stat(shared)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o444 {
			t.Errorf("shared read-only notebook mode %v, want 0444", fi.Mode())
		}
		if b := mustRead(t, shared); !bytes.Equal(b, nb("bob's")) {
			t.Errorf("shared content %q", b)
		}
		_, err = os.OpenFile(shared, os.O_WRONLY, 0)
		wantErrno(t, "open for write", err, syscall.EACCES)
		wantErrno(t, "truncate", os.Truncate(shared, 0), syscall.EACCES)
		wantErrno(t, "create in shared/bob", os.WriteFile(filepath.Join(e.dir, "shared", "bob", "mine.ipynb"), nil, 0o644), syscall.EACCES)
		fi, err = os.Stat(filepath.Join(e.dir, "shared", "bob"))
		if err != nil || fi.Mode().Perm() != 0o555 {
			t.Errorf("shared/bob: %v %v", fi.Mode(), err)
		}
	})
	t.Run("no links or devices for notebooks", func(t *testing.T) {
		wantErrno(t, "symlink", os.Symlink("a.ipynb", e.ns("l.ipynb")), syscall.EPERM)
		wantErrno(t, "hard link", os.Link(e.ns("a.ipynb"), e.ns("h.ipynb")), syscall.EPERM)
		wantErrno(t, "mkdir x.ipynb", os.Mkdir(e.ns("d.ipynb"), 0o755), syscall.EPERM)
	})
	t.Run("chmod chown utimes accepted and ignored", func(t *testing.T) {
		if err := os.Chmod(e.ns("a.ipynb"), 0o600); err != nil {
			t.Errorf("chmod: %v", err)
		}
		if err := os.Chown(e.ns("a.ipynb"), os.Getuid(), os.Getgid()); err != nil {
			t.Errorf("chown to me: %v", err)
		}
		old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := os.Chtimes(e.ns("a.ipynb"), old, old); err != nil {
			t.Errorf("utimes: %v", err)
		}
		if v := e.versions(e.notebook("a").ID); len(v) != 1 {
			t.Errorf("metadata calls made %d versions, want 1", len(v))
		}
		run(t, "cp", "-p", e.ns("a.ipynb"), e.ns("a-copy.ipynb"))
	})
	t.Run("RENAME_NOREPLACE and RENAME_EXCHANGE", func(t *testing.T) {
		mustWrite(t, e.ns("b.ipynb"), nb("b"))
		err := unix.Renameat2(unix.AT_FDCWD, e.ns("b.ipynb"), unix.AT_FDCWD, e.ns("a.ipynb"), unix.RENAME_NOREPLACE)
		wantErrno(t, "noreplace onto existing", err, syscall.EEXIST)
		err = unix.Renameat2(unix.AT_FDCWD, e.ns("b.ipynb"), unix.AT_FDCWD, e.ns("a.ipynb"), unix.RENAME_EXCHANGE)
		wantErrno(t, "exchange", err, syscall.EINVAL)
		if b := mustRead(t, e.ns("a.ipynb")); !bytes.Equal(b, nb("a")) {
			t.Errorf("a.ipynb changed: %q", b)
		}
	})
	t.Run("name too long", func(t *testing.T) {
		long := e.ns(string(bytes.Repeat([]byte("n"), 250)) + ".ipynb")
		err := os.WriteFile(long, nil, 0o644)
		wantErrno(t, "256-byte name", err, syscall.ENAMETOOLONG)
	})
}

// system.* and security.* xattrs (asked by the kernel on writes and by
// sed -i) answer ENODATA with no remote call.
func TestSystemXattrsNoRemoteCall(t *testing.T) {
	e := mount(t, envOptions{})
	mustWrite(t, e.ns("a.ipynb"), nb("a"))
	readDir(t, e.ns())
	e.settle() // the create's upload is not an xattr's call
	e.count.Reset()
	buf := make([]byte, 256)
	for _, name := range []string{"security.capability", "system.posix_acl_access", "security.selinux"} {
		_, err := unix.Getxattr(e.ns("a.ipynb"), name, buf)
		wantErrno(t, name, err, syscall.ENODATA)
	}
	if n := e.count.Total(); n != 0 {
		t.Errorf("xattr reads made %d remote calls: %v", n, e.count.Snapshot())
	}
}

// truncate(2) with no open file is saved at once as a new version.
func TestTruncateByPath(t *testing.T) { forBackends(t, testTruncateByPath) }

func testTruncateByPath(t *testing.T, o envOptions) {
	e := mount(t, o)
	mustWrite(t, e.ns("t.ipynb"), nb("0123456789"))
	e.settle() // else the truncate's save supersedes the first one
	if err := os.Truncate(e.ns("t.ipynb"), 10); err != nil {
		t.Fatal(err)
	}
	got := e.notebook("t")
	if got.Size != 10 || len(e.versions(got.ID)) != 2 {
		t.Errorf("after truncate: size %d, %d versions", got.Size, len(e.versions(got.ID)))
	}
	if b := mustRead(t, e.ns("t.ipynb")); !bytes.Equal(b, nb("0123456789")[:10]) {
		t.Errorf("read %q", b)
	}
}

// Scratch: non-notebook names live on local disk only.
func TestScratchFiles(t *testing.T) {
	e := mount(t, envOptions{})
	mustWrite(t, e.ns(".x.ipynb.swp"), []byte("swap"))
	mustWrite(t, e.ns("notes.txt"), []byte("notes"))
	mustWrite(t, e.ns("x.ipynb~"), []byte("backup"))
	mustWrite(t, e.ns("#x.ipynb#"), []byte("autosave"))
	if err := os.Symlink("user@host.1234:1", e.ns(".#x.ipynb")); err != nil {
		t.Fatalf("emacs lock symlink: %v", err)
	}
	if err := os.MkdirAll(e.ns(".ipynb_checkpoints", "deep"), 0o755); err != nil {
		t.Fatalf("mkdir checkpoints: %v", err)
	}
	mustWrite(t, e.ns(".ipynb_checkpoints", "x-checkpoint.ipynb"), nb("checkpoint"))

	if b := mustRead(t, e.ns("notes.txt")); string(b) != "notes" {
		t.Errorf("notes.txt = %q", b)
	}
	if target, err := os.Readlink(e.ns(".#x.ipynb")); err != nil || target != "user@host.1234:1" {
		t.Errorf("readlink: %q %v", target, err)
	}
	if b := mustRead(t, e.ns(".ipynb_checkpoints", "x-checkpoint.ipynb")); !bytes.Equal(b, nb("checkpoint")) {
		t.Errorf("checkpoint = %q", b)
	}
	got := readDir(t, e.ns())
	want := []string{"#x.ipynb#", ".#x.ipynb", ".ipynb_checkpoints", ".x.ipynb.swp", "notes.txt", "x.ipynb~"}
	if len(got) != len(want) {
		t.Fatalf("listing %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("listing %v, want %v", got, want)
			break
		}
	}
	if n := len(e.notebooks()); n != 0 {
		t.Errorf("scratch files reached the store: %d notebooks", n)
	}
	if err := os.Rename(e.ns("notes.txt"), e.ns("notes2.txt")); err != nil {
		t.Errorf("rename scratch: %v", err)
	}
	if err := os.Remove(e.ns("notes2.txt")); err != nil {
		t.Errorf("unlink scratch: %v", err)
	}
	if err := os.RemoveAll(e.ns(".ipynb_checkpoints")); err != nil {
		t.Errorf("rm -r checkpoints: %v", err)
	}
	if n := e.count.Count("Create") + e.count.Count("Write") + e.count.Count("Delete"); n != 0 {
		t.Errorf("scratch work made %d remote mutations", n)
	}
	// Scratch files survive a remount (they are local state).
	e.remount()
	if b := mustRead(t, e.ns(".x.ipynb.swp")); string(b) != "swap" {
		t.Errorf("after remount swap = %q", b)
	}
}

// Reads served from the cache make no store call; ls -l costs one List.
func TestCacheCounts(t *testing.T) {
	e := mount(t, envOptions{})
	for i := 0; i < 20; i++ {
		e.put("n"+string(rune('a'+i)), nb(string(rune('a'+i))))
	}
	e.count.Reset()
	run(t, "ls", "-l", e.ns())
	lsCalls := e.count.Snapshot()
	// Who I am was asked once, as the mount started.
	if lsCalls["List"] != 1 || e.count.Total() != 1 {
		t.Errorf("cold ls -l of 20 notebooks: %v, want one List", lsCalls)
	}
	e.count.Reset()
	run(t, "ls", "-l", e.ns())
	if n := e.count.Total(); n != 0 {
		t.Errorf("warm ls -l made %d calls: %v", n, e.count.Snapshot())
	}
	e.count.Reset()
	mustRead(t, e.ns("na.ipynb"))
	if r := e.count.Count("Read"); r != 1 {
		t.Errorf("cold cat made %d Read calls, want 1", r)
	}
	e.count.Reset()
	for i := 0; i < 3; i++ {
		mustRead(t, e.ns("na.ipynb"))
	}
	if n := e.count.Total(); n != 0 {
		t.Errorf("warm cat made %d calls: %v", n, e.count.Snapshot())
	}
	// A file we just wrote reads back without a download.
	mustWrite(t, e.ns("fresh.ipynb"), nb("fresh"))
	e.settle()
	e.count.Reset()
	mustRead(t, e.ns("fresh.ipynb"))
	if n := e.count.Total(); n != 0 {
		t.Errorf("reading back our own save made %d calls: %v", n, e.count.Snapshot())
	}
}

// A failure of the first "who am I" (offline at mount time) is not kept:
// owned/ fails once with EIO and lists the namespaces at the next try.
// (Two failures: the mount's own question, then the first listing's.)
func TestWhoamiFailureIsRetried(t *testing.T) {
	e := mount(t, envOptions{failWhoami: 2})
	_, err := os.ReadDir(e.path("owned"))
	wantErrno(t, "first listing of owned/ while offline", err, syscall.EIO)
	if got := readDir(t, e.path("owned")); len(got) != 1 || got[0] != user {
		t.Errorf("owned/ after the remote is back: %v", got)
	}
}
