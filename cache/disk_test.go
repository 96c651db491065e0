package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// gatedReader gives its first part at once, and the rest once released.
type gatedReader struct {
	data    []byte
	first   int
	off     int
	release chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.off == len(g.data) {
		return 0, io.EOF
	}
	if g.off >= g.first {
		<-g.release
	}
	end := len(g.data)
	if g.off < g.first {
		end = g.first
	}
	n := copy(p, g.data[g.off:end])
	g.off += n
	return n, nil
}

func (g *gatedReader) Close() error { return nil }

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// A read of the first bytes returns while the rest is still on its way; a
// read further on waits for its bytes; a second reader shares the download.
func TestDiskStreamsAsBytesArrive(t *testing.T) {
	d, err := NewDisk(t.TempDir(), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := pattern(5 << 20)
	g := &gatedReader{data: data, first: 1 << 20, release: make(chan struct{})}
	var loads atomic.Int32
	load := func(ctx context.Context) (io.ReadCloser, int64, error) {
		loads.Add(1)
		return g, int64(len(data)), nil
	}
	key := NewKey("id", time.UnixMilli(1))
	f, err := d.Open(t.Context(), key, int64(len(data)), load)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 4096)
	if n, err := f.ReadAt(t.Context(), head, 0); err != nil || n != len(head) || !bytes.Equal(head, data[:4096]) {
		t.Fatalf("head: %d %v", n, err)
	}
	// The tail is not there yet: a read of it waits (until its context ends).
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := f.ReadAt(ctx, head, 4<<20); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read past the arrived bytes: %v, want to wait", err)
	}
	done := make(chan []byte)
	go func() {
		tail := make([]byte, 8192)
		n, err := f.ReadAt(t.Context(), tail, int64(len(data))-4096)
		if err != nil && err != io.EOF {
			t.Error(err)
		}
		done <- tail[:n]
	}()
	f2, err := d.Open(t.Context(), key, int64(len(data)), load)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	close(g.release)
	if tail := <-done; !bytes.Equal(tail, data[len(data)-4096:]) {
		t.Fatalf("tail: %d bytes", len(tail))
	}
	all := make([]byte, len(data))
	if n, err := f2.ReadAt(t.Context(), all, 0); n != len(data) || (err != nil && err != io.EOF) || !bytes.Equal(all, data) {
		t.Fatalf("second reader: %d %v", n, err)
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("%d downloads, want 1 shared", n)
	}
	if s := d.Stats(); s.Hits != 1 || s.Misses != 1 || s.Bytes != int64(len(data)) {
		t.Errorf("stats %+v", s)
	}
}

// The byte bound evicts the oldest files; an open reader keeps reading an
// evicted one; a failed download is the readers' error and is retried by
// the next Open.
func TestDiskEvictionAndFailure(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDisk(dir, 3<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := pattern(2 << 20)
	load := func(ctx context.Context) (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
	}
	a, err := d.Open(t.Context(), NewKey("a", time.UnixMilli(1)), int64(len(data)), load)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := d.Open(t.Context(), NewKey("b", time.UnixMilli(1)), int64(len(data)), load)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if s := d.Stats(); s.Evictions != 1 || s.Entries != 1 {
		t.Fatalf("after 4 MiB in a 3 MiB cache: %+v", s)
	}
	got := make([]byte, len(data))
	if n, err := a.ReadAt(t.Context(), got, 0); n != len(data) || (err != nil && err != io.EOF) || !bytes.Equal(got, data) {
		t.Fatalf("reading an evicted entry: %d %v", n, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "a-*")); len(m) != 0 {
		t.Errorf("evicted file still there: %v", m)
	}

	boom := errors.New("connection reset")
	fails := true
	flaky := func(ctx context.Context) (io.ReadCloser, int64, error) {
		if fails {
			return nil, 0, boom
		}
		return load(ctx)
	}
	c, err := d.Open(t.Context(), NewKey("c", time.UnixMilli(1)), int64(len(data)), flaky)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadAt(t.Context(), got[:10], 0); !errors.Is(err, boom) {
		t.Fatalf("read of a failed download: %v", err)
	}
	c.Close()
	fails = false
	c, err = d.Open(t.Context(), NewKey("c", time.UnixMilli(1)), int64(len(data)), flaky)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.ReadAt(t.Context(), got, 0); n != len(data) || (err != nil && err != io.EOF) {
		t.Fatalf("after a failed download, the next Open retries: %d %v", n, err)
	}
}

// AddFile takes a finished file (an uploaded save) without copying when it
// can, and NewDisk empties what an earlier run left.
func TestDiskAddFileAndRestart(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDisk(filepath.Join(dir, "c"), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "saved")
	data := pattern(1 << 20)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	key := NewKey("x", time.UnixMilli(5))
	if err := d.AddFile(key, src, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	os.Remove(src) // the journal removes its entry after the upload
	f, err := d.Open(t.Context(), key, int64(len(data)), func(ctx context.Context) (io.ReadCloser, int64, error) {
		t.Error("a cached file was downloaded")
		return nil, 0, errors.New("no")
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if n, err := f.ReadAt(t.Context(), got, 0); n != len(data) || (err != nil && err != io.EOF) || !bytes.Equal(got, data) {
		t.Fatalf("read: %d %v", n, err)
	}
	f.Close()
	d.RemoveID("x")
	if s := d.Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Errorf("after RemoveID: %+v", s)
	}
	d.AddFile(key, filepath.Join(dir, "missing"), 1)
	if _, err := NewDisk(filepath.Join(dir, "c"), 64<<20); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "c")); len(ents) != 0 {
		t.Errorf("a new disk cache kept %d files", len(ents))
	}
}

// A notebook id is the remote's word: one holding separators or ".." names
// no file outside the cache directory, neither by a download nor by a
// save linked in.
func TestDiskIDStaysInside(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "state", "diskcache")
	d, err := NewDisk(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(base, "journal-data")
	if err := os.WriteFile(src, []byte("the user's notebook"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../../escaped", "../escaped2", "/abs/escaped3", "a/../../b", ".."} {
		if err := d.AddFile(NewKey(id, time.UnixMilli(1)), src, 19); err != nil {
			t.Fatalf("AddFile %q: %v", id, err)
		}
		f, err := d.Open(t.Context(), NewKey(id, time.UnixMilli(2)), 3, func(context.Context) (io.ReadCloser, int64, error) {
			return io.NopCloser(bytes.NewReader([]byte("abc"))), 3, nil
		})
		if err != nil {
			t.Fatalf("Open %q: %v", id, err)
		}
		buf := make([]byte, 3)
		if n, err := f.ReadAt(t.Context(), buf, 0); n != 3 || (err != nil && err != io.EOF) {
			t.Fatalf("read %q: %d %v", id, n, err)
		}
		f.Close()
	}
	err = filepath.WalkDir(base, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || p == src || filepath.Dir(p) == dir {
			return err
		}
		t.Errorf("file outside the cache dir: %s", p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 10 {
		t.Errorf("%d files in the cache dir, want 10", len(ents))
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".") {
			t.Errorf("cache file name %q holds a dot", e.Name())
		}
	}
}
