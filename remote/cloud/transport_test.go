package cloud

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// recorder is an httptest server whose handler the test supplies, counting
// requests per path.
type recorder struct {
	srv   *httptest.Server
	mu    sync.Mutex
	count map[string]int
	reqs  []seen
}

func newRecorder(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) *recorder {
	return newRecorderTLS(t, false, h)
}

// newRecorderTLS is newRecorder over https when tls is set.
func newRecorderTLS(t *testing.T, tls bool, h func(w http.ResponseWriter, r *http.Request, n int)) *recorder {
	rec := &recorder{count: map[string]int{}}
	start := httptest.NewServer
	if tls {
		start = httptest.NewTLSServer
	}
	rec.srv = start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.count[r.URL.Path]++
		n := rec.count[r.URL.Path]
		rec.reqs = append(rec.reqs, seen{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone()})
		rec.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) n(path string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.count[path]
}

func (rec *recorder) client(t *testing.T, o Options) *Client {
	o.Host = rec.srv.URL
	if o.Token == "" && o.Username == "" {
		o.Token = testToken
	}
	return newTestClient(t, o)
}

// hangUp closes the connection without a reply.
func hangUp(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	conn.Close()
}

func userJSON(w http.ResponseWriter) {
	io.WriteString(w, `{"username":"alice","organizations":[]}`)
}

const nbID = "0b6f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

func TestNewHostRules(t *testing.T) {
	for _, tc := range []struct {
		host, want, err string
	}{
		{"", "https://api.tiledb.com", ""},
		{"api.tiledb.com", "https://api.tiledb.com", ""},
		{"https://eu-west-1.aws.api.tiledb.com/", "https://eu-west-1.aws.api.tiledb.com", ""},
		{"https://api.tiledb.com/v1", "https://api.tiledb.com", ""},
		{"https://proxy.example/tiledb/v1/", "https://proxy.example/tiledb", ""},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"http://127.1.2.3:8080", "http://127.1.2.3:8080", ""},
		{"http://[::1]:8080", "http://[::1]:8080", ""},
		{"http://localhost:8080", "http://localhost:8080", ""},
		{"http://api.tiledb.com", "", "refusing plain http"},
		{"http://10.0.0.1:80", "", "refusing plain http"},
		{"http://127.0.0.1.evil.example", "", "refusing plain http"},
		{"ftp://x", "", "scheme"},
		{"https://user:pw@api.tiledb.com", "", "credentials"},
	} {
		c, err := New(Options{Host: tc.host, Token: "t"})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("New(%q): %v, want error with %q", tc.host, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("New(%q) error shows the password: %v", tc.host, err)
			}
			continue
		}
		if err != nil || c.Host() != tc.want {
			t.Errorf("New(%q): %v, host %v; want %s", tc.host, err, c, tc.want)
		}
	}
	if _, err := New(Options{Host: "https://x"}); err == nil {
		t.Error("New without credentials: no error")
	}
}

func TestAuthHeaders(t *testing.T) {
	var got http.Header
	var mu sync.Mutex
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		userJSON(w)
	})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:pa:ss"))
	for _, tc := range []struct {
		o          Options
		key, authz string
	}{
		{Options{Token: "tok"}, "tok", ""},
		{Options{Username: "bob", Password: "pa:ss"}, "", basic},
		{Options{Token: "tok", Username: "bob", Password: "pa:ss"}, "tok", basic},
	} {
		c := rec.client(t, tc.o)
		if _, err := c.Whoami(t.Context()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if got.Get("X-TILEDB-REST-API-KEY") != tc.key || got.Get("Authorization") != tc.authz ||
			got.Get("Accept") != "application/json" || got.Get("User-Agent") != userAgent {
			t.Errorf("%+v: headers %v", tc.o.Username, got)
		}
		mu.Unlock()
	}
}

