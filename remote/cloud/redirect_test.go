package cloud

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// siteTransport reaches the test server named by each request's host, over
// TLS without verification: host names of several sites on loopback.
func siteTransport(sites map[string]*recorder) http.RoundTripper {
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			rec, ok := sites[host]
			if !ok {
				return nil, fmt.Errorf("no test site %s", host)
			}
			return (&net.Dialer{}).DialContext(ctx, "tcp", rec.srv.Listener.Addr().String())
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test servers' own certificates
	}
}

// A redirect to another site (another registrable domain, another port,
// plain http, another loopback origin) is followed without the token or
// the password, and does not move the client there; a redirect within the
// configured host's site (a TileDB region) keeps both and moves the base.
func TestRedirectCredentialsStayOnSite(t *testing.T) {
	type got struct{ key, auth string }
	var mu sync.Mutex
	hits := map[string]got{}
	serve := func(name string) func(w http.ResponseWriter, r *http.Request, n int) {
		return func(w http.ResponseWriter, r *http.Request, n int) {
			mu.Lock()
			hits[name] = got{r.Header.Get("X-TILEDB-REST-API-KEY"), r.Header.Get("Authorization")}
			mu.Unlock()
			userJSON(w)
		}
	}
	other := newRecorderTLS(t, true, serve("other"))
	region := newRecorderTLS(t, true, serve("region"))
	for _, tc := range []struct {
		to        string
		site      string // which server answers
		sameSite  bool
		wantMoved string
	}{
		{"https://eu.tiledb.test", "region", true, "https://eu.tiledb.test"},
		{"https://tiledb.test", "region", true, "https://tiledb.test"},
		{"https://evil.test", "other", false, ""},
		{"https://tiledb.test.evil.test", "other", false, ""},
		{"https://eu.tiledb.test:8443", "region", false, ""},
		{"https://co.uk", "other", false, ""},
	} {
		t.Run(tc.to, func(t *testing.T) {
			mu.Lock()
			clear(hits)
			mu.Unlock()
			api := newRecorderTLS(t, true, func(w http.ResponseWriter, r *http.Request, n int) {
				http.Redirect(w, r, tc.to+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			})
			sites := map[string]*recorder{"api.tiledb.test": api, "evil.test": other, "tiledb.test.evil.test": other,
				"co.uk": other, "eu.tiledb.test": region, "tiledb.test": region}
			c := newTestClient(t, Options{Host: "https://api.tiledb.test", Token: testToken, Username: "alice", Password: "pw-SECRET",
				Transport: siteTransport(sites)})
			if _, err := c.Whoami(t.Context()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			h := hits[tc.site]
			mu.Unlock()
			if tc.sameSite != (h.key == testToken) || tc.sameSite != strings.HasPrefix(h.auth, "Basic ") {
				t.Errorf("credentials sent to %s: token %q, authorization %q", tc.to, h.key, h.auth)
			}
			want := "https://api.tiledb.test"
			if tc.wantMoved != "" {
				want = tc.wantMoved
			}
			if c.Host() != want {
				t.Errorf("client now uses %s, want %s", c.Host(), want)
			}
		})
	}
}

// The review's case: plain http on loopback, redirected to another port
// under another loopback name.
func TestRedirectToOtherLoopbackOriginDropsToken(t *testing.T) {
	var mu sync.Mutex
	var leaked string
	other := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		leaked = r.Header.Get("X-TILEDB-REST-API-KEY")
		mu.Unlock()
		userJSON(w)
	})
	_, port, _ := net.SplitHostPort(other.srv.Listener.Addr().String())
	api := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Redirect(w, r, "http://localhost:"+port+r.URL.Path, http.StatusTemporaryRedirect)
	})
	c := api.client(t, Options{Token: "secret-token-123"})
	if _, err := c.Whoami(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if leaked != "" || c.Host() != api.srv.URL {
		t.Fatalf("token sent to %s: %q; client now uses %s", other.srv.URL, leaked, c.Host())
	}
}
