package cloud

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/net/publicsuffix"

	"notebookfs/remote"
)

const (
	maxRedirects = 3
	maxJSONReply = 64 << 20 // a listing page or a User is far smaller
	userAgent    = "notebookfs"
)

// call is one REST request, as sent (and re-sent) by send.
type call struct {
	method string
	path   string // escaped, from the API root: "/v1/arrays/alice/<id>/metadata"
	query  url.Values
	header http.Header // besides auth, Accept and User-Agent
	body   *body       // nil: none
	// goneOK makes a 404 to a re-sent request a success: a DELETE whose
	// first attempt may have deleted the notebook before the connection
	// broke.
	goneOK bool
	// resend marks a POST that may be sent again after it may have
	// reached the server: a capnp READ (it changes nothing), or a WRITE or
	// array_metadata POST at an explicit timestamp (sending it twice
	// stores the same cells or entries at the same timestamp: the same
	// version).
	resend bool
	// longWait exempts an idempotent call from the reply-header timeout:
	// its body is large (the timer would run during the upload) or the
	// server may take long to answer.
	longWait bool
}

func (cl *call) label() string { return cl.method + " " + cl.path }

// idempotent reports whether cl may be re-sent after it may have reached
// the server. GET, HEAD, PUT and DELETE are by definition; our PATCHes
// (rename to a given name, set a share to exactly these actions) are too.
// A POST is not (an upload a second time makes a second notebook) unless
// marked resend (capnp reads, and writes at an explicit timestamp).
func (cl *call) idempotent() bool { return cl.method != http.MethodPost || cl.resend }

// canResend reports whether the body can be sent again.
func (cl *call) canResend() bool { return cl.body == nil || cl.body.resendable() }

// permanent marks an error that no retry can fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

var (
	errNotResendable = permanent{errors.New("the request body was a stream already partly sent and cannot be sent again")}
	errStaleBody     = permanent{errors.New("request body reused by a later attempt")}
	errHeaderTimeout = errors.New("no reply headers in time")
)

// send performs cl: it follows redirects (attempt) and retries with
// exponential backoff and jitter, within ctx's deadline and MaxRetries:
//
//   - 429, 502, 503 and 504 replies, honouring Retry-After (seconds or an
//     HTTP date). For a POST only 429 and 503, which say the request was
//     refused rather than processed, and only when the body can be sent
//     again; never 502 or 504, after which the upload may have happened
//     (unless the POST is marked resend: see call.resend);
//   - connection errors: for idempotent calls any of them (refused, reset,
//     EOF before the reply, no reply headers within 30s unless longWait, a
//     reply body cut short); for a POST only those proving the request
//     never left (dial errors: refused, unreachable, DNS), unless resend;
//   - never 4xx other than 429, other 5xx, TLS certificate errors, or a
//     body of the wrong size.
//
// With read set the reply body is read whole (and a body cut short retried
// like a connection error) and returned; else the caller owns resp.Body.
// A non-2xx reply is returned as an *Error wrapping the matching sentinel.
func (c *Client) send(ctx context.Context, cl *call, read bool) (*http.Response, []byte, error) {
	sentBefore := false // an earlier attempt may have reached the server
	for attempt := 0; ; attempt++ {
		resp, reached, err := c.attempt(ctx, cl, attempt > 0)
		var (
			failure error
			retry   bool
			wait    time.Duration // from Retry-After; 0: backoff
		)
		switch {
		case err != nil:
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, nil, fmt.Errorf("%s: %w", cl.label(), ctxErr)
			}
			failure = &transportError{msg: cl.label() + ": " + c.redact(unwrapURL(err).Error()), err: err}
			retry = retryableTransport(cl, err, reached)
			sentBefore = sentBefore || reached
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			if cl.goneOK && sentBefore && resp.StatusCode == http.StatusNotFound {
				drain(resp.Body)
				resp.StatusCode, resp.Body = http.StatusNoContent, http.NoBody
				return resp, nil, nil
			}
			failure = c.statusError(cl, resp)
			switch resp.StatusCode {
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				retry = cl.canResend()
			case http.StatusBadGateway, http.StatusGatewayTimeout:
				retry = cl.idempotent() && cl.canResend()
			}
			wait = retryAfter(resp.Header, c.now())
			sentBefore = true
		default:
			if !read {
				return resp, nil, nil
			}
			data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxJSONReply+1))
			resp.Body.Close()
			if rerr == nil {
				if len(data) > maxJSONReply {
					return nil, nil, fmt.Errorf("%s: reply larger than %d bytes", cl.label(), maxJSONReply)
				}
				return resp, data, nil
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, nil, fmt.Errorf("%s: %w", cl.label(), ctxErr)
			}
			failure = &transportError{msg: fmt.Sprintf("%s: reply cut short: %s", cl.label(), c.redact(rerr.Error())), err: rerr}
			retry = cl.idempotent()
			sentBefore = true
		}
		if !retry || attempt >= c.maxRetries {
			return nil, nil, failure
		}
		d := wait
		if d <= 0 {
			d = c.backoff(attempt)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			// Waiting would only end in DeadlineExceeded: report why instead.
			return nil, nil, fmt.Errorf("%w (gave up: the next try, in %v, would pass the deadline)", failure, d.Round(time.Millisecond))
		}
		c.log.WithFields(logrus.Fields{"op": cl.label(), "attempt": attempt + 1, "wait": d.Round(time.Millisecond)}).
			Warnf("retrying: %v", failure)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("%s: %w (while waiting to retry after: %v)", cl.label(), ctx.Err(), failure)
		case <-t.C:
		}
	}
}

