package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
)

// steppingClock is a client clock that moves by step on every reading.
func steppingClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}

// readContent reads a whole notebook, checking Size against the bytes.
func readContent(t *testing.T, c *Client, ns, id string, at time.Time) ([]byte, *remote.Content) {
	t.Helper()
	content, err := c.Read(t.Context(), ns, id, at)
	if err != nil {
		t.Fatalf("Read(%s/%s at %v): %v", ns, id, at, err)
	}
	data, err := io.ReadAll(content)
	content.Close()
	if err != nil {
		t.Fatalf("Read(%s/%s at %v): reading: %v", ns, id, at, err)
	}
	if int64(len(data)) != content.Size {
		t.Fatalf("Read(%s/%s at %v): %d bytes, Size %d", ns, id, at, len(data), content.Size)
	}
	return data, content
}

func wantReqs(t *testing.T, what string, f *fake, want ...string) []seen {
	t.Helper()
	rs := f.reqs()
	if got := arrayReqs(rs); !slices.Equal(got, want) {
		t.Fatalf("%s: requests %q, want %q", what, got, want)
	}
	f.resetReqs()
	return rs
}

// Saves of every kind (shorter, longer, empty, UTF-8, binary) read back
// identically, latest and at each version, with the right Version labels;
// the requests per save and per cold read are counted.
func TestArrayWriteReadRoundTrip(t *testing.T) {
	// TileDB keeps metadata apart from fragments; the notebookfs server
	// (strict) derives it from its versions and refuses writes into the
	// past.
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) { testArrayWriteReadRoundTrip(t, strict) })
	}
}