func TestListPagesConcurrently(t *testing.T) {
	f := newFake(t)
	for i := range 250 {
		nb := f.add("alice", fmt.Sprintf("nb%03d", i), bytes.Repeat([]byte("a"), i))
		if i%50 == 0 {
			nb.noSizeInList = true
		}
	}
	// Pages 2 and 3 must be in flight together: each waits for the other.
	var arrived sync.WaitGroup
	arrived.Add(2)
	both := make(chan struct{})
	go func() { arrived.Wait(); close(both) }()
	var overlapped atomic.Bool
	f.perPageAt = func(page int) {
		if page == 1 {
			return
		}
		arrived.Done()
		select {
		case <-both:
			overlapped.Store(true)
		case <-time.After(5 * time.Second):
		}
	}
	c := f.client(t, Options{PerPage: 100})
	f.resetReqs()
	l, err := c.List(t.Context(), remote.Owned, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !overlapped.Load() {
		t.Fatal("pages 2 and 3 were not fetched concurrently")
	}
	if len(l) != 250 {
		t.Fatalf("List: %d notebooks", len(l))
	}
	for i, nb := range l {
		if nb.Name != fmt.Sprintf("nb%03d", i) || nb.Size != int64(i) || !allRights(nb.Actions) {
			t.Fatalf("List[%d] = %+v", i, nb)
		}
		if i > 0 && nb.Created.Before(l[i-1].Created) {
			t.Fatalf("List not in creation order at %d", i)
		}
	}
	pages, sizes := 0, 0
	for _, r := range f.reqs() {
		switch {
		case r.Path == "/v1/arrays/browser/owned":
			pages++
		case strings.HasSuffix(r.Path, "/metadata_json"):
			sizes++
		}
	}
	if pages != 3 || sizes != 5 {
		t.Fatalf("List made %d page and %d metadata_json requests, want 3 and 5", pages, sizes)
	}
}

func allRights(actions []string) bool {
	return strings.Join(actions, ",") == "read,share,write"
}

func TestRedirectsResendSameRequest(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusSeeOther} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			// The regional server serves; the global one only redirects.
			type got struct {
				method, path, query, key, ctype string
				body                            []byte
			}
			var mu sync.Mutex
			var hits []got
			region := newRecorderTLS(t, true, func(w http.ResponseWriter, r *http.Request, n int) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				hits = append(hits, got{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("X-TILEDB-REST-API-KEY"), r.Header.Get("Content-Type"), body})
				mu.Unlock()
				switch r.Method {
				case "GET":
					userJSON(w)
				case "POST":
					w.WriteHeader(http.StatusCreated)
					io.WriteString(w, `{"id":"`+nbID+`","name":"n","output_uri":"tiledb://alice/n"}`)
				default:
					w.WriteHeader(http.StatusNoContent)
				}
			})
			global := newRecorderTLS(t, true, func(w http.ResponseWriter, r *http.Request, n int) {
				http.Redirect(w, r, "https://eu.tiledb.test"+r.URL.RequestURI(), status)
			})
			c := newTestClient(t, Options{Host: "https://api.tiledb.test", Token: testToken,
				Transport: siteTransport(map[string]*recorder{"api.tiledb.test": global, "eu.tiledb.test": region})})
			ctx := t.Context()
			if _, err := c.Whoami(ctx); err != nil {
				t.Fatal(err)
			}
			if c.Host() != "https://eu.tiledb.test" {
				t.Fatalf("redirected host not remembered: %s", c.Host())
			}
			// Later calls go to the region directly.
			if err := c.Share(ctx, "alice", nbID, "bob", []string{"read"}); err != nil {
				t.Fatal(err)
			}
			if global.n("/v1/user") != 1 || global.n("/v1/arrays/alice/"+nbID+"/share") != 0 {
				t.Fatalf("global host hit %v", global.count)
			}
			mu.Lock()
			if len(hits) != 2 || hits[0].method != "GET" || hits[0].key != testToken || hits[1].method != "PATCH" ||
				string(hits[1].body) != `{"namespace":"bob","actions":["read"]}` || hits[1].ctype != "application/json" {
				t.Fatalf("region got %+v", hits)
			}
			mu.Unlock()
		})
	}
}

