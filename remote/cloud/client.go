package cloud

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// DefaultHost is TileDB Cloud's API host.
const DefaultHost = "https://api.tiledb.com"

// Defaults of Options.
const (
	DefaultCallTimeout = 60 * time.Second
	DefaultMaxRetries  = 5
	// DefaultPerPage is what TileDB's JS client asks for: a namespace of
	// 10,000 notebooks is 10 pages, not 100 (each a round trip, and on
	// the notebookfs server a pass over the namespace).
	DefaultPerPage  = 1000
	DefaultParallel = 8
	// DefaultConns is how many connections to one host are kept open for
	// reuse: at least the requests notebookfs has in flight at once (64
	// prefetches, a call's own Parallel, foreground reads, uploads), so
	// that a burst of them does not close and redial connections, each a
	// TCP and a TLS handshake. Over HTTP/2 one connection carries them all.
	DefaultConns = 96
	// DefaultListingTTL is the file system's default metadata TTL.
	DefaultListingTTL = 10 * time.Second
)

// Options configure a Client. Only Host and Token (or Username) matter in
// production; the rest have defaults.
type Options struct {
	Host               string // https://api.tiledb.com when empty; a bare host gets https://
	Token              string // sent as X-TILEDB-REST-API-KEY
	Username, Password string // sent as Authorization: Basic; with Token, both are sent (as TileDB-Cloud-Py does)
	InsecureSkipVerify bool   // TILEDB_REST_IGNORE_SSL_VALIDATION
	CAFile             string // extra PEM roots (TILEDB_SSL_CA_FILE)

	Log         *logrus.Entry // default: the standard logger
	CallTimeout time.Duration // deadline of one method call, retries included; default 60s
	MaxRetries  int           // retries after the first attempt; default 5, negative for none
	PerPage     int           // listing page size; default 100
	Parallel    int           // concurrent requests of one call (pages, sizes); default 8
	Conns       int           // idle connections kept per host; default DefaultConns
	// ListingTTL is how long a version that a listing of exact versions
	// (notebookfs serve's) named the newest is read as the latest without
	// asking the server again: one request for a cold read instead of two.
	// Default DefaultListingTTL; the file system's metadata TTL belongs
	// here, since within it the file system shows that version anyway.
	ListingTTL time.Duration
	Transport  http.RoundTripper // default: a tuned *http.Transport (tests inject their own)
	Now        func() time.Time  // default time.Now
}

// Client is a remote.Client over TileDB Cloud's JSON REST API. It is safe
// for concurrent use.
type Client struct {
	hc     *http.Client
	base   atomic.Pointer[url.URL] // scheme://host[/prefix]; moves after a redirect (within origin's site)
	origin *url.URL                // the configured API root: where credentials may go (see sendsCredentials)

	token, username, password string
	secrets                   []string // redacted from every error message

	log           *logrus.Entry
	callTimeout   time.Duration
	maxRetries    int
	perPage       int
	parallel      int
	listingTTL    time.Duration
	now           func() time.Time
	backoffBase   time.Duration
	backoffCap    time.Duration
	headerTimeout time.Duration // per attempt of an idempotent request

	mu       sync.Mutex
	user     remote.User
	haveUser bool

	readBuffer int64 // contents bytes asked per READ reply chunk (defaultReadBuffer)

	knownMu sync.Mutex
	known   map[string]*knownNotebook // by ns/id: see remember

	warnMu sync.Mutex
	warned map[string]struct{} // GUARDED_BY(warnMu): invalid entries already logged
}

var _ remote.Client = (*Client)(nil)