// transportError is a failure to get a reply. Its message is redacted and
// names the call; Unwrap gives the underlying error (net.OpError, io.EOF...).
type transportError struct {
	msg string
	err error
}

func (e *transportError) Error() string { return e.msg }
func (e *transportError) Unwrap() error { return e.err }

// attempt sends cl once, following up to maxRedirects redirects (301, 302,
// 303, 307, 308) by hand with the same method, headers and body. A redirect
// that moves the whole API to another host of the configured host's site
// (same path, other origin, as api.tiledb.com does towards an array's
// region) is remembered for later calls, as TileDB's JS client does.
// Credentials go only to that site (sendsCredentials); redirects to plain
// http off loopback are refused. reached reports whether the request
// may have reached a server.
func (c *Client) attempt(ctx context.Context, cl *call, again bool) (resp *http.Response, reached bool, err error) {
	base := c.base.Load()
	raw := base.String() + cl.path
	if len(cl.query) > 0 {
		raw += "?" + cl.query.Encode()
	}
	target, err := url.Parse(raw)
	if err != nil {
		return nil, false, permanent{err}
	}
	for hop := 0; ; hop++ {
		resp, err := c.roundTrip(ctx, cl, target, again || hop > 0)
		if err != nil {
			return nil, reached || !neverSent(err), err
		}
		reached = true
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
			http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		default:
			return resp, true, nil
		}
		loc := resp.Header.Get("Location")
		drain(resp.Body)
		if loc == "" {
			return nil, true, permanent{fmt.Errorf("redirect %d without a Location", resp.StatusCode)}
		}
		if hop == maxRedirects {
			return nil, true, permanent{fmt.Errorf("more than %d redirects", maxRedirects)}
		}
		next, err := target.Parse(loc)
		if err != nil {
			return nil, true, permanent{fmt.Errorf("redirect to a bad Location: %w", err)}
		}
		if err := allowedScheme(next); err != nil {
			return nil, true, permanent{fmt.Errorf("redirect: %w", err)}
		}
		c.log.WithFields(logrus.Fields{"op": cl.label(), "status": resp.StatusCode, "to": next.Host}).Debug("following redirect")
		if !c.sendsCredentials(next) {
			c.log.WithFields(logrus.Fields{"op": cl.label(), "from": target.Host, "to": next.Host}).
				Warn("redirected to another site: following it without credentials")
		}
		c.rememberBase(base, target, next)
		target = next
	}
}

// rememberBase moves the API root when a redirect sends the same path to
// another origin of the configured host's site (as api.tiledb.com does to
// a region); never to another site.
func (c *Client) rememberBase(base, from, to *url.URL) {
	if from.Scheme != base.Scheme || from.Host != base.Host || from.EscapedPath() != to.EscapedPath() ||
		(to.Scheme == from.Scheme && to.Host == from.Host) || !c.sendsCredentials(to) {
		return
	}
	nb := &url.URL{Scheme: to.Scheme, Host: to.Host, Path: base.Path, RawPath: base.RawPath}
	if c.base.CompareAndSwap(base, nb) {
		c.log.WithFields(logrus.Fields{"from": base.Host, "to": nb.Host}).Info("TileDB Cloud redirected; using the new host from now on")
	}
}

