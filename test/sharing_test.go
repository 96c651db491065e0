//go:build linux

package test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"notebookfs/remote/local"
)

// withUsers adds bob and carol, and org "acme" (alice owner, carol member).
func withUsers(t testing.TB, s *local.Store) {
	ctx := context.Background()
	for _, err := range []error{
		s.AddUser(ctx, "bob"), s.AddUser(ctx, "carol"), s.AddOrg(ctx, "acme"),
		s.AddMember(ctx, "acme", user, "owner"), s.AddMember(ctx, "acme", "carol", "read_write"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// xattrTool runs setfattr/getfattr/attr and returns output and exit error
// (the tools' own error messages are part of what users see).
func xattrTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (apt-get install attr)", name)
	}
	if name == "getfattr" && (len(args) == 0 || args[0] != "--absolute-names") {
		args = append([]string{"--absolute-names"}, args...)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := xattrTool(t, name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// The sharing story: alice shares with bob for reading, then writing, then
// unshares; bob sees exactly what he may do.
func TestShareWithUserReadWriteUnshare(t *testing.T) {
	forBackends(t, testShareWithUserReadWriteUnshare)
}

func testShareWithUserReadWriteUnshare(t *testing.T, o envOptions) {
	o.setup = withUsers
	alice := mount(t, o)
	nbPath := alice.ns("x.ipynb")
	mustWrite(t, nbPath, nb("alice's"))
	id := alice.notebook("x").ID

	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read", nbPath)
	if got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.share.bob", nbPath); got != "read" {
		t.Errorf("share.bob = %q right after setting it", got)
	}
	bob := alice.mountAs("bob")
	theirs := bob.path("shared", "alice", "x.ipynb")
	fi, err := os.Stat(theirs)
	if err != nil {
		t.Fatalf("bob does not see the shared notebook: %v (shared/: %v)", err, readDir(t, bob.path("shared")))
	}
	if fi.Mode().Perm() != 0o444 {
		t.Errorf("read-only share has mode %v, want 0444", fi.Mode())
	}
	if b := mustRead(t, theirs); !bytes.Equal(b, nb("alice's")) {
		t.Errorf("bob reads %q", b)
	}
	err = os.WriteFile(theirs, nb("bob's"), 0o644)
	wantErrno(t, "bob writes a read-only share", err, syscall.EACCES)
	if v := alice.versions(id); len(v) != 1 {
		t.Errorf("refused write left %d versions", len(v))
	}

	// Write access, given in another order, case and spacing.
	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", " Write, READ ", nbPath)
	if got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.share.bob", nbPath); got != "read,write" {
		t.Errorf("share.bob = %q, want read,write", got)
	}
	bob.remount() // bob's metadata TTL has not run out; a new mount sees it now
	if fi, err := os.Stat(theirs); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("after write grant: %v %v", fi, err)
	}
	mustWrite(t, theirs, nb("bob's"))
	if got := alice.notebook("x"); got.ID != id || len(alice.versions(id)) != 2 || !bytes.Equal(alice.storeBytes(id), nb("bob's")) {
		t.Errorf("bob's save is not a new version of alice's notebook: %+v", got)
	}
	// bob may write but not share.
	out, err := xattrTool(t, "setfattr", "-n", "user.tiledb.share.carol", "-v", "read", theirs)
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("bob sharing alice's notebook: %v %q, want Permission denied", err, out)
	}

	mustTool(t, "setfattr", "-x", "user.tiledb.share.bob", nbPath)
	bob.remount()
	if _, err := os.Stat(theirs); !os.IsNotExist(err) {
		t.Errorf("bob still sees the notebook after unshare: %v", err)
	}
}

// getfattr -d shows only the read-only names; values and errors as the
// tools print them; the size probe, ERANGE, XATTR_CREATE/REPLACE.
func TestXattrToolsAndErrors(t *testing.T) { forBackends(t, testXattrToolsAndErrors) }