func TestRedirectPOSTAndPATCHBodies(t *testing.T) {
	// A redirect on every method, to another path on the same host (so the
	// base does not move): POST and PATCH keep method, body and headers.
	type got struct {
		method, path, query, key, ctype, creds string
		body                                   []byte
	}
	var mu sync.Mutex
	var hits []got
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if !strings.HasPrefix(r.URL.Path, "/moved") {
			code := http.StatusFound
			if n%2 == 0 {
				code = http.StatusTemporaryRedirect
			}
			// Redirect before reading the body.
			w.Header().Set("Location", "/moved"+r.URL.RequestURI())
			w.WriteHeader(code)
			return
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits = append(hits, got{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("X-TILEDB-REST-API-KEY"),
			r.Header.Get("Content-Type"), r.Header.Get("X-TILEDB-CLOUD-ACCESS-CREDENTIALS-NAME"), body})
		mu.Unlock()
		switch {
		case r.Method == "POST":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"`+nbID+`","name":"n","output_uri":"x"}`)
		case strings.HasSuffix(r.URL.Path, "/user"):
			userJSON(w)
		case strings.HasSuffix(r.URL.Path, "/metadata"):
			io.WriteString(w, `{"id":"`+nbID+`","name":"n","namespace":"alice","allowed_actions":["read"]}`)
		case strings.HasSuffix(r.URL.Path, "/metadata_json"):
			io.WriteString(w, `{"file_size":5}`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c := rec.client(t, Options{})
	ctx := t.Context()
	data := []byte("hello")
	if _, err := c.Create(ctx, "alice", "n", bytes.NewReader(data), 5, remote.CreateOptions{StorageCredential: "cr"}); err != nil {
		t.Fatal(err)
	}
	// A plain stream, not a Seeker: the redirect comes before the body is
	// taken (Expect: 100-continue), so it can still be sent.
	if _, err := c.Create(ctx, "alice", "n", io.MultiReader(bytes.NewReader(data)), 5, remote.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rename(ctx, "alice", nbID, "m"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var posts, patches int
	for _, h := range hits {
		if h.key != testToken {
			t.Fatalf("redirected request lost the token: %+v", h)
		}
		switch h.method {
		case "POST":
			posts++
			if string(h.body) != "hello" || h.path != "/moved/v2/notebooks/alice/n/upload" || h.ctype != "application/octet-stream" ||
				!strings.Contains(h.query, "filesize=5") {
				t.Fatalf("redirected POST: %+v", h)
			}
			if posts == 1 && h.creds != "cr" {
				t.Fatalf("redirected POST lost a header: %+v", h)
			}
		case "PATCH":
			patches++
			if string(h.body) != `{"name":"m"}` || h.ctype != "application/json" {
				t.Fatalf("redirected PATCH: %+v", h)
			}
		}
	}
	if posts != 2 || patches != 1 {
		t.Fatalf("posts %d patches %d: %+v", posts, patches, hits)
	}
	if c.Host() != rec.srv.URL {
		t.Fatalf("a redirect to another path moved the base: %s", c.Host())
	}
}

func TestRedirectLimits(t *testing.T) {
	loop := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Redirect(w, r, "/v1/user?hop="+strconv.Itoa(n), http.StatusFound)
	})
	c := loop.client(t, Options{})
	if _, err := c.Whoami(t.Context()); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("redirect loop: %v", err)
	}
	if n := loop.n("/v1/user"); n != 4 {
		t.Fatalf("redirect loop: %d requests, want 4 (no retry)", n)
	}
	insecure := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Redirect(w, r, "http://api.example.com/v1/user", http.StatusFound)
	})
	c = insecure.client(t, Options{})
	if _, err := c.Whoami(t.Context()); err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Fatalf("redirect to plain http: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header func(now time.Time) string
		min    time.Duration
	}{
		{"503 seconds", http.StatusServiceUnavailable, func(time.Time) string { return "1" }, 900 * time.Millisecond},
		{"429 date", http.StatusTooManyRequests, func(now time.Time) string { return now.Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 900 * time.Millisecond},
		{"504", http.StatusGatewayTimeout, func(time.Time) string { return "" }, 0},
		{"429 none", http.StatusTooManyRequests, func(time.Time) string { return "" }, 0},
		{"502", http.StatusBadGateway, func(time.Time) string { return "" }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failures := 2
			if tc.min > 0 {
				failures = 1 // each costs a second
			}
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n <= failures {
					if h := tc.header(time.Now()); h != "" {
						w.Header().Set("Retry-After", h)
					}
					w.WriteHeader(tc.status)
					io.WriteString(w, "busy")
					return
				}
				userJSON(w)
			})
			c := rec.client(t, Options{})
			start := time.Now()
			if _, err := c.Whoami(t.Context()); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < tc.min {
				t.Fatalf("retried after %v, want Retry-After honoured (>= %v)", el, tc.min)
			}
			if n := rec.n("/v1/user"); n != failures+1 {
				t.Fatalf("%d requests, want %d", n, failures+1)
			}
		})
	}
	if d := retryAfter(http.Header{"Retry-After": {"120"}}, time.Now()); d != 2*time.Minute {
		t.Fatalf("retryAfter(120) = %v", d)
	}
}

func TestRetryBudgetAndDeadline(t *testing.T) {
	// Always 503: MaxRetries+1 attempts, then the status error.
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c := rec.client(t, Options{MaxRetries: 3})
	_, err := c.Whoami(t.Context())
	var e *Error
	if !errors.As(err, &e) || e.Status != 503 || rec.n("/v1/user") != 4 {
		t.Fatalf("always 503: %v after %d requests", err, rec.n("/v1/user"))
	}
	// A Retry-After beyond the deadline: give up at once with the status.
	rec = newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c = rec.client(t, Options{CallTimeout: 2 * time.Second})
	start := time.Now()
	_, err = c.Whoami(t.Context())
	if !errors.As(err, &e) || e.Status != 429 || time.Since(start) > time.Second {
		t.Fatalf("Retry-After past the deadline: %v after %v", err, time.Since(start))
	}
	// POST: 502 is not retried, 503 is (a Seeker body).
	for status, want := range map[int]int{http.StatusBadGateway: 1, http.StatusServiceUnavailable: 2, http.StatusInternalServerError: 1} {
		rec = newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			io.ReadAll(r.Body)
			if n == 1 {
				w.WriteHeader(status)
				return
			}
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"`+nbID+`"}`)
		})
		c = rec.client(t, Options{})
		c.Create(t.Context(), "alice", "n", strings.NewReader("hello"), 5, remote.CreateOptions{})
		if n := rec.n("/v2/notebooks/alice/n/upload"); n != want {
			t.Errorf("POST answered %d: %d uploads, want %d", status, n, want)
		}
	}
}

