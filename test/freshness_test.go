//go:build linux

package test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freshTTL is the metadata TTL of these tests: the waits past it are a
// state to reach (the TTL over), not a timing asserted.
const freshTTL = 300 * time.Millisecond

func pastTTL() { time.Sleep(freshTTL + 100*time.Millisecond) }

// Close-to-open: once the TTL is over, the next open reads the version
// another client saved, in one step (no stale read first), with the
// kernel's page cache and entry cache warm from before.
func TestOpenReadsLatestAfterTTL(t *testing.T) { forBackends(t, testOpenReadsLatestAfterTTL) }

func testOpenReadsLatestAfterTTL(t *testing.T, o envOptions) {
	o.ttl = freshTTL
	e := mount(t, o)
	nbk := e.put("x", nb("first"))
	p := e.ns("x.ipynb")
	for i := 0; i < 2; i++ { // pages and entries cached by the kernel
		if got := mustRead(t, p); !bytes.Equal(got, nb("first")) {
			t.Fatalf("read %q", got)
		}
	}
	for i, want := range []string{"second, longer than the first", "third"} {
		if _, err := e.client().Write(context.Background(), user, nbk.ID, bytes.NewReader(nb(want)), int64(len(nb(want)))); err != nil {
			t.Fatal(err)
		}
		pastTTL()
		if got := mustRead(t, p); !bytes.Equal(got, nb(want)) {
			t.Errorf("save %d: the first read after the TTL gives %q, want %q", i, got, nb(want))
		}
		st, err := os.Stat(p)
		if err != nil || st.Size() != int64(len(nb(want))) {
			t.Errorf("save %d: stat after the read: %v %v", i, st, err)
		}
	}
}

// stat (what Jupyter and vim compare before they save) shows another
// client's version once the TTL is over, even for a file kept open.
func TestStatSeesNewVersionAfterTTL(t *testing.T) { forBackends(t, testStatSeesNewVersionAfterTTL) }

