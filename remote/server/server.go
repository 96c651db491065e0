package server

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"notebookfs/remote"
	"notebookfs/remote/local"
)

// Options configures a Server. The zero value serves without faults.
type Options struct {
	// Log receives one debug line per request and the errors behind 500s.
	// Nil discards.
	Log *logrus.Entry
	// FaultRate is the fraction of API requests (0..1) that fail before
	// their handler runs: half answered 503 with Retry-After: 0, half with
	// the connection dropped in the middle of the response headers.
	FaultRate float64
	// Latency is slept before every API request is handled.
	Latency time.Duration
	// Seed seeds the fault injection, so that a test run can be repeated.
	Seed int64

	// MaxUploads bounds the uploads (upload endpoint, capnp WRITE) received
	// at once, MaxUploadsPerUser those of one user; MaxSpoolBytes the bytes they announce, in all, and
	// MaxSpoolMemory those held in memory (the rest go to temporary
	// files). Past a bound the upload is answered 503 with Retry-After.
	// Zero: DefaultMaxUploads, DefaultMaxSpoolBytes, DefaultMaxSpoolMem.
	MaxUploads        int
	MaxUploadsPerUser int // zero: DefaultMaxUserUploads
	MaxSpoolBytes     int64
	MaxSpoolMemory    int64
	// MinBodyRate (bytes/s) and BodyGrace cut a request body that comes
	// slower: it must have arrived by BodyGrace + its size / MinBodyRate.
	// Zero: DefaultMinBodyRate, DefaultBodyGrace.
	MinBodyRate int64
	BodyGrace   time.Duration
}

// Server answers the TileDB Cloud REST subset over a local store. It is an
// http.Handler, safe for concurrent use.
type Server struct {
	store   *local.Store
	log     *logrus.Entry
	opts    Options
	mux     *http.ServeMux
	metrics *metrics
	limits  *limits

	faultMu sync.Mutex
	rng     *rand.Rand // guarded by faultMu
}

// New returns a Server over store, which the caller keeps open while the
// Server is in use and closes afterwards.
func New(store *local.Store, opts Options) *Server {
	log := opts.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	s := &Server{
		store:   store,
		log:     log,
		opts:    opts,
		mux:     http.NewServeMux(),
		metrics: newMetrics(),
		limits:  newLimits(opts),
		rng:     rand.New(rand.NewPCG(uint64(opts.Seed), 0x6e6f7465626f6f6b)),
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	return s
}

// route is one endpoint. Files of this package add endpoints by returning
// more routes from a method listed in routes().
type route struct {
	pattern string // http.ServeMux pattern, with method
	// public routes need no credentials and get no faults or latency
	// (/metrics, /v4/capabilities).
	public bool
	h      handlerFunc
}

// handlerFunc serves one request for the authenticated caller. An error
// returned before anything was written becomes the JSON Error reply.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// call is what a handler knows about its request.
type call struct {
	id     string        // request id, also in X-Request-Id
	user   string        // authenticated user; "" on public routes
	client remote.Client // the store as user; nil on public routes
}

// routes lists every endpoint. A new set of endpoints (such as the capnp
// array protocol) lives in its own file as a method returning []route and
// is appended here.
func (s *Server) routes() []route {
	var all []route
	all = append(all, s.userRoutes()...)
	all = append(all, s.browserRoutes()...)
	all = append(all, s.arrayRoutes()...)
	all = append(all, s.notebookRoutes()...)
	all = append(all, s.serviceRoutes()...)
	all = append(all, s.capnpRoutes()...)
	return all
}

// serviceRoutes are the endpoints that need no credentials.
func (s *Server) serviceRoutes() []route {
	return []route{
		{pattern: "GET /metrics", public: true, h: s.serveMetrics},
		// libtiledb asks for the v4 capabilities first; a 404 makes it use
		// the legacy /v1 and /v2 array paths, which are the ones served here.
		{pattern: "GET /v4/capabilities", public: true, h: func(http.ResponseWriter, *http.Request, *call) error {
			return &httpError{status: http.StatusNotFound, code: CodeNoRoute, msg: "no v4 API here: use the v1 and v2 paths"}
		}},
	}
}

// reqInfo travels in the request context from ServeHTTP to the route
// wrapper and back, for the log line.
type reqInfo struct {
	id   string
	user string
}

type infoKey struct{}

// ServeHTTP answers one request: request id, routing, and one log line
// and metrics sample per request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &reqInfo{id: uuid.NewString()}
	w.Header().Set("X-Request-Id", info.id)
	rec := &recorder{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))

	_, pattern := s.mux.Handler(r)
	routeLabel := pattern
	if pattern == "" {
		routeLabel = "unmatched"
	}
	// Deferred, so that it also runs when a handler aborts the connection
	// with http.ErrAbortHandler.
	defer func() {
		code := rec.codeLabel()
		s.metrics.request(routeLabel, code)
		s.log.WithFields(logrus.Fields{
			"method":     r.Method,
			"route":      routeLabel,
			"status":     code,
			"duration":   time.Since(start).Round(time.Microsecond).String(),
			"user":       info.user,
			"request_id": info.id,
		}).Debug("request")
	}()
	if pattern == "" {
		s.noRoute(rec, r, info.id)
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// noRoute answers a request no pattern takes: 405 if the path exists for
// another method, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, id string) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		for _, m := range allow {
			w.Header().Add("Allow", m)
		}
		writeError(w, s.log, id, &httpError{status: http.StatusMethodNotAllowed, code: CodeMethod,
			msg: fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path)})
		return
	}
	writeError(w, s.log, id, &httpError{status: http.StatusNotFound, code: CodeNoRoute,
		msg: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)})
}