// sendsCredentials reports whether the token and password may go to u: the
// configured origin itself, or an https host of the same registrable
// domain on the same port (TileDB's regional hosts under tiledb.com).
// Anywhere else a redirect leads (an open redirect, a compromised or
// spoofed host) gets the request without them.
func (c *Client) sendsCredentials(u *url.URL) bool {
	o := c.origin
	if strings.EqualFold(u.Scheme, o.Scheme) && strings.EqualFold(hostPort(u), hostPort(o)) {
		return true
	}
	if !strings.EqualFold(u.Scheme, "https") || !strings.EqualFold(o.Scheme, "https") || portOf(u) != portOf(o) {
		return false
	}
	a, b := strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), strings.ToLower(strings.TrimSuffix(o.Hostname(), "."))
	if net.ParseIP(a) != nil || net.ParseIP(b) != nil || isLoopback(a) || isLoopback(b) {
		return false
	}
	da, errA := publicsuffix.EffectiveTLDPlusOne(a)
	db, errB := publicsuffix.EffectiveTLDPlusOne(b)
	return errA == nil && errB == nil && da == db
}

// portOf is u's port, the scheme's default when absent.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// hostPort is host:port with the default port made explicit.
func hostPort(u *url.URL) string {
	return net.JoinHostPort(strings.TrimSuffix(u.Hostname(), "."), portOf(u))
}

