package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/local"
)

// env is a server over a fresh store, with users and their tokens.
type env struct {
	t      *testing.T
	store  *local.Store
	srv    *Server
	ts     *httptest.Server
	tokens map[string]string
}

func newEnv(t *testing.T, opts Options, users ...string) *env {
	t.Helper()
	store, err := local.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := New(store, opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, store: store, srv: srv, ts: ts, tokens: map[string]string{}}
	for _, u := range users {
		e.addUser(u)
	}
	return e
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

func (e *env) addUser(name string) {
	e.t.Helper()
	if err := e.store.AddUser(e.ctx(), name); err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.store.NewToken(e.ctx(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens[name] = tok
}

func (e *env) addOrg(org string, members map[string]string) {
	e.t.Helper()
	if err := e.store.AddOrg(e.ctx(), org); err != nil {
		e.t.Fatal(err)
	}
	for u, role := range members {
		if err := e.store.AddMember(e.ctx(), org, u, role); err != nil {
			e.t.Fatal(err)
		}
	}
}

// create makes a notebook as user through the store.
func (e *env) create(user, ns, name, content string) remote.Notebook {
	e.t.Helper()
	nb, err := e.store.As(user).Create(e.ctx(), ns, name, strings.NewReader(content), int64(len(content)), remote.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return nb
}

// do sends a request as user ("" for none) and returns the response with
// its body read.
func (e *env) do(method, path, user string, body []byte, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.ctx(), method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-TILEDB-REST-API-KEY", e.tokens[user])
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// getJSON GETs path as user, wants status, and decodes the body into v.
func (e *env) getJSON(user, path string, status int, v any) {
	e.t.Helper()
	e.call("GET", path, user, nil, status, v)
}

// call sends a request with a JSON body (nil for none), wants status and
// decodes the reply into v (unless nil).
func (e *env) call(method, path, user string, body any, status int, v any) {
	e.t.Helper()
	var b []byte
	var hdr []string
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
		hdr = []string{"Content-Type", "application/json"}
	}
	resp, out := e.do(method, path, user, b, hdr...)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s as %q: status %d, want %d; body %s", method, path, user, resp.StatusCode, status, out)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, out, err)
		}
	}
}

// wantError checks an Error reply: status, application code, and a
// request id equal to the X-Request-Id header.
func (e *env) wantError(method, path, user string, body []byte, status, code int, hdr ...string) errorBody {
	e.t.Helper()
	resp, out := e.do(method, path, user, body, hdr...)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s as %q: status %d, want %d; body %s", method, path, user, resp.StatusCode, status, out)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var eb errorBody
	if err := json.Unmarshal(out, &eb); err != nil {
		e.t.Fatalf("%s %s: error body %s: %v", method, path, out, err)
	}
	if eb.Code != int64(code) {
		e.t.Errorf("%s %s: code %d, want %d (%s)", method, path, eb.Code, code, eb.Message)
	}
	if eb.Message == "" || eb.RequestID == "" || eb.RequestID != resp.Header.Get("X-Request-Id") {
		e.t.Errorf("%s %s: error body %+v, X-Request-Id %q", method, path, eb, resp.Header.Get("X-Request-Id"))
	}
	return eb
}

// upload POSTs content as a new notebook through the v2 endpoint.
func (e *env) upload(user, ns, array, content string) notebookUploaded {
	e.t.Helper()
	resp, out := e.do("POST", "/v2/notebooks/"+ns+"/"+array+"/upload?filesize="+strconv.Itoa(len(content)), user,
		[]byte(content), "Content-Type", "application/octet-stream")
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("upload %s/%s: status %d: %s", ns, array, resp.StatusCode, out)
	}
	var up notebookUploaded
	if err := json.Unmarshal(out, &up); err != nil {
		e.t.Fatal(err)
	}
	return up
}

func names(arrays []arrayInfo) []string {
	out := []string{}
	for _, a := range arrays {
		out = append(out, a.Name)
	}
	return out
}