func testArrayWriteReadRoundTrip(t *testing.T, strict bool) {
	f := newFake(t)
	f.array.strict = strict
	c := f.client(t, Options{Now: steppingClock(time.UnixMilli(1_800_000_000_000), time.Second)})
	ctx := t.Context()
	if _, err := c.Whoami(ctx); err != nil { // the user, fetched once per client
		t.Fatal(err)
	}
	first := []byte(`{"cells":[{"cell_type":"markdown","source":"a rather long first version"}],"nbformat":4}`)
	nb0 := f.add("alice", "history", first)
	all := []byte{}
	for i := range 256 {
		all = append(all, byte(i))
	}
	saves := [][]byte{
		[]byte(`{"cells":[],"nbformat":4}`), // shorter: the old tail must not show
		[]byte(`{"cells":[{"source":"ünïcödé 😀 日本語"}],"metadata":{"kernelspec":{"name":"python3"}},"nbformat":4}`),
		{}, // empty
		all,
		bytes.Repeat([]byte("0123456789"), 5000), // longer than everything before
		[]byte(`{}`),
	}
	f.resetReqs()
	var written []remote.Notebook
	for i, data := range saves {
		nb, err := c.Write(ctx, "alice", nb0.id, bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		switch {
		case i == 0:
			// Unknown to the client: ArrayInfo first.
			wantReqs(t, "first save", f, "GET metadata", "POST submit?WRITE", "POST array_metadata")
		case len(data) == 0 && strict:
			// The metadata POST made the version.
			wantReqs(t, "empty save", f, "POST array_metadata", "GET fragment_end_timestamp")
		case len(data) == 0:
			wantReqs(t, "empty save", f, "POST array_metadata", "GET fragment_end_timestamp", "POST submit?WRITE")
		default:
			wantReqs(t, "save", f, "POST submit?WRITE", "POST array_metadata")
		}
		if nb.ID != nb0.id || nb.Namespace != "alice" || nb.Name != "history" || nb.Size != int64(len(data)) ||
			!nb.Created.Equal(nb0.created) || !slices.Equal(nb.Actions, []string{"read", "share", "write"}) {
			t.Fatalf("Write %d: %+v", i, nb)
		}
		if len(written) > 0 && !nb.Version.After(written[len(written)-1].Version) {
			t.Fatalf("Write %d: version %v not after %v", i, nb.Version, written[len(written)-1].Version)
		}
		written = append(written, nb)

		// The writer knows the size of its version: no array_metadata.
		got, content := readContent(t, c, "alice", nb0.id, time.Time{})
		if !bytes.Equal(got, data) || !content.Version.Equal(nb.Version) {
			t.Fatalf("Read after Write %d: %d bytes (want %d), version %v (want %v)", i, len(got), len(data), content.Version, nb.Version)
		}
		if len(data) == 0 {
			wantReqs(t, "writer's read of an empty notebook", f, "GET fragment_end_timestamp")
		} else {
			wantReqs(t, "writer's read", f, "GET fragment_end_timestamp", "POST submit?READ")
		}
		// Another client, cold: the size as of V first.
		other := f.client(t, Options{})
		got, content = readContent(t, other, "alice", nb0.id, time.Time{})
		if !bytes.Equal(got, data) || !content.Version.Equal(nb.Version) {
			t.Fatalf("cold Read after Write %d: %d bytes (want %d), version %v (want %v)", i, len(got), len(data), content.Version, nb.Version)
		}
		if len(data) == 0 {
			wantReqs(t, "cold read of an empty notebook", f, "GET fragment_end_timestamp", "GET array_metadata")
		} else {
			rs := wantReqs(t, "cold read", f, "GET fragment_end_timestamp", "GET array_metadata", "POST submit?READ")
			v := strconv.FormatInt(nb.Version.UnixMilli(), 10)
			for _, r := range rs[1:] {
				q, _ := url.ParseQuery(r.RawQuery)
				if q.Get("start_timestamp") != "0" || q.Get("end_timestamp") != v ||
					r.Header.Get("Content-Type") != capnpType || r.Header.Get("Accept") != capnpType {
					t.Fatalf("%s %s?%s: not pinned at %s or not capnp: %v", r.Method, r.Path, r.RawQuery, v, r.Header)
				}
			}
			if q, _ := url.ParseQuery(rs[2].RawQuery); q.Get("read_all") != "true" {
				t.Fatalf("READ without read_all: %s", rs[2].RawQuery)
			}
			rq, err := arrayproto.DecodeRead(bytes.NewReader(rs[2].Body), int64(len(rs[2].Body)))
			if err != nil || rq.Start != 0 || rq.End != uint64(len(data)-1) || rq.Capacity != uint64(len(data)) {
				t.Fatalf("READ body: %+v %v", rq, err)
			}
			// Again (evicted from a cache above): the version is the same,
			// its size known.
			readContent(t, other, "alice", nb0.id, time.Time{})
			wantReqs(t, "second read", f, "GET fragment_end_timestamp", "POST submit?READ")
		}
		st, err := c.Stat(ctx, "alice", nb0.id)
		if err != nil || st.Size != nb.Size || !st.Version.Equal(nb.Version) || st.Name != nb.Name || !st.Created.Equal(nb.Created) {
			t.Fatalf("Stat after Write %d: %+v %v, want %+v", i, st, err, nb)
		}
		f.resetReqs()
	}

	// Every version, at its time and between versions.
	vs, err := c.Versions(ctx, "alice", nb0.id)
	if err != nil || len(vs) != len(saves)+1 {
		t.Fatalf("Versions: %+v %v", vs, err)
	}
	contents := append([][]byte{first}, saves...)
	for i, v := range vs {
		if v.Size != int64(len(contents[i])) {
			t.Fatalf("version %d: Size %d, want %d", i, v.Size, len(contents[i]))
		}
		f.resetReqs()
		got, content := readContent(t, c, "alice", nb0.id, v.Time)
		if !bytes.Equal(got, contents[i]) || !content.Version.Equal(v.Time) {
			t.Fatalf("Read at version %d: %q version %v", i, clipBytes(got), content.Version)
		}
		if len(contents[i]) > 0 {
			rs := f.reqs()
			if len(rs) != 3 || arrayReqs(rs)[2] != "POST submit?READ" {
				t.Fatalf("read at a version: %q", arrayReqs(rs))
			}
		}
		f.resetReqs()
		between := v.Time.Add(500 * time.Millisecond)
		got, content = readContent(t, c, "alice", nb0.id, between)
		if !bytes.Equal(got, contents[i]) || !content.Version.Equal(v.Time) {
			t.Fatalf("Read between versions %d and %d: %q version %v", i, i+1, clipBytes(got), content.Version)
		}
		// The first version is old (years before the client's clock): its
		// metadata and bytes are read at the time asked, concurrently with
		// the version. The others are recent: version first, then both at
		// it.
		wantAt := strconv.FormatInt(v.Time.UnixMilli(), 10)
		if i == 0 {
			wantAt = strconv.FormatInt(between.UnixMilli(), 10)
		}
		for _, r := range f.reqs() {
			q, _ := url.ParseQuery(r.RawQuery)
			switch {
			case strings.HasSuffix(r.Path, "/fragment_end_timestamp"):
				if q.Get("end_timestamp") != strconv.FormatInt(between.UnixMilli(), 10) {
					t.Fatalf("version %d: fragment_end_timestamp?%s", i, r.RawQuery)
				}
			case q.Get("end_timestamp") != wantAt:
				t.Fatalf("version %d: %s at %s, want %s", i, r.Path, q.Get("end_timestamp"), wantAt)
			}
		}
	}
	if _, err := c.Read(ctx, "alice", nb0.id, vs[0].Time.Add(-time.Millisecond)); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Read before the first version: %v", err)
	}
	if _, err := c.Read(ctx, "alice", nb0.id, time.UnixMilli(-5)); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Read before 1970: %v", err)
	}
}

