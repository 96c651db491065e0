package cloud

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// burstServer answers fragment_end_timestamp once k requests are in
// flight together (or after a second), so that each burst really holds k
// requests at once, and counts the connections it accepted and the
// protocols it was spoken to in.
type burstServer struct {
	srv    *httptest.Server
	conns  atomic.Int64
	k      int
	mu     sync.Mutex
	wait   chan struct{}
	in     int
	protos map[string]int
}

func newBurstServer(t *testing.T, k int, tls bool) *burstServer {
	b := &burstServer{k: k, wait: make(chan struct{}), protos: map[string]int{}}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.protos[r.Proto]++
		if r.URL.Path == "/v1/user" {
			b.mu.Unlock()
			userJSON(w)
			return
		}
		b.in++
		wait := b.wait
		if b.in == b.k {
			close(b.wait)
			b.in, b.wait = 0, make(chan struct{})
		}
		b.mu.Unlock()
		select {
		case <-wait:
		case <-time.After(time.Second):
		}
		io.WriteString(w, "1700000000000")
	}))
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	if tls {
		b.srv.EnableHTTP2 = true
		b.srv.StartTLS()
	} else {
		b.srv.Start()
	}
	t.Cleanup(b.srv.Close)
	return b
}

// burst sends k concurrent requests through c.
func (b *burstServer) burst(t *testing.T, c *Client) {
	var wg sync.WaitGroup
	for range b.k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Latest(context.Background(), "alice", nbID, time.Time{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// Over HTTP/1.1 a burst of as many requests as prefetching has in flight
// opens one connection per request once, and the next burst reuses them
// all: the idle pool is as large as the concurrency, so connections are
// not closed and dialed again (a TCP and a TLS handshake each).
func TestConnectionsKeptForTheConcurrency(t *testing.T) {
	const k = 72 // prefetch's 64 and a listing's 8
	b := newBurstServer(t, k, false)
	c := newTestClient(t, Options{Host: b.srv.URL, Token: testToken})
	b.burst(t, c)
	first := b.conns.Load()
	for range 3 {
		b.burst(t, c)
	}
	if again := b.conns.Load() - first; first > k || again != 0 {
		t.Errorf("a burst of %d requests opened %d connections, three more bursts %d more; want at most %d, then 0", k, first, again, k)
	}
}

// Where the server offers HTTP/2 (TLS with ALPN, as TileDB Cloud and
// notebookfs serve --tls do), every request shares one connection. The
// first request goes alone, as a mount's who-am-I does: net/http dials one
// connection per request of a burst to a host it has none to yet.
func TestHTTP2WhereOffered(t *testing.T) {
	const k = 40
	b := newBurstServer(t, k, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert, err := x509.ParseCertificate(b.srv.TLS.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, Options{Host: b.srv.URL, Token: testToken, CAFile: ca})
	if _, err := c.Whoami(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b.burst(t, c)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.conns.Load(); n != 1 || b.protos["HTTP/2.0"] != 3*k+1 {
		t.Errorf("%d connections, requests by protocol %v; want 1 connection, all %d over HTTP/2", n, b.protos, 3*k+1)
	}
}

// countDials makes c's transport count the connections it dials.
func countDials(t *testing.T, c *Client) *atomic.Int64 {
	t.Helper()
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T, want the client's own", c.hc.Transport)
	}
	var n atomic.Int64
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return dial(ctx, network, addr)
	}
	return &n
}

// A READ read to its end leaves its connection for the next request: the
// reply is consumed to its end before the body is closed (closing it
// earlier makes net/http drop the connection, and every cold read would
// pay a new one).
func TestReadsReuseTheirConnection(t *testing.T) {
	f := newFake(t)
	var ids []string
	for i := range 20 {
		ids = append(ids, f.add("alice", fmt.Sprintf("nb%d", i), bytes.Repeat([]byte{'a' + byte(i)}, 1000+i*5000)).id)
	}
	c := f.client(t, Options{})
	dials := countDials(t, c)
	for _, id := range ids {
		readContent(t, c, "alice", id, time.Time{})
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("20 reads one after the other dialed %d connections, want 1", n)
	}
}