// wrap turns a route into the mux's handler: latency, faults, then
// authentication, then the handler, whose error becomes the reply.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := r.Context().Value(infoKey{}).(*reqInfo) // set by ServeHTTP, the mux's only caller
		c := &call{id: info.id}
		if !rt.public {
			if !s.delay(r.Context()) {
				return // the client went away while we slept
			}
			// Faults come before authentication and the handler: a faulted
			// request has changed nothing.
			if s.injectFault(w) {
				return
			}
			user, err := s.authenticate(r)
			if err != nil {
				writeError(w, s.log, c.id, err)
				return
			}
			info.user = user
			c.user = user
			c.client = s.store.As(user)
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = newRateBody(w, r.Body, s.opts.MinBodyRate, s.opts.BodyGrace)
			}
		}
		if err := rt.h(w, r, c); err != nil {
			if rec, ok := w.(*recorder); ok && rec.wrote {
				// Too late for an error reply: abort so the client sees a
				// broken response, not a short one.
				entry := s.log.WithError(err).WithField("request_id", c.id)
				if r.Context().Err() != nil {
					entry.Debug("client went away during the reply")
				} else {
					entry.Warn("request failed after the reply started")
				}
				panic(http.ErrAbortHandler)
			}
			writeError(w, s.log, c.id, err)
		}
	})
}

// delay sleeps the configured latency; false if ctx ended first.
func (s *Server) delay(ctx context.Context) bool {
	if s.opts.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.opts.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// authenticate returns the caller's user name from X-TILEDB-REST-API-KEY
// or, when that header is absent, from HTTP Basic auth whose password is a
// token issued to that user name.
func (s *Server) authenticate(r *http.Request) (string, error) {
	ctx := r.Context()
	if tok := r.Header.Get("X-TILEDB-REST-API-KEY"); tok != "" {
		return s.store.UserForToken(ctx, tok)
	}
	name, pass, ok := r.BasicAuth()
	if !ok {
		return "", fmt.Errorf("no credentials: send X-TILEDB-REST-API-KEY or Basic auth: %w", remote.ErrUnauthenticated)
	}
	user, err := s.store.UserForToken(ctx, pass)
	if err != nil {
		return "", err
	}
	if user != name {
		return "", fmt.Errorf("token is not %q's: %w", name, remote.ErrUnauthenticated)
	}
	return user, nil
}

// recorder remembers the status written, for logs and metrics, and
// whether the reply has started.
type recorder struct {
	http.ResponseWriter
	status  int
	wrote   bool
	dropped bool // connection dropped by fault injection
}

func (rw *recorder) WriteHeader(code int) {
	if !rw.wrote {
		rw.status = code
		rw.wrote = true
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	if !rw.wrote {
		rw.status = http.StatusOK
		rw.wrote = true
	}
	return rw.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (hijack, flush).
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// codeLabel is the status for metrics and logs.
func (rw *recorder) codeLabel() string {
	switch {
	case rw.dropped:
		return "dropped"
	case !rw.wrote:
		return "200" // the handler returned without writing: net/http sends 200
	}
	return fmt.Sprint(rw.status)
}