func clipBytes(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// The WRITE body is one arrayproto.DecodeWrite accepts, for [0, n-1] at
// T = the client's now; the metadata POST carries file_size n at the same
// T. Timestamps strictly increase even when the clock does not.
func TestArrayWriteWire(t *testing.T) {
	f := newFake(t)
	f.clock = 1_600_000_000_000
	const T = 1_700_000_000_000
	c := f.client(t, Options{Now: func() time.Time { return time.UnixMilli(T) }})
	ctx := t.Context()
	nb0 := f.add("alice", "nb", []byte("old contents, longer"))
	if _, err := c.Stat(ctx, "alice", nb0.id); err != nil { // known: saves take 2 requests
		t.Fatal(err)
	}
	f.resetReqs()
	data := []byte("0123456789")
	nb, err := c.Write(ctx, "alice", nb0.id, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !nb.Version.Equal(time.UnixMilli(T)) || nb.Size != 10 {
		t.Fatalf("Write: %+v", nb)
	}
	rs := wantReqs(t, "save", f, "POST submit?WRITE", "POST array_metadata")
	wr, mp := rs[0], rs[1]
	if wr.Path != "/v2/arrays/alice/"+nb0.id+"/query/submit" || mp.Path != "/v1/arrays/alice/"+nb0.id+"/array_metadata" {
		t.Fatalf("paths %s, %s", wr.Path, mp.Path)
	}
	for _, r := range rs {
		if r.Header.Get("Content-Type") != capnpType || r.Header.Get("Content-Length") != strconv.Itoa(len(r.Body)) {
			t.Fatalf("%s headers %v (body %d)", r.Path, r.Header, len(r.Body))
		}
	}
	q, _ := url.ParseQuery(wr.RawQuery)
	if q.Get("type") != "WRITE" || q.Get("start_timestamp") != "0" || q.Get("end_timestamp") != strconv.Itoa(T) {
		t.Fatalf("WRITE query %s", wr.RawQuery)
	}
	w, err := arrayproto.DecodeWrite(bytes.NewReader(wr.Body), int64(len(wr.Body)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.ReadData()
	if err != nil || w.Start != 0 || w.End != 9 || w.Timestamp != T || !bytes.Equal(got, data) ||
		int64(len(wr.Body)) != w.MessageSize+10 {
		t.Fatalf("WRITE body: %+v %q %v", w, got, err)
	}
	q, _ = url.ParseQuery(mp.RawQuery)
	if q.Get("start_timestamp") != "0" || q.Get("end_timestamp") != strconv.Itoa(T) {
		t.Fatalf("metadata query %s", mp.RawQuery)
	}
	entries, err := arrayproto.DecodeArrayMetadata(bytes.NewReader(mp.Body), int64(len(mp.Body)))
	if err != nil || len(mp.Body) != 224 {
		t.Fatalf("metadata body of %d bytes: %v", len(mp.Body), err)
	}
	m := arrayproto.Metadata{}
	m.Apply(entries)
	if size, ok, _ := m.FileSize(); !ok || size != 10 || string(m["type"].Value) != "notebook" || string(m["format"].Value) != "json" ||
		m["file_size"].Type != "INT64" {
		t.Fatalf("metadata %+v", entries)
	}
	t.Logf("save of %d bytes: WRITE %d bytes (message %d), metadata POST %d bytes", len(data), len(wr.Body), w.MessageSize, len(mp.Body))

	// The clock stands still: the next saves get T+1, T+2.
	for i := 1; i <= 2; i++ {
		nb, err := c.Write(ctx, "alice", nb0.id, bytes.NewReader(data), int64(len(data)))
		if err != nil || nb.Version.UnixMilli() != T+int64(i) {
			t.Fatalf("save %d: %+v %v", i, nb, err)
		}
	}
	rs = f.reqs()
	for i, r := range rs {
		q, _ := url.ParseQuery(r.RawQuery)
		if want := strconv.Itoa(T + 1 + i/2); q.Get("end_timestamp") != want {
			t.Fatalf("request %d at %s, want %s", i, q.Get("end_timestamp"), want)
		}
	}
	f.resetReqs()

	// An empty save: file_size 0, then (metadata being no version on
	// TileDB) one cell, the fill value, at the same T.
	nb, err = c.Write(ctx, "alice", nb0.id, bytes.NewReader(nil), 0)
	if err != nil || nb.Size != 0 {
		t.Fatalf("empty save: %+v %v", nb, err)
	}
	rs = wantReqs(t, "empty save", f, "POST array_metadata", "GET fragment_end_timestamp", "POST submit?WRITE")
	w, err = arrayproto.DecodeWrite(bytes.NewReader(rs[2].Body), int64(len(rs[2].Body)))
	if err != nil || w.Start != 0 || w.End != 0 {
		t.Fatalf("empty save WRITE: %+v %v", w, err)
	}
	if cell, _ := w.ReadData(); !bytes.Equal(cell, []byte{255}) {
		t.Fatalf("empty save cell %v", cell)
	}
	for _, r := range []seen{rs[0], rs[2]} {
		if q, _ := url.ParseQuery(r.RawQuery); q.Get("end_timestamp") != strconv.FormatInt(nb.Version.UnixMilli(), 10) {
			t.Fatalf("empty save: %s at %s, version %v", r.Path, r.RawQuery, nb.Version)
		}
	}
	entries, _ = arrayproto.DecodeArrayMetadata(bytes.NewReader(rs[0].Body), int64(len(rs[0].Body)))
	m = arrayproto.Metadata{}
	m.Apply(entries)
	if size, ok, _ := m.FileSize(); !ok || size != 0 {
		t.Fatalf("empty save metadata %+v", entries)
	}
	if data, content := readContent(t, c, "alice", nb0.id, time.Time{}); len(data) != 0 || !content.Version.Equal(nb.Version) {
		t.Fatalf("read of the empty save: %q %v", data, content.Version)
	}

	// A server that stores the fragment at its own timestamp: the
	// metadata follows it, and so does the Version.
	f.mu.Lock()
	f.array.writeAt = T + 500
	f.mu.Unlock()
	f.resetReqs()
	nb, err = c.Write(ctx, "alice", nb0.id, bytes.NewReader(data), int64(len(data)))
	if err != nil || nb.Version.UnixMilli() != T+500 {
		t.Fatalf("server timestamp: %+v %v", nb, err)
	}
	if q, _ := url.ParseQuery(f.reqs()[1].RawQuery); q.Get("end_timestamp") != strconv.Itoa(T+500) {
		t.Fatalf("metadata not at the server's timestamp: %s", f.reqs()[1].RawQuery)
	}
	f.mu.Lock()
	f.array.writeAt = 0
	f.mu.Unlock()
	// The next save goes after it.
	if nb, err = c.Write(ctx, "alice", nb0.id, bytes.NewReader(data), int64(len(data))); err != nil || nb.Version.UnixMilli() != T+501 {
		t.Fatalf("after the server's timestamp: %+v %v", nb, err)
	}
}

// A reader holding more or fewer bytes than announced is ErrInvalid and
// stores no version: a Seeker before sending, a stream before its last byte.
func TestArrayWriteSizeMismatch(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Options{})
	ctx := t.Context()
	nb0 := f.add("alice", "nb", []byte("v1"))
	if _, err := c.Stat(ctx, "alice", nb0.id); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 300<<10)
	for _, tc := range []struct {
		name string
		r    io.Reader
		size int64
	}{
		{"seeker longer", strings.NewReader("hello!"), 5},
		{"seeker shorter", strings.NewReader("hell"), 5},
		{"stream longer", io.MultiReader(strings.NewReader("hello!")), 5},
		{"stream shorter", io.MultiReader(strings.NewReader("hell")), 5},
		{"big stream longer", io.MultiReader(strings.NewReader(big + "!")), int64(len(big))},
		{"big stream shorter", io.MultiReader(strings.NewReader(big[1:])), int64(len(big))},
		{"big seeker longer", strings.NewReader(big + "!"), int64(len(big))},
		{"empty announced, data given", io.MultiReader(strings.NewReader("x")), 0},
		{"negative", strings.NewReader(""), -1},
	} {
		f.resetReqs()
		_, err := c.Write(ctx, "alice", nb0.id, tc.r, tc.size)
		if !errors.Is(err, remote.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
		for _, r := range f.reqs() {
			if strings.HasSuffix(r.Path, "/array_metadata") {
				t.Errorf("%s: metadata posted", tc.name)
			}
			if r.Method == "POST" && int64(len(r.Body)) == mustAtoi(r.Header.Get("Content-Length")) {
				t.Errorf("%s: a whole WRITE of the wrong size reached the server", tc.name)
			}
		}
	}
	f.mu.Lock()
	n := len(f.notebooks[nb0.id].versions)
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d versions after refused writes", n)
	}
}

func mustAtoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Both POSTs of a save carry its timestamp, so they are retried like
// idempotent requests when the body can be sent again; a consumed stream is
// not.
func TestArrayWriteRetries(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) { testArrayWriteRetries(t, strict) })
	}
}