// roundTrip sends one HTTP request of cl to u. An idempotent request that
// gets no reply headers within headerTimeout fails with errHeaderTimeout
// (and is retried); a POST waits for the call deadline instead, since the
// server may take long to store a large upload. The reply body, if any,
// stays readable until closed.
func (c *Client) roundTrip(ctx context.Context, cl *call, u *url.URL, again bool) (*http.Response, error) {
	var rd io.Reader
	size := int64(0)
	if cl.body != nil {
		var err error
		if rd, err = cl.body.open(again); err != nil {
			return nil, err
		}
		size = cl.body.n
		if size == 0 {
			// Nothing to send, but the source must be empty too.
			if _, err := rd.Read(make([]byte, 1)); err != io.EOF {
				if err == nil {
					err = errSize(0, "more bytes")
				}
				return nil, err
			}
			rd = nil
		}
	}
	actx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(actx, cl.method, u.String(), rd)
	if err != nil {
		cancel()
		return nil, permanent{err}
	}
	if rd != nil {
		req.ContentLength = size
		// Go re-sends nothing itself: redirects and retries are ours.
		req.GetBody = nil
	} else if cl.body != nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range cl.header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", userAgent)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if rd != nil && !cl.body.rewindable() {
		// A stream we cannot rewind: let the server refuse or redirect
		// before we give it the body (net/http waits ExpectContinueTimeout).
		req.Header.Set("Expect", "100-continue")
	}
	if c.sendsCredentials(u) {
		c.setAuth(req.Header)
	}

	var timedOut atomic.Bool
	var timer *time.Timer
	if cl.idempotent() && !cl.longWait && c.headerTimeout > 0 {
		timer = time.AfterFunc(c.headerTimeout, func() { timedOut.Store(true); cancel() })
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if timer != nil && !timer.Stop() && err == nil {
		// Fired as the reply came: the body is already canceled.
		resp.Body.Close()
		err = errHeaderTimeout
	}
	if err != nil {
		cancel()
		if timedOut.Load() && ctx.Err() == nil {
			return nil, fmt.Errorf("%w (%v)", errHeaderTimeout, c.headerTimeout)
		}
		return nil, err
	}
	if c.log.Logger.IsLevelEnabled(logrus.DebugLevel) {
		c.log.WithFields(logrus.Fields{"op": cl.label(), "host": u.Host, "status": resp.StatusCode,
			"ms": time.Since(start).Milliseconds()}).Debug("request")
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody releases the attempt's context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// unwrapURL drops net/http's *url.Error wrapper, whose message repeats the
// method and the full URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// neverSent reports whether err proves the request never reached a server:
// the connection could not be made.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}

// retryableTransport decides whether a failure to get a reply is retried.
func retryableTransport(cl *call, err error, reached bool) bool {
	var p permanent
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	if errors.As(err, &p) || errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) {
		return false
	}
	if !cl.canResend() {
		return false
	}
	return !reached || cl.idempotent()
}

// backoff is the wait before retry attempt+1: exponential from
// backoffBase, capped at backoffCap, with jitter over its upper half.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.backoffBase << min(attempt, 20)
	if d > c.backoffCap || d <= 0 {
		d = c.backoffCap
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// body is a request body that can be sent more than once when its source
// allows: bytes and io.Seekers are rewound; a plain stream can be sent again
// only if no byte of it was taken yet (say, a 503 or a redirect before the
// upload began). Every attempt gets its own reader; a reader of an earlier
// attempt that net/http may still hold fails instead of racing the new
// one. Each reader checks that the source holds exactly n bytes, holding the
// last ones back until it sees the source's end, so that a wrong size aborts
// the request before it is complete.
type body struct {
	n int64

	mu     sync.Mutex
	r      io.Reader
	seek   io.Seeker // nil: a stream
	start  int64
	gen    int
	opened bool
	taken  int64 // bytes read from r so far, all attempts
}

func newBody(r io.Reader, n int64) *body {
	b := &body{r: r, n: n}
	if s, ok := r.(io.Seeker); ok {
		if pos, err := s.Seek(0, io.SeekCurrent); err == nil {
			b.seek, b.start = s, pos
		}
	}
	return b
}

// rewindable reports whether the source can be rewound.
func (b *body) rewindable() bool { return b.seek != nil }

// resendable reports whether open may be called again.
func (b *body) resendable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seek != nil || b.taken == 0
}

// remaining reports the source's length from the start position when it
// can tell without reading (a Seeker), else -1.
func (b *body) remaining() int64 {
	if b.seek == nil {
		return -1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	end, err := b.seek.Seek(0, io.SeekEnd)
	if err != nil {
		return -1
	}
	if _, err := b.seek.Seek(b.start, io.SeekStart); err != nil {
		return -1
	}
	return end - b.start
}

func (b *body) open(again bool) (io.Reader, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.opened {
		if b.seek == nil && b.taken > 0 {
			return nil, errNotResendable
		}
	}
	if b.seek != nil && (b.opened || again) {
		if _, err := b.seek.Seek(b.start, io.SeekStart); err != nil {
			return nil, permanent{fmt.Errorf("rewinding the request body: %w", err)}
		}
	}
	b.opened = true
	b.gen++
	return &attemptReader{b: b, gen: b.gen, remain: b.n}, nil
}

type attemptReader struct {
	b      *body
	gen    int
	remain int64
	done   bool
}

func errSize(n int64, what string) error {
	return permanent{fmt.Errorf("request body holds %s than the %d bytes announced: %w", what, n, errBadSize)}
}

// errBadSize is a body of another size than announced: an invalid argument.
var errBadSize = fmt.Errorf("size mismatch: %w", remote.ErrInvalid)

func (a *attemptReader) Read(p []byte) (int, error) {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if a.gen != b.gen {
		return 0, errStaleBody
	}
	if a.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	if a.remain > 0 {
		if int64(len(p)) > a.remain {
			p = p[:a.remain]
		}
		var err error
		n, err = b.r.Read(p)
		b.taken += int64(n)
		a.remain -= int64(n)
		switch {
		case err == io.EOF && a.remain > 0:
			return 0, errSize(b.n, "fewer bytes")
		case err != nil && err != io.EOF:
			return 0, permanent{fmt.Errorf("reading the request body: %w", err)}
		case a.remain > 0:
			return n, nil
		}
	}
	// All n bytes are in hand: give the last ones only once the source
	// proves to end here.
	var one [1]byte
	for range 100 {
		m, err := b.r.Read(one[:])
		if m > 0 {
			b.taken++
			return 0, errSize(b.n, "more bytes")
		}
		if err == io.EOF {
			a.done = true
			return n, io.EOF
		}
		if err != nil {
			return 0, permanent{fmt.Errorf("reading the request body: %w", err)}
		}
	}
	return 0, io.ErrNoProgress
}
