//go:build linux

package test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Saving 5 times gives 5 versions of the same notebook, each readable
// under .versions/<name>.ipynb/<UTC time>.ipynb.
func TestVersionsDirectory(t *testing.T) { forBackends(t, testVersionsDirectory) }

func testVersionsDirectory(t *testing.T, o envOptions) {
	e := mount(t, o)
	var saves [][]byte
	for i := 0; i < 5; i++ {
		data := bytes.Repeat(nb(string(rune('a'+i))), i+1)
		mustWrite(t, e.ns("x.ipynb"), data)
		e.settle() // rapid saves would coalesce
		saves = append(saves, data)
	}
	nbk := e.notebook("x")
	vs := e.versions(nbk.ID)
	if len(vs) != 5 {
		t.Fatalf("%d versions, want 5", len(vs))
	}
	// Reachable by name, not listed: recursive tools must not walk history.
	ents, err := os.ReadDir(e.ns())
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if ent.Name() == ".versions" {
			t.Errorf("the namespace lists .versions")
		}
	}
	if fi, err := os.Stat(e.ns(".versions")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o555 {
		t.Errorf("stat .versions: %v %v", fi, err)
	}
	if out := run(t, "grep", "-rl", "nbformat", e.ns()); strings.Contains(out, ".versions") {
		t.Errorf("grep -r walked into .versions:\n%s", out)
	}
	if got := readDir(t, e.ns(".versions")); len(got) != 1 || got[0] != "x.ipynb" {
		t.Errorf(".versions lists %v", got)
	}
	hist := e.ns(".versions", "x.ipynb")
	files := readDir(t, hist)
	if len(files) != 5 {
		t.Fatalf("history lists %v", files)
	}
	for i, v := range vs {
		name := v.Time.UTC().Format("2006-01-02T15:04:05.000Z") + ".ipynb"
		if files[i] != name {
			t.Errorf("version %d named %q, want %q", i, files[i], name)
		}
		if b := mustRead(t, filepath.Join(hist, name)); !bytes.Equal(b, saves[i]) {
			t.Errorf("version %d reads %d bytes, want save %d (%d bytes)", i, len(b), i, len(saves[i]))
		}
		fi, err := os.Stat(filepath.Join(hist, name))
		if err != nil || fi.Size() != int64(len(saves[i])) || fi.Mode().Perm() != 0o444 || !fi.ModTime().Equal(v.Time.Truncate(time.Millisecond)) {
			t.Errorf("version %d stat: %v %v (want %d bytes, 0444, %v)", i, fi, err, len(saves[i]), v.Time)
		}
	}
	old := filepath.Join(hist, files[0])
	wantErrno(t, "write a version", os.WriteFile(old, nil, 0o644), syscall.EROFS)
	wantErrno(t, "delete a version", os.Remove(old), syscall.EROFS)
	wantErrno(t, "create in history", os.WriteFile(filepath.Join(hist, "new.ipynb"), nil, 0o644), syscall.EROFS)
	wantErrno(t, "mkdir .versions", os.Mkdir(e.ns(".versions"), 0o755), syscall.EEXIST)
	if err := os.Rename(e.ns("x.ipynb"), e.ns(".versions")); err == nil {
		t.Errorf("renaming a notebook onto .versions succeeded")
	}
	wantErrno(t, "rename .versions away", os.Rename(e.ns(".versions"), e.ns("history")), syscall.EROFS)
	if _, err := os.Stat(filepath.Join(hist, "2001-01-01T00:00:00.000Z.ipynb")); !os.IsNotExist(err) {
		t.Errorf("a time with no version: %v", err)
	}

	// A new save shows up in the history at once (our own save drops the
	// cached list), and reading an old version again costs no remote call.
	mustWrite(t, e.ns("x.ipynb"), nb("sixth"))
	e.settle()
	if got := readDir(t, hist); len(got) != 6 {
		t.Errorf("after a sixth save the history lists %d files", len(got))
	}
	e.count.Reset()
	mustRead(t, old)
	if n := e.count.Total(); n != 0 {
		t.Errorf("re-reading an old version made %d remote calls: %v", n, e.count.Snapshot())
	}
}