func testArrayWriteRetries(t *testing.T, strict bool) {
	f := newFake(t)
	f.array.strict = strict
	c := f.client(t, Options{})
	ctx := t.Context()
	nb0 := f.add("alice", "nb", []byte("v1"))
	if _, err := c.Stat(ctx, "alice", nb0.id); err != nil {
		t.Fatal(err)
	}
	// The WRITE is stored, then its reply is lost; then a 503; then the
	// metadata POST gets a 502 once.
	var writes, metas int
	f.array.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		switch {
		case strings.HasSuffix(r.URL.Path, "/submit") && r.URL.Query().Get("type") == "WRITE":
			writes++
			switch writes {
			case 1:
				f.submitStore(r, body)
				hangUp(t, w)
				return true
			case 2:
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
		case strings.HasSuffix(r.URL.Path, "/array_metadata") && r.Method == "POST":
			metas++
			if metas == 1 {
				w.WriteHeader(http.StatusBadGateway)
				return true
			}
		}
		return false
	}
	data := []byte("version two")
	nb, err := c.Write(ctx, "alice", nb0.id, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if writes != 3 || metas != 2 {
		t.Fatalf("%d WRITEs, %d metadata POSTs; want 3, 2", writes, metas)
	}
	bodies := map[string]bool{}
	for _, r := range f.reqs() {
		if strings.HasSuffix(r.Path, "/submit") {
			bodies[r.RawQuery+string(r.Body)] = true
		}
	}
	if len(bodies) != 1 {
		t.Fatalf("the WRITE was re-sent with another URL or body")
	}
	// Two fragments at the same T, one version.
	if got, content := readContent(t, c, "alice", nb0.id, time.Time{}); !bytes.Equal(got, data) || !content.Version.Equal(nb.Version) {
		t.Fatalf("read back %q at %v", got, content.Version)
	}
	if vs, err := c.Versions(ctx, "alice", nb0.id); err != nil || len(vs) != 2 {
		t.Fatalf("Versions %+v %v", vs, err)
	}

	// A stream read once is not sent again.
	writes = 0
	f.array.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if strings.HasSuffix(r.URL.Path, "/submit") {
			writes++
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	if _, err := c.Write(ctx, "alice", nb0.id, io.MultiReader(bytes.NewReader(data)), int64(len(data))); err == nil || writes != 1 {
		t.Fatalf("consumed stream: %v after %d WRITEs", err, writes)
	}
}

// A server refusing a save's timestamp because it holds a newer version
// (409) gets one more try after that version; then ErrConflict, not
// ErrExist.
func TestArrayWriteConflict(t *testing.T) {
	f := newFake(t)
	f.array.strict = true
	f.clock = 1_600_000_000_000
	const T = 1_700_000_000_000
	c := f.client(t, Options{Now: func() time.Time { return time.UnixMilli(T) }})
	ctx := t.Context()
	nb0 := f.add("alice", "nb", []byte("v1"))
	if _, err := c.Stat(ctx, "alice", nb0.id); err != nil {
		t.Fatal(err)
	}
	// Another client saved at T+100 (its clock is ahead of ours).
	f.mu.Lock()
	f.notebooks[nb0.id].insertVersion(fakeVersion{ms: T + 100, data: []byte("theirs")})
	f.mu.Unlock()
	f.resetReqs()
	data := []byte("ours, saved last")
	nb, err := c.Write(ctx, "alice", nb0.id, bytes.NewReader(data), int64(len(data)))
	if err != nil || nb.Version.UnixMilli() != T+101 {
		t.Fatalf("Write after a newer version: %+v %v", nb, err)
	}
	wantReqs(t, "save after a conflict", f, "POST submit?WRITE", "GET fragment_end_timestamp", "POST submit?WRITE", "POST array_metadata")
	if got, content := readContent(t, c, "alice", nb0.id, time.Time{}); !bytes.Equal(got, data) || !content.Version.Equal(nb.Version) {
		t.Fatalf("read back %q at %v", got, content.Version)
	}
	// A stream cannot be sent again: ErrConflict.
	f.mu.Lock()
	f.notebooks[nb0.id].insertVersion(fakeVersion{ms: T + 1000, data: []byte("theirs again")})
	f.mu.Unlock()
	_, err = c.Write(ctx, "alice", nb0.id, io.MultiReader(bytes.NewReader(data)), int64(len(data)))
	if !errors.Is(err, remote.ErrConflict) || errors.Is(err, remote.ErrExist) {
		t.Fatalf("conflicting stream: %v", err)
	}
	// An empty save conflicts at its metadata POST, and is retried too.
	f.mu.Lock()
	f.notebooks[nb0.id].insertVersion(fakeVersion{ms: T + 2000, data: []byte("theirs, third")})
	f.mu.Unlock()
	f.resetReqs()
	nb, err = c.Write(ctx, "alice", nb0.id, bytes.NewReader(nil), 0)
	if err != nil || nb.Version.UnixMilli() != T+2001 || nb.Size != 0 {
		t.Fatalf("empty save after a newer version: %+v %v", nb, err)
	}
	wantReqs(t, "empty save after a conflict", f, "POST array_metadata", "GET fragment_end_timestamp", "POST array_metadata", "GET fragment_end_timestamp")
	if got, _ := readContent(t, c, "alice", nb0.id, time.Time{}); len(got) != 0 {
		t.Fatalf("read back %q", got)
	}
}

// submitStore stores a WRITE as the fake would, without answering.
func (f *fake) submitStore(r *http.Request, body []byte) {
	rec := httptest.NewRecorder()
	end, _ := endOf(rec, r)
	f.write(rec, r, body, end)
}

// INCOMPLETE replies: with read_all the server streams all chunks in one
// reply; without, the client posts each INCOMPLETE chunk back verbatim.
func TestArrayReadContinuation(t *testing.T) {
	data := []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 3)[:100])
	for _, tc := range []struct {
		name          string
		clientBuf     int64
		serverCap     uint64
		ignoreReadAll bool
		posts         int
	}{
		{"read_all, client buffer 16", 16, 0, false, 1},
		{"read_all, server buffer 7", 0, 7, false, 1},
		{"one chunk per reply, client buffer 16", 16, 0, true, 7},
		{"one chunk per reply, server buffer 7", 64, 7, true, 15},
		{"buffer larger than the notebook", 1000, 0, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.array.serverCap, f.array.ignoreReadAll = tc.serverCap, tc.ignoreReadAll
			c := f.client(t, Options{})
			if tc.clientBuf > 0 {
				c.readBuffer = tc.clientBuf
			}
			nb := f.add("alice", "nb", data)
			f.add("alice", "other", []byte("x")) // unrelated
			f.mu.Lock()
			nb.versions = append([]fakeVersion{{ms: 1, data: bytes.Repeat([]byte("#"), 300)}}, nb.versions...) // stale cells past 100
			f.mu.Unlock()
			f.resetReqs()
			got, _ := readContent(t, c, "alice", nb.id, time.Time{})
			if !bytes.Equal(got, data) {
				t.Fatalf("read %q", got)
			}
			var posts []seen
			for _, r := range f.reqs() {
				if r.Method == "POST" {
					posts = append(posts, r)
				}
			}
			if len(posts) != tc.posts {
				t.Fatalf("%d READ POSTs, want %d", len(posts), tc.posts)
			}
			f.mu.Lock()
			replies := slices.Clone(f.replies)
			f.mu.Unlock()
			for i := 1; i < len(posts); i++ {
				// The continuation is the previous reply without its prefix.
				if !bytes.Equal(posts[i].Body, replies[i-1][8:]) {
					t.Fatalf("continuation %d is not the previous reply verbatim", i)
				}
				if q := posts[i].RawQuery; q != posts[0].RawQuery {
					t.Fatalf("continuation to %s, first to %s", q, posts[0].RawQuery)
				}
			}
		})
	}
}

