package server

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
	"notebookfs/remote/arrayproto/rest"
)

const capnpCT = "application/capnp"

// protoVectors is arrayproto's testdata: the JS client's captured bodies.
const protoVectors = "../arrayproto/testdata"

// submitPath is the query/submit path of ns/array with extra parameters.
func submitPath(ns, array, typ, params string) string {
	p := "/v2/arrays/" + ns + "/" + array + "/query/submit?type=" + typ
	if params != "" {
		p += "&" + params
	}
	return p
}

// writeCapnp WRITEs data to path as user and decodes the 200 reply.
func (e *env) writeCapnp(user, path string, data []byte, opts ...arrayproto.Option) arrayproto.WriteReply {
	e.t.Helper()
	var body bytes.Buffer
	if err := arrayproto.EncodeWrite(&body, data, opts...); err != nil {
		e.t.Fatal(err)
	}
	resp, out := e.do("POST", path, user, body.Bytes(), "Content-Type", capnpCT)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("WRITE %s: %d %s", path, resp.StatusCode, out)
	}
	if ct := resp.Header.Get("Content-Type"); ct != capnpCT {
		e.t.Errorf("WRITE reply Content-Type %q", ct)
	}
	rep, err := arrayproto.DecodeWriteReply(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		e.t.Fatalf("WRITE %s: reply: %v", path, err)
	}
	return rep
}

// readCapnp READs cells [start, end] from path as user with a buffer of
// buffer bytes, continuing INCOMPLETE replies as TileDB's JS client does
// (the reply posted back verbatim). It returns the bytes, the number of
// requests and the timestamp the replies carried.
func (e *env) readCapnp(user, path string, start, end, buffer uint64) (data []byte, requests int, ts uint64) {
	e.t.Helper()
	var body bytes.Buffer
	if err := arrayproto.EncodeRead(&body, start, end, buffer); err != nil {
		e.t.Fatal(err)
	}
	for {
		requests++
		resp, out := e.do("POST", path, user, body.Bytes(), "Content-Type", capnpCT)
		if resp.StatusCode != http.StatusOK {
			e.t.Fatalf("READ %s (request %d): %d %s", path, requests, resp.StatusCode, out)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(out)) {
			e.t.Errorf("READ reply Content-Length %q for %d bytes", cl, len(out))
		}
		rep, err := arrayproto.DecodeReadReply(bytes.NewReader(out), int64(len(out)))
		if err != nil {
			e.t.Fatalf("READ %s: reply: %v", path, err)
		}
		if uint64(len(rep.Data)) > buffer {
			e.t.Fatalf("READ reply of %d bytes for a buffer of %d", len(rep.Data), buffer)
		}
		if requests > 1 && rep.Timestamp != ts {
			e.t.Errorf("continuation at %d, first reply at %d", rep.Timestamp, ts)
		}
		ts = rep.Timestamp
		data = append(data, rep.Data...)
		if rep.Complete() {
			if want := end - start + 1; uint64(len(data)) != want {
				e.t.Fatalf("READ got %d bytes for %d cells", len(data), want)
			}
			return data, requests, ts
		}
		// The JS client posts the reply back minus its 8-byte prefix.
		if !bytes.Equal(out[8:], append(append([]byte{}, rep.Message...), rep.Data...)) {
			e.t.Fatal("reply is not message ‖ data")
		}
		body.Reset()
		body.Write(out[8:])
	}
}

// getMetadata GETs the capnp array metadata at params and folds it.
func (e *env) getMetadata(user, ns, array, params string) arrayproto.Metadata {
	e.t.Helper()
	path := "/v1/arrays/" + ns + "/" + array + "/array_metadata"
	if params != "" {
		path += "?" + params
	}
	resp, out := e.do("GET", path, user, nil, "Content-Type", capnpCT)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != capnpCT {
		e.t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), out)
	}
	entries, err := arrayproto.DecodeArrayMetadata(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	m := arrayproto.Metadata{}
	m.Apply(entries)
	return m
}

func fileSize(t *testing.T, m arrayproto.Metadata) int64 {
	t.Helper()
	n, ok, err := m.FileSize()
	if !ok || err != nil {
		t.Fatalf("file_size: %v, %v (metadata %v)", ok, err, m)
	}
	if typ, _ := m[arrayproto.KeyType].Text(); typ != "notebook" {
		t.Errorf("type %q", typ)
	}
	if f, _ := m[arrayproto.KeyFormat].Text(); f != "json" {
		t.Errorf("format %q", f)
	}
	return n
}

