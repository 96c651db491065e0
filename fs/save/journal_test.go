package save

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// entryOf is a complete entry of notebook id (empty: a create).
func entryOf(id, name string) Entry {
	key := "new:" + name
	if id != "" {
		key = "id:" + id
	}
	return Entry{
		Key: key, Category: "owned", Namespace: "alice", ID: id, Name: name,
		Time: time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC),
		Base: time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC),
	}
}

func openJ(t *testing.T, dir string) (*journal, []Entry, []Corrupt) {
	t.Helper()
	j, entries, corrupt, err := openJournal(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return j, entries, corrupt
}

func add(t *testing.T, j *journal, e Entry, data []byte) Entry {
	t.Helper()
	e, err := j.Add(e, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return e
}

// names lists the directory's entries, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	slices.Sort(out)
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func seqs(entries []Entry) []uint64 {
	var out []uint64
	for _, e := range entries {
		out = append(out, e.Seq)
	}
	return out
}

func TestAddOpenRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	j, entries, corrupt := openJ(t, dir)
	if len(entries) != 0 || len(corrupt) != 0 {
		t.Fatalf("fresh journal: %d entries, %d corrupt", len(entries), len(corrupt))
	}
	data := []byte(`{"cells":[{"source":"print(1)"}],"nbformat":4}`)
	in := entryOf("0b6c5e9a-1111-4222-8333-444455556666", "analysis")
	in.AddPrev(Sum([]byte("older")))
	in.AddPrev(Sum([]byte("old")))
	in.StoragePath = "s3://bucket/path"
	in.StorageCredential = "cred"
	got := add(t, j, in, data)
	if got.Seq == 0 || got.Size != int64(len(data)) || got.Sum != Sum(data) {
		t.Fatalf("Add returned seq %d size %d sum %s; want seq > 0, size %d, sum %s",
			got.Seq, got.Size, got.Sum, len(data), Sum(data))
	}
	want := in
	want.Seq, want.Size, want.Sum = got.Seq, got.Size, got.Sum
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Add changed fields:\n got %+v\nwant %+v", got, want)
	}

	j2, entries, corrupt := openJ(t, dir)
	if len(corrupt) != 0 || len(entries) != 1 {
		t.Fatalf("reopen: entries %+v, corrupt %+v", entries, corrupt)
	}
	e := entries[0]
	if !e.Time.Equal(want.Time) || !e.Base.Equal(want.Base) {
		t.Fatalf("times after reopen: %v %v, want %v %v", e.Time, e.Base, want.Time, want.Base)
	}
	e.Time, e.Base = want.Time, want.Base // location representation may differ
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("entry after reopen:\n got %+v\nwant %+v", e, want)
	}
	b, err := j2.ReadAll(e)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("ReadAll: %q, %v; want %q", b, err, data)
	}
	f, err := j2.Content(e)
	if err != nil {
		t.Fatalf("Content: %v", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("Content read: %q, %v", buf.Bytes(), err)
	}
}

func TestEmptyContent(t *testing.T) {
	j, _, _ := openJ(t, t.TempDir())
	e := add(t, j, entryOf("", "empty"), nil)
	if e.Size != 0 || e.Sum != Sum(nil) {
		t.Fatalf("empty entry: %+v", e)
	}
	_, entries, corrupt := openJ(t, j.dir)
	if len(entries) != 1 || len(corrupt) != 0 {
		t.Fatalf("reopen: %+v %+v", entries, corrupt)
	}
	if b, err := j.ReadAll(entries[0]); err != nil || len(b) != 0 {
		t.Fatalf("ReadAll: %q, %v", b, err)
	}
}

func TestSequenceSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJ(t, dir)
	var last uint64
	for i := range 3 {
		e := add(t, j, entryOf("", fmt.Sprintf("nb%d", i)), []byte(fmt.Sprint(i)))
		if e.Seq <= last {
			t.Fatalf("seq %d after %d", e.Seq, last)
		}
		last = e.Seq
	}
	j2, entries, _ := openJ(t, dir)
	if got := seqs(entries); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("reopened seqs %v, want [1 2 3] in order", got)
	}
	for i, e := range entries {
		if e.Name != fmt.Sprintf("nb%d", i) {
			t.Fatalf("entry %d is %q", i, e.Name)
		}
	}
	e := add(t, j2, entryOf("", "after"), []byte("x"))
	if e.Seq <= last {
		t.Fatalf("seq after reopen %d, want > %d", e.Seq, last)
	}
	// A removed lower entry does not lower the next number either.
	if err := j2.Remove(entries[0]); err != nil {
		t.Fatal(err)
	}
	j3, entries, _ := openJ(t, dir)
	if got := seqs(entries); !slices.Equal(got, []uint64{2, 3, e.Seq}) {
		t.Fatalf("seqs after removing the first: %v", got)
	}
	if e2 := add(t, j3, entryOf("", "again"), []byte("y")); e2.Seq <= e.Seq {
		t.Fatalf("seq %d after %d", e2.Seq, e.Seq)
	}
}

func TestConcurrentAdds(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJ(t, dir)
	const n = 16
	var wg sync.WaitGroup
	got := make([]Entry, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			data := []byte(strings.Repeat(fmt.Sprint(i), 100+i))
			got[i], errs[i] = j.Add(entryOf("", fmt.Sprintf("c%d", i)), bytes.NewReader(data), int64(len(data)))
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Add %d: %v", i, errs[i])
		}
		if seen[got[i].Seq] {
			t.Fatalf("sequence number %d given twice", got[i].Seq)
		}
		seen[got[i].Seq] = true
	}
	_, entries, corrupt := openJ(t, dir)
	if len(entries) != n || len(corrupt) != 0 {
		t.Fatalf("reopen: %d entries, %d corrupt", len(entries), len(corrupt))
	}
	for _, e := range entries {
		b, err := j.ReadAll(e)
		if err != nil {
			t.Fatalf("ReadAll(%d): %v", e.Seq, err)
		}
		var i int
		fmt.Sscanf(e.Name, "c%d", &i)
		if want := strings.Repeat(fmt.Sprint(i), 100+i); string(b) != want {
			t.Fatalf("entry %s holds %q", e.Name, b)
		}
	}
}