// A listing entry gives a version and its size together: a read right
// after it needs no array_metadata, unless a newer version appeared
// meanwhile. A Stat's pair (two concurrent requests) is not trusted.
func TestArrayReadSizeFromListing(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Options{})
	ctx := t.Context()
	v1 := []byte("the listed version, longer than the next")
	nb := f.add("alice", "nb", v1)
	if _, err := c.List(ctx, remote.Owned, "alice"); err != nil {
		t.Fatal(err)
	}
	f.resetReqs()
	if got, content := readContent(t, c, "alice", nb.id, time.Time{}); !bytes.Equal(got, v1) || content.Version.UnixMilli() != nb.latest().ms {
		t.Fatalf("read %q %v", got, content.Version)
	}
	wantReqs(t, "read after a listing", f, "GET fragment_end_timestamp", "POST submit?READ")
	// Someone saves a shorter version: the listed size is not used.
	v2 := []byte("shorter")
	f.mu.Lock()
	nb.insertVersion(fakeVersion{ms: nb.latest().ms + 50, data: v2})
	f.mu.Unlock()
	if got, _ := readContent(t, c, "alice", nb.id, time.Time{}); !bytes.Equal(got, v2) {
		t.Fatalf("read %q after a save elsewhere", got)
	}
	wantReqs(t, "read after a save elsewhere", f, "GET fragment_end_timestamp", "GET array_metadata", "POST submit?READ")
	// Stat does not record its pair.
	c2 := f.client(t, Options{})
	if _, err := c2.Stat(ctx, "alice", nb.id); err != nil {
		t.Fatal(err)
	}
	f.resetReqs()
	readContent(t, c2, "alice", nb.id, time.Time{})
	wantReqs(t, "read after a Stat", f, "GET fragment_end_timestamp", "GET array_metadata", "POST submit?READ")
}

