//go:build linux

package test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkSaved asserts the notebook kept its id, got exactly one more
// version with want as content, and that no scratch leftovers reached the
// store.
func checkSaved(t *testing.T, e *env, name, id string, versions int, want []byte) {
	t.Helper()
	got := e.notebook(name)
	if got.ID != id {
		t.Errorf("%s: id changed %s -> %s", name, id, got.ID)
	}
	if v := e.versions(got.ID); len(v) != versions {
		t.Errorf("%s: %d versions, want %d", name, len(v), versions)
	}
	if b := e.storeBytes(got.ID); !bytes.Equal(b, want) {
		t.Errorf("%s: stored %q, want %q", name, b, want)
	}
	if b := mustRead(t, e.ns(name+".ipynb")); !bytes.Equal(b, want) {
		t.Errorf("%s: mount reads %q, want %q", name, b, want)
	}
	if n := len(e.notebooks()); n != 1 {
		t.Errorf("store holds %d notebooks, want 1: %v", n, e.notebooks())
	}
	if d := e.count.Count("Delete"); d != 0 {
		t.Errorf("the save deleted %d notebooks", d)
	}
}

// vim's default save, as syscalls: swap file, backup by rename, a new file
// of the old name, backup removed.
func TestVimStyleSaveKeepsIdentity(t *testing.T) { forBackends(t, testVimStyleSaveKeepsIdentity) }

func testVimStyleSaveKeepsIdentity(t *testing.T, o envOptions) {
	e := mount(t, o)
	mustWrite(t, e.ns("x.ipynb"), nb("one"))
	id := e.notebook("x").ID
	mustWrite(t, e.ns(".x.ipynb.swp"), []byte("swap"))
	if err := os.Rename(e.ns("x.ipynb"), e.ns("x.ipynb~")); err != nil {
		t.Fatal(err)
	}
	if got := readDir(t, e.ns()); strings.Join(got, ",") != ".x.ipynb.swp,x.ipynb~" {
		t.Errorf("after backup rename: %v", got)
	}
	if b := mustRead(t, e.ns("x.ipynb~")); !bytes.Equal(b, nb("one")) {
		t.Errorf("backup holds %q", b)
	}
	mustWrite(t, e.ns("x.ipynb"), nb("two"))
	if err := os.Remove(e.ns("x.ipynb~")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.ns(".x.ipynb.swp")); err != nil {
		t.Fatal(err)
	}
	checkSaved(t, e, "x", id, 2, nb("two"))
	if got := readDir(t, e.ns()); strings.Join(got, ",") != "x.ipynb" {
		t.Errorf("leftovers: %v", got)
	}
}

// A plain mv to a backup name then rm is a delete.
func TestMoveAwayThenRemoveDeletes(t *testing.T) { forBackends(t, testMoveAwayThenRemoveDeletes) }

func testMoveAwayThenRemoveDeletes(t *testing.T, o envOptions) {
	e := mount(t, o)
	mustWrite(t, e.ns("x.ipynb"), nb("one"))
	if err := os.Rename(e.ns("x.ipynb"), e.ns("x.bak")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.ns("x.bak")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.notebooks()); n != 0 {
		t.Errorf("notebook survived mv + rm: %v", e.notebooks())
	}
}

// A backup renamed back (vim restoring after a failed write) is the same
// notebook, unchanged.
func TestBackupRenamedBack(t *testing.T) { forBackends(t, testBackupRenamedBack) }

func testBackupRenamedBack(t *testing.T, o envOptions) {
	e := mount(t, o)
	mustWrite(t, e.ns("x.ipynb"), nb("one"))
	id := e.notebook("x").ID
	if err := os.Rename(e.ns("x.ipynb"), e.ns("x.ipynb~")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(e.ns("x.ipynb~"), e.ns("x.ipynb")); err != nil {
		t.Fatal(err)
	}
	checkSaved(t, e, "x", id, 1, nb("one"))
}

// sed -i writes a temp file and renames it onto the notebook.
func TestSedInPlace(t *testing.T) { forBackends(t, testSedInPlace) }

func testSedInPlace(t *testing.T, o envOptions) {
	e := mount(t, o)
	mustWrite(t, e.ns("x.ipynb"), nb("one"))
	id := e.notebook("x").ID
	for i, word := range []string{"two", "three", "four"} {
		prev := []string{"one", "two", "three"}[i]
		run(t, "sed", "-i", "s/"+prev+"/"+word+"/", e.ns("x.ipynb"))
		checkSaved(t, e, "x", id, i+2, nb(word))
	}
	if got := readDir(t, e.ns()); strings.Join(got, ",") != "x.ipynb" {
		t.Errorf("leftovers: %v", got)
	}
}

// Real vim, with its defaults (writebackup, backupcopy=auto: it renames)
// and with backupcopy=no.
func TestVim(t *testing.T) { forBackends(t, testVim) }

func testVim(t *testing.T, o envOptions) {
	for _, tc := range []struct{ name, set string }{
		{"defaults", "set nocompatible"},
		{"backupcopy=no", "set backupcopy=no"},
		{"backupcopy=yes", "set backupcopy=yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mount(t, o)
			mustWrite(t, e.ns("x.ipynb"), nb("one"))
			id := e.notebook("x").ID
			for i, word := range []string{"two", "three", "four"} {
				prev := []string{"one", "two", "three"}[i]
				run(t, "vim", "-es", "-u", "NONE", "-i", "NONE", "-c", tc.set, "-c", "%s/"+prev+"/"+word+"/", "-c", "wq", e.ns("x.ipynb"))
				checkSaved(t, e, "x", id, i+2, nb(word))
			}
			if got := readDir(t, e.ns()); strings.Join(got, ",") != "x.ipynb" {
				t.Errorf("leftovers: %v", got)
			}
		})
	}
}

