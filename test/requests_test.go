//go:build linux

package test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	pages := int64((n + 999) / 1000) // pages of 1000
	step("ls -l, 250 notebooks, cold", pages, func() { run(t, "ls", "-l", e.ns()) })
	step("ls -l, warm", 0, func() { run(t, "ls", "-l", e.ns()) })
	// The fresh listing named the version and its size: the READ alone.
	step("cat, cold", 1, func() { mustRead(t, e.ns("nb007.ipynb")) })
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

// notebookfs serve --tls serves HTTPS, HTTP/2 included, under a
// certificate its clients trust through TILEDB_SSL_CA_FILE: the CLI
// uploads through it, and the API answers over HTTP/2 (one connection for
// every request of a mount, as with TileDB Cloud).
func TestServeTLS(t *testing.T) {
	data := t.TempDir()
	cli := newCLI(t)
	token := strings.TrimSpace(cli.ok("user", "add", "--data", data, "alice"))
	logPath := filepath.Join(t.TempDir(), "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cli.bin, "serve", "--data", data, "--listen", "127.0.0.1:0", "--tls", "--log-level", "warn")
	cmd.Env = cli.environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	listening := regexp.MustCompile(`(?m)^listening on (https://\S+)$`)
	var url string
	waitFor(t, "notebookfs serve --tls to listen", func() bool {
		b, _ := os.ReadFile(logPath)
		if m := listening.FindSubmatch(b); m != nil {
			url = string(m[1])
			return true
		}
		return false
	})
	ca := filepath.Join(data, "tls", "cert.pem")
	src := filepath.Join(t.TempDir(), "x.ipynb")
	if err := os.WriteFile(src, nb("over TLS"), 0o644); err != nil {
		t.Fatal(err)
	}
	tcli := newCLI(t, "TILEDB_REST_TOKEN="+token, "TILEDB_SSL_CA_FILE="+ca)
	tcli.ok("upload", "--remote", url, src, "tiledb://alice/x")
	// Without the certificate the same upload is refused.
	if r := newCLI(t, "TILEDB_REST_TOKEN="+token).run("upload", "--remote", url, src, "tiledb://alice/y"); r.code == 0 {
		t.Errorf("an upload that does not trust the certificate succeeded")
	}

	pemData, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("%s holds no certificate", ca)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/arrays/browser/owned?file_type=notebook&namespace=alice", nil)
	req.Header.Set("X-TILEDB-REST-API-KEY", token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"name":"x"`)) {
		t.Errorf("listing over TLS: %s %s, %.200s; want HTTP/2 200 listing x", resp.Proto, resp.Status, body)
	}
}

// A cold read of a notebook whose listing is past the TTL costs at most
// two requests: the listing asked again, then the READ of the version it
// names.
func TestRequestsColdReadStaleListing(t *testing.T) {
	e := mount(t, envOptions{remote: true, ttl: 300 * time.Millisecond})
	for i := 0; i < 10; i++ {
		e.put(fmt.Sprintf("s%d", i), nb(fmt.Sprintf("stale %d", i)))
	}
	run(t, "ls", "-l", e.ns())
	e.root.Idle()
	time.Sleep(400 * time.Millisecond) // past the TTL: a state to reach, not a timing asserted
	before, b := serverRequests(t, e.url)
	if got := mustRead(t, e.ns("s3.ipynb")); !bytes.Equal(got, nb("stale 3")) {
		t.Fatalf("read %q", got)
	}
	e.root.Idle()
	after, a := serverRequests(t, e.url)
	var routes []string
	for r, v := range a {
		if v != b[r] {
			routes = append(routes, fmt.Sprintf("%s x%d", r, v-b[r]))
		}
	}
	t.Logf("cold cat with the listing past the TTL: %d requests %v", after-before, routes)
	if after-before > 2 {
		t.Errorf("cold cat with a stale listing made %d requests, want at most 2: %v", after-before, routes)
	}
}