// A reply cut short is asked again from the last whole chunk: the query
// when none came, else the continuation of the last INCOMPLETE one.
func TestArrayReadResumes(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 10))
	for _, tc := range []struct {
		name   string
		cutAt  func(chunks [][]byte) int // bytes of the first reply sent
		resume int                       // chunks the second request continues from (0: the query)
	}{
		{"inside the first chunk", func(ch [][]byte) int { return 8 + len(ch[0])/2 }, 0},
		{"inside the fourth chunk", func(ch [][]byte) int { return 3*(8+len(ch[0])) + 20 }, 3},
		{"after the third chunk", func(ch [][]byte) int { return 3 * (8 + len(ch[0])) }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.array.serverCap = 10
			c := f.client(t, Options{})
			nb := f.add("alice", "nb", data)
			var first [][]byte
			posts := 0
			f.array.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				if !strings.HasSuffix(r.URL.Path, "/submit") {
					return false
				}
				posts++
				if posts > 1 {
					return false
				}
				rec := httptest.NewRecorder()
				end, _ := endOf(rec, r)
				f.read(rec, r, body, end)
				full := rec.Body.Bytes()
				first = chunks(full)
				conn, buf, _ := http.NewResponseController(w).Hijack()
				fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/capnp\r\nContent-Length: %d\r\n\r\n", len(full))
				buf.Write(full[:tc.cutAt(first)])
				buf.Flush()
				conn.Close()
				return true
			}
			f.resetReqs()
			got, _ := readContent(t, c, "alice", nb.id, time.Time{})
			if !bytes.Equal(got, data) {
				t.Fatalf("read %q", got)
			}
			var bodies [][]byte
			for _, r := range f.reqs() {
				if r.Method == "POST" {
					bodies = append(bodies, r.Body)
				}
			}
			if len(bodies) != 2 {
				t.Fatalf("%d READ POSTs, want 2", len(bodies))
			}
			want := bodies[0]
			if tc.resume > 0 {
				want = first[tc.resume-1]
			}
			if !bytes.Equal(bodies[1], want) {
				t.Fatalf("resumed with the wrong body (%d bytes)", len(bodies[1]))
			}
		})
	}

	// A server that always cuts the reply: MaxRetries resumptions, then an
	// error at Read, not at the call.
	f := newFake(t)
	c := f.client(t, Options{MaxRetries: 2})
	nb := f.add("alice", "nb", data)
	f.array.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if !strings.HasSuffix(r.URL.Path, "/submit") {
			return false
		}
		conn, buf, _ := http.NewResponseController(w).Hijack()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\x00\x01")
		buf.Flush()
		conn.Close()
		return true
	}
	content, err := c.Read(t.Context(), "alice", nb.id, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(content)
	content.Close()
	if err == nil || !strings.Contains(err.Error(), "cut short after 0 of 100 bytes") {
		t.Fatalf("always cut: %v", err)
	}
	if n := len(arrayReqs(f.reqs())); n != 2+3 {
		t.Fatalf("%d requests, want 2 + 3 READs", n)
	}
}

