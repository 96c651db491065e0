//go:build linux

package test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The main path: cp a corpus in, list, read back, overwrite, rename,
// delete, and find it all again after a remount.
func TestCorpusRoundTrip(t *testing.T) {
	forBackends(t, func(t *testing.T, o envOptions) {
		forCorpora(t, func(t *testing.T, files []string) { testCorpusRoundTrip(t, o, files) })
	})
}

func testCorpusRoundTrip(t *testing.T, o envOptions, files []string) {
	if len(files) < 3 {
		t.Fatalf("the round trip wants at least 3 notebooks, the corpus has %d", len(files))
	}
	e := mount(t, o)
	args := append(append([]string{}, files...), e.ns())
	run(t, "cp", args...)

	var want []string
	for _, f := range files {
		want = append(want, filepath.Base(f))
	}
	sort.Strings(want)
	if got := readDir(t, e.ns()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("listing after cp:\n got %v\nwant %v", got, want)
	}
	if got := len(e.notebooks()); got != len(files) {
		t.Fatalf("store holds %d notebooks, want %d", got, len(files))
	}
	if c := e.count.Count("Create"); c != int64(len(files)) {
		t.Errorf("cp of %d notebooks made %d Create calls, want one each", len(files), c)
	}
	for _, f := range files {
		orig := mustRead(t, f)
		if got := mustRead(t, e.ns(filepath.Base(f))); !bytes.Equal(got, orig) {
			t.Errorf("%s read back differs (%d bytes, want %d)", filepath.Base(f), len(got), len(orig))
		}
		fi, err := os.Stat(e.ns(filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != int64(len(orig)) || fi.Mode().Perm() != 0o644 || !fi.Mode().IsRegular() {
			t.Errorf("%s: size %d mode %v, want %d -rw-r--r--", fi.Name(), fi.Size(), fi.Mode(), len(orig))
		}
		nb := e.notebook(strings.TrimSuffix(filepath.Base(f), ".ipynb"))
		if !bytes.Equal(e.storeBytes(nb.ID), orig) {
			t.Errorf("%s: store content differs", fi.Name())
		}
	}

	// The first notebook is overwritten and renamed, the second deleted,
	// and the last is read again after the remount.
	first := strings.TrimSuffix(filepath.Base(files[0]), ".ipynb")
	second := filepath.Base(files[1])
	last := files[len(files)-1]
	renamed := "renamed by the round trip"
	if slices.Contains(want, renamed+".ipynb") {
		t.Fatalf("the corpus already holds %q", renamed)
	}

	// Overwrite: a second version of the same notebook.
	target := e.ns(first + ".ipynb")
	before := e.notebook(first)
	mustWrite(t, target, nb("changed"))
	after := e.notebook(first)
	if after.ID != before.ID {
		t.Errorf("overwrite changed the id: %s -> %s", before.ID, after.ID)
	}
	if v := e.versions(after.ID); len(v) != 2 {
		t.Errorf("overwrite: %d versions, want 2", len(v))
	}
	if got := mustRead(t, target); !bytes.Equal(got, nb("changed")) {
		t.Errorf("overwrite read back %q", got)
	}

	// Rename keeps the id.
	if err := os.Rename(target, e.ns(renamed+".ipynb")); err != nil {
		t.Fatal(err)
	}
	if nb := e.notebook(renamed); nb.ID != before.ID {
		t.Errorf("rename changed the id")
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("old name still there after rename: %v", err)
	}

	// Delete.
	if err := os.Remove(e.ns(second)); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.notebooks()[strings.TrimSuffix(second, ".ipynb")]; ok {
		t.Errorf("deleted notebook still in the store")
	}

	// Everything is still there after a remount.
	e.remount()
	got := readDir(t, e.ns())
	if len(got) != len(files)-1 {
		t.Errorf("after remount %d files, want %d: %v", len(got), len(files)-1, got)
	}
	if b := mustRead(t, e.ns(renamed+".ipynb")); !bytes.Equal(b, nb("changed")) {
		t.Errorf("after remount %s.ipynb = %q", renamed, b)
	}
	if b := mustRead(t, e.ns(filepath.Base(last))); !bytes.Equal(b, mustRead(t, last)) {
		t.Errorf("after remount %s differs", filepath.Base(last))
	}
}

// A new notebook written in many write calls is one upload on close.
func TestCreateManyWritesOneUpload(t *testing.T) { forBackends(t, testCreateManyWritesOneUpload) }

func testCreateManyWritesOneUpload(t *testing.T, o envOptions) {
	e := mount(t, o)
	f, err := os.Create(e.ns("new.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := 0; i < 50; i++ {
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, 4096)
		want = append(want, chunk...)
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.count.Count("Create") + e.count.Count("Write"); n != 0 {
		t.Errorf("%d uploads before close, want 0", n)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	e.settle()
	if c, w := e.count.Count("Create"), e.count.Count("Write"); c != 1 || w != 0 {
		t.Errorf("close made %d Create and %d Write calls, want 1 and 0", c, w)
	}
	nb := e.notebook("new")
	if !bytes.Equal(e.storeBytes(nb.ID), want) {
		t.Errorf("stored content differs")
	}
	if v := e.versions(nb.ID); len(v) != 1 {
		t.Errorf("%d versions, want 1", len(v))
	}
}

// An empty notebook (touch) is created on close.
func TestTouchCreatesEmptyNotebook(t *testing.T) { forBackends(t, testTouchCreatesEmptyNotebook) }

func testTouchCreatesEmptyNotebook(t *testing.T, o envOptions) {
	e := mount(t, o)
	run(t, "touch", e.ns("empty.ipynb"))
	nb := e.notebook("empty")
	if nb.Size != 0 {
		t.Errorf("size %d, want 0", nb.Size)
	}
	fi, err := os.Stat(e.ns("empty.ipynb"))
	if err != nil || fi.Size() != 0 {
		t.Errorf("stat: %v %v", fi, err)
	}
}

// Duplicate remote names show as distinct files; the oldest keeps the name.
func TestDuplicateNames(t *testing.T) { forBackends(t, testDuplicateNames) }

func testDuplicateNames(t *testing.T, o envOptions) {
	e := mount(t, o)
	first := e.put("dup", nb("first"))
	second := e.put("dup", nb("second"))
	names := readDir(t, e.ns())
	want := []string{"dup.ipynb", "dup~" + strings.ReplaceAll(second.ID, "-", "")[:8] + ".ipynb"}
	sort.Strings(want)
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("listing %v, want %v", names, want)
	}
	if b := mustRead(t, e.ns("dup.ipynb")); !bytes.Equal(b, nb("first")) {
		t.Errorf("dup.ipynb = %q, want the oldest (%s)", b, first.ID)
	}
	if b := mustRead(t, e.ns(want[1])); !bytes.Equal(b, nb("second")) && !bytes.Equal(mustRead(t, e.ns(want[0])), nb("second")) {
		t.Errorf("second duplicate not readable")
	}
}

// A notebook over the disk threshold (8 MiB) is read through the disk
// cache, streamed as it downloads, with one download for two readers and
// none for reading back our own save.
func TestLargeNotebookDiskCache(t *testing.T) { forBackends(t, testLargeNotebookDiskCache) }

func testLargeNotebookDiskCache(t *testing.T, o envOptions) {
	e := mount(t, o)
	big := bytes.Repeat(nb("large notebook cell"), 120000) // about 13 MB
	created := e.put("big", big)
	e.count.Reset()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := mustRead(t, e.ns("big.ipynb")); !bytes.Equal(got, big) {
				t.Errorf("read %d bytes, want %d", len(got), len(big))
			}
		}()
	}
	wg.Wait()
	if n := e.count.Count("Read"); n != 1 {
		t.Errorf("two readers made %d downloads, want 1", n)
	}
	st := e.status()
	if st.DiskCache == nil || st.DiskCache.Entries != 1 || st.DiskCache.Bytes != int64(len(big)) {
		t.Errorf("disk cache after reading: %+v", st.DiskCache)
	}
	if st.Cache.Bytes > 1<<20 {
		t.Errorf("the memory cache holds %d bytes: the large notebook went there", st.Cache.Bytes)
	}
	// A save of a large notebook: streamed from the journal, then the
	// version read back from the disk cache.
	edited := append(bytes.Repeat(nb("edited"), 150000), '\n')
	mustWrite(t, e.ns("big.ipynb"), edited)
	e.settle()
	e.count.Reset()
	if got := mustRead(t, e.ns("big.ipynb")); !bytes.Equal(got, edited) {
		t.Errorf("read back %d bytes, want %d", len(got), len(edited))
	}
	if n := e.count.Total(); n != 0 {
		t.Errorf("reading back our own large save made %d calls: %v", n, e.count.Snapshot())
	}
	if got := e.storeBytes(created.ID); !bytes.Equal(got, edited) {
		t.Errorf("store holds %d bytes, want %d", len(got), len(edited))
	}
}
