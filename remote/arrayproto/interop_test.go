package arrayproto

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// jsServer is a minimal server of one notebook array built on this package:
// what remote/server does, without auth or versions.
type jsServer struct {
	t        *testing.T
	mu       sync.Mutex
	contents []byte
	meta     Metadata
	reads    int
}

func (s *jsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const limit = 64 << 20
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(err error) {
		s.t.Errorf("%s %s: %v", r.Method, r.URL, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/arrays/alice/nb":
		w.Header().Set("Content-Type", "application/json")
		w.Write(NotebookSchemaJSON())
	case r.Method == "POST" && r.URL.Path == "/v2/arrays/alice/nb/query/submit" && r.URL.Query().Get("type") == TypeWrite:
		q, err := DecodeWrite(r.Body, limit)
		if err != nil {
			fail(err)
			return
		}
		data, err := q.ReadData()
		if err != nil {
			fail(err)
			return
		}
		for uint64(len(s.contents)) <= q.End {
			s.contents = append(s.contents, FillValue)
		}
		copy(s.contents[q.Start:], data)
		ts := uint64(time.Now().UnixMilli())
		var id [16]byte
		rand.Read(id[:])
		w.Header().Set("Content-Type", "application/capnp")
		if err := WriteWriteReply(w, q, ts, FragmentName(ts, id)); err != nil {
			s.t.Error(err)
		}
	case r.Method == "POST" && r.URL.Path == "/v2/arrays/alice/nb/query/submit" && r.URL.Query().Get("type") == TypeRead:
		q, err := DecodeRead(r.Body, limit)
		if err != nil {
			fail(err)
			return
		}
		if !q.Continuation() {
			q.Timestamp = uint64(time.Now().UnixMilli())
		}
		s.reads++
		end := min(q.End+1, q.Start+q.Capacity)
		data := make([]byte, end-q.Start)
		for i := range data {
			data[i] = FillValue
			if c := q.Start + uint64(i); c < uint64(len(s.contents)) {
				data[i] = s.contents[c]
			}
		}
		w.Header().Set("Content-Type", "application/capnp")
		if err := WriteReadReply(w, q, data, end == q.End+1); err != nil {
			s.t.Error(err)
		}
	case r.URL.Path == "/v1/arrays/alice/nb/array_metadata" && r.Method == "POST":
		entries, err := DecodeArrayMetadata(r.Body, limit)
		if err != nil {
			fail(err)
			return
		}
		s.meta.Apply(entries)
	case r.URL.Path == "/v1/arrays/alice/nb/array_metadata" && r.Method == "GET":
		w.Header().Set("Content-Type", "application/capnp")
		EncodeArrayMetadata(w, s.meta.Entries())
	default:
		s.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	}
}

// TestJSClientInterop runs TileDB's own JS client against the server
// above: write, INCOMPLETE read, metadata post and get. It needs node and
// ARRAYPROTO_JS_CLIENT set to a directory where
// `npm install @tiledb-inc/tiledb-cloud@1.0.8` was run.
func TestJSClientInterop(t *testing.T) {
	dir := os.Getenv("ARRAYPROTO_JS_CLIENT")
	if dir == "" {
		t.Skip("ARRAYPROTO_JS_CLIENT not set")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH")
	}
	srv := &jsServer{t: t, meta: Metadata{}, contents: bytes.Repeat([]byte{'a'}, 5000)}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	content := notebookText(2500)
	file := filepath.Join(t.TempDir(), "nb.ipynb")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs("testdata/js/interop.js")
	cmd := exec.Command(node, script, ts.URL, file, "1000")
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res struct {
		WriteStatus string
		Chunks      int
		Read        string
		Metadata    string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	read, _ := base64.StdEncoding.DecodeString(res.Read)
	if !bytes.Equal(read, content) {
		t.Errorf("JS read back %d bytes, differing from the %d written", len(read), len(content))
	}
	if !bytes.Equal(srv.contents[:len(content)], content) || srv.contents[len(content)] != 'a' {
		t.Error("the server did not store the JS write as a prefix")
	}
	if res.Chunks != 3 || srv.reads != 3 {
		t.Errorf("read took %d chunks, %d requests; want 3 (2500 bytes by 1000)", res.Chunks, srv.reads)
	}
	if res.WriteStatus != StatusCompleted {
		t.Errorf("write reply status %q", res.WriteStatus)
	}
	if size, ok, err := srv.meta.FileSize(); size != int64(len(content)) || !ok || err != nil {
		t.Errorf("file_size = %d, %v, %v", size, ok, err)
	}
	md, _ := base64.StdEncoding.DecodeString(res.Metadata)
	entries, err := DecodeArrayMetadata(bytes.NewReader(md), int64(len(md)))
	if err != nil || len(entries) != 2 {
		t.Errorf("metadata GET as the JS client got it: %+v, %v", entries, err)
	}
}
