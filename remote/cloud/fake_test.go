package cloud

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

const (
	testToken = "tdb-SECRET-token-0123456789"
	testUser  = "alice"
)

// fakeNotebook is one notebook of the fake server.
type fakeNotebook struct {
	id, ns, name string
	created      time.Time
	versions     []fakeVersion // fragments, ascending by ms
	meta         []fakeMeta    // array_metadata POSTs
	shares       map[string][]string
	noSizeInList bool // listing omits file_size: the client must ask metadata_json
}

// fakeVersion is one fragment: data in cells [0, len(data)-1] at ms. One
// added directly or uploaded also stands for its metadata (file_size =
// len(data) at ms); one written by a capnp WRITE (noMeta) has only what
// array_metadata POSTs say.
type fakeVersion struct {
	ms     int64
	data   []byte
	noMeta bool
}

// seen is one request as the fake server received it.
type seen struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// fake is a small in-memory TileDB Cloud: one user (alice, owner of acme,
// member of public), her notebooks, and the endpoints the client uses.
type fake struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	notebooks map[string]*fakeNotebook
	order     []string // creation order
	requests  []seen
	clock     int64 // ms
	sidebar   map[string][]string
	perPageAt func(page int) // called on every browser page request (tests block here)
	exact     bool           // listings say their versions are exact, as notebookfs serve's do
	array     arrayKnobs     // array protocol behaviour (array_fake_test.go)
	replies   [][]byte       // READ reply chunks sent, prefix included
}