func TestCorruptEntries(t *testing.T) {
	data := []byte(`{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}`)
	cases := []struct {
		name   string
		damage func(t *testing.T, j *journal, e Entry)
	}{
		{"flipped byte", func(t *testing.T, j *journal, e Entry) {
			p := j.path(e.Seq, "data")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x01
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated data", func(t *testing.T, j *journal, e Entry) {
			if err := os.Truncate(j.path(e.Seq, "data"), e.Size-5); err != nil {
				t.Fatal(err)
			}
		}},
		{"longer data", func(t *testing.T, j *journal, e Entry) {
			f, err := os.OpenFile(j.path(e.Seq, "data"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("\n"))
			f.Close()
		}},
		{"garbage header", func(t *testing.T, j *journal, e Entry) {
			if err := os.WriteFile(j.path(e.Seq, "json"), []byte(`{"seq": 1, "key": "id:x`), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty header", func(t *testing.T, j *journal, e Entry) {
			if err := os.WriteFile(j.path(e.Seq, "json"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"header of another seq", func(t *testing.T, j *journal, e Entry) {
			e.Seq++
			b, _ := json.Marshal(e)
			if err := os.WriteFile(j.path(e.Seq-1, "json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing data", func(t *testing.T, j *journal, e Entry) {
			if err := os.Remove(j.path(e.Seq, "data")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j, _, _ := openJ(t, dir)
			good1 := add(t, j, entryOf("11111111-1111-4111-8111-111111111111", "good1"), data)
			bad := add(t, j, entryOf("22222222-2222-4222-8222-222222222222", "bad"), data)
			good2 := add(t, j, entryOf("", "good2"), []byte("second good one"))
			tc.damage(t, j, bad)

			j2, entries, corrupt := openJ(t, dir)
			if got := seqs(entries); !slices.Equal(got, []uint64{good1.Seq, good2.Seq}) {
				t.Fatalf("entries %v, want [%d %d]", got, good1.Seq, good2.Seq)
			}
			if len(corrupt) != 1 || corrupt[0].Seq != bad.Seq || corrupt[0].Reason == "" {
				t.Fatalf("corrupt %+v, want seq %d with a reason", corrupt, bad.Seq)
			}
			cdir := filepath.Join(dir, "corrupt")
			if filepath.Dir(corrupt[0].Path) != cdir || !exists(corrupt[0].Path) {
				t.Fatalf("corrupt entry moved to %q, want its header in %q", corrupt[0].Path, cdir)
			}
			if exists(j.path(bad.Seq, "json")) || exists(j.path(bad.Seq, "data")) {
				t.Fatalf("corrupt entry's files left in the journal: %v", names(t, dir))
			}
			if !existsSuffix(cdir, "-"+filepath.Base(j.path(bad.Seq, "json"))) {
				t.Fatalf("corrupt header not in corrupt/: %v", names(t, cdir))
			}
			if tc.name != "missing data" && !existsSuffix(cdir, "-"+filepath.Base(j.path(bad.Seq, "data"))) {
				t.Fatalf("corrupt data not in corrupt/: %v", names(t, cdir))
			}
			if fi, err := os.Stat(cdir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("corrupt/ mode: %v, %v", fi, err)
			}
			// The good ones are intact.
			if b, err := j2.ReadAll(entries[0]); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("ReadAll good1: %q %v", b, err)
			}
			// Reopening again reports nothing new and keeps the good ones.
			_, entries, corrupt = openJ(t, dir)
			if len(corrupt) != 0 || len(entries) != 2 {
				t.Fatalf("second reopen: entries %v, corrupt %+v", seqs(entries), corrupt)
			}
			// The corrupt entry's number is not given again in this run.
			if e := add(t, j2, entryOf("", "next"), []byte("n")); e.Seq <= good2.Seq {
				t.Fatalf("next seq %d, want > %d", e.Seq, good2.Seq)
			}
		})
	}
}

// Numbers restart once the journal is empty; an entry moved to corrupt/
// must not overwrite one moved there before.
func TestCorruptKeepsEarlierEvidence(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJ(t, dir)
	first := add(t, j, entryOf("", "first"), []byte("first content"))
	os.Truncate(j.path(first.Seq, "data"), 1)
	_, _, corrupt := openJ(t, dir)
	if len(corrupt) != 1 {
		t.Fatalf("corrupt %+v", corrupt)
	}
	j, _, _ = openJ(t, dir) // a later start: the journal directory is empty
	second := add(t, j, entryOf("", "second"), []byte("second content"))
	os.Truncate(j.path(second.Seq, "data"), 1)
	_, _, corrupt = openJ(t, dir)
	if len(corrupt) != 1 {
		t.Fatalf("corrupt %+v", corrupt)
	}
	if got := names(t, filepath.Join(dir, "corrupt")); len(got) != 4 {
		t.Fatalf("corrupt/ holds %v: an earlier corrupt entry was overwritten", got)
	}
}

func TestLeftoversRemoved(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJ(t, dir)
	good := add(t, j, entryOf("", "good"), []byte("content"))
	orphan := add(t, j, entryOf("", "orphan"), []byte("orphan content"))
	// A crash before the header's rename: data without header.
	if err := os.Remove(j.path(orphan.Seq, "json")); err != nil {
		t.Fatal(err)
	}
	// A crash while writing: a temporary file.
	for _, name := range []string{".tmp-x", ".tmp-123456"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Something that is none of ours stays.
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("hi"), 0o600); err != nil {
		t.Fatal(err)
	}

	j2, entries, corrupt := openJ(t, dir)
	if len(corrupt) != 0 {
		t.Fatalf("leftovers reported as corrupt: %+v", corrupt)
	}
	if got := seqs(entries); !slices.Equal(got, []uint64{good.Seq}) {
		t.Fatalf("entries %v, want [%d]", got, good.Seq)
	}
	want := []string{filepath.Base(j.path(good.Seq, "data")), filepath.Base(j.path(good.Seq, "json")), "README"}
	slices.Sort(want)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Fatalf("journal dir holds %v, want %v", got, want)
	}
	// The orphan's number is not reused in this run.
	if e := add(t, j2, entryOf("", "next"), []byte("n")); e.Seq <= orphan.Seq {
		t.Fatalf("seq %d after orphan %d", e.Seq, orphan.Seq)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJ(t, dir)
	keep := add(t, j, entryOf("", "keep"), []byte("keep"))
	e := add(t, j, entryOf("", "drop"), []byte("drop"))
	if !exists(j.path(e.Seq, "json")) || !exists(j.path(e.Seq, "data")) {
		t.Fatalf("entry files missing after Add: %v", names(t, dir))
	}
	if err := j.Remove(e); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if exists(j.path(e.Seq, "json")) || exists(j.path(e.Seq, "data")) {
		t.Fatalf("entry files left after Remove: %v", names(t, dir))
	}
	// Removing again is no error.
	if err := j.Remove(e); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if _, err := j.ReadAll(e); err == nil {
		t.Fatal("ReadAll of a removed entry succeeded")
	}
	if _, err := j.Content(e); err == nil {
		t.Fatal("Content of a removed entry succeeded")
	}
	_, entries, corrupt := openJ(t, dir)
	if got := seqs(entries); len(corrupt) != 0 || !slices.Equal(got, []uint64{keep.Seq}) {
		t.Fatalf("after Remove: entries %v corrupt %+v", got, corrupt)
	}
}

func TestUpdate(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJ(t, dir)
	data := []byte("new notebook")
	e := add(t, j, entryOf("", "created"), data)
	const id = "33333333-3333-4333-8333-333333333333"
	e.ID = id
	if err := j.Update(e); err != nil {
		t.Fatalf("Update: %v", err)
	}
	_, entries, corrupt := openJ(t, dir)
	if len(entries) != 1 || len(corrupt) != 0 {
		t.Fatalf("reopen: %+v %+v", entries, corrupt)
	}
	got := entries[0]
	if got.ID != id || got.Key != e.Key || got.Seq != e.Seq || got.Sum != e.Sum || got.Size != e.Size {
		t.Fatalf("after Update: %+v, want id %s and the rest of %+v", got, id, e)
	}
	if b, err := j.ReadAll(got); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("ReadAll after Update: %q %v", b, err)
	}
	for _, n := range names(t, dir) {
		if strings.HasPrefix(n, ".tmp-") {
			t.Fatalf("temporary file left: %v", names(t, dir))
		}
	}
}

func TestModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "journal")
	j, _, _ := openJ(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("journal dir mode %v, want 0700", fi.Mode().Perm())
	}
	e := add(t, j, entryOf("", "private"), []byte("secret"))
	for _, ext := range []string{"json", "data"} {
		fi, err := os.Stat(j.path(e.Seq, ext))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Fatalf("%s mode %v: readable by others", ext, fi.Mode().Perm())
		}
	}
}

func TestAddPrevBounded(t *testing.T) {
	var e Entry
	for i := range maxPrevs + 5 {
		e.AddPrev(fmt.Sprint(i))
	}
	if len(e.Prevs) != maxPrevs || e.Prevs[0] != "5" || e.Prevs[maxPrevs-1] != fmt.Sprint(maxPrevs+4) {
		t.Fatalf("Prevs %v: want the newest %d", e.Prevs, maxPrevs)
	}
}

func TestSumAndHash(t *testing.T) {
	data := []byte("hello")
	h := NewHash()
	h.Write(data)
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != Sum(data) {
		t.Fatalf("NewHash %s, Sum %s", got, Sum(data))
	}
}

// existsSuffix reports whether dir holds a file whose name ends in suffix
// (corrupt entries get a time stamp in front of their names).
func existsSuffix(dir, suffix string) bool {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			return true
		}
	}
	return false
}