func testXattrToolsAndErrors(t *testing.T, o envOptions) {
	o.setup = withUsers
	alice := mount(t, o)
	p := alice.ns("x.ipynb")
	mustWrite(t, p, nb("x"))
	nbk := alice.notebook("x")
	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read", p)
	mustTool(t, "setfattr", "-n", "user.tiledb.share.acme", "-v", "read,write", p)

	alice.count.Reset()
	dump := mustTool(t, "getfattr", "--absolute-names", "-d", p)
	want := "# file: " + p + "\n" +
		`user.tiledb.id="` + nbk.ID + `"` + "\n" +
		`user.tiledb.permissions="read,share,write"` + "\n" +
		`user.tiledb.shares="acme:read,write\012bob:read\012"` + "\n" +
		`user.tiledb.uri="tiledb://alice/x"` + "\n\n"
	if dump != want {
		t.Errorf("getfattr -d:\n%s\nwant:\n%s", dump, want)
	}
	if n := alice.count.Total(); n != 1 {
		t.Errorf("cold getfattr -d made %d remote calls (%v), want 1", n, alice.count.Snapshot())
	}
	alice.count.Reset()
	mustTool(t, "getfattr", "-d", p)
	if n := alice.count.Total(); n != 0 {
		t.Errorf("warm getfattr -d made %d remote calls", n)
	}
	if got := mustTool(t, "attr", "-q", "-g", "tiledb.share.acme", p); got != "read,write" {
		t.Errorf("attr -g share.acme = %q", got)
	}

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-n", "user.tiledb.share.bob", "-v", "admin"}, "Invalid argument"},
		{[]string{"-n", "user.tiledb.share.bo/b", "-v", "read"}, "Invalid argument"},
		{[]string{"-n", "user.tiledb.share.public", "-v", "read,write"}, "Invalid argument"},
		{[]string{"-n", "user.tiledb.shares", "-v", "bob:read"}, "Operation not permitted"},
		{[]string{"-n", "user.tiledb.id", "-v", "x"}, "Operation not permitted"},
		{[]string{"-x", "user.tiledb.share.carol"}, "No such attribute"},
		{[]string{"-n", "user.color", "-v", "red"}, "Operation not supported"},
	} {
		out, err := xattrTool(t, "setfattr", append(tc.args, p)...)
		if err == nil || !strings.Contains(out, tc.msg) {
			t.Errorf("setfattr %v: %v %q, want %q", tc.args, err, out, tc.msg)
		}
	}
	out, err := xattrTool(t, "getfattr", "-n", "user.tiledb.share.carol", p)
	if err == nil || !strings.Contains(out, "No such attribute") {
		t.Errorf("getfattr of a missing share: %v %q", err, out)
	}

	n, err := unix.Getxattr(p, "user.tiledb.id", nil)
	if err != nil || n != len(nbk.ID) {
		t.Errorf("size probe: %d %v, want %d", n, err, len(nbk.ID))
	}
	_, err = unix.Getxattr(p, "user.tiledb.id", make([]byte, 4))
	wantErrno(t, "small buffer", err, syscall.ERANGE)
	n, err = unix.Listxattr(p, nil)
	if err != nil || n != len("user.tiledb.id\x00user.tiledb.permissions\x00user.tiledb.shares\x00user.tiledb.uri\x00") {
		t.Errorf("listxattr size probe: %d %v", n, err)
	}
	wantErrno(t, "XATTR_CREATE on an existing share", unix.Setxattr(p, "user.tiledb.share.bob", []byte("read"), unix.XATTR_CREATE), syscall.EEXIST)
	wantErrno(t, "XATTR_REPLACE on a missing share", unix.Setxattr(p, "user.tiledb.share.carol", []byte("read"), unix.XATTR_REPLACE), syscall.ENODATA)
	if err := unix.Setxattr(p, "user.tiledb.share.carol", []byte("read"), unix.XATTR_CREATE); err != nil {
		t.Errorf("XATTR_CREATE of a new share: %v", err)
	}
}

// Public and organization shares reach the right people; a copy made
// with cp -a shares nothing.
func TestPublicOrgShareAndCopies(t *testing.T) { forBackends(t, testPublicOrgShareAndCopies) }

