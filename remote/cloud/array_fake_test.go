package cloud

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"notebookfs/remote/arrayproto"
)

// The fake's side of TileDB's capnp array protocol, built from arrayproto's
// server functions: fragment_end_timestamp, array_metadata GET and POST,
// query/submit READ and WRITE. Fragments and metadata writes are kept apart
// as TileDB keeps them: a read at T folds the fragments up to T (a cell no
// fragment covers reads 255), the metadata likewise.

// fakeMeta is one array_metadata POST.
type fakeMeta struct {
	ms      int64
	entries []arrayproto.MetadataEntry
}

// arrayKnobs change how the fake answers the array protocol.
type arrayKnobs struct {
	serverCap     uint64 // most contents bytes per READ chunk (0: the query's)
	ignoreReadAll bool   // one chunk per reply, as a JS-protocol server
	writeAt       int64  // store WRITEs at this timestamp instead of the URL's (0: the URL's)
	// strict is the notebookfs server's store: a write at or before the
	// newest version is 409 (unless it is the same bytes at the same
	// time: a retry), and a metadata POST of file_size 0 is itself an
	// (empty) version.
	strict bool
	// hook may answer a request itself (a failure): it returns true then.
	// It runs with f.mu not held.
	hook func(w http.ResponseWriter, r *http.Request, body []byte) bool
}

func (f *fake) arrayRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/arrays/{ns}/{id}/fragment_end_timestamp", f.fragmentEndH)
	mux.HandleFunc("GET /v1/arrays/{ns}/{id}/array_metadata", f.getArrayMetadataH)
	mux.HandleFunc("POST /v1/arrays/{ns}/{id}/array_metadata", f.postArrayMetadataH)
	mux.HandleFunc("POST /v2/arrays/{ns}/{id}/query/submit", f.submitH)
}

// versionAt is the newest fragment at or before ms.
func (nb *fakeNotebook) versionAt(ms int64) (fakeVersion, bool) {
	var v fakeVersion
	found := false
	for _, x := range nb.versions {
		if x.ms <= ms {
			v, found = x, true
		}
	}
	return v, found
}

// insertVersion keeps versions ascending (equal timestamps in write order).
func (nb *fakeNotebook) insertVersion(v fakeVersion) {
	i := sort.Search(len(nb.versions), func(i int) bool { return nb.versions[i].ms > v.ms })
	nb.versions = slices.Insert(nb.versions, i, v)
}

// metadataAt folds the metadata up to ms: that of directly added versions,
// then the POSTs, in timestamp order (a version's own before a POST at the
// same ms).
func (nb *fakeNotebook) metadataAt(ms int64) arrayproto.Metadata {
	type event struct {
		ms      int64
		order   int
		entries []arrayproto.MetadataEntry
	}
	var evs []event
	for _, v := range nb.versions {
		if v.ms <= ms && !v.noMeta {
			evs = append(evs, event{v.ms, 0, arrayproto.NotebookMetadata(int64(len(v.data)))})
		}
	}
	for _, m := range nb.meta {
		if m.ms <= ms {
			evs = append(evs, event{m.ms, 1, m.entries})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].ms != evs[j].ms {
			return evs[i].ms < evs[j].ms
		}
		return evs[i].order < evs[j].order
	})
	m := arrayproto.Metadata{}
	for _, e := range evs {
		m.Apply(e.entries)
	}
	return m
}

func (nb *fakeNotebook) fileSizeAt(ms int64) (int64, bool) {
	size, ok, _ := nb.metadataAt(ms).FileSize()
	return size, ok
}

// cellsAt folds the fragments up to ms.
func (nb *fakeNotebook) cellsAt(ms int64) []byte {
	var cells []byte
	for _, v := range nb.versions {
		if v.ms > ms {
			break
		}
		for len(cells) < len(v.data) {
			cells = append(cells, arrayproto.FillValue)
		}
		copy(cells, v.data)
	}
	return cells
}