// Errors map as the rest of the client's; malformed replies are errors,
// not retried; a server without the array protocol is read with get_file.
func TestArrayErrors(t *testing.T) {
	ctx := t.Context()
	type failure struct {
		match  string // request path suffix (and query type)
		status int
	}
	hookFor := func(fl failure) func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		return func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			name := r.Method + " " + r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
			if t := r.URL.Query().Get("type"); t != "" {
				name += "?" + t
			}
			if name != fl.match {
				return false
			}
			fail(w, fl.status, "refused")
			return true
		}
	}
	for _, tc := range []struct {
		fail  failure
		write bool
		want  error
	}{
		{failure{"GET fragment_end_timestamp", 404}, false, remote.ErrNotFound},
		{failure{"GET fragment_end_timestamp", 401}, false, remote.ErrUnauthenticated},
		{failure{"GET array_metadata", 403}, false, remote.ErrPermission},
		{failure{"GET array_metadata", 400}, false, remote.ErrInvalid},
		{failure{"POST submit?READ", 403}, false, remote.ErrPermission},
		{failure{"POST submit?READ", 400}, false, remote.ErrInvalid},
		{failure{"POST submit?READ", 500}, false, nil},
		{failure{"POST submit?WRITE", 403}, true, remote.ErrPermission},
		{failure{"POST submit?WRITE", 404}, true, remote.ErrNotFound},
		{failure{"POST submit?WRITE", 400}, true, remote.ErrInvalid},
		{failure{"POST submit?WRITE", 501}, true, remote.ErrUnsupported},
		{failure{"POST array_metadata", 403}, true, remote.ErrPermission},
	} {
		f := newFake(t)
		c := f.client(t, Options{})
		nb := f.add("alice", "nb", []byte("contents"))
		f.array.hook = hookFor(tc.fail)
		var err error
		if tc.write {
			_, err = c.Write(ctx, "alice", nb.id, strings.NewReader("new"), 3)
		} else {
			_, err = c.Read(ctx, "alice", nb.id, time.Time{})
		}
		var e *Error
		if err == nil || !errors.As(err, &e) || e.Status != tc.fail.status {
			t.Errorf("%s %d: %v", tc.fail.match, tc.fail.status, err)
			continue
		}
		for _, s := range []error{remote.ErrNotFound, remote.ErrUnauthenticated, remote.ErrPermission, remote.ErrInvalid, remote.ErrUnsupported} {
			if errors.Is(err, s) != (s == tc.want) {
				t.Errorf("%s %d: %v: errors.Is(%v) = %v", tc.fail.match, tc.fail.status, err, s, !(s == tc.want))
			}
		}
		if tc.fail.match == "POST array_metadata" && !strings.Contains(err.Error(), "stored as version") {
			t.Errorf("metadata failure does not say the contents were stored: %v", err)
		}
	}

	// At a version, a 404 from fragment_end_timestamp is "no version then".
	f := newFake(t)
	c := f.client(t, Options{})
	nb := f.add("alice", "nb", []byte("contents"))
	if _, err := c.Read(ctx, "alice", nb.id, nb.created.Add(-time.Second)); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("read before creation: %v", err)
	}
	if _, err := c.Read(ctx, "alice", newID(), time.Time{}); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("read of a missing notebook: %v", err)
	}
	// A save of a missing notebook fails at ArrayInfo, before any upload.
	f.resetReqs()
	if _, err := c.Write(ctx, "alice", newID(), strings.NewReader("x"), 1); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("write of a missing notebook: %v", err)
	}
	for _, r := range f.reqs() {
		if r.Method == "POST" {
			t.Fatalf("write of a missing notebook uploaded: %s", r.Path)
		}
	}

	// Malformed replies: an error, no retry.
	for name, body := range map[string][]byte{
		"garbage":        []byte("this is not a capnp reply at all, but long enough"),
		"write reply":    writeReplyBytes(t),
		"more than n":    readReplyBytes(t, 0, 19, 20, bytes.Repeat([]byte("z"), 20), true),
		"short COMPLETE": readReplyBytes(t, 0, 3, 8, []byte("abcd"), true),
	} {
		f.array.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			if !strings.HasSuffix(r.URL.Path, "/submit") {
				return false
			}
			w.Write(body)
			return true
		}
		c := f.client(t, Options{})
		f.resetReqs()
		content, err := c.Read(ctx, "alice", nb.id, time.Time{})
		if err == nil {
			_, err = io.ReadAll(content)
			content.Close()
		}
		if !errors.Is(err, arrayproto.ErrMalformed) && !errors.Is(err, arrayproto.ErrTooLarge) {
			t.Errorf("%s: %v, want a malformed reply", name, err)
		}
		// Count the READ submits: Go's transport may itself resend an
		// idempotent GET once on a dropped keep-alive connection, which
		// is not a retry of the malformed reply.
		submits := 0
		for _, r := range f.reqs() {
			if strings.HasSuffix(r.Path, "/submit") {
				submits++
			}
		}
		if submits != 1 {
			t.Errorf("%s: %d READ submits, want 1 (no retry)", name, submits)
		}
	}

	// No array protocol (501 from array_metadata): get_file, labelled
	// with the version, checked again at the end.
	f.array.hook = hookFor(failure{"GET array_metadata", 501})
	c = f.client(t, Options{})
	f.resetReqs()
	got, content := readContent(t, c, "alice", nb.id, time.Time{})
	if string(got) != "contents" || !content.Version.Equal(time.UnixMilli(f.notebooks[nb.id].latest().ms).UTC()) {
		t.Fatalf("fallback read: %q %v", got, content.Version)
	}
	wantReqs(t, "fallback read", f, "GET fragment_end_timestamp", "GET array_metadata", "GET get_file", "GET fragment_end_timestamp")
	// A save landing during the fallback read fails it.
	f.array.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/array_metadata") {
			f.mu.Lock()
			n := f.notebooks[nb.id]
			n.insertVersion(fakeVersion{ms: n.latest().ms + 10, data: []byte("newer")})
			f.mu.Unlock()
			fail(w, http.StatusNotFound, "no such endpoint")
			return true
		}
		return false
	}
	c = f.client(t, Options{})
	content, err := c.Read(ctx, "alice", nb.id, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(content); !errors.Is(err, remote.ErrConflict) {
		t.Fatalf("fallback read across a save: %v", err)
	}
	content.Close()
	// An old version has no fallback.
	f.array.hook = hookFor(failure{"POST submit?READ", 501})
	if _, err := c.Read(ctx, "alice", nb.id, time.Now()); !errors.Is(err, remote.ErrUnsupported) {
		t.Fatalf("old version without the array protocol: %v", err)
	}
}

func writeReplyBytes(t *testing.T) []byte {
	var b bytes.Buffer
	body := bytes.Buffer{}
	arrayproto.EncodeWrite(&body, []byte("0123456789"))
	q, err := arrayproto.DecodeWrite(&body, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	arrayproto.WriteWriteReply(&b, q, 1, "frag")
	return b.Bytes()
}

func readReplyBytes(t *testing.T, start, end, capacity uint64, data []byte, complete bool) []byte {
	var b bytes.Buffer
	q := arrayproto.ReadQuery{Start: start, End: end, Capacity: capacity, Layout: "row-major"}
	if err := arrayproto.WriteReadReply(&b, q, data, complete); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The read's context: canceling it stops a stream mid-way.
func TestArrayReadCanceled(t *testing.T) {
	f := newFake(t)
	f.array.serverCap = 10
	f.array.ignoreReadAll = true
	c := f.client(t, Options{})
	nb := f.add("alice", "nb", bytes.Repeat([]byte("q"), 100))
	ctx, cancel := context.WithCancel(t.Context())
	content, err := c.Read(ctx, "alice", nb.id, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(content, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(content); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}
	content.Close()
}