func TestDroppedConnection(t *testing.T) {
	// GET: the connection drops before a reply, twice; the third answers.
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 2 {
			hangUp(t, w)
			return
		}
		userJSON(w)
	})
	c := rec.client(t, Options{})
	if _, err := c.Whoami(t.Context()); err != nil {
		t.Fatalf("GET after dropped connections: %v", err)
	}
	if n := rec.n("/v1/user"); n != 3 {
		t.Fatalf("%d GETs, want 3", n)
	}

	// POST: the server took the whole body, then the connection dropped.
	// The notebook may exist: no retry.
	rec = newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		io.ReadAll(r.Body)
		hangUp(t, w)
	})
	c = rec.client(t, Options{})
	_, err := c.Create(t.Context(), "alice", "n", strings.NewReader("hello"), 5, remote.CreateOptions{})
	if err == nil {
		t.Fatal("POST with a dropped connection: no error")
	}
	if n := rec.n("/v2/notebooks/alice/n/upload"); n != 1 {
		t.Fatalf("POST re-sent after the body was sent: %d uploads", n)
	}
	if !strings.Contains(err.Error(), "POST /v2/notebooks/alice/n/upload") {
		t.Fatalf("error lacks the call: %v", err)
	}

	// A JSON reply cut short (Content-Length says more) is retried for a GET.
	rec = newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			conn, buf, _ := http.NewResponseController(w).Hijack()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":\"al")
			buf.Flush()
			conn.Close()
			return
		}
		userJSON(w)
	})
	c = rec.client(t, Options{})
	if u, err := c.Whoami(t.Context()); err != nil || u.Username != "alice" {
		t.Fatalf("GET with a cut body: %+v %v", u, err)
	}
	if n := rec.n("/v1/user"); n != 2 {
		t.Fatalf("%d GETs, want 2", n)
	}
}

