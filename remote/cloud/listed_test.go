package cloud

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
)

// After a listing whose versions the server says are exact (notebookfs
// serve's), a cold read of a listed notebook is the READ alone, pinned at
// the listed version: what the file system shows, byte for byte, even if
// someone saved since. Once the listing is older than ListingTTL, or once
// the client has seen another version named the newest (Stat, Latest), a
// read asks which version is the newest again. Without the server's word
// (TileDB Cloud) a listing is only a hint: see TestArrayReadSizeFromListing.
func TestArrayReadListedExact(t *testing.T) {
	f := newFake(t)
	f.exact = true
	var mu sync.Mutex
	now := time.UnixMilli(1_800_000_000_000)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := f.client(t, Options{Now: clock, ListingTTL: 5 * time.Second})
	ctx := t.Context()
	v1 := []byte("the listed version, longer than the next")
	a, b, d := f.add("alice", "a", v1), f.add("alice", "b", []byte("bee")), f.add("alice", "d", []byte("dee"))
	list := func() {
		t.Helper()
		if _, err := c.List(ctx, remote.Owned, "alice"); err != nil {
			t.Fatal(err)
		}
		f.resetReqs()
	}
	list()
	got, content := readContent(t, c, "alice", a.id, time.Time{})
	if !bytes.Equal(got, v1) || content.Version.UnixMilli() != a.latest().ms {
		t.Fatalf("read %q %v", got, content.Version)
	}
	rs := wantReqs(t, "cold read of a freshly listed notebook", f, "POST submit?READ")
	if q, _ := url.ParseQuery(rs[0].RawQuery); q.Get("end_timestamp") != fmt.Sprint(a.latest().ms) {
		t.Errorf("READ at %s, want the listed version %d", rs[0].RawQuery, a.latest().ms)
	}

	// Someone saves a shorter version: within the TTL the listed one is
	// read, whole, labelled as it is.
	f.mu.Lock()
	a.insertVersion(fakeVersion{ms: a.latest().ms + 50, data: []byte("shorter")})
	f.mu.Unlock()
	if got, content := readContent(t, c, "alice", a.id, time.Time{}); !bytes.Equal(got, v1) || content.Version.UnixMilli() != a.latest().ms-50 {
		t.Fatalf("read within the TTL after a save elsewhere: %q %v", got, content.Version)
	}
	wantReqs(t, "read within the TTL", f, "POST submit?READ")

	// Past the TTL: the newest is asked again.
	advance(6 * time.Second)
	if got, _ := readContent(t, c, "alice", a.id, time.Time{}); string(got) != "shorter" {
		t.Fatalf("read past the TTL: %q", got)
	}
	wantReqs(t, "read past the TTL", f, "GET fragment_end_timestamp", "GET array_metadata", "POST submit?READ")

	// A fresh listing again; then a Stat or Latest that sees a newer
	// version ends the shortcut at once.
	list()
	for _, tc := range []struct {
		nb  *fakeNotebook
		see func(id string)
	}{
		{b, func(id string) { c.Stat(ctx, "alice", id) }},
		{d, func(id string) { c.Latest(ctx, "alice", id, time.Time{}) }},
	} {
		f.mu.Lock()
		tc.nb.insertVersion(fakeVersion{ms: tc.nb.latest().ms + 50, data: []byte("newer")})
		f.mu.Unlock()
		tc.see(tc.nb.id)
		f.resetReqs()
		if got, _ := readContent(t, c, "alice", tc.nb.id, time.Time{}); string(got) != "newer" {
			t.Errorf("read after seeing a newer version: %q", got)
		}
		wantReqs(t, "read after seeing a newer version", f, "GET fragment_end_timestamp", "GET array_metadata", "POST submit?READ")
	}
}

// rangedCells returns the ranges of the READ queries among rs (not their
// continuations), sorted.
func rangedCells(t *testing.T, rs []seen) [][2]uint64 {
	t.Helper()
	var out [][2]uint64
	for _, r := range rs {
		if arrayReqs([]seen{r})[0] != "POST submit?READ" {
			continue
		}
		q, err := arrayproto.DecodeRead(bytes.NewReader(r.Body), int64(len(r.Body)))
		if err != nil {
			t.Fatal(err)
		}
		if q.Continuation() {
			continue
		}
		out = append(out, [2]uint64{q.Start, q.End})
	}
	slices.SortFunc(out, func(a, b [2]uint64) int { return int(a[0]) - int(b[0]) })
	return out
}

