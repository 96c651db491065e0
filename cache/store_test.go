package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/remotetest"
)

// memClient is a remote.Client holding notebooks in memory; only Read
// is needed by a Store (the other methods panic on the nil interface).
type memClient struct {
	remote.Client
	data map[string][]byte // by id
}

func (m *memClient) Read(_ context.Context, ns, id string, _ time.Time) (*remote.Content, error) {
	b, ok := m.data[id]
	if !ok {
		return nil, fmt.Errorf("read %s/%s: %w", ns, id, remote.ErrNotFound)
	}
	return &remote.Content{ReadCloser: io.NopCloser(bytes.NewReader(b)), Size: int64(len(b)), Version: time.UnixMilli(1)}, nil
}

// storeOver makes a Store over notebooks of the given sizes (named by the
// map's keys), counting remote calls.
func storeOver(t *testing.T, sizes map[string]int, o StoreOptions) (*Store, *remotetest.Counting, map[string]remote.Notebook, map[string][]byte) {
	t.Helper()
	mem := &memClient{data: map[string][]byte{}}
	nbs, data := map[string]remote.Notebook{}, map[string][]byte{}
	for name, n := range sizes {
		b := bytes.Repeat([]byte(name[:1]), n)
		id := "id-" + name
		mem.data[id] = b
		nbs[name] = remote.Notebook{ID: id, Namespace: "alice", Name: name, Size: int64(n), Version: time.UnixMilli(1)}
		data[name] = b
	}
	count := remotetest.NewCounting(mem)
	o.Client = count
	s := NewStore(o)
	t.Cleanup(s.Close)
	return s, count, nbs, data
}

func names(nbs []remote.Notebook) []string {
	var out []string
	for _, nb := range nbs {
		out = append(out, nb.Name)
	}
	return out
}

// Prefetch takes notebooks by a byte budget, in name order, large ones
// included (no per-file cap): one that does not fit in what is left is
// skipped, not the rest; cached ones are left out.
func TestPrefetchPlanByBudget(t *testing.T) {
	s, _, nbs, _ := storeOver(t, map[string]int{"d": 100 << 10, "a": 3 << 20, "c": 2 << 20, "b": 600 << 10, "e": 0}, StoreOptions{Content: NewContent(64 << 20)})
	listing := []remote.Notebook{nbs["d"], nbs["a"], nbs["c"], nbs["b"], nbs["e"]}
	if got := fmt.Sprint(names(s.PrefetchPlan(listing, 4<<20))); got != "[a b d]" {
		t.Errorf("plan within 4 MiB: %s, want [a b d] (name order; c does not fit after a and b, d does)", got)
	}
	if got := fmt.Sprint(names(s.PrefetchPlan(listing, 64<<20))); got != "[a b c d]" {
		t.Errorf("plan within 64 MiB: %s, want every non-empty notebook", got)
	}
	if _, err := s.Bytes(context.Background(), "alice", nbs["a"].ID, nbs["a"].Version, nbs["a"].Size); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(names(s.PrefetchPlan(listing, 64<<20))); got != "[b c d]" {
		t.Errorf("plan after a was read: %s, want [b c d]", got)
	}
	if got := s.PrefetchPlan(listing, 0); got != nil {
		t.Errorf("budget 0: %v", names(got))
	}
}

// A prefetched notebook above the disk threshold lands whole in the disk
// cache, not in memory; opening it afterwards costs no remote call.
func TestPrefetchLargeToDisk(t *testing.T) {
	disk, err := NewDisk(t.TempDir(), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	s, count, nbs, data := storeOver(t, map[string]int{"big": 3 << 20, "small": 10 << 10},
		StoreOptions{Content: NewContent(16 << 20), Disk: disk, DiskThreshold: 1 << 20})
	ctx := context.Background()
	todo := s.PrefetchPlan([]remote.Notebook{nbs["big"], nbs["small"]}, 32<<20)
	if got := s.Prefetch(ctx, "alice", todo); got != 3<<20+10<<10 {
		t.Fatalf("prefetched %d bytes", got)
	}
	if st := s.Stats(); st.Disk.Entries != 1 || st.Memory.Entries != 1 || st.Memory.Bytes > 1<<20 {
		t.Errorf("after prefetch: memory %+v, disk %+v; want big on disk, small in memory", st.Memory, *st.Disk)
	}
	count.Reset()
	for _, name := range []string{"big", "small"} {
		nb := nbs[name]
		src, err := s.Open(ctx, "alice", nb.ID, nb.Version, nb.Size)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, nb.Size)
		if n, err := src.ReadAt(ctx, got, 0); int64(n) != nb.Size || (err != nil && err != io.EOF) || !bytes.Equal(got, data[name]) {
			t.Errorf("%s: read %d bytes, %v", name, n, err)
		}
		src.Close()
	}
	if n := count.Total(); n != 0 {
		t.Errorf("reading prefetched notebooks made %d remote calls: %v", n, count.Snapshot())
	}
	if again := s.PrefetchPlan([]remote.Notebook{nbs["big"], nbs["small"]}, 32<<20); len(again) != 0 {
		t.Errorf("plan after prefetch: %v", names(again))
	}
}

// liar announces a huge notebook and sends only a few bytes.
type liar struct{ remote.Client }

func (liar) Read(context.Context, string, string, time.Time) (*remote.Content, error) {
	return &remote.Content{ReadCloser: io.NopCloser(bytes.NewReader([]byte("short"))), Size: 3 << 30, Version: time.UnixMilli(1)}, nil
}

// A server's announced size sets aside no memory before the bytes come:
// 3 GiB announced and 5 bytes sent is an error costing a few MiB at most.
func TestAnnouncedSizeIsNotAllocated(t *testing.T) {
	s := NewStore(StoreOptions{Client: liar{}})
	t.Cleanup(s.Close)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := s.Bytes(context.Background(), "alice", "id", time.Time{}, 3<<30)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a short reply: %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("a 3 GiB announcement allocated %d MiB", got>>20)
	}
}
