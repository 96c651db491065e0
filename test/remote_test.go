//go:build linux

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"notebookfs/remote/server"
)

// Mounted through the TileDB Cloud client and notebookfs serve: alice's
// notebook appears in bob's shared/alice/ once shared, and getfattr shows
// what TileDB's own JS client reports with listSharedWith.
func TestRemoteTwoUsersShare(t *testing.T) {
	alice := mount(t, envOptions{remote: true, setup: withUsers})
	p := alice.ns("x.ipynb")
	src := corpusNotebook(t, 1, 7<<10)
	run(t, "cp", src, p)
	orig := mustRead(t, src)
	if b := mustRead(t, p); !bytes.Equal(b, orig) {
		t.Fatalf("alice reads back %d bytes, want %d", len(b), len(orig))
	}
	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read", p)
	mustTool(t, "setfattr", "-n", "user.tiledb.share.acme", "-v", "read,write", p)

	bob := alice.mountAs("bob")
	theirs := bob.path("shared", "alice", "x.ipynb")
	if b := mustRead(t, theirs); !bytes.Equal(b, orig) {
		t.Errorf("bob reads %d bytes, want %d", len(b), len(orig))
	}
	if fi, err := os.Stat(theirs); err != nil || fi.Mode().Perm() != 0o444 || fi.Size() != int64(len(orig)) {
		t.Errorf("bob's stat: %v %v", fi, err)
	}
	wantErrno(t, "bob writes", os.WriteFile(theirs, nb("no"), 0o644), syscall.EACCES)

	// getfattr against TileDB's JS client on the same notebook.
	got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.shares", p)
	id := alice.notebook("x").ID
	js := jsSharedWith(t, alice, "alice", id)
	var lines []string
	for _, s := range js {
		acts := append([]string(nil), s.Actions...)
		sort.Strings(acts)
		lines = append(lines, s.Namespace+":"+strings.Join(acts, ",")+"\n")
	}
	sort.Strings(lines)
	if want := strings.Join(lines, ""); got != want || len(js) != 2 {
		t.Errorf("getfattr user.tiledb.shares = %q, JS listSharedWith says %q (%+v)", got, want, js)
	}
}

type jsShare struct {
	Namespace string   `json:"namespace"`
	Actions   []string `json:"actions"`
}

// jsSharedWith runs TileDB's JS client (test/js) against the served store.
func jsSharedWith(t *testing.T, e *env, ns, array string) []jsShare {
	t.Helper()
	out := runJS(t, e, []string{"NS=" + ns, "ARRAY=" + array}, "shared_with.js")
	var shares []jsShare
	if err := json.Unmarshal(out, &shares); err != nil {
		t.Fatalf("JS output %q: %v", out, err)
	}
	return shares
}

// With a fifth of requests failing (503 or a dropped connection),
// listing and reading through the mount still succeed.
func TestRemoteFaultsListAndRead(t *testing.T) {
	forCorpora(t, testRemoteFaultsListAndRead)
}

func testRemoteFaultsListAndRead(t *testing.T, files []string) {
	e := mount(t, envOptions{remote: true, faultRate: 0.2})
	for _, f := range files {
		e.put(strings.TrimSuffix(filepath.Base(f), ".ipynb"), mustRead(t, f))
	}
	start := time.Now()
	out := run(t, "ls", "-l", e.ns())
	if n := strings.Count(out, ".ipynb"); n != len(files) {
		t.Errorf("ls -l shows %d notebooks, want %d:\n%s", n, len(files), out)
	}
	for _, f := range files {
		if b := mustRead(t, e.ns(filepath.Base(f))); !bytes.Equal(b, mustRead(t, f)) {
			t.Errorf("%s differs", filepath.Base(f))
		}
	}
	t.Logf("ls -l and cat of %d notebooks at a 20%% fault rate: %v, %d remote calls", len(files), time.Since(start).Round(time.Millisecond), e.count.Total())
}

// A token revoked while mounted: a clear EACCES and one log line that says
// how to log in, and the token appears in no log line.
func TestRemoteExpiredToken(t *testing.T) {
	e := mount(t, envOptions{remote: true})
	tok := e.mountToken
	if err := e.store.RevokeToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	_, err := os.ReadDir(e.ns())
	wantErrno(t, "listing with a revoked token", err, syscall.EACCES)
	var hint bool
	for _, entry := range e.logs.AllEntries() {
		line, _ := entry.String()
		if strings.Contains(line, "log in") {
			hint = true
		}
		if strings.Contains(line, tok) {
			t.Errorf("a log line shows the token: %s", line)
		}
	}
	if !hint {
		t.Errorf("no log line says how to log in; logs: %d entries", len(e.logs.AllEntries()))
	}
}

// A mount whose credentials the remote refuses from the start does not
// mount: exit 4 and a message that says how to log in, without the token.
func TestMountRefusedCredentials(t *testing.T) {
	needFuse(t)
	_, url := daemonBackend(t, server.Options{})
	const bogus = "0123456789abcdef-not-a-token"
	c := newCLI(t, "TILEDB_REST_TOKEN="+bogus)
	mnt := t.TempDir()
	res := c.run("mount", "--remote", url, mnt)
	if res.code != 4 {
		t.Errorf("mount with a refused token: exit %d, want 4\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "notebookfs login") || strings.Contains(res.stderr+res.stdout, bogus) {
		t.Errorf("want a hint to log in and no token in:\n%s", res.stderr)
	}
	if isMounted(mnt) {
		t.Errorf("%s is mounted", mnt)
	}
	t.Logf("mount with a refused token: exit %d\n%s", res.code, res.stderr)
}