// New checks o and returns a Client. It makes no request.
func New(o Options) (*Client, error) {
	base, err := parseHost(o.Host)
	if err != nil {
		return nil, err
	}
	if o.Token == "" && o.Username == "" {
		return nil, errors.New("tiledb cloud: no token or username configured (set TILEDB_REST_TOKEN or run notebookfs login)")
	}
	c := &Client{
		token:         o.Token,
		username:      o.Username,
		password:      o.Password,
		log:           o.Log,
		callTimeout:   o.CallTimeout,
		maxRetries:    o.MaxRetries,
		perPage:       o.PerPage,
		parallel:      o.Parallel,
		listingTTL:    o.ListingTTL,
		now:           o.Now,
		backoffBase:   100 * time.Millisecond,
		backoffCap:    5 * time.Second,
		headerTimeout: 30 * time.Second,
		readBuffer:    defaultReadBuffer,
		known:         map[string]*knownNotebook{},
		warned:        map[string]struct{}{},
	}
	for _, s := range []string{o.Token, o.Password} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	if o.Username != "" || o.Password != "" {
		c.secrets = append(c.secrets, base64.StdEncoding.EncodeToString([]byte(o.Username+":"+o.Password)))
	}
	if c.log == nil {
		c.log = logrus.NewEntry(logrus.StandardLogger())
	}
	c.log = c.log.WithField("backend", "tiledb-cloud")
	if c.callTimeout <= 0 {
		c.callTimeout = DefaultCallTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.perPage <= 0 {
		c.perPage = DefaultPerPage
	}
	if c.parallel <= 0 {
		c.parallel = DefaultParallel
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.listingTTL <= 0 {
		c.listingTTL = DefaultListingTTL
	}
	rt := o.Transport
	if rt == nil {
		t, err := newTransport(o.InsecureSkipVerify, o.CAFile, o.Conns)
		if err != nil {
			return nil, err
		}
		rt = t
	}
	c.hc = &http.Client{
		Transport: rt,
		// Redirects are followed by hand (see attempt): Go's own following
		// turns a POST into a GET on 302 and drops bodies it cannot rewind.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.base.Store(base)
	c.origin = base
	if o.InsecureSkipVerify {
		c.log.WithField("host", base.Host).Warn("TLS certificate verification is off (verify_ssl false or TILEDB_REST_IGNORE_SSL_VALIDATION): " +
			"anyone on the network path can pose as the server and read the token")
	}
	return c, nil
}

// newTransport is http.DefaultTransport's settings with explicit timeouts,
// the TLS options of the login file, HTTP/2 when the server offers it
// (ALPN), and conns idle connections kept per host (DefaultConns when 0).
func newTransport(insecure bool, caFile string, conns int) (*http.Transport, error) {
	if conns <= 0 {
		conns = DefaultConns
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // the user asked (TILEDB_REST_IGNORE_SSL_VALIDATION)
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tiledb cloud: CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tiledb cloud: CA file %s holds no PEM certificate", caFile)
		}
		tlsConf.RootCAs = pool
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // per attempt, idempotent requests only: see Client.headerTimeout
		ExpectContinueTimeout: 1 * time.Second,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		// And no more than that at once: a burst beyond it (prefetches
		// of large notebooks, each read as several ranges) waits for a
		// connection rather than dialing ones the pool would close. Every
		// request releases its connection on its own (replies are read
		// to their end as they come), so waiting cannot deadlock.
		MaxConnsPerHost: conns,
		IdleConnTimeout: 90 * time.Second,
		// Every request shares an HTTP/2 connection: one that went dead
		// silently is found by a ping instead of stalling them all until
		// their deadlines.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 15 * time.Second},
	}, nil
}

// parseHost turns Options.Host into the API root: https:// is added to a
// bare host, trailing slashes and a trailing /v1 or /v2 are dropped (the
// client appends them), and plain http is refused unless the host is a
// loopback address: the token would cross the network in clear.
func parseHost(host string) (*url.URL, error) {
	host = strings.TrimSpace(host)
	if host == "" {
		host = DefaultHost
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("tiledb cloud: host %q: %w", host, err)
	}
	if u.User != nil {
		return nil, errors.New("tiledb cloud: the host URL must not carry credentials; use a token")
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("tiledb cloud: host %q: want scheme://host[:port]", host)
	}
	if err := allowedScheme(u); err != nil {
		return nil, err
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(strings.TrimSuffix(p, "/v1"), "/v2")
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: p}, nil
}

// allowedScheme accepts https anywhere and http on loopback only.
func allowedScheme(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("tiledb cloud: refusing plain http to %s: the token would travel unencrypted; use https (http is allowed only for 127.0.0.1, ::1 and localhost)", u.Host)
	}
	return fmt.Errorf("tiledb cloud: host scheme %q: want https", u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Host is the API root in use: the configured host, or where TileDB Cloud
// redirected us to.
func (c *Client) Host() string { return c.base.Load().String() }

// callCtx bounds one method call, retries included, by CallTimeout.
func (c *Client) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.callTimeout)
}

// redact removes every secret from s.
func (c *Client) redact(s string) string {
	for _, sec := range c.secrets {
		s = strings.ReplaceAll(s, sec, "[REDACTED]")
	}
	return s
}

// setAuth puts the credentials on a request.
func (c *Client) setAuth(h http.Header) {
	if c.token != "" {
		h.Set("X-TILEDB-REST-API-KEY", c.token)
	}
	if c.username != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.username+":"+c.password)))
	}
}

// drain reads a little of an unwanted body so the connection can be
// reused, and closes it.
func drain(rc io.ReadCloser) {
	io.CopyN(io.Discard, rc, 64<<10)
	rc.Close()
}