func metadataBody(t *testing.T, entries ...arrayproto.MetadataEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := arrayproto.EncodeArrayMetadata(&b, entries); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(protoVectors, name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".hex") {
		b, err = hex.DecodeString(strings.Join(strings.Fields(string(b)), ""))
		if err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func versions(t *testing.T, e *env, user string, nb remote.Notebook) []remote.Version {
	t.Helper()
	vs, err := e.store.As(user).Versions(e.ctx(), nb.Namespace, nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func storeBytes(t *testing.T, e *env, nb remote.Notebook, at time.Time) []byte {
	t.Helper()
	c, err := e.store.As(nb.Namespace).Read(e.ctx(), nb.Namespace, nb.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCapnpSchema(t *testing.T) {
	e := newEnv(t, Options{}, "alice", "carol")
	e.create("alice", "alice", "nb", nbJSON)
	var capnpSchema bytes.Buffer
	if err := arrayproto.EncodeNotebookSchema(&capnpSchema); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hdr  []string
		want []byte
		ct   string
	}{
		{[]string{"Content-Type", "application/json"}, arrayproto.NotebookSchemaJSON(), "application/json"},
		{[]string{"Accept", "application/json, text/plain, */*"}, arrayproto.NotebookSchemaJSON(), "application/json"},
		{nil, arrayproto.NotebookSchemaJSON(), "application/json"},
		{[]string{"Content-Type", "application/capnp"}, capnpSchema.Bytes(), capnpCT},
		{[]string{"Accept", "application/capnp", "Content-Type", "application/json"}, capnpSchema.Bytes(), capnpCT},
	} {
		resp, out := e.do("GET", "/v1/arrays/alice/nb", "alice", nil, tc.hdr...)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(out, tc.want) || resp.Header.Get("Content-Type") != tc.ct {
			t.Errorf("schema with %v: %d %s %.80q", tc.hdr, resp.StatusCode, resp.Header.Get("Content-Type"), out)
		}
	}
	// The JSON keeps the domain bound exact.
	var schema struct {
		Domain struct {
			Dimensions []struct {
				Domain map[string][]json.Number `json:"domain"`
			} `json:"dimensions"`
		} `json:"domain"`
	}
	_, out := e.do("GET", "/v1/arrays/alice/nb", "alice", nil, "Content-Type", "application/json")
	if err := json.Unmarshal(out, &schema); err != nil || schema.Domain.Dimensions[0].Domain["uint64"][1] != "18446744073709550590" {
		t.Errorf("schema JSON domain: %+v, %v", schema, err)
	}
	e.wantError("GET", "/v1/arrays/alice/nb", "carol", nil, http.StatusNotFound, CodeNotFound, "Content-Type", capnpCT)
	e.wantError("GET", "/v1/arrays/alice/missing", "alice", nil, http.StatusNotFound, CodeNotFound)
	e.wantError("GET", "/v1/arrays/alice/nb", "", nil, http.StatusUnauthorized, CodeUnauthenticated)
}

func TestCapnpWriteRead(t *testing.T) {
	e := newEnv(t, Options{}, "alice", "bob")
	nb := e.create("alice", "alice", "nb", nbJSON)
	cl := e.store.As("alice")
	if err := cl.Share(e.ctx(), "alice", nb.ID, "bob", []string{"read", "write"}); err != nil {
		t.Fatal(err)
	}
	content := []byte(`{"cells": [{"source": ["# Café ☕ naïve 数据 😀🎉 \u00ff"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`)

	rep := e.writeCapnp("alice", submitPath("alice", "nb", "WRITE", ""), content)
	vs := versions(t, e, "alice", nb)
	if len(vs) != 2 || vs[1].Size != int64(len(content)) {
		t.Fatalf("versions after a WRITE: %+v", vs)
	}
	if !rep.HasFragment || rep.Timestamp != uint64(vs[1].Time.UnixMilli()) ||
		!strings.HasPrefix(rep.FragmentURI, fmt.Sprintf("__%d_%d_", rep.Timestamp, rep.Timestamp)) {
		t.Errorf("WRITE reply %+v; version %v", rep, vs[1].Time)
	}
	if got := storeBytes(t, e, nb, time.Time{}); !bytes.Equal(got, content) {
		t.Fatalf("store holds %q", got)
	}
	after, err := cl.Stat(e.ctx(), "alice", nb.ID)
	if err != nil || after.ID != nb.ID || after.Name != "nb" || !after.Created.Equal(nb.Created) {
		t.Fatalf("notebook after WRITE: %+v, %v", after, err)
	}
	if sh, err := cl.Shares(e.ctx(), "alice", nb.ID); err != nil || len(sh) != 1 || sh[0].Namespace != "bob" {
		t.Fatalf("shares after WRITE: %+v, %v", sh, err)
	}

	// Read back, by name and by id, on every version of the path, whole
	// or in pieces.
	n := uint64(len(content))
	for _, p := range []string{
		submitPath("alice", "nb", "READ", ""),
		submitPath("alice", nb.ID, "READ", ""),
		"/v1/arrays/alice/nb/query/submit?type=READ",
		"/v3/arrays/alice/nb/query/submit?type=read&read_all=false",
	} {
		got, reqs, _ := e.readCapnp("alice", p, 0, n-1, n)
		if !bytes.Equal(got, content) || reqs != 1 {
			t.Errorf("READ %s: %d requests, %q", p, reqs, got)
		}
	}
	got, reqs, _ := e.readCapnp("bob", submitPath("alice", "nb", "READ", ""), 0, n-1, 7)
	if !bytes.Equal(got, content) || reqs != int((n+6)/7) {
		t.Errorf("READ by 7 bytes as bob: %d requests, %q", reqs, got)
	}
	got, _, _ = e.readCapnp("alice", submitPath("alice", "nb", "READ", ""), 5, 20, 100)
	if !bytes.Equal(got, content[5:21]) {
		t.Errorf("READ [5, 20]: %q", got)
	}
	// The JS client's downloadNotebookContents asks [0, file_size]: the
	// cell past the end is the fill value (even though an older, longer
	// version... is not longer here; see TestCapnpTimeTravel).
	got, _, _ = e.readCapnp("alice", submitPath("alice", "nb", "READ", ""), 0, n, n)
	if !bytes.Equal(got[:n], content) || got[n] != 255 {
		t.Errorf("READ [0, n]: last byte %d", got[n])
	}
	if m := e.getMetadata("alice", "alice", "nb", ""); fileSize(t, m) != int64(n) {
		t.Errorf("array_metadata file_size %d, want %d", fileSize(t, m), n)
	}

	// bob (read-write share) saves too; the JS client's own bodies work.
	e.writeCapnp("bob", submitPath("alice", nb.ID, "WRITE", ""), []byte("bob was here"))
	resp, out := e.do("POST", submitPath("alice", "nb", "WRITE", ""), "alice", readVector(t, "js_write_7.1.bin"), "Content-Type", capnpCT)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JS WRITE vector: %d %s", resp.StatusCode, out)
	}
	resp, out = e.do("POST", submitPath("alice", "nb", "READ", ""), "alice", readVector(t, "js_read_7.2.bin"), "Content-Type", capnpCT)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JS READ vector: %d %s", resp.StatusCode, out)
	}
	jsRep, err := arrayproto.DecodeReadReply(bytes.NewReader(out), int64(len(out)))
	if err != nil || string(jsRep.Data) != "0123456789" || !jsRep.Complete() {
		t.Errorf("JS READ vector reply: %+v, %v", jsRep, err)
	}
	if vs := versions(t, e, "alice", nb); len(vs) != 4 {
		t.Errorf("%d versions, want 4", len(vs))
	}
}

func TestCapnpReadAll(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	content := strings.Repeat("0123456789", 10)
	e.create("alice", "alice", "nb", content)
	var body bytes.Buffer
	if err := arrayproto.EncodeRead(&body, 0, 99, 30); err != nil {
		t.Fatal(err)
	}
	resp, out := e.do("POST", submitPath("alice", "nb", "READ", "read_all=true"), "alice", body.Bytes(), "Content-Type", capnpCT)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("read_all: %d %s", resp.StatusCode, out)
	}
	r := bytes.NewReader(out)
	var got []byte
	chunks := 0
	for {
		rep, err := arrayproto.DecodeReadReply(r, int64(r.Len()))
		if err != nil {
			t.Fatalf("chunk %d: %v", chunks, err)
		}
		chunks++
		got = append(got, rep.Data...)
		if rep.Complete() {
			break
		}
	}
	if string(got) != content || chunks != 4 || r.Len() != 0 {
		t.Errorf("read_all: %d chunks, %d bytes left, %q", chunks, r.Len(), got)
	}
}

func TestCapnpTimeTravel(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	var now atomicTime
	t0 := int64(1_700_000_000_000)
	now.set(time.UnixMilli(t0))
	e.store.SetClock(now.get)
	e.create("alice", "alice", "nb", "version zero, the longest one")
	contents := []string{"version zero, the longest one", "v1 😀", "version two"}
	for i, c := range contents[1:] {
		now.set(time.UnixMilli(t0 + int64(i+1)*1000))
		rep := e.writeCapnp("alice", submitPath("alice", "nb", "WRITE", ""), []byte(c))
		if rep.Timestamp != uint64(t0+int64(i+1)*1000) {
			t.Fatalf("write %d at %d", i+1, rep.Timestamp)
		}
	}
	now.set(time.UnixMilli(t0 + 5000))
	read := func(params string, n uint64) []byte {
		t.Helper()
		got, _, _ := e.readCapnp("alice", submitPath("alice", "nb", "READ", params), 0, n-1, 4)
		return got
	}
	for i, c := range contents {
		ts := t0 + int64(i)*1000
		for _, params := range []string{
			fmt.Sprintf("end_timestamp=%d", ts),
			fmt.Sprintf("start_timestamp=0&end_timestamp=%d", ts+999),
			fmt.Sprintf("open_at=%d", ts+500),
		} {
			if got := read(params, uint64(len(c))); string(got) != c {
				t.Errorf("READ %s: %q, want %q", params, got, c)
			}
			if m := e.getMetadata("alice", "alice", "nb", params); fileSize(t, m) != int64(len(c)) {
				t.Errorf("array_metadata %s: file_size %d", params, fileSize(t, m))
			}
		}
	}
	if got := read("", uint64(len(contents[2]))); string(got) != contents[2] {
		t.Errorf("latest READ: %q", got)
	}
	// Cells past a version's size are the fill value, not older bytes.
	if got := read(fmt.Sprintf("end_timestamp=%d", t0+1000), 12); !bytes.Equal(got[len(contents[1]):], bytes.Repeat([]byte{255}, 12-len(contents[1]))) {
		t.Errorf("READ past file_size: %q", got)
	}
	// Before the first version, or a window without a version: no
	// metadata, all fill.
	for _, params := range []string{"end_timestamp=5", fmt.Sprintf("start_timestamp=%d&end_timestamp=%d", t0+2001, t0+2500)} {
		if got := read(params, 3); !bytes.Equal(got, []byte{255, 255, 255}) {
			t.Errorf("READ %s: %q", params, got)
		}
		if m := e.getMetadata("alice", "alice", "nb", params); len(m) != 0 {
			t.Errorf("array_metadata %s: %v", params, m)
		}
	}
	e.wantError("POST", submitPath("alice", "nb", "READ", "end_timestamp=1&open_at=2"), "alice", nil, http.StatusBadRequest, CodeInvalid)
	e.wantError("POST", submitPath("alice", "nb", "READ", "end_timestamp=x"), "alice", nil, http.StatusBadRequest, CodeInvalid)
	e.wantError("GET", "/v1/arrays/alice/nb/array_metadata?start_timestamp=9&end_timestamp=8", "alice", nil, http.StatusBadRequest, CodeInvalid)

	// A continuation keeps the first reply's version even when a save
	// comes in between.
	var body bytes.Buffer
	if err := arrayproto.EncodeRead(&body, 0, uint64(len(contents[2]))-1, 4); err != nil {
		t.Fatal(err)
	}
	_, out := e.do("POST", submitPath("alice", "nb", "READ", ""), "alice", body.Bytes(), "Content-Type", capnpCT)
	first, err := arrayproto.DecodeReadReply(bytes.NewReader(out), int64(len(out)))
	if err != nil || first.Complete() {
		t.Fatalf("first chunk: %+v, %v", first, err)
	}
	now.set(time.UnixMilli(t0 + 6000))
	e.writeCapnp("alice", submitPath("alice", "nb", "WRITE", ""), []byte("a newer version"))
	now.set(time.UnixMilli(t0 + 7000))
	_, out = e.do("POST", submitPath("alice", "nb", "READ", ""), "alice", out[8:], "Content-Type", capnpCT)
	second, err := arrayproto.DecodeReadReply(bytes.NewReader(out), int64(len(out)))
	if err != nil || string(first.Data)+string(second.Data) != contents[2][:8] || second.Timestamp != uint64(t0+5000) {
		t.Errorf("continuation across a save: %q %q at %d, %v", first.Data, second.Data, second.Timestamp, err)
	}
}

func TestCapnpClientTimestamps(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	var now atomicTime
	t0 := int64(1_700_000_000_000)
	now.set(time.UnixMilli(t0))
	e.store.SetClock(now.get)
	nb := e.create("alice", "alice", "nb", "zero")
	now.set(time.UnixMilli(t0 + 1000))

	// A client timestamp in the past of the clock, after the latest
	// version: the version is at exactly that time, and the metadata POST
	// of the same save (at the same timestamp) is accepted.
	rep := e.writeCapnp("alice", submitPath("alice", "nb", "WRITE", fmt.Sprintf("start_timestamp=0&end_timestamp=%d", t0+500)), []byte("one"))
	if rep.Timestamp != uint64(t0+500) {
		t.Fatalf("write at t0+500: reply at %d", rep.Timestamp)
	}
	resp, out := e.do("POST", fmt.Sprintf("/v1/arrays/alice/nb/array_metadata?end_timestamp=%d", t0+500), "alice",
		metadataBody(t, arrayproto.NotebookMetadata(3)...), "Content-Type", capnpCT)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata POST of the save: %d %s", resp.StatusCode, out)
	}

	// Retrying the same write at the same time succeeds without a new
	// version; other bytes there, or an earlier time, conflict.
	e.writeCapnp("alice", submitPath("alice", "nb", "WRITE", fmt.Sprintf("end_timestamp=%d", t0+500)), []byte("one"))
	if vs := versions(t, e, "alice", nb); len(vs) != 2 {
		t.Fatalf("a retried write made a version: %+v", vs)
	}
	for _, params := range []string{fmt.Sprintf("end_timestamp=%d", t0+500), fmt.Sprintf("open_at=%d", t0+200)} {
		var body bytes.Buffer
		arrayproto.EncodeWrite(&body, []byte("two"))
		e.wantError("POST", submitPath("alice", "nb", "WRITE", params), "alice", body.Bytes(), http.StatusConflict, CodeConflict)
	}

	// Ahead of the clock: stored at that time, invisible to latest reads
	// and metadata until the clock gets there.
	ahead := t0 + 1000 + 60_000
	rep = e.writeCapnp("alice", submitPath("alice", "nb", "WRITE", fmt.Sprintf("end_timestamp=%d", ahead)), []byte("future"))
	if rep.Timestamp != uint64(ahead) {
		t.Fatalf("write ahead: reply at %d", rep.Timestamp)
	}
	if got, _, _ := e.readCapnp("alice", submitPath("alice", "nb", "READ", ""), 0, 2, 10); string(got) != "one" {
		t.Errorf("latest READ before the clock reaches the future version: %q", got)
	}
	if m := e.getMetadata("alice", "alice", "nb", ""); fileSize(t, m) != 3 {
		t.Errorf("latest file_size before the clock reaches the future version: %d", fileSize(t, m))
	}
	if m := e.getMetadata("alice", "alice", "nb", fmt.Sprintf("end_timestamp=%d", ahead)); fileSize(t, m) != 6 {
		t.Errorf("file_size at the future version: %d", fileSize(t, m))
	}
	now.set(time.UnixMilli(ahead))
	if got, _, _ := e.readCapnp("alice", submitPath("alice", "nb", "READ", ""), 0, 5, 10); string(got) != "future" {
		t.Errorf("latest READ once the clock is there: %q", got)
	}
	// Too far ahead is refused.
	var body bytes.Buffer
	arrayproto.EncodeWrite(&body, []byte("far"))
	e.wantError("POST", submitPath("alice", "nb", "WRITE", fmt.Sprintf("end_timestamp=%d", ahead+int64(maxClockSkew/time.Millisecond)+1)),
		"alice", body.Bytes(), http.StatusBadRequest, CodeInvalid)
	e.wantError("POST", submitPath("alice", "nb", "WRITE", "end_timestamp=0"), "alice", body.Bytes(), http.StatusBadRequest, CodeInvalid)

	// Without a timestamp the server picks its now; a save in the same
	// millisecond as the previous version is bumped past it and still read
	// as latest right after its reply.
	var clock atomic.Int64
	clock.Store(ahead + 1000)
	e.store.SetClock(func() time.Time { return time.UnixMilli(clock.Load()) })
	rep = e.writeCapnp("alice", submitPath("alice", "nb", "WRITE", ""), []byte("same ms 1"))
	go func() { // the clock moves on while the server waits
		time.Sleep(20 * time.Millisecond)
		clock.Add(1)
	}()
	rep2 := e.writeCapnp("alice", submitPath("alice", "nb", "WRITE", ""), []byte("same ms 2"))
	if rep.Timestamp != uint64(ahead+1000) || rep2.Timestamp != rep.Timestamp+1 {
		t.Errorf("same-millisecond saves at %d and %d", rep.Timestamp, rep2.Timestamp)
	}
	if got, _, _ := e.readCapnp("alice", submitPath("alice", "nb", "READ", ""), 0, 8, 10); string(got) != "same ms 2" {
		t.Errorf("latest READ after a bumped save: %q", got)
	}
}

func TestCapnpLargeNotebook(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	nb := e.create("alice", "alice", "big", nbJSON)
	// 20 MB of notebook-like JSON with multi-byte characters, not a
	// multiple of the store's chunk or the read buffer.
	var b bytes.Buffer
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; b.Len() < 20_000_000; i++ {
		fmt.Fprintf(&b, `{"cell": %d, "source": "é☕😀 %x"},`+"\n", i, rng.Uint64())
	}
	content := b.Bytes()
	n := uint64(len(content))
	e.writeCapnp("alice", submitPath("alice", "big", "WRITE", ""), content)
	if got := storeBytes(t, e, nb, time.Time{}); !bytes.Equal(got, content) {
		t.Fatalf("store holds %d bytes, differing", len(got))
	}
	got, reqs, _ := e.readCapnp("alice", submitPath("alice", "big", "READ", ""), 0, n-1, 1<<20)
	if !bytes.Equal(got, content) || reqs != int((n+(1<<20)-1)>>20) {
		t.Fatalf("READ by 1 MiB: %d requests, %d bytes, equal %v", reqs, len(got), bytes.Equal(got, content))
	}
	got, reqs, _ = e.readCapnp("alice", submitPath("alice", "big", "READ", ""), 0, n-1, n)
	if !bytes.Equal(got, content) || reqs != 1 {
		t.Fatalf("READ at once: %d requests", reqs)
	}
	if m := e.getMetadata("alice", "alice", "big", ""); fileSize(t, m) != int64(n) {
		t.Errorf("file_size %d", fileSize(t, m))
	}
}

func TestCapnpPermissions(t *testing.T) {
	e := newEnv(t, Options{}, "alice", "bob", "carol")
	nb := e.create("alice", "alice", "nb", nbJSON)
	if err := e.store.As("alice").Share(e.ctx(), "alice", nb.ID, "bob", []string{"read"}); err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	arrayproto.EncodeWrite(&w, []byte("hijack"))
	md := metadataBody(t, arrayproto.NotebookMetadata(int64(len(nbJSON)))...)
	// bob reads but may not write: 403; carol sees nothing: 404.
	e.wantError("POST", submitPath("alice", "nb", "WRITE", ""), "bob", w.Bytes(), http.StatusForbidden, CodePermission, "Content-Type", capnpCT)
	e.wantError("POST", "/v1/arrays/alice/nb/array_metadata", "bob", md, http.StatusForbidden, CodePermission, "Content-Type", capnpCT)
	if got, _, _ := e.readCapnp("bob", submitPath("alice", "nb", "READ", ""), 0, uint64(len(nbJSON))-1, 1000); string(got) != nbJSON {
		t.Errorf("bob's READ: %q", got)
	}
	e.getMetadata("bob", "alice", "nb", "")
	var r bytes.Buffer
	arrayproto.EncodeRead(&r, 0, 9, 10)
	for _, req := range []struct {
		method, path string
		body         []byte
	}{
		{"POST", submitPath("alice", "nb", "WRITE", ""), w.Bytes()},
		{"POST", submitPath("alice", "nb", "READ", ""), r.Bytes()},
		{"GET", "/v1/arrays/alice/nb/array_metadata", nil},
		{"POST", "/v1/arrays/alice/nb/array_metadata", md},
		{"GET", "/v1/arrays/alice/nb", nil},
	} {
		e.wantError(req.method, req.path, "carol", req.body, http.StatusNotFound, CodeNotFound, "Content-Type", capnpCT)
		e.wantError(req.method, req.path, "", req.body, http.StatusUnauthorized, CodeUnauthenticated, "Content-Type", capnpCT)
	}
	if vs := versions(t, e, "alice", nb); len(vs) != 1 {
		t.Errorf("refused writes made versions: %+v", vs)
	}
}

// customQuery builds a query/submit message of any shape, to check that
// the server refuses what it does not serve.
type customQuery struct {
	typ, layout, attr, rangeType string
	ranges                       [][2]uint64
	fixed, original              uint64
}

func (cq customQuery) body(t *testing.T, data []byte) []byte {
	t.Helper()
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	if err != nil {
		t.Fatal(err)
	}
	q, _ := rest.NewRootQuery(seg)
	q.SetType(cq.typ)
	q.SetLayout(cq.layout)
	q.SetStatus("UNINITIALIZED")
	hs, _ := q.NewAttributeBufferHeaders(1)
	hs.At(0).SetName(cq.attr)
	hs.At(0).SetFixedLenBufferSizeInBytes(cq.fixed)
	hs.At(0).SetOriginalFixedLenBufferSizeInBytes(cq.original)
	var sub rest.Subarray
	if cq.typ == "WRITE" {
		wr, _ := q.NewWriter()
		sub, _ = wr.NewSubarrayRanges()
	} else {
		rd, _ := q.NewReader()
		sub, _ = rd.NewSubarray()
	}
	sub.SetLayout("row-major")
	rs, _ := sub.NewRanges(1)
	buf := make([]byte, 0, 16*len(cq.ranges))
	for _, rg := range cq.ranges {
		buf = binary.LittleEndian.AppendUint64(buf, rg[0])
		buf = binary.LittleEndian.AppendUint64(buf, rg[1])
	}
	rs.At(0).SetType(cq.rangeType)
	rs.At(0).SetBuffer(buf)
	b, err := msg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return append(b, data...)
}

func TestCapnpBadRequests(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	nb := e.create("alice", "alice", "nb", nbJSON)
	good := customQuery{typ: "WRITE", layout: "row-major", attr: "contents", rangeType: "UINT64", ranges: [][2]uint64{{0, 4}}, fixed: 5, original: 5}
	if b := good.body(t, []byte("hello")); true {
		resp, out := e.do("POST", submitPath("alice", "nb", "WRITE", ""), "alice", b, "Content-Type", capnpCT)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("custom WRITE: %d %s", resp.StatusCode, out)
		}
	}
	var w, r bytes.Buffer
	arrayproto.EncodeWrite(&w, []byte("0123456789"))
	arrayproto.EncodeRead(&r, 0, 9, 10)
	wb, rb := w.Bytes(), r.Bytes()
	mod := func(f func(*customQuery)) customQuery { c := good; f(&c); return c }
	bad := []struct {
		name, path string
		body       []byte
	}{
		{"empty WRITE", submitPath("alice", "nb", "WRITE", ""), nil},
		{"empty READ", submitPath("alice", "nb", "READ", ""), []byte{}},
		{"garbage", submitPath("alice", "nb", "WRITE", ""), []byte("this is not capnp at all, not even close")},
		{"truncated message", submitPath("alice", "nb", "WRITE", ""), wb[:40]},
		{"contents cut short", submitPath("alice", "nb", "WRITE", ""), wb[:len(wb)-3]},
		{"bytes after the contents", submitPath("alice", "nb", "WRITE", ""), append(append([]byte{}, wb...), "extra"...)},
		{"READ body to type=WRITE", submitPath("alice", "nb", "WRITE", ""), rb},
		{"WRITE body to type=READ", submitPath("alice", "nb", "READ", ""), wb},
		{"no type", "/v2/arrays/alice/nb/query/submit", rb},
		{"type DELETE", submitPath("alice", "nb", "DELETE", ""), rb},
		{"bad read_all", submitPath("alice", "nb", "READ", "read_all=maybe"), rb},
		{"write not from 0", submitPath("alice", "nb", "WRITE", ""), mod(func(c *customQuery) { c.ranges = [][2]uint64{{5, 9}} }).body(t, []byte("hello"))},
		{"other attribute", submitPath("alice", "nb", "WRITE", ""), mod(func(c *customQuery) { c.attr = "a1" }).body(t, []byte("hello"))},
		{"other range type", submitPath("alice", "nb", "WRITE", ""), mod(func(c *customQuery) { c.rangeType = "INT32" }).body(t, []byte("hello"))},
		{"two ranges", submitPath("alice", "nb", "WRITE", ""), mod(func(c *customQuery) { c.ranges = [][2]uint64{{0, 1}, {3, 5}} }).body(t, []byte("hello"))},
		{"unordered", submitPath("alice", "nb", "WRITE", ""), mod(func(c *customQuery) { c.layout = "unordered" }).body(t, []byte("hello"))},
		{"size mismatch", submitPath("alice", "nb", "WRITE", ""), mod(func(c *customQuery) { c.fixed = 4 }).body(t, []byte("hello"))},
		{"READ capacity 0", submitPath("alice", "nb", "READ", ""), mod(func(c *customQuery) { c.typ, c.fixed, c.original = "READ", 0, 0 }).body(t, nil)},
		{"READ other attribute", submitPath("alice", "nb", "READ", ""), mod(func(c *customQuery) { c.typ, c.attr = "READ", "position" }).body(t, nil)},
		{"READ past the domain", submitPath("alice", "nb", "READ", ""), mod(func(c *customQuery) { c.typ, c.ranges = "READ", [][2]uint64{{0, arrayproto.DomainMax + 1}} }).body(t, nil)},
		{"READ empty range", submitPath("alice", "nb", "READ", ""), mod(func(c *customQuery) { c.typ, c.ranges = "READ", [][2]uint64{{5, 4}} }).body(t, nil)},
		{"read_all too long", submitPath("alice", "nb", "READ", "read_all=true"), mod(func(c *customQuery) { c.typ, c.ranges = "READ", [][2]uint64{{0, 1 << 40}} }).body(t, nil)},
	}
	for _, tc := range bad {
		eb := e.wantError("POST", tc.path, "alice", tc.body, http.StatusBadRequest, CodeInvalid, "Content-Type", capnpCT)
		t.Logf("%s: %s", tc.name, eb.Message)
	}
	if vs := versions(t, e, "alice", nb); len(vs) != 2 {
		t.Errorf("bad requests made versions: %d", len(vs))
	}
}