// Python-style atomic writer: temp file in the same directory, fsync,
// rename onto the notebook.
func TestAtomicWriterRenameOver(t *testing.T) { forBackends(t, testAtomicWriterRenameOver) }

func testAtomicWriterRenameOver(t *testing.T, o envOptions) {
	e := mount(t, o)
	mustWrite(t, e.ns("x.ipynb"), nb("one"))
	id := e.notebook("x").ID
	f, err := os.CreateTemp(e.ns(), ".tmp-x-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(nb("two"))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(f.Name(), e.ns("x.ipynb")); err != nil {
		t.Fatal(err)
	}
	checkSaved(t, e, "x", id, 2, nb("two"))
}

// Jupyter's save: copy to .~x.ipynb, rewrite x.ipynb in place (truncate
// then write), fsync, delete the copy: one new version.
func TestJupyterStyleSave(t *testing.T) { forBackends(t, testJupyterStyleSave) }

func testJupyterStyleSave(t *testing.T, o envOptions) {
	e := mount(t, o)
	mustWrite(t, e.ns("x.ipynb"), nb("one"))
	id := e.notebook("x").ID
	run(t, "cp", e.ns("x.ipynb"), e.ns(".~x.ipynb"))
	f, err := os.OpenFile(e.ns("x.ipynb"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(nb("two")[:10])
	f.Write(nb("two")[10:])
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.ns(".~x.ipynb")); err != nil {
		t.Fatal(err)
	}
	checkSaved(t, e, "x", id, 2, nb("two"))
}

// The backup kept open while the new file is written (an editor still
// reading it): two files, two inodes, each with its own size and content.
func TestVimStyleSaveWithBackupOpen(t *testing.T) { forBackends(t, testVimStyleSaveWithBackupOpen) }

func testVimStyleSaveWithBackupOpen(t *testing.T, o envOptions) {
	e := mount(t, o)
	mustWrite(t, e.ns("x.ipynb"), nb("one"))
	id := e.notebook("x").ID
	held, err := os.Open(e.ns("x.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := os.Rename(e.ns("x.ipynb"), e.ns("x.ipynb~")); err != nil {
		t.Fatal(err)
	}
	longer := nb("two, and longer than one")
	mustWrite(t, e.ns("x.ipynb"), longer)
	fiNew, err1 := os.Stat(e.ns("x.ipynb"))
	fiOld, err2 := os.Stat(e.ns("x.ipynb~"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if os.SameFile(fiNew, fiOld) {
		t.Errorf("x.ipynb and its backup are the same inode")
	}
	if fiNew.Size() != int64(len(longer)) || fiOld.Size() != int64(len(nb("one"))) {
		t.Errorf("sizes: new %d (want %d), backup %d (want %d)", fiNew.Size(), len(longer), fiOld.Size(), len(nb("one")))
	}
	if b := mustRead(t, e.ns("x.ipynb~")); !bytes.Equal(b, nb("one")) {
		t.Errorf("backup reads %q", b)
	}
	buf := make([]byte, 4096)
	k, _ := held.ReadAt(buf, 0)
	if !bytes.Equal(buf[:k], nb("one")) {
		t.Errorf("the descriptor held across the rename reads %q", buf[:k])
	}
	if err := os.Remove(e.ns("x.ipynb~")); err != nil {
		t.Fatal(err)
	}
	checkSaved(t, e, "x", id, 2, longer)
}

// Every way of saving, three times each, keeps the notebook's id and its
// shares, with exactly one new version per save: sed -i and rsync
// (rename-over), cp (in place), vim (rename-away and recreate).
func TestEditorsKeepSharesAndHistory(t *testing.T) {
	for _, ed := range []struct {
		name string
		save func(t *testing.T, e *env, i int, data []byte)
	}{
		{"sed -i", func(t *testing.T, e *env, i int, data []byte) {
			run(t, "sed", "-i", fmt.Sprintf("s/save %d/save %d/", i-1, i), e.ns("x.ipynb"))
		}},
		{"rsync", func(t *testing.T, e *env, i int, data []byte) {
			src := filepath.Join(t.TempDir(), "x.ipynb")
			mustWrite(t, src, data)
			run(t, "rsync", "--checksum", src, e.ns("x.ipynb"))
		}},
		{"cp", func(t *testing.T, e *env, i int, data []byte) {
			src := filepath.Join(t.TempDir(), "x.ipynb")
			mustWrite(t, src, data)
			run(t, "cp", src, e.ns("x.ipynb"))
		}},
		{"vim", func(t *testing.T, e *env, i int, data []byte) {
			run(t, "vim", "-es", "-u", "NONE", "-i", "NONE", "-c", "set nocompatible",
				"-c", fmt.Sprintf("%%s/save %d/save %d/", i-1, i), "-c", "wq", e.ns("x.ipynb"))
		}},
	} {
		t.Run(strings.ReplaceAll(ed.name, " ", ""), func(t *testing.T) {
			e := mount(t, envOptions{setup: withUsers})
			mustWrite(t, e.ns("x.ipynb"), nb("save 0"))
			id := e.notebook("x").ID
			mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read,write", e.ns("x.ipynb"))
			for i := 1; i <= 3; i++ {
				want := nb(fmt.Sprintf("save %d", i))
				ed.save(t, e, i, want)
				checkSaved(t, e, "x", id, 1+i, want)
				if got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.share.bob", e.ns("x.ipynb")); got != "read,write" {
					t.Errorf("save %d: share.bob = %q, want read,write", i, got)
				}
			}
		})
	}
}