// storeStrict stores v as the notebookfs server's store does (f.mu held):
// only after the newest version, or the same bytes again at its time. It
// answers 409 and returns false otherwise.
func (f *fake) storeStrict(w http.ResponseWriter, nb *fakeNotebook, v fakeVersion) bool {
	latest := nb.latest()
	switch {
	case v.ms > latest.ms:
		nb.insertVersion(v)
		return true
	case v.ms == latest.ms && bytes.Equal(v.data, latest.data):
		return true
	}
	fail(w, http.StatusConflict, fmt.Sprintf("a version at %d is not after the latest, %d", v.ms, latest.ms))
	return false
}

// endOf reads the URL's time window; latest is math.MaxInt64.
func endOf(w http.ResponseWriter, r *http.Request) (int64, bool) {
	tr, err := arrayproto.ParseTimeRange(r.URL.Query())
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return 0, false
	}
	if tr.IsLatest() || tr.End > math.MaxInt64 {
		return math.MaxInt64, true
	}
	return int64(tr.End), true
}

func (f *fake) runHook(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	hook := f.array.hook
	f.mu.Unlock()
	if hook == nil {
		return false
	}
	body := f.lastBody(r)
	return hook(w, r, body)
}

// lastBody is the body of r as the outer handler recorded it.
func (f *fake) lastBody(r *http.Request) []byte {
	var b bytes.Buffer
	b.ReadFrom(r.Body)
	data := b.Bytes()
	r.Body = nopBody(data)
	return data
}