func TestCapnpOversized(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	e.create("alice", "alice", "nb", nbJSON)
	// A message declaring 16 MiB is refused from its header.
	huge := make([]byte, 64)
	binary.LittleEndian.PutUint32(huge[4:], 2<<20) // words
	e.wantError("POST", submitPath("alice", "nb", "WRITE", ""), "alice", huge, http.StatusRequestEntityTooLarge, CodeTooLarge, "Content-Type", capnpCT)
	e.wantError("POST", submitPath("alice", "nb", "READ", ""), "alice", huge, http.StatusRequestEntityTooLarge, CodeTooLarge, "Content-Type", capnpCT)
	e.wantError("POST", "/v1/arrays/alice/nb/array_metadata", "alice", huge, http.StatusRequestEntityTooLarge, CodeTooLarge, "Content-Type", capnpCT)
	// A WRITE announcing 2 GiB of contents.
	big := customQuery{typ: "WRITE", layout: "row-major", attr: "contents", rangeType: "UINT64", ranges: [][2]uint64{{0, 2<<30 - 1}}, fixed: 2 << 30}
	e.wantError("POST", submitPath("alice", "nb", "WRITE", ""), "alice", big.body(t, []byte("just a few")), http.StatusRequestEntityTooLarge, CodeTooLarge, "Content-Type", capnpCT)
	// A READ whose body goes on past the message and the largest reply a
	// continuation can post back.
	var r bytes.Buffer
	arrayproto.EncodeRead(&r, 0, 9, 10)
	long := append(r.Bytes(), make([]byte, maxQueryMessage+maxReadChunk)...)
	e.wantError("POST", submitPath("alice", "nb", "READ", ""), "alice", long, http.StatusRequestEntityTooLarge, CodeTooLarge, "Content-Type", capnpCT)
	// Metadata over its limit.
	md := make([]byte, maxMetadataBody+16)
	binary.LittleEndian.PutUint32(md[4:], maxMetadataBody/8+1)
	e.wantError("POST", "/v1/arrays/alice/nb/array_metadata", "alice", md, http.StatusRequestEntityTooLarge, CodeTooLarge, "Content-Type", capnpCT)
}

