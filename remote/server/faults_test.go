package server

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// atomicTime is a settable clock for the store.
type atomicTime struct {
	mu sync.Mutex
	t  time.Time
}

func (a *atomicTime) set(t time.Time) { a.mu.Lock(); a.t = t; a.mu.Unlock() }
func (a *atomicTime) get() time.Time  { a.mu.Lock(); defer a.mu.Unlock(); return a.t }

// rawDo sends a request and reports the status, or an error for a dropped
// connection.
func rawDo(e *env, method, path, user, body string) (int, error) {
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-TILEDB-REST-API-KEY", e.tokens[user])
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		return 0, err
	}
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "0" {
		return 0, errors.New("503 without Retry-After: 0")
	}
	return resp.StatusCode, nil
}

func TestFaultsAlways(t *testing.T) {
	e := newEnv(t, Options{FaultRate: 1, Seed: 7}, "alice")
	nb := e.create("alice", "alice", "keep", nbJSON)
	var unavailable, dropped int
	requests := []struct{ method, path, body string }{
		{"POST", "/v2/notebooks/alice/new/upload?filesize=2", "{}"},
		{"PATCH", "/v1/notebooks/alice/keep/rename", `{"name":"renamed"}`},
		{"PATCH", "/v1/arrays/alice/keep/share", `{"namespace":"public","actions":["read"]}`},
		{"DELETE", "/v1/arrays/alice/keep", ""},
		{"GET", "/v1/user", ""},
		{"GET", "/v1/arrays/alice/keep/query/get_file", ""},
	}
	for i := 0; i < 10; i++ {
		for _, r := range requests {
			code, err := rawDo(e, r.method, r.path, "alice", r.body)
			switch {
			case err != nil:
				dropped++
			case code == http.StatusServiceUnavailable:
				unavailable++
			default:
				t.Fatalf("%s %s with fault rate 1: status %d", r.method, r.path, code)
			}
		}
	}
	if unavailable == 0 || dropped == 0 {
		t.Errorf("faults: %d 503, %d dropped; want both kinds", unavailable, dropped)
	}
	// Nothing changed: the notebook is there, unrenamed, private, alone.
	list, err := e.store.As("alice").List(e.ctx(), "owned", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != nb.ID || list[0].Name != "keep" {
		t.Errorf("after faulted requests: %+v", list)
	}
	shares, err := e.store.As("alice").Shares(e.ctx(), "alice", nb.ID)
	if err != nil || len(shares) != 0 {
		t.Errorf("shares after faulted requests: %v %v", shares, err)
	}
	// /metrics is never faulted and counts them.
	resp, body := e.do("GET", "/metrics", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`notebookfs_server_faults_injected_total{kind="503"} *`,
		`notebookfs_server_faults_injected_total{kind="drop"} *`,
		`notebookfs_server_requests_total{route="GET /v1/user",code="503"} *`,
		`notebookfs_server_requests_total{route="POST /v2/notebooks/{namespace}/{array}/upload",code="dropped"} *`,
	} {
		if !hasSample(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
}

func TestFaultsNever(t *testing.T) {
	e := newEnv(t, Options{FaultRate: 0}, "alice")
	for i := 0; i < 50; i++ {
		if code, err := rawDo(e, "GET", "/v1/user", "alice", ""); err != nil || code != http.StatusOK {
			t.Fatalf("fault rate 0: %d %v", code, err)
		}
	}
}

func TestFaultsSometimes(t *testing.T) {
	e := newEnv(t, Options{FaultRate: 0.3, Seed: 1}, "alice")
	ok, faulted := 0, 0
	for i := 0; i < 200; i++ {
		code, err := rawDo(e, "GET", "/v1/user", "alice", "")
		if err == nil && code == http.StatusOK {
			ok++
		} else {
			faulted++
		}
	}
	if faulted < 30 || faulted > 90 {
		t.Errorf("fault rate 0.3: %d of 200 faulted", faulted)
	}
	_ = ok
}

func TestLatency(t *testing.T) {
	e := newEnv(t, Options{Latency: 60 * time.Millisecond}, "alice")
	start := time.Now()
	if code, err := rawDo(e, "GET", "/v1/user", "alice", ""); err != nil || code != http.StatusOK {
		t.Fatal(code, err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("request took %v with 60ms latency", d)
	}
	start = time.Now()
	resp, _ := e.do("GET", "/metrics", "", nil)
	if d := time.Since(start); resp.StatusCode != 200 || d >= 60*time.Millisecond {
		t.Errorf("/metrics took %v (no latency wanted)", d)
	}
}

func TestMetricsFormat(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	e.do("GET", "/v1/user", "alice", nil)
	e.do("GET", "/v1/user", "alice", nil)
	e.do("GET", "/v1/user", "", nil)
	e.do("GET", "/nowhere", "", nil)
	resp, body := e.do("GET", "/metrics", "", nil)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	text := string(body)
	for _, want := range []string{
		"# TYPE notebookfs_server_requests_total counter\n",
		`notebookfs_server_requests_total{route="GET /v1/user",code="200"} 2`,
		`notebookfs_server_requests_total{route="GET /v1/user",code="401"} 1`,
		`notebookfs_server_requests_total{route="unmatched",code="404"} 1`,
		`notebookfs_server_faults_injected_total{kind="503"} 0`,
	} {
		if !strings.Contains(text, want) && !hasSample(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
}

// hasSample reports whether the exposition text has the sample want,
// written name{l1="v1",l2="v2"} value, whatever the order of its labels
// (the text format does not fix it); a value of * matches any.
func hasSample(text, want string) bool {
	name, rest, _ := strings.Cut(want, "{")
	labels, value, _ := strings.Cut(rest, "} ")
	wantSet := map[string]bool{}
	for _, l := range strings.Split(labels, `",`) {
		wantSet[strings.TrimSuffix(l, `"`)] = true
	}
	for _, line := range strings.Split(text, "\n") {
		got, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		gl, gv, _ := strings.Cut(got, "} ")
		if value != "*" && gv != value {
			continue
		}
		parts := strings.Split(gl, `",`)
		if len(parts) != len(wantSet) {
			continue
		}
		match := true
		for _, l := range parts {
			match = match && wantSet[strings.TrimSuffix(l, `"`)]
		}
		if match {
			return true
		}
	}
	return false
}

// TestConcurrent runs uploads, reads and listings from many goroutines with
// faults on, for the race detector: every request either succeeds or is
// faulted, and every successful upload is there afterwards.
func TestConcurrent(t *testing.T) {
	e := newEnv(t, Options{FaultRate: 0.2, Seed: 3}, "alice")
	var mu sync.Mutex
	created := 0
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				code, err := rawDo(e, "POST", "/v2/notebooks/alice/c/upload?filesize=2", "alice", "{}")
				if err == nil && code == http.StatusCreated {
					mu.Lock()
					created++
					mu.Unlock()
				} else if err == nil && code != http.StatusServiceUnavailable {
					t.Errorf("upload: status %d", code)
				}
				if code, err := rawDo(e, "GET", "/v1/arrays/browser/owned?per_page=5", "alice", ""); err == nil && code != 200 && code != 503 {
					t.Errorf("list: status %d", code)
				}
				// 404 until the first upload is in.
				if code, err := rawDo(e, "GET", "/v1/arrays/alice/c/query/get_file", "alice", ""); err == nil && code != 200 && code != 503 && code != 404 {
					t.Errorf("get_file: status %d", code)
				}
			}
		}()
	}
	wg.Wait()
	list, err := e.store.As("alice").List(e.ctx(), "owned", "alice")
	if err != nil {
		t.Fatal(err)
	}
	// A dropped upload never reached the store (faults come first), so the
	// count is exact.
	if len(list) != created {
		t.Errorf("%d notebooks stored, %d uploads answered 201", len(list), created)
	}
}

// /metrics is client_golang's: a scraper asking for OpenMetrics gets it,
// with the same metric names.
func TestMetricsOpenMetrics(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	e.do("GET", "/v1/user", "alice", nil)
	req, _ := http.NewRequest("GET", e.ts.URL+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type %q", ct)
	}
	if !strings.HasSuffix(text, "# EOF\n") || !hasSample(text, `notebookfs_server_requests_total{route="GET /v1/user",code="200"} 1.0`) ||
		!strings.Contains(text, "# TYPE notebookfs_server_faults_injected counter") {
		t.Errorf("OpenMetrics text:\n%s", text)
	}
}
