package fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"notebookfs/remote"
	"notebookfs/remote/local"
	"notebookfs/remote/remotetest"
)

// newTestFS is an FS over a fresh embedded store with alice's notebook
// nb; the counting client sees every remote call.
func newTestFS(t *testing.T) (*FS, *remotetest.Counting, *local.Store) {
	t.Helper()
	log := logrus.New()
	log.SetOutput(testWriter{t})
	store, err := local.Open(filepath.Join(t.TempDir(), "store"), logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	if err := store.EnsureUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	content := []byte(`{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}`)
	if _, err := store.As("alice").Create(ctx, "alice", "nb", bytes.NewReader(content), int64(len(content)), remote.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	count := remotetest.NewCounting(store.As("alice"))
	f, err := New(Options{Client: count, Log: logrus.NewEntry(log), StateDir: filepath.Join(t.TempDir(), "state"), Backend: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f, count, store
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// macOS apps set com.apple.* attributes (Finder info, quarantine,
// TextEdit's text encoding) on whatever they save; Linux never lets such
// names through a mount, so the core is called directly. On a notebook or
// a namespace folder they are dropped without an error and read as absent,
// with no remote call; on a scratch file they go to the local file.
func TestAppleXattrs(t *testing.T) {
	f, count, _ := newTestFS(t)
	ctx := context.Background()
	ns, err := f.Category(remote.Owned).Lookup(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	e, err := ns.Lookup(ctx, "nb.ipynb")
	if err != nil || e.File == nil {
		t.Fatalf("lookup nb.ipynb: %+v, %v", e, err)
	}
	nb := e.File
	before := count.Total()
	const finder = "com.apple.FinderInfo"
	if err := nb.Setxattr(ctx, finder, make([]byte, 32), 0); err != nil {
		t.Errorf("set %s on a notebook: %v", finder, err)
	}
	if err := nb.Setxattr(ctx, "com.apple.TextEncoding", []byte("utf-8;134217984"), XattrCreate); err != nil {
		t.Errorf("set com.apple.TextEncoding (create) on a notebook: %v", err)
	}
	if _, err := nb.Getxattr(ctx, finder); !errors.Is(err, errNoAttr) {
		t.Errorf("get %s on a notebook: %v, want %v", finder, err, errNoAttr)
	}
	if err := nb.Removexattr(ctx, "com.apple.quarantine"); !errors.Is(err, errNoAttr) {
		t.Errorf("remove com.apple.quarantine on a notebook: %v, want %v", err, errNoAttr)
	}
	if list, err := nb.Listxattr(ctx); err != nil || bytes.Contains(list, []byte("com.apple")) {
		t.Errorf("listxattr of a notebook: %q, %v", list, err)
	}
	if err := ns.Setxattr(finder, make([]byte, 32), 0); err != nil {
		t.Errorf("set %s on a namespace: %v", finder, err)
	}
	if _, err := ns.Getxattr(finder); !errors.Is(err, errNoAttr) {
		t.Errorf("get %s on a namespace: %v", finder, err)
	}
	if n := count.Total() - before; n != 0 {
		t.Errorf("%d remote calls for com.apple.* attributes", n)
	}
	// Any other unknown name is still refused.
	if err := nb.Setxattr(ctx, "com.example.x", nil, 0); !errors.Is(err, syscall.ENOTSUP) {
		t.Errorf("set com.example.x on a notebook: %v, want ENOTSUP", err)
	}

	// A scratch file keeps what the local file system keeps: the same
	// answer as the local file gives (on Linux, which wants a namespace
	// prefix, that is ENOTSUP; on macOS the attribute is stored).
	sf, h, err := ns.Create(ctx, "._nb.ipynb", syscall.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	p, scratch := sf.scratchXattrPath()
	if !scratch {
		t.Fatal("._nb.ipynb is not scratch")
	}
	want := unix.Lsetxattr(p, finder, []byte("x"), 0)
	if err := sf.Setxattr(ctx, finder, []byte("x"), 0); !errors.Is(err, want) && !(err == nil && want == nil) {
		t.Errorf("set %s on scratch: %v, the local file says %v", finder, err, want)
	}
	if want == nil {
		if v, err := sf.Getxattr(ctx, finder); err != nil || string(v) != "x" {
			t.Errorf("get %s on scratch: %q, %v", finder, v, err)
		}
	}
}

// Finder's AppleDouble files (._NAME, even ._x.ipynb) and .DS_Store are
// scratch: kept locally, never uploaded.
func TestAppleDoubleIsScratch(t *testing.T) {
	f, count, store := newTestFS(t)
	ctx := context.Background()
	ns, err := f.Category(remote.Owned).Lookup(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"._nb.ipynb", "._other.ipynb", ".DS_Store"} {
		file, h, err := ns.Create(ctx, name, syscall.O_RDWR, 0o644)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if _, err := h.WriteAt(ctx, []byte("\x00\x05\x16\x07 AppleDouble"), 0); err != nil {
			t.Fatal(err)
		}
		if err := h.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if _, scratch := file.scratchXattrPath(); !scratch {
			t.Errorf("%s is not scratch", name)
		}
		if _, err := os.Stat(ns.scratchPath(name)); err != nil {
			t.Errorf("%s not kept locally: %v", name, err)
		}
	}
	if err := f.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count.Count("Create") + count.Count("Write"); n != 0 {
		t.Errorf("%d uploads of AppleDouble files", n)
	}
	nbs, err := store.As("alice").List(ctx, remote.Owned, "alice")
	if err != nil || len(nbs) != 1 {
		t.Errorf("the store holds %+v, %v; want only nb", nbs, err)
	}
}