func TestCapnpMetadataPost(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	nb := e.create("alice", "alice", "nb", "0123456789")
	post := func(status int, entries ...arrayproto.MetadataEntry) {
		t.Helper()
		resp, out := e.do("POST", "/v1/arrays/alice/nb/array_metadata", "alice", metadataBody(t, entries...), "Content-Type", capnpCT)
		if resp.StatusCode != status {
			t.Fatalf("POST %v: %d %s", entries, resp.StatusCode, out)
		}
	}
	// The JS client's vector (file_size 10), a Go save's three entries, and
	// what TileDB-Py adds: deletions of its numpy keys, other keys.
	resp, out := e.do("POST", "/v1/arrays/alice/nb/array_metadata", "alice", readVector(t, "metadata_post_7.4.hex"), "Content-Type", capnpCT)
	if resp.StatusCode != http.StatusOK || len(out) != 0 {
		t.Fatalf("JS metadata vector: %d %s", resp.StatusCode, out)
	}
	post(http.StatusOK, arrayproto.NotebookMetadata(10)...)
	post(http.StatusOK, arrayproto.DeleteEntry("__np_flat_file_size"), arrayproto.DeleteEntry("__np_shape_file_size"),
		arrayproto.Int64Entry("file_size", 10), arrayproto.StringEntry("mimetype", "application/x-ipynb+json"),
		arrayproto.DeleteEntry("mimetype"), arrayproto.DeleteEntry("never_set"))
	// A deletion then a put of the same key: the put wins.
	post(http.StatusOK, arrayproto.DeleteEntry("file_size"), arrayproto.Int64Entry("file_size", 10))
	post(http.StatusOK) // no entries
	if vs := versions(t, e, "alice", nb); len(vs) != 1 {
		t.Fatalf("metadata POSTs made versions: %+v", vs)
	}
	// Wrong file_size: 409; wrong type, format, deletions of them: 400.
	for _, tc := range []struct {
		status  int
		entries []arrayproto.MetadataEntry
	}{
		{http.StatusConflict, []arrayproto.MetadataEntry{arrayproto.Int64Entry("file_size", 11)}},
		{http.StatusBadRequest, []arrayproto.MetadataEntry{arrayproto.Int64Entry("file_size", -1)}},
		{http.StatusBadRequest, []arrayproto.MetadataEntry{arrayproto.StringEntry("file_size", "10")}},
		{http.StatusBadRequest, []arrayproto.MetadataEntry{arrayproto.StringEntry("type", "file")}},
		{http.StatusBadRequest, []arrayproto.MetadataEntry{arrayproto.StringEntry("format", "xml")}},
		{http.StatusBadRequest, []arrayproto.MetadataEntry{arrayproto.DeleteEntry("file_size")}},
		{http.StatusBadRequest, []arrayproto.MetadataEntry{arrayproto.Int64Entry("file_size", 10), arrayproto.DeleteEntry("type")}},
	} {
		code := CodeInvalid
		if tc.status == http.StatusConflict {
			code = CodeConflict
		}
		e.wantError("POST", "/v1/arrays/alice/nb/array_metadata", "alice", metadataBody(t, tc.entries...), tc.status, code, "Content-Type", capnpCT)
	}
	e.wantError("POST", "/v1/arrays/alice/nb/array_metadata", "alice", []byte("garbage garbage!"), http.StatusBadRequest, CodeInvalid, "Content-Type", capnpCT)
	e.wantError("POST", "/v1/arrays/alice/nb/array_metadata", "alice", append(metadataBody(t), 0), http.StatusBadRequest, CodeInvalid, "Content-Type", capnpCT)
	e.wantError("POST", "/v1/arrays/alice/nb/array_metadata?end_timestamp=3", "alice", metadataBody(t, arrayproto.Int64Entry("file_size", 10)),
		http.StatusConflict, CodeConflict, "Content-Type", capnpCT)

	// file_size 0 saves an empty version (a WRITE cannot hold 0 cells).
	post(http.StatusOK, arrayproto.NotebookMetadata(0)...)
	vs := versions(t, e, "alice", nb)
	if len(vs) != 2 || vs[1].Size != 0 {
		t.Fatalf("versions after file_size 0: %+v", vs)
	}
	post(http.StatusOK, arrayproto.NotebookMetadata(0)...) // already empty: nothing new
	if vs := versions(t, e, "alice", nb); len(vs) != 2 {
		t.Fatalf("second file_size 0 made a version: %+v", vs)
	}
	if m := e.getMetadata("alice", "alice", "nb", ""); fileSize(t, m) != 0 {
		t.Errorf("file_size after the empty save: %d", fileSize(t, m))
	}
	if got, _, _ := e.readCapnp("alice", submitPath("alice", "nb", "READ", ""), 0, 1, 2); !bytes.Equal(got, []byte{255, 255}) {
		t.Errorf("READ of the empty version: %v", got)
	}

	// JSON both ways, as the spec's ArrayMetadata.
	e.writeCapnp("alice", submitPath("alice", "nb", "WRITE", ""), []byte("abc"))
	e.call("POST", "/v1/arrays/alice/nb/array_metadata", "alice", map[string]any{"entries": []map[string]any{
		{"key": "file_size", "type": "INT64", "valueNum": 1, "value": []int{3, 0, 0, 0, 0, 0, 0, 0}},
		{"key": "mimetype", "type": "INT32", "del": true},
	}}, http.StatusOK, nil)
	e.wantError("POST", "/v1/arrays/alice/nb/array_metadata", "alice", []byte(`{"entries": [{"key": "file_size", "type": "INT64", "valueNum": 1, "value": [3]}]}`),
		http.StatusBadRequest, CodeInvalid, "Content-Type", "application/json")
	var mj metadataJSON
	resp, out = e.do("GET", "/v1/arrays/alice/nb/array_metadata", "alice", nil, "Accept", "application/json, text/plain, */*")
	if err := json.Unmarshal(out, &mj); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON array_metadata: %s %v", out, err)
	}
	if len(mj.Entries) != 3 || mj.Entries[0].Key != "file_size" || mj.Entries[0].Value[0] != 3 || mj.Entries[2].Key != "type" {
		t.Errorf("JSON array_metadata: %+v", mj)
	}
	// Without any header a GET is capnp.
	resp, out = e.do("GET", "/v1/arrays/alice/nb/array_metadata", "alice", nil)
	if _, err := arrayproto.DecodeArrayMetadata(bytes.NewReader(out), int64(len(out))); resp.Header.Get("Content-Type") != capnpCT || err != nil {
		t.Errorf("GET without headers: %s, %v", resp.Header.Get("Content-Type"), err)
	}
}

