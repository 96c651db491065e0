//go:build linux

package test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serverRequests reads "notebookfs serve"'s own request counters: the
// number of HTTP requests the mount really sent, retries included.
func serverRequests(t *testing.T, url string) (int64, map[string]int64) {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	by := map[string]int64{}
	var total int64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "notebookfs_server_requests_total{") || strings.Contains(line, "/metrics") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		n, err := strconv.ParseInt(line[i+1:], 10, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		route := line[strings.Index(line, `route="`)+7:]
		route = route[:strings.IndexByte(route, '"')]
		by[route] += n
		total += n
	}
	return total, by
}

// Remote requests per file operation through the mount and the cloud
// client, counted by the server: the figures that matter most for speed.
func TestRemoteRequestCounts(t *testing.T) {
	e := mount(t, envOptions{remote: true})
	// The mount asks who I am as it starts: its one request.
	mounted, by := serverRequests(t, e.url)
	t.Logf("%-34s %d requests %v", "mount", mounted, by)
	if mounted != 1 {
		t.Errorf("the mount made %d requests %v, want 1 (/v1/user)", mounted, by)
	}
	const n = 250
	for i := 0; i < n; i++ {
		e.put(fmt.Sprintf("nb%03d", i), nb(fmt.Sprintf("notebook %d", i)))
	}
	step := func(name string, max int64, f func()) int64 {
		t.Helper()
		before, b := serverRequests(t, e.url)
		f()
		e.settle() // a save's upload follows its close in the background
		after, a := serverRequests(t, e.url)
		d := after - before
		var routes []string
		for r, v := range a {
			if v != b[r] {
				routes = append(routes, fmt.Sprintf("%s x%d", r, v-b[r]))
			}
		}
		t.Logf("%-34s %d requests %v", name, d, routes)
		if d > max {
			t.Errorf("%s: %d requests, want at most %d", name, d, max)
		}
		return d
	}
	pages := int64((n + 99) / 100)
	step("ls -l, 250 notebooks, cold", pages, func() { run(t, "ls", "-l", e.ns()) })
	step("ls -l, warm", 0, func() { run(t, "ls", "-l", e.ns()) })
	step("cat, cold", 2, func() { mustRead(t, e.ns("nb007.ipynb")) })
	step("cat, warm", 0, func() { mustRead(t, e.ns("nb007.ipynb")) })
	step("save of an existing notebook", 3, func() { mustWrite(t, e.ns("nb007.ipynb"), nb("saved")) })
	step("cat of what we just saved", 0, func() { mustRead(t, e.ns("nb007.ipynb")) })
	step("create a notebook", 3, func() { mustWrite(t, e.ns("new.ipynb"), nb("new")) })
	step("getfattr -d, cold", 1, func() { mustTool(t, "getfattr", "-d", e.ns("nb007.ipynb")) })
	step("getfattr -d, warm", 0, func() { mustTool(t, "getfattr", "-d", e.ns("nb007.ipynb")) })
}

// Past the metadata TTL, reading a notebook whose version did not change
// costs one request (the listing's revalidation, before the open returns)
// and no content transfer: the cached bytes and the kernel's pages are
// kept. Within the TTL, an open costs none.
func TestRequestsAfterTTL(t *testing.T) {
	e := mount(t, envOptions{remote: true, ttl: 300 * time.Millisecond})
	e.put("x", nb("unchanged"))
	mustRead(t, e.ns("x.ipynb"))
	time.Sleep(400 * time.Millisecond) // past the TTL: a state to reach, not a timing asserted
	before, b := serverRequests(t, e.url)
	if got := mustRead(t, e.ns("x.ipynb")); !bytes.Equal(got, nb("unchanged")) {
		t.Fatalf("read %q", got)
	}
	e.root.Idle() // nothing else follows in the background
	after, a := serverRequests(t, e.url)
	var routes []string
	for r, v := range a {
		if v != b[r] {
			routes = append(routes, fmt.Sprintf("%s x%d", r, v-b[r]))
		}
	}
	t.Logf("cat after the TTL, version unchanged: %d requests %v", after-before, routes)
	if after-before > 1 {
		t.Errorf("cat after the TTL made %d requests, want at most 1: %v", after-before, routes)
	}
	for _, r := range routes {
		if strings.Contains(r, "query/submit") {
			t.Errorf("cat after the TTL transferred the content again: %v", routes)
		}
	}
}