// countingTransport counts round trips and passes them on.
type countingTransport struct {
	n  atomic.Int32
	rt http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

func TestPOSTRetriedOnlyWhenNeverSent(t *testing.T) {
	// Connection refused: the upload never left, so it is retried.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ct := &countingTransport{rt: http.DefaultTransport.(*http.Transport).Clone()}
	c := newTestClient(t, Options{Host: "http://" + addr, Token: testToken, MaxRetries: 2, Transport: ct})
	_, err = c.Create(t.Context(), "alice", "n", strings.NewReader("hello"), 5, remote.CreateOptions{})
	if err == nil || ct.n.Load() != 3 {
		t.Fatalf("refused POST: %v after %d attempts, want 3", err, ct.n.Load())
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("refused POST error: %v", err)
	}
}

func TestStreamBodyRetries(t *testing.T) {
	// A stream (no Seek) refused with 503 before the body was read can be
	// sent again: Expect: 100-continue kept it from being taken.
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if !strings.HasSuffix(r.URL.Path, "/upload") {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if string(body) != "hello" {
			t.Errorf("second upload got %q", body)
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"`+nbID+`"}`)
	})
	var expect []string
	var mu sync.Mutex
	c := rec.client(t, Options{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		expect = append(expect, r.Header.Get("Expect"))
		mu.Unlock()
		return http.DefaultTransport.RoundTrip(r)
	})})
	src := bufio.NewReader(strings.NewReader("hello"))
	if _, err := c.Create(t.Context(), "alice", "n", src, 5, remote.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := rec.n("/v2/notebooks/alice/n/upload"); n != 2 {
		t.Fatalf("%d uploads, want 2", n)
	}
	mu.Lock()
	if expect[0] != "100-continue" || expect[1] != "100-continue" {
		t.Fatalf("stream uploads sent Expect %q, want 100-continue", expect)
	}
	mu.Unlock()

	// Once the stream was read, a 503 is final.
	rec = newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		io.ReadAll(r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c = rec.client(t, Options{})
	_, err := c.Create(t.Context(), "alice", "n", bufio.NewReader(strings.NewReader("hello")), 5, remote.CreateOptions{})
	if err == nil || rec.n("/v2/notebooks/alice/n/upload") != 1 {
		t.Fatalf("consumed stream re-sent: %v, %d uploads", err, rec.n("/v2/notebooks/alice/n/upload"))
	}
}

func TestCreateSizeMismatch(t *testing.T) {
	var complete atomic.Int32
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		body, err := io.ReadAll(r.Body)
		if err == nil && int64(len(body)) == r.ContentLength {
			complete.Add(1)
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"`+nbID+`"}`)
	})
	c := rec.client(t, Options{})
	ctx := t.Context()
	big := strings.Repeat("x", 200<<10)
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
		{"empty announced, data given", io.MultiReader(strings.NewReader("x")), 0},
		{"negative", strings.NewReader(""), -1},
	} {
		_, err := c.Create(ctx, "alice", "n", tc.r, tc.size, remote.CreateOptions{})
		if !errors.Is(err, remote.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
	if n := complete.Load(); n != 0 {
		t.Fatalf("%d uploads of the wrong size reached the server whole", n)
	}
	// Empty is fine.
	rec2 := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if strings.HasSuffix(r.URL.Path, "/upload") {
			if r.ContentLength != 0 || r.URL.Query().Get("filesize") != "0" {
				t.Errorf("empty upload: length %d, %s", r.ContentLength, r.URL.RawQuery)
			}
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"`+nbID+`"}`)
			return
		}
		http.Error(w, "down", http.StatusInternalServerError)
	})
	c = rec2.client(t, Options{})
	// The follow-up Stat fails: Create still reports the notebook.
	nb, err := c.Create(ctx, "alice", "empty", bytes.NewReader(nil), 0, remote.CreateOptions{})
	if err != nil || nb.ID != nbID || nb.Size != 0 || nb.Name != "empty" || nb.Version.IsZero() {
		t.Fatalf("empty Create: %+v %v", nb, err)
	}
}

func TestDeadline(t *testing.T) {
	release := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := rec.client(t, Options{CallTimeout: 300 * time.Millisecond})
	for name, call := range map[string]func() error{
		"GET": func() error { _, err := c.Whoami(t.Context()); return err },
		"POST": func() error {
			_, err := c.Create(t.Context(), "alice", "n", strings.NewReader("x"), 1, remote.CreateOptions{})
			return err
		},
	} {
		start := time.Now()
		err := call()
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("%s returned after %v", name, el)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v, want DeadlineExceeded", name, err)
		}
	}
	// The caller's own, shorter deadline wins.
	c = rec.client(t, Options{CallTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Stat(ctx, "alice", nbID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stat: %v", err)
	}
}

func TestHeaderTimeoutRetriesIdempotent(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			<-r.Context().Done()
			return
		}
		userJSON(w)
	})
	c := rec.client(t, Options{})
	c.headerTimeout = 100 * time.Millisecond
	if _, err := c.Whoami(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := rec.n("/v1/user"); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   error
		msg    string
	}{
		{404, `{"code":24,"message":"array not found","request_id":"r-1"}`, remote.ErrNotFound, "GET /v1/arrays/alice/" + nbID + "/share: 404 Not Found: array not found (code 24, request_id r-1)"},
		{401, `{"message":"invalid token"}`, remote.ErrUnauthenticated, "401 Unauthorized: invalid token"},
		{403, `{"code":7,"message":"forbidden"}`, remote.ErrPermission, "403 Forbidden: forbidden (code 7)"},
		{400, `{"message":"bad"}`, remote.ErrInvalid, "400 Bad Request: bad"},
		{422, `{"code":602,"message":"validation"}`, remote.ErrInvalid, "422"},
		{409, `{"message":"exists"}`, remote.ErrExist, "409 Conflict: exists"},
		{501, `{}`, remote.ErrUnsupported, "501"},
		{500, "<html>\n<body>oops</body></html>", nil, "500 Internal Server Error: <html>"},
		{418, "", nil, "418"},
	} {
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		})
		c := rec.client(t, Options{})
		_, err := c.Shares(t.Context(), "alice", nbID)
		if err == nil {
			t.Fatalf("%d: no error", tc.status)
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != tc.status {
			t.Fatalf("%d: %v is not an *Error", tc.status, err)
		}
		for _, s := range []error{remote.ErrNotFound, remote.ErrUnauthenticated, remote.ErrPermission, remote.ErrInvalid, remote.ErrExist, remote.ErrUnsupported} {
			if errors.Is(err, s) != (s == tc.want) {
				t.Errorf("%d: errors.Is(%v) = %v", tc.status, s, !(s == tc.want))
			}
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%d: message %q lacks %q", tc.status, err.Error(), tc.msg)
		}
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	const password = "pw-SECRET-42"
	basic := base64.StdEncoding.EncodeToString([]byte("bob:" + password))
	// A hostile or careless server echoes the credentials back.
	echo := func(r *http.Request) string {
		return "you sent " + r.Header.Get("X-TILEDB-REST-API-KEY") + " and " + r.Header.Get("Authorization")
	}
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/user"):
			if n == 1 {
				w.WriteHeader(http.StatusServiceUnavailable) // a retry: logged
				io.WriteString(w, `{"message":"`+echo(r)+`"}`)
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"`+echo(r)+`","request_id":"`+r.Header.Get("X-TILEDB-REST-API-KEY")+`"}`)
		case strings.HasSuffix(r.URL.Path, "/share"):
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, echo(r)+"\n")
		default:
			hangUp(t, w)
		}
	})
	var logs bytes.Buffer
	var logMu sync.Mutex
	l := logrus.New()
	l.SetLevel(logrus.TraceLevel)
	l.SetOutput(&lockedWriter{w: &logs, mu: &logMu})
	c := rec.client(t, Options{Token: testToken, Username: "bob", Password: password, Log: logrus.NewEntry(l), MaxRetries: 2})
	ctx := t.Context()
	var errs []error
	_, err := c.Whoami(ctx)
	errs = append(errs, err)
	_, err = c.Shares(ctx, "alice", nbID)
	errs = append(errs, err)
	_, err = c.Stat(ctx, "alice", nbID)
	errs = append(errs, err)
	_, err = c.Create(ctx, "alice", "n", strings.NewReader("x"), 1, remote.CreateOptions{})
	errs = append(errs, err)
	// An unreachable host.
	c2 := newTestClient(t, Options{Host: "http://127.0.0.1:1", Token: testToken, Password: password, Username: "bob", Log: logrus.NewEntry(l), MaxRetries: 1})
	_, err = c2.Whoami(ctx)
	errs = append(errs, err)
	logMu.Lock()
	logged := logs.String()
	logMu.Unlock()
	if !strings.Contains(logged, "retrying") {
		t.Fatalf("no retry was logged: %s", logged)
	}
	for _, s := range []string{testToken, password, basic, "SECRET"} {
		for _, err := range errs {
			if err == nil {
				t.Fatal("a call did not fail")
			}
			if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), s) {
				t.Errorf("error leaks a secret: %v", err)
			}
		}
		if strings.Contains(logged, s) {
			t.Errorf("log leaks a secret:\n%s", logged)
		}
	}
	if !strings.Contains(errs[0].Error(), "[REDACTED]") {
		t.Errorf("echoed secret not visibly redacted: %v", errs[0])
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// noArrayProtocol answers 501 to fragment_end_timestamp, as a server
// without the array protocol would: Read then takes the get_file path
// (readLatestJSON).
func noArrayProtocol(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasSuffix(r.URL.Path, "/fragment_end_timestamp") {
		return false
	}
	w.WriteHeader(http.StatusNotImplemented)
	io.WriteString(w, `{"message":"not implemented"}`)
	return true
}

func TestReadResumesCutBody(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 10000))
	for _, etag := range []string{"", `"v1"`} {
		t.Run("etag="+etag, func(t *testing.T) {
			var ranges []string
			var mu sync.Mutex
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if noArrayProtocol(w, r) {
					return
				}
				if strings.HasSuffix(r.URL.Path, "/metadata") {
					io.WriteString(w, `{"id":"`+nbID+`","namespace":"alice","last_accessed":"2024-05-01T10:00:00.123Z"}`)
					return
				}
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				mu.Unlock()
				if etag != "" {
					w.Header().Set("ETag", etag)
				}
				if n == 1 { // half, then hang up
					conn, buf, _ := http.NewResponseController(w).Hijack()
					fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n", len(data))
					if etag != "" {
						fmt.Fprintf(buf, "ETag: %s\r\n", etag)
					}
					buf.WriteString("\r\n")
					buf.Write(data[:len(data)/2])
					buf.Flush()
					conn.Close()
					return
				}
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
			})
			c := rec.client(t, Options{})
			content, err := c.Read(t.Context(), "alice", nbID, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(content)
			content.Close()
			if err != nil || !bytes.Equal(got, data) || content.Size != int64(len(data)) {
				t.Fatalf("resumed read: %d bytes, %v", len(got), err)
			}
			if want := time.Date(2024, 5, 1, 10, 0, 0, 123e6, time.UTC); !content.Version.Equal(want) {
				t.Fatalf("Version %v", content.Version)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(ranges) != 2 || (etag != "") != strings.HasPrefix(ranges[1], "bytes=") {
				t.Fatalf("range requests %q", ranges)
			}
		})
	}
	// The notebook changed between the two replies: fail, do not splice.
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if noArrayProtocol(w, r) {
			return
		}
		if strings.HasSuffix(r.URL.Path, "/metadata") {
			io.WriteString(w, `{"id":"`+nbID+`","namespace":"alice"}`)
			return
		}
		if n == 1 {
			conn, buf, _ := http.NewResponseController(w).Hijack()
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(data))
			buf.Write(data[:100])
			buf.Flush()
			conn.Close()
			return
		}
		other := bytes.ToUpper(bytes.Repeat([]byte("abcdefghij"), 10000))
		w.Write(other)
	})
	c := rec.client(t, Options{})
	content, err := c.Read(t.Context(), "alice", nbID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(content)
	content.Close()
	if !errors.Is(err, remote.ErrConflict) {
		t.Fatalf("changed notebook: %v", err)
	}
}

func TestReadWithoutContentLength(t *testing.T) {
	data := strings.Repeat("z", 100000)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if noArrayProtocol(w, r) {
			return
		}
		if strings.HasSuffix(r.URL.Path, "/metadata") {
			io.WriteString(w, `{"id":"`+nbID+`"}`)
			return
		}
		w.(http.Flusher).Flush() // chunked: no Content-Length
		io.WriteString(w, data)
	})
	c := rec.client(t, Options{})
	content, err := c.Read(t.Context(), "alice", nbID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(content)
	content.Close()
	if string(got) != data || content.Size != int64(len(data)) {
		t.Fatalf("chunked read: %d bytes, Size %d", len(got), content.Size)
	}
}

func TestDeleteRetriedAfterSendFindsItGone(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			hangUp(t, w) // deleted, but the reply was lost
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	c := rec.client(t, Options{})
	if err := c.Delete(t.Context(), "alice", nbID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if n := rec.n("/v1/arrays/alice/" + nbID); n != 2 {
		t.Fatalf("%d DELETEs", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
