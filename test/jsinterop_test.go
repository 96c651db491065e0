//go:build linux

package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// runJS runs a script of test/js (TileDB's JS client) as e's user against
// e's server, with the given extra environment, and returns its stdout.
// It skips where Node or the packages are missing, and fails under CI.
func runJS(t *testing.T, e *env, env []string, args ...string) []byte {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat("js/node_modules/@tiledb-inc/tiledb-cloud")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node or test/js/node_modules missing: %v", err)
		}
		t.Skipf("node or test/js/node_modules missing (cd test/js && npm ci): %v", err)
	}
	tok, err := e.store.NewToken(context.Background(), e.user)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = "js"
	cmd.Env = append(append(os.Environ(), "BASE="+e.url, "TOKEN="+tok), env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node %v: %v\n%s%s", args, err, out, stderr)
	}
	return out
}

// jsRW runs test/js/rw.js: TileDB's JS client reads (into file) or writes
// (from file) one notebook through the served store, at openAt if given.
func jsRW(t *testing.T, e *env, mode, array, file string, openAt ...int64) {
	t.Helper()
	env := []string{"NS=" + e.user, "ARRAY=" + array, "FILE=" + file}
	if len(openAt) == 1 {
		env = append(env, "OPEN_AT="+strconv.FormatInt(openAt[0], 10))
	}
	runJS(t, e, env, "rw.js", mode)
}

// utf8Notebook is a notebook full of non-ASCII text and emoji.
func utf8Notebook(copies int) []byte {
	return bytes.Repeat(nb("Grüße, 東京, naïve café — 🚀🧪📓"), copies)
}

// A notebook saved through the mount reads back identically through
// TileDB's JS client, and one the JS client writes reads identically
// through the mount: UTF-8 and 20 MB included.
func TestJSClientAndMountAgree(t *testing.T) {
	e := mount(t, envOptions{remote: true})
	tmp := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"utf8", utf8Notebook(3)},
		{"big", utf8Notebook(20 << 20 / len(utf8Notebook(1)))}, // about 20 MB
	} {
		mustWrite(t, e.ns(tc.name+".ipynb"), tc.data)
		id := e.notebook(tc.name).ID
		out := filepath.Join(tmp, tc.name+".js-read")
		jsRW(t, e, "read", id, out)
		if got := mustRead(t, out); !bytes.Equal(got, tc.data) {
			t.Errorf("%s (%d bytes) saved through the mount: the JS client reads %d bytes that differ", tc.name, len(tc.data), len(got))
		}

		theirs := append([]byte("written by the JS client "), tc.data...)
		in := filepath.Join(tmp, tc.name+".js-write")
		mustWrite(t, in, theirs)
		jsRW(t, e, "write", id, in)
		e.remount() // past the metadata TTL: a new mount lists afresh
		if got := mustRead(t, e.ns(tc.name+".ipynb")); !bytes.Equal(got, theirs) {
			t.Errorf("%s written by the JS client: the mount reads %d bytes, want %d", tc.name, len(got), len(theirs))
		}
		if nbk := e.notebook(tc.name); nbk.ID != id {
			t.Errorf("%s: the JS write changed the id", tc.name)
		}
	}
}

// Five saves through the mount: five new versions of the same notebook,
// shares kept, each readable under .versions and by the JS client at that
// version (open_at).
func TestFiveSavesFiveVersions(t *testing.T) {
	e := mount(t, envOptions{remote: true, setup: withUsers})
	p := e.ns("x.ipynb")
	mustWrite(t, p, nb("created"))
	id := e.notebook("x").ID
	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read", p)
	var saves [][]byte
	for i := 1; i <= 5; i++ {
		data := utf8Notebook(i)
		data = append(data, []byte(fmt.Sprintf("save %d\n", i))...)
		mustWrite(t, p, data)
		e.settle() // rapid saves would coalesce into fewer versions
		saves = append(saves, data)
	}
	if got := e.notebook("x"); got.ID != id {
		t.Fatalf("id changed")
	}
	vs := e.versions(id)
	if len(vs) != 6 {
		t.Fatalf("%d versions, want 6 (create + 5 saves)", len(vs))
	}
	if got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.shares", p); got != "bob:read\n" {
		t.Errorf("shares after 5 saves: %q", got)
	}
	tmp := t.TempDir()
	for i, v := range vs[1:] {
		hist := e.ns(".versions", "x.ipynb", v.Time.UTC().Format("2006-01-02T15:04:05.000Z")+".ipynb")
		if b := mustRead(t, hist); !bytes.Equal(b, saves[i]) {
			t.Errorf("save %d under .versions: %d bytes, want %d", i+1, len(b), len(saves[i]))
		}
		out := filepath.Join(tmp, fmt.Sprintf("v%d", i))
		jsRW(t, e, "read", id, out, v.Time.UnixMilli())
		if b := mustRead(t, out); !bytes.Equal(b, saves[i]) {
			t.Errorf("save %d read by the JS client with open_at: %d bytes, want %d", i+1, len(b), len(saves[i]))
		}
	}
}