func newFake(t *testing.T) *fake {
	f := &fake{t: t, notebooks: map[string]*fakeNotebook{}, clock: 1_700_000_000_000,
		sidebar: map[string][]string{"shared": {"zed", "bob", "acme"}, "public": {"carol", "bob"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/user", f.user)
	mux.HandleFunc("GET /v1/arrays/browser/{cat}/sidebar", f.sidebarH)
	mux.HandleFunc("GET /v1/arrays/browser/{cat}", f.browse)
	mux.HandleFunc("GET /v1/arrays/{ns}/{id}/metadata", f.metadata)
	mux.HandleFunc("GET /v1/arrays/{ns}/{id}/metadata_json", f.metadataJSON)
	mux.HandleFunc("GET /v1/arrays/{ns}/{id}/query/get_file", f.getFile)
	mux.HandleFunc("DELETE /v1/arrays/{ns}/{id}", f.delete)
	mux.HandleFunc("GET /v1/arrays/{ns}/{id}/share", f.shares)
	mux.HandleFunc("PATCH /v1/arrays/{ns}/{id}/share", f.share)
	mux.HandleFunc("PATCH /v1/notebooks/{ns}/{id}/rename", f.rename)
	mux.HandleFunc("GET /v1/notebooks/{ns}/{id}/end_timestamps", f.endTimestamps)
	mux.HandleFunc("POST /v2/notebooks/{ns}/{array}/upload", f.upload)
	f.arrayRoutes(mux)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.Header.Get("X-TILEDB-REST-API-KEY") != testToken {
			fail(w, http.StatusUnauthorized, "bad token "+r.Header.Get("X-TILEDB-REST-API-KEY"))
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) client(t *testing.T, o Options) *Client {
	t.Helper()
	o.Host = f.srv.URL
	if o.Token == "" {
		o.Token = testToken
	}
	return newTestClient(t, o)
}

// newTestClient makes a client with fast backoff and a discarded log.
func newTestClient(t *testing.T, o Options) *Client {
	t.Helper()
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = logrus.NewEntry(l)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c.backoffBase = time.Millisecond
	c.backoffCap = 10 * time.Millisecond
	return c
}

func (f *fake) reqs() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fake) resetReqs() {
	f.mu.Lock()
	f.requests = nil
	f.mu.Unlock()
}

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": 24, "message": msg, "request_id": "req-1"})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// add stores a notebook directly (for listing tests).
func (f *fake) add(ns, name string, data []byte) *fakeNotebook {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(ns, name, data)
}

func (f *fake) addLocked(ns, name string, data []byte) *fakeNotebook {
	f.clock += 7
	nb := &fakeNotebook{id: newID(), ns: ns, name: name, created: time.UnixMilli(f.clock).UTC(),
		versions: []fakeVersion{{ms: f.clock, data: data}}, shares: map[string][]string{}}
	f.notebooks[nb.id] = nb
	f.order = append(f.order, nb.id)
	return nb
}

func (f *fake) lookup(w http.ResponseWriter, r *http.Request) *fakeNotebook {
	nb := f.notebooks[r.PathValue("id")]
	if nb == nil || nb.ns != r.PathValue("ns") {
		fail(w, http.StatusNotFound, "array not found")
		return nil
	}
	return nb
}

func (nb *fakeNotebook) latest() fakeVersion { return nb.versions[len(nb.versions)-1] }

func (nb *fakeNotebook) info(withMeta bool) map[string]any {
	m := map[string]any{
		"id": nb.id, "name": nb.name, "namespace": nb.ns, "file_type": "notebook",
		"created_at":      nb.created.Format(time.RFC3339Nano),
		"last_accessed":   time.UnixMilli(nb.latest().ms).UTC().Format(time.RFC3339Nano),
		"allowed_actions": []string{"read", "write", "edit", "read_array_info"},
		"size":            99999, // storage size: must not be used
		"file_properties": map[string]string{"size": "4096"},
	}
	if withMeta && !nb.noSizeInList {
		size, _ := nb.fileSizeAt(math.MaxInt64)
		m["metadata"] = []map[string]string{
			{"key": "type", "value": "notebook", "type": "array_metadata"},
			{"key": "file_size", "value": strconv.FormatInt(size, 10), "type": "array_metadata"},
		}
	}
	return m
}

func (f *fake) user(w http.ResponseWriter, r *http.Request) {
	reply(w, map[string]any{"id": "u1", "username": testUser, "organizations": []map[string]any{
		{"organization_name": "zeta", "role": "read_only"},
		{"organization_name": "public", "role": "read_only"},
		{"organization_name": "acme", "role": "owner"},
	}})
}

func (f *fake) sidebarH(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("file_type") != "notebook" {
		fail(w, http.StatusBadRequest, "want file_type=notebook")
		return
	}
	reply(w, map[string]any{"namespaces": f.sidebar[r.PathValue("cat")], "result_count_for_all": 3})
}

func (f *fake) browse(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("file_type") != "notebook" || q.Get("with_metadata") != "true" {
		fail(w, http.StatusBadRequest, "want file_type=notebook&with_metadata=true")
		return
	}
	page, _ := strconv.Atoi(q.Get("page"))
	per, _ := strconv.Atoi(q.Get("per_page"))
	if page < 1 || per < 1 {
		fail(w, http.StatusBadRequest, "bad paging")
		return
	}
	if f.perPageAt != nil {
		f.perPageAt(page)
	}
	f.mu.Lock()
	var all []map[string]any
	for _, id := range f.order {
		nb := f.notebooks[id]
		if nb != nil && nb.ns == q.Get("namespace") && r.PathValue("cat") == "owned" {
			all = append(all, nb.info(true))
		}
	}
	f.mu.Unlock()
	out := map[string]any{"pagination_metadata": map[string]any{
		"page": page, "per_page": per, "total_pages": (len(all) + per - 1) / per, "total_items": len(all)}}
	if lo := (page - 1) * per; lo < len(all) {
		out["arrays"] = all[lo:min(lo+per, len(all))]
	} // else: "arrays" absent, as x-omitempty allows
	f.mu.Lock()
	if f.exact {
		w.Header().Set(exactVersionsHeader, "true")
	}
	f.mu.Unlock()
	reply(w, out)
}

func (f *fake) metadata(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if nb := f.lookup(w, r); nb != nil {
		reply(w, nb.info(false))
	}
}

func (f *fake) metadataJSON(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nb := f.lookup(w, r)
	if nb == nil {
		return
	}
	at := int64(math.MaxInt64)
	if s := r.URL.Query().Get("end_timestamp"); s != "" {
		at, _ = strconv.ParseInt(s, 10, 64)
		if _, found := nb.versionAt(at); !found {
			fail(w, http.StatusNotFound, "no version")
			return
		}
	}
	size, _ := nb.fileSizeAt(at)
	// TileDB metadata values are arrays; a one-element one for file_size.
	reply(w, map[string]any{"file_size": []int64{size}, "type": "notebook", "format": "json"})
}

func (f *fake) getFile(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	nb := f.lookup(w, r)
	var data []byte
	if nb != nil {
		size, _ := nb.fileSizeAt(math.MaxInt64)
		data = nb.cellsAt(math.MaxInt64)[:size]
	}
	f.mu.Unlock()
	if nb == nil {
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		fail(w, http.StatusBadRequest, "Content-Type required")
		return
	}
	w.Header().Set("Content-Type", "application/x-ipynb+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

func (f *fake) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nb := f.lookup(w, r)
	if nb == nil {
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		fail(w, http.StatusBadRequest, "Content-Type required")
		return
	}
	delete(f.notebooks, nb.id)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fake) shares(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nb := f.lookup(w, r)
	if nb == nil {
		return
	}
	out := []map[string]any{}
	for ns, acts := range nb.shares {
		typ := "user"
		if ns == "public" || ns == "acme" {
			typ = "organization"
		}
		out = append(out, map[string]any{"namespace": ns, "actions": append(slices.Clone(acts), "read_array_info"), "namespace_type": typ})
	}
	reply(w, out)
}

func (f *fake) share(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nb := f.lookup(w, r)
	if nb == nil {
		return
	}
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		fail(w, http.StatusBadRequest, "bad JSON")
		return
	}
	var ns string
	var acts []string
	if json.Unmarshal(raw["namespace"], &ns) != nil || raw["actions"] == nil || json.Unmarshal(raw["actions"], &acts) != nil {
		fail(w, http.StatusBadRequest, "namespace and actions required")
		return
	}
	if len(acts) == 0 {
		delete(nb.shares, ns)
	} else {
		nb.shares[ns] = acts
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fake) rename(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nb := f.lookup(w, r)
	if nb == nil {
		return
	}
	var in struct{ Name string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == "" {
		fail(w, http.StatusBadRequest, "name required")
		return
	}
	nb.name = in.Name
	w.WriteHeader(http.StatusNoContent)
}

func (f *fake) endTimestamps(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nb := f.lookup(w, r)
	if nb == nil {
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	var ts []int64
	for i := len(nb.versions) - 1; i >= 0; i-- { // newest first: the client sorts
		ts = append(ts, nb.versions[i].ms)
	}
	out := map[string]any{"pagination_metadata": map[string]any{"page": page, "per_page": per,
		"total_pages": (len(ts) + per - 1) / per, "total_items": len(ts)}}
	if lo := (page - 1) * per; lo < len(ts) {
		out["end_timestamps"] = ts[lo:min(lo+per, len(ts))]
	}
	reply(w, out)
}

func (f *fake) upload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, err := strconv.Atoi(q.Get("filesize"))
	if err != nil || r.Header.Get("Content-Type") != "application/octet-stream" {
		fail(w, http.StatusBadRequest, "filesize and octet-stream required")
		return
	}
	data, _ := io.ReadAll(r.Body)
	if len(data) != size {
		fail(w, http.StatusBadRequest, fmt.Sprintf("got %d bytes, filesize %d", len(data), size))
		return
	}
	name := q.Get("name")
	if name == "" {
		name = r.PathValue("array")
	}
	f.mu.Lock()
	nb := f.addLocked(r.PathValue("ns"), name, data)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]string{"output_uri": "tiledb://" + nb.ns + "/" + nb.id, "name": name, "id": nb.id})
}