func TestCapnpMetrics(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	e.create("alice", "alice", "nb", nbJSON)
	e.readCapnp("alice", submitPath("alice", "nb", "READ", ""), 0, 3, 2)
	e.writeCapnp("alice", submitPath("alice", "nb", "WRITE", ""), []byte("x"))
	e.getMetadata("alice", "alice", "nb", "")
	e.do("GET", "/v1/arrays/alice/nb", "alice", nil)
	e.wantError("POST", "/v3/arrays/alice/nb/query/submit", "alice", nil, http.StatusBadRequest, CodeInvalid)
	_, out := e.do("GET", "/metrics", "", nil)
	for _, line := range []string{
		`notebookfs_server_requests_total{route="POST /v2/arrays/{namespace}/{array}/query/submit",code="200"} 3`,
		`notebookfs_server_requests_total{route="POST /v3/arrays/{namespace}/{array}/query/submit",code="400"} 1`,
		`notebookfs_server_requests_total{route="GET /v1/arrays/{namespace}/{array}/array_metadata",code="200"} 1`,
		`notebookfs_server_requests_total{route="GET /v1/arrays/{namespace}/{array}",code="200"} 1`,
	} {
		if !hasSample(string(out), line) {
			t.Errorf("metrics lack %s:\n%s", line, out)
		}
	}
}