func (f *fake) fragmentEndH(w http.ResponseWriter, r *http.Request) {
	if f.runHook(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	nb := f.lookup(w, r)
	if nb == nil {
		return
	}
	at := int64(math.MaxInt64)
	if s := r.URL.Query().Get("end_timestamp"); s != "" {
		if _, err := fmt.Sscan(s, &at); err != nil {
			fail(w, http.StatusBadRequest, "bad end_timestamp")
			return
		}
	}
	v, ok := nb.versionAt(at)
	if !ok {
		fail(w, http.StatusNotFound, "no fragment that early")
		return
	}
	reply(w, v.ms)
}

func (f *fake) getArrayMetadataH(w http.ResponseWriter, r *http.Request) {
	if f.runHook(w, r) {
		return
	}
	if r.Header.Get("Content-Type") != capnpType {
		fail(w, http.StatusBadRequest, "want Content-Type application/capnp")
		return
	}
	end, ok := endOf(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	nb := f.lookup(w, r)
	if nb == nil {
		return
	}
	w.Header().Set("Content-Type", capnpType)
	arrayproto.EncodeArrayMetadata(w, nb.metadataAt(end).Entries())
}

func (f *fake) postArrayMetadataH(w http.ResponseWriter, r *http.Request) {
	if f.runHook(w, r) {
		return
	}
	if r.Header.Get("Content-Type") != capnpType {
		fail(w, http.StatusBadRequest, "want Content-Type application/capnp")
		return
	}
	end, ok := endOf(w, r)
	if !ok {
		return
	}
	body := f.lastBody(r)
	entries, err := arrayproto.DecodeArrayMetadata(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	nb := f.lookup(w, r)
	if nb == nil {
		return
	}
	if end == math.MaxInt64 {
		f.clock++
		end = f.clock
	}
	m := arrayproto.Metadata{}
	m.Apply(entries)
	if size, ok, _ := m.FileSize(); f.array.strict && ok && size == 0 {
		if !f.storeStrict(w, nb, fakeVersion{ms: end, data: []byte{}}) {
			return
		}
	}
	nb.meta = append(nb.meta, fakeMeta{end, entries})
	w.WriteHeader(http.StatusOK)
}

func (f *fake) submitH(w http.ResponseWriter, r *http.Request) {
	if f.runHook(w, r) {
		return
	}
	if r.Header.Get("Content-Type") != capnpType {
		fail(w, http.StatusBadRequest, "want Content-Type application/capnp")
		return
	}
	end, ok := endOf(w, r)
	if !ok {
		return
	}
	body := f.lastBody(r)
	switch r.URL.Query().Get("type") {
	case arrayproto.TypeWrite:
		f.write(w, r, body, end)
	case arrayproto.TypeRead:
		f.read(w, r, body, end)
	default:
		fail(w, http.StatusBadRequest, "type must be READ or WRITE")
	}
}

func (f *fake) write(w http.ResponseWriter, r *http.Request, body []byte, end int64) {
	q, err := arrayproto.DecodeWrite(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	data, err := q.ReadData()
	if err != nil || q.Start != 0 || int64(len(body)) != q.MessageSize+int64(len(data)) {
		fail(w, http.StatusBadRequest, fmt.Sprintf("bad WRITE body: %v", err))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	nb := f.lookup(w, r)
	if nb == nil {
		return
	}
	ts := end
	switch {
	case f.array.writeAt != 0:
		ts = f.array.writeAt
	case ts == math.MaxInt64:
		f.clock++
		ts = f.clock
	}
	if f.array.strict {
		if !f.storeStrict(w, nb, fakeVersion{ms: ts, data: data, noMeta: true}) {
			return
		}
	} else {
		nb.insertVersion(fakeVersion{ms: ts, data: data, noMeta: true})
	}
	var id [16]byte
	copy(id[:], nb.id)
	w.Header().Set("Content-Type", capnpType)
	arrayproto.WriteWriteReply(w, q, uint64(ts), arrayproto.FragmentName(uint64(ts), id))
}

func (f *fake) read(w http.ResponseWriter, r *http.Request, body []byte, end int64) {
	q, err := arrayproto.DecodeRead(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if q.Continuation() {
		// The previous reply's bytes follow the message, as the JS client
		// sends them: check they are there.
		if int64(len(body)) <= q.MessageSize {
			fail(w, http.StatusBadRequest, "continuation without the previous reply's bytes")
			return
		}
	}
	f.mu.Lock()
	nb := f.lookup(w, r)
	if nb == nil {
		f.mu.Unlock()
		return
	}
	cells := nb.cellsAt(end)
	knobs := f.array
	f.mu.Unlock()
	chunkCap := q.Capacity
	if knobs.serverCap > 0 {
		chunkCap = min(chunkCap, knobs.serverCap)
	}
	readAll := r.URL.Query().Get("read_all") == "true" && !knobs.ignoreReadAll
	q.Timestamp = uint64(end)
	w.Header().Set("Content-Type", capnpType)
	for {
		n := min(q.Len(), chunkCap)
		chunk := make([]byte, n)
		for i := range chunk {
			c := q.Start + uint64(i)
			if c < uint64(len(cells)) {
				chunk[i] = cells[c]
			} else {
				chunk[i] = arrayproto.FillValue
			}
		}
		complete := n == q.Len()
		var b bytes.Buffer
		if err := arrayproto.WriteReadReply(&b, q, chunk, complete); err != nil {
			f.t.Errorf("fake: WriteReadReply: %v", err)
			return
		}
		f.mu.Lock()
		f.replies = append(f.replies, b.Bytes())
		f.mu.Unlock()
		w.Write(b.Bytes())
		if complete || !readAll {
			return
		}
		q.Start += n
	}
}

// chunks splits a READ reply body into its chunks (without prefixes).
func chunks(body []byte) [][]byte {
	var out [][]byte
	for len(body) >= 8 {
		l := binary.LittleEndian.Uint64(body)
		out = append(out, body[8:8+l])
		body = body[8+l:]
	}
	return out
}

// arrayReqs are the array-protocol requests of reqs, as "METHOD path-suffix
// query-type".
func arrayReqs(rs []seen) []string {
	var out []string
	for _, r := range rs {
		i := strings.LastIndex(r.Path, "/")
		name := r.Path[i+1:]
		if name == "submit" {
			q, _ := url.ParseQuery(r.RawQuery)
			name += "?" + q.Get("type")
		}
		out = append(out, r.Method+" "+name)
	}
	return out
}

func nopBody(data []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(data)) }