func testPublicOrgShareAndCopies(t *testing.T, o envOptions) {
	o.setup = withUsers
	alice := mount(t, o)
	p := alice.ns("x.ipynb")
	mustWrite(t, p, nb("x"))
	id := alice.notebook("x").ID

	mustTool(t, "setfattr", "-n", "user.tiledb.share.public", "-v", "read", p)
	bob := alice.mountAs("bob")
	if b := mustRead(t, bob.path("public", "alice", "x.ipynb")); !bytes.Equal(b, nb("x")) {
		t.Errorf("bob reads public notebook %q", b)
	}
	if got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.share.public", p); got != "read" {
		t.Errorf("share.public = %q", got)
	}
	mustTool(t, "setfattr", "-x", "user.tiledb.share.public", p)
	bob.remount()
	if _, err := os.Stat(bob.path("public", "alice", "x.ipynb")); !os.IsNotExist(err) {
		t.Errorf("still public after removal: %v", err)
	}

	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read", p)
	carol := alice.mountAs("carol")
	// carol is a member of acme; a share with acme reaches her.
	if _, err := os.Stat(carol.path("shared", "alice", "x.ipynb")); !os.IsNotExist(err) {
		t.Errorf("carol sees it before the org share: %v", err)
	}
	mustTool(t, "setfattr", "-n", "user.tiledb.share.acme", "-v", "read", p)
	carol.remount()
	if b := mustRead(t, carol.path("shared", "alice", "x.ipynb")); !bytes.Equal(b, nb("x")) {
		t.Errorf("carol reads %q", b)
	}

	// cp -a into another namespace: exit 0, the copy has no shares.
	run(t, "cp", "-a", p, alice.path("owned", "acme", "copy.ipynb"))
	copyPath := alice.path("owned", "acme", "copy.ipynb")
	if got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.shares", copyPath); got != "" {
		t.Errorf("cp -a copied shares: %q", got)
	}
	if got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.shares", p); got != "acme:read\nbob:read\n" {
		t.Errorf("original shares changed: %q", got)
	}
	if _, err := exec.LookPath("rsync"); err == nil {
		out := run(t, "rsync", "-aX", p, alice.path("owned", "acme", "rsynced.ipynb"))
		t.Logf("rsync -aX printed: %q", out)
		if got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.shares", alice.path("owned", "acme", "rsynced.ipynb")); got != "" {
			t.Errorf("rsync -aX copied shares: %q", got)
		}
	}
	if alice.notebook("x").ID != id {
		t.Errorf("id changed")
	}
}

// Storage settings on a namespace directory: set, read back, listed,
// remembered across a remount.
func TestStorageSettingsXattrs(t *testing.T) {
	e := mount(t, envOptions{})
	dir := e.ns()
	mustTool(t, "setfattr", "-n", "user.tiledb.storage_path", "-v", "s3://bucket/notebooks", dir)
	mustTool(t, "setfattr", "-n", "user.tiledb.storage_credential", "-v", "my-aws", dir)
	out, err := xattrTool(t, "setfattr", "-n", "user.tiledb.storage_path", "-v", "not a uri", dir)
	if err == nil || !strings.Contains(out, "Invalid argument") {
		t.Errorf("bad storage path: %v %q", err, out)
	}
	e.remount()
	if got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.storage_path", dir); got != "s3://bucket/notebooks" {
		t.Errorf("storage_path after remount = %q", got)
	}
	dump := mustTool(t, "getfattr", "--absolute-names", "-d", dir)
	if !strings.Contains(dump, `user.tiledb.storage_credential="my-aws"`) {
		t.Errorf("getfattr -d on the namespace:\n%s", dump)
	}
	mustTool(t, "setfattr", "-x", "user.tiledb.storage_credential", dir)
	if _, err := xattrTool(t, "getfattr", "-n", "user.tiledb.storage_credential", dir); err == nil {
		t.Errorf("credential still set after removal")
	}
}