// TestCapnpChunkedWrite sends WRITE bodies without Content-Length
// (chunked): the contents must still be exactly what the query announces.
func TestCapnpChunkedWrite(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	nb := e.create("alice", "alice", "nb", nbJSON)
	var w bytes.Buffer
	arrayproto.EncodeWrite(&w, []byte("chunked body"))
	wb := w.Bytes()
	post := func(body []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(e.ctx(), "POST", e.ts.URL+submitPath("alice", "nb", "WRITE", ""), io.MultiReader(bytes.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		if req.ContentLength != 0 {
			t.Fatal("the request has a length: it would not be chunked")
		}
		req.Header.Set("X-TILEDB-REST-API-KEY", e.tokens["alice"])
		req.Header.Set("Content-Type", capnpCT)
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	if st, out := post(wb); st != http.StatusOK {
		t.Fatalf("chunked WRITE: %d %s", st, out)
	}
	if st, out := post(wb[:len(wb)-1]); st != http.StatusBadRequest || !strings.Contains(out, `"code":4000`) {
		t.Errorf("chunked WRITE cut short: %d %s", st, out)
	}
	if st, out := post(append(append([]byte{}, wb...), 'x')); st != http.StatusBadRequest || !strings.Contains(out, "after the 12 contents bytes") {
		t.Errorf("chunked WRITE with a byte too many: %d %s", st, out)
	}
	if got := storeBytes(t, e, nb, time.Time{}); string(got) != "chunked body" {
		t.Errorf("store holds %q", got)
	}
	if vs := versions(t, e, "alice", nb); len(vs) != 2 {
		t.Errorf("%d versions, want 2", len(vs))
	}
}

// TestCapnpSaveReadCost logs what a save and a cold read of a notebook
// cost in requests and body bytes, the way this project's Go client does
// them: save = WRITE + metadata POST at the same timestamp;
// read = metadata GET + READ (one request when the buffer holds the file).
func TestCapnpSaveReadCost(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	e.create("alice", "alice", "nb", nbJSON)
	for _, n := range []int{10, 100_000, 20_000_000} {
		content := bytes.Repeat([]byte("x"), n)
		var w bytes.Buffer
		arrayproto.EncodeWrite(&w, content)
		resp, wrep := e.do("POST", submitPath("alice", "nb", "WRITE", ""), "alice", w.Bytes(), "Content-Type", capnpCT)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("WRITE: %d", resp.StatusCode)
		}
		rep, err := arrayproto.DecodeWriteReply(bytes.NewReader(wrep), int64(len(wrep)))
		if err != nil {
			t.Fatal(err)
		}
		md := metadataBody(t, arrayproto.NotebookMetadata(int64(n))...)
		mdPath := fmt.Sprintf("/v1/arrays/alice/nb/array_metadata?start_timestamp=0&end_timestamp=%d", rep.Timestamp)
		resp, mrep := e.do("POST", mdPath, "alice", md, "Content-Type", capnpCT)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("metadata POST: %d", resp.StatusCode)
		}
		// Cold read: metadata, then contents with a buffer of 8 MiB.
		_, mget := e.do("GET", "/v1/arrays/alice/nb/array_metadata", "alice", nil, "Content-Type", capnpCT)
		const buffer = 8 << 20
		var r bytes.Buffer
		arrayproto.EncodeRead(&r, 0, uint64(n)-1, min(uint64(n), buffer))
		t.Logf("n=%d: save = 2 requests, sent %d (WRITE %d = message %d + n) + %d (metadata), received %d + %d",
			n, len(w.Bytes())+len(md), len(w.Bytes()), len(w.Bytes())-n, len(md), len(wrep), len(mrep))
		// Continuations as the JS client sends them (the reply posted back,
		// data included), and with the reply's message alone, which the
		// server takes as well (it reads nothing after the message).
		for _, verbatim := range []bool{true, false} {
			readReqs, sent, recv := 0, 0, 0
			body := r.Bytes()
			var got []byte
			for {
				readReqs++
				sent += len(body)
				_, out := e.do("POST", submitPath("alice", "nb", "READ", ""), "alice", body, "Content-Type", capnpCT)
				recv += len(out)
				rr, err := arrayproto.DecodeReadReply(bytes.NewReader(out), int64(len(out)))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, rr.Data...)
				if rr.Complete() {
					break
				}
				body = out[8:]
				if !verbatim {
					body = rr.Message
				}
			}
			if !bytes.Equal(got, content) {
				t.Fatalf("n=%d: read back differs", n)
			}
			t.Logf("n=%d: cold read (8 MiB buffer, verbatim continuations %v) = %d requests: metadata GET received %d; %d READ sent %d, received %d (overhead %d)",
				n, verbatim, 1+readReqs, len(mget), readReqs, sent, recv, recv-n)
		}
	}
}