func testStatSeesNewVersionAfterTTL(t *testing.T, o envOptions) {
	o.ttl = freshTTL
	e := mount(t, o)
	nbk := e.put("x", nb("first"))
	p := e.ns("x.ipynb")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	want := nb("a new version saved elsewhere, of another size")
	saved, err := e.client().Write(context.Background(), user, nbk.ID, bytes.NewReader(want), int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	pastTTL()
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != int64(len(want)) || !after.ModTime().Equal(saved.Version) || after.ModTime().Equal(before.ModTime()) {
		t.Errorf("stat after the TTL: size %d mtime %v, want %d and %v (before: %v)", after.Size(), after.ModTime(), len(want), saved.Version, before.ModTime())
	}
	fi, err := f.Stat() // fstat of the handle kept open
	if err != nil || fi.Size() != int64(len(want)) {
		t.Errorf("fstat of the open file: %v %v", fi, err)
	}
}

// A listing past its TTL is answered from a fresh one (one List), not
// from the stale one; within the TTL it costs nothing.
func TestListingFreshAfterTTL(t *testing.T) {
	e := mount(t, envOptions{ttl: freshTTL})
	e.put("a", nb("a"))
	if got := strings.Join(readDir(t, e.ns()), ","); got != "a.ipynb" {
		t.Fatalf("first listing %q", got)
	}
	e.put("b", nb("b")) // behind the mount's back
	e.count.Reset()
	readDir(t, e.ns())
	if l := e.count.Count("List"); l != 0 {
		t.Errorf("a listing within the TTL made %d List calls", l)
	}
	pastTTL()
	e.count.Reset()
	if got := strings.Join(readDir(t, e.ns()), ","); got != "a.ipynb,b.ipynb" {
		t.Errorf("past the TTL: %q", got)
	}
	if l := e.count.Count("List"); l != 1 {
		t.Errorf("%d List calls for one listing past the TTL, want 1", l)
	}
}

// A remote delete and a remote rename are seen after the TTL, by a stat
// and an open of the old name, although the kernel had the entry cached.
func TestRemoteDeleteAndRenameSeenAfterTTL(t *testing.T) {
	forBackends(t, testRemoteDeleteAndRenameSeenAfterTTL)
}

func testRemoteDeleteAndRenameSeenAfterTTL(t *testing.T, o envOptions) {
	o.ttl = freshTTL
	e := mount(t, o)
	gone := e.put("gone", nb("gone"))
	moved := e.put("moved", nb("moved"))
	for _, name := range []string{"gone", "moved"} {
		mustRead(t, e.ns(name+".ipynb"))
	}
	ctx := context.Background()
	if err := e.client().Delete(ctx, user, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client().Rename(ctx, user, moved.ID, "renamed"); err != nil {
		t.Fatal(err)
	}
	pastTTL()
	for _, name := range []string{"gone", "moved"} {
		if _, err := os.Stat(e.ns(name + ".ipynb")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stat %s after the TTL: %v, want ENOENT", name, err)
		}
		if _, err := os.ReadFile(e.ns(name + ".ipynb")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("read %s after the TTL: %v, want ENOENT", name, err)
		}
	}
	if got := mustRead(t, e.ns("renamed.ipynb")); !bytes.Equal(got, nb("moved")) {
		t.Errorf("renamed.ipynb reads %q", got)
	}
}

// An open handle reads one version from open to close, even when a newer
// one is seen meanwhile.
func TestHandleReadsOneVersion(t *testing.T) {
	e := mount(t, envOptions{ttl: freshTTL})
	old := bytes.Repeat([]byte("o"), 300<<10)
	nbk := e.put("x", old)
	p := e.ns("x.ipynb")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 4096)
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	newer := bytes.Repeat([]byte("n"), 300<<10)
	if _, err := e.client().Write(context.Background(), user, nbk.ID, bytes.NewReader(newer), int64(len(newer))); err != nil {
		t.Fatal(err)
	}
	pastTTL()
	if got := mustRead(t, p); !bytes.Equal(got, newer) { // a new open
		t.Fatalf("a new open reads %d bytes of %q...", len(got), got[:1])
	}
	rest := make([]byte, len(old))
	k, _ := f.ReadAt(rest, 0)
	if !bytes.Equal(rest[:k], old) {
		t.Errorf("the handle opened first mixed versions: %q...", rest[k-1:k])
	}
}

// Permissions follow the TTL too: after alice grants bob write, bob's next
// save past the TTL succeeds; after she revokes it, his next open for
// writing past the TTL is EACCES. A write refused by a cached mode is
// checked with the remote at once.
func TestSharePermissionsSeenAfterTTL(t *testing.T) {
	forBackends(t, testSharePermissionsSeenAfterTTL)
}

func testSharePermissionsSeenAfterTTL(t *testing.T, o envOptions) {
	o.setup, o.ttl = withUsers, freshTTL
	alice := mount(t, o)
	p := alice.ns("x.ipynb")
	mustWrite(t, p, nb("alice's"))
	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read", p)
	bob := alice.mountAs("bob")
	theirs := bob.path("shared", "alice", "x.ipynb")
	if st, err := os.Stat(theirs); err != nil || st.Mode().Perm() != 0o444 {
		t.Fatalf("bob sees %v %v, want 0444", st, err)
	}
	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read,write", p)
	// Within the TTL: the cached mode says no, the remote says yes.
	if err := os.WriteFile(theirs, nb("bob's at once"), 0o644); err != nil {
		t.Errorf("bob's save right after the grant: %v", err)
	}
	pastTTL()
	if st, err := os.Stat(theirs); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("after the TTL bob sees %v %v, want 0644", st, err)
	}
	if err := os.WriteFile(theirs, nb("bob's"), 0o644); err != nil {
		t.Errorf("bob's save after the grant: %v", err)
	}
	bob.settle()
	if got := alice.storeBytes(alice.notebook("x").ID); !bytes.Equal(got, nb("bob's")) {
		t.Errorf("the store holds %q", got)
	}
	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read", p)
	pastTTL()
	f, err := os.OpenFile(theirs, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		f.Close()
	}
	if !errors.Is(err, syscall.EACCES) {
		t.Errorf("bob's open for writing after the revoke: %v, want EACCES", err)
	}
}

// A remote delete reaches inotify watchers through the kernel, with no
// access of the file: the poll refreshes the listing and the kernel is told
// to drop the entry.
func TestInotifySeesRemoteDelete(t *testing.T) {
	needProgram(t, "inotifywait")
	e := mount(t, envOptions{ttl: freshTTL})
	nbk := e.put("x", nb("x"))
	mustRead(t, e.ns("x.ipynb"))
	// Kernels report it on the file (DELETE_SELF, from the entry dropped
	// with no links); some also on the directory (DELETE).
	cmd := exec.Command("inotifywait", "-m", "-e", "delete", "-e", "delete_self", "--format", "%e %f", e.ns(), e.ns("x.ipynb"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// inotifywait says on stderr when its watches are set.
	ready := bufio.NewScanner(stderr)
	for ready.Scan() && !strings.Contains(ready.Text(), "Watches established") {
	}
	if err := e.client().Delete(context.Background(), user, nbk.ID); err != nil {
		t.Fatal(err)
	}
	pastTTL()
	e.root.Poll()
	e.root.Idle()
	events := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			events <- s.Text()
		}
	}()
	select {
	case ev := <-events:
		if ev != "DELETE x.ipynb" && ev != "DELETE_SELF " {
			t.Errorf("inotify: %q", ev)
		}
	case <-time.After(10 * time.Second):
		t.Error("inotify saw no delete")
	}
}