// A notebook over 1 MiB is read as concurrent READs of consecutive ranges,
// all at one timestamp, delivered in order; they cover it exactly once,
// whether the server answers a range in one reply or in several.
func TestArrayReadRanged(t *testing.T) {
	const size = 3<<20 + 12345
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i/4096)
	}
	for _, tc := range []struct {
		name  string
		knobs arrayKnobs
	}{
		{"one reply per range", arrayKnobs{}},
		{"continuations", arrayKnobs{serverCap: 100 << 10, ignoreReadAll: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.exact = true
			nb := f.add("alice", "big", data)
			// Ranges must be in flight together: each waits (up to a
			// second) until a second one arrives.
			var mu sync.Mutex
			inflight, most := 0, 0
			arrived := make(chan struct{})
			knobs := tc.knobs
			knobs.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				if r.URL.Query().Get("type") != arrayproto.TypeRead {
					return false
				}
				mu.Lock()
				inflight++
				most = max(most, inflight)
				if inflight == 2 {
					close(arrived)
				}
				ch := arrived
				mu.Unlock()
				select {
				case <-ch:
				case <-time.After(time.Second):
				}
				mu.Lock()
				inflight--
				mu.Unlock()
				return false
			}
			f.mu.Lock()
			f.array = knobs
			f.mu.Unlock()
			c := f.client(t, Options{})
			if _, err := c.List(t.Context(), remote.Owned, "alice"); err != nil {
				t.Fatal(err)
			}
			f.resetReqs()
			got, content := readContent(t, c, "alice", nb.id, time.Time{})
			if !bytes.Equal(got, data) || content.Version.UnixMilli() != nb.latest().ms {
				t.Fatalf("ranged read: %d bytes, equal %v, version %v", len(got), bytes.Equal(got, data), content.Version)
			}
			rs := f.reqs()
			ranges := rangedCells(t, rs)
			var next uint64
			for _, rg := range ranges {
				if rg[0] != next || rg[1] < rg[0] {
					t.Fatalf("ranges %v do not cover [0, %d] once", ranges, size-1)
				}
				next = rg[1] + 1
			}
			if next != size || len(ranges) < 2 {
				t.Fatalf("ranges %v: want several covering [0, %d]", ranges, size-1)
			}
			for _, r := range rs {
				if q, _ := url.ParseQuery(r.RawQuery); q.Get("end_timestamp") != fmt.Sprint(nb.latest().ms) {
					t.Errorf("%s at %s, want every range at %d", r.Method, r.RawQuery, nb.latest().ms)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if most < 2 {
				t.Errorf("at most %d range READ in flight at once; want them concurrent", most)
			}
			t.Logf("%d ranges, %d requests, up to %d at once", len(ranges), len(rs), most)
		})
	}
}

// A range that fails fails the read at that point, and closing a ranged
// read stops its fetches; the get_file fallback still serves a server
// without the array protocol.
func TestArrayReadRangedFailures(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	f := newFake(t)
	f.exact = true
	nb := f.add("alice", "big", data)
	c := f.client(t, Options{MaxRetries: -1})
	if _, err := c.List(t.Context(), remote.Owned, "alice"); err != nil {
		t.Fatal(err)
	}
	setHook := func(h func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
		f.mu.Lock()
		f.array.hook = h
		f.mu.Unlock()
	}
	setHook(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		q, err := arrayproto.DecodeRead(bytes.NewReader(body), int64(len(body)))
		if err == nil && q.Start > 0 {
			fail(w, http.StatusBadRequest, "no")
			return true
		}
		return false
	})
	content, err := c.Read(t.Context(), "alice", nb.id, time.Time{})
	if err != nil {
		t.Fatalf("the first range is fine: %v", err)
	}
	n, err := io.Copy(io.Discard, content)
	if err == nil || n == 0 || n >= int64(len(data)) {
		t.Errorf("read %d bytes, error %v; want the first range, then the failure", n, err)
	}
	content.Close()

	// Closing early stops the rest.
	setHook(nil)
	content, err = c.Read(t.Context(), "alice", nb.id, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	content.Read(make([]byte, 10))
	content.Close()
	if _, err := content.Read(make([]byte, 10)); err == nil {
		t.Errorf("a read after Close succeeded")
	}

	// No array protocol: get_file, as for any read.
	setHook(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.URL.Query().Get("type") == arrayproto.TypeRead {
			w.WriteHeader(http.StatusNotImplemented)
			return true
		}
		return false
	})
	if got, _ := readContent(t, c, "alice", nb.id, time.Time{}); !bytes.Equal(got, data) {
		t.Errorf("get_file fallback read %d bytes", len(got))
	}
}
