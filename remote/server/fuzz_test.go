package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
	"notebookfs/remote/local"
)

// Fuzz targets of the capnp handlers' body parsing, through the whole
// handler (authentication, routing, the store). Seed corpora live in
// testdata/fuzz/<Target>/: arrayproto's seeds (its testdata/fuzz, made from
// the JS client's captured bodies), plus the
// f.Add seeds below. Run one with e.g.
//
//	go test ./remote/server -run '^$' -fuzz '^FuzzSubmitWrite$' -fuzztime 15s -fuzzminimizetime 100x
//
// Without -fuzzminimizetime a short run can spend its whole time
// minimizing new inputs (up to 60 s each; the execs count stalls). A
// duration -fuzztime can end in a bare "FAIL ... exit status 1" with no
// input written (a race in Go's fuzzing deadline); only a written
// testdata/fuzz input is a finding (a count, -fuzztime 30000x, avoids it).
//
// Every reply must be 200 with a well-formed capnp body, or a 4xx Error
// body; never a 5xx or a panic.

// fuzzEnv is a server over a store with one notebook that alice owns.
type fuzzEnv struct {
	srv   *Server
	token string
	nb    remote.Notebook
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	store, err := local.Open(f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	ctx := context.Background()
	if err := store.AddUser(ctx, "alice"); err != nil {
		f.Fatal(err)
	}
	tok, err := store.NewToken(ctx, "alice")
	if err != nil {
		f.Fatal(err)
	}
	nb, err := store.As("alice").Create(ctx, "alice", "nb", strings.NewReader("0123456789"), 10, remote.CreateOptions{})
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzEnv{srv: New(store, Options{}), token: tok, nb: nb}
}

// sinkRecorder is a ResponseWriter that keeps the first keep bytes of the
// body and counts the rest: a fuzzed READ may legitimately ask for 64 MiB.
type sinkRecorder struct {
	hdr    http.Header
	status int
	body   []byte
	total  int64
}

const sinkKeep = 1 << 20

func (s *sinkRecorder) Header() http.Header { return s.hdr }
func (s *sinkRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

func (s *sinkRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if room := sinkKeep - len(s.body); room > 0 {
		s.body = append(s.body, p[:min(room, len(p))]...)
	}
	s.total += int64(len(p))
	return len(p), nil
}

// post sends body to path as alice and checks the reply is 200 or a 4xx
// Error, returning the recorder.
func (fe *fuzzEnv) post(t *testing.T, path string, body []byte) *sinkRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("X-TILEDB-REST-API-KEY", fe.token)
	req.Header.Set("Content-Type", capnpCT)
	rec := &sinkRecorder{hdr: http.Header{}}
	fe.srv.ServeHTTP(rec, req)
	if rec.status == http.StatusOK {
		if cl := rec.hdr.Get("Content-Length"); cl != "" && cl != strconv.FormatInt(rec.total, 10) {
			t.Fatalf("Content-Length %s for %d bytes", cl, rec.total)
		}
		return rec
	}
	if rec.status < 400 || rec.status >= 500 {
		t.Fatalf("status %d: %s", rec.status, rec.body)
	}
	var eb errorBody
	if err := json.Unmarshal(rec.body, &eb); err != nil || eb.Message == "" || eb.RequestID == "" {
		t.Fatalf("status %d with body %q: %v", rec.status, rec.body, err)
	}
	if codeStatus[eb.Code] != rec.status {
		t.Fatalf("status %d with code %d: %s", rec.status, eb.Code, eb.Message)
	}
	return rec
}

// codeStatus is the HTTP status of each 4xx application code.
var codeStatus = map[int64]int{
	CodeInvalid: 400, CodeNameTooLong: 400, CodeUnauthenticated: 401, CodePermission: 403,
	CodeNotFound: 404, CodeNoRoute: 404, CodeMethod: 405, CodeExist: 409, CodeConflict: 409, CodeTooLarge: 413,
}

func fuzzBodies(f *testing.F) (write, read, meta []byte) {
	var w, r, m bytes.Buffer
	if err := arrayproto.EncodeWrite(&w, []byte("{\"é\": \"😀\"}")); err != nil {
		f.Fatal(err)
	}
	if err := arrayproto.EncodeRead(&r, 0, 30, 7); err != nil {
		f.Fatal(err)
	}
	if err := arrayproto.EncodeArrayMetadata(&m, append(arrayproto.NotebookMetadata(10), arrayproto.DeleteEntry("__np_flat_file_size"))); err != nil {
		f.Fatal(err)
	}
	return w.Bytes(), r.Bytes(), m.Bytes()
}

// hugeHeader is a message header declaring a 16 MiB segment.
func hugeHeader() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[4:], 2<<20)
	return b
}

func FuzzSubmitWrite(f *testing.F) {
	fe := newFuzzEnv(f)
	w, _, _ := fuzzBodies(f)
	f.Add(w)
	f.Add(hugeHeader())
	f.Add(append(append([]byte{}, w...), 0))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := fe.post(t, submitPath("alice", "nb", "WRITE", ""), body)
		if rec.status == http.StatusOK {
			if _, err := arrayproto.DecodeWriteReply(bytes.NewReader(rec.body), int64(len(rec.body))); err != nil {
				t.Fatalf("200 with a bad WRITE reply: %v", err)
			}
		}
	})
}

func FuzzSubmitRead(f *testing.F) {
	fe := newFuzzEnv(f)
	_, r, _ := fuzzBodies(f)
	f.Add(r)
	f.Add(hugeHeader())
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := fe.post(t, submitPath("alice", "nb", "READ", ""), body)
		if rec.status != http.StatusOK {
			return
		}
		if rec.total > int64(len(rec.body)) {
			// Only the length prefix can be checked.
			if l := binary.LittleEndian.Uint64(rec.body); int64(l) != rec.total-8 {
				t.Fatalf("chunk length %d for %d bytes", l, rec.total)
			}
			return
		}
		rd := bytes.NewReader(rec.body)
		rep, err := arrayproto.DecodeReadReply(rd, int64(len(rec.body)))
		if err != nil || rd.Len() != 0 || uint64(len(rep.Data)) > rep.Capacity {
			t.Fatalf("200 with a bad READ reply (%d bytes left, %d for a capacity of %d): %v", rd.Len(), len(rep.Data), rep.Capacity, err)
		}
	})
}

func FuzzArrayMetadataPost(f *testing.F) {
	fe := newFuzzEnv(f)
	_, _, m := fuzzBodies(f)
	f.Add(m)
	f.Add(hugeHeader())
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := fe.post(t, "/v1/arrays/alice/nb/array_metadata", body)
		if rec.status == http.StatusOK && rec.total != 0 {
			t.Fatalf("200 with a body: %q", rec.body)
		}
	})
}
