package server

import (
	"net/http"
)

// Fault kinds, as the faults metric labels them.
const (
	faultUnavailable = "503"
	faultDrop        = "drop"
)

// injectFault decides whether this request fails, and if so fails it: a 503
// with Retry-After: 0, or (half of the faults) a connection dropped after
// part of the response headers. It runs before authentication and the
// handler, so a faulted request never changed anything. It reports whether
// the request was faulted.
func (s *Server) injectFault(w http.ResponseWriter) bool {
	if s.opts.FaultRate <= 0 {
		return false
	}
	s.faultMu.Lock()
	hit := s.rng.Float64() < s.opts.FaultRate
	drop := s.rng.IntN(2) == 0
	s.faultMu.Unlock()
	if !hit {
		return false
	}
	if drop && s.dropConnection(w) {
		s.metrics.fault(faultDrop)
		return true
	}
	s.metrics.fault(faultUnavailable)
	id := w.Header().Get("X-Request-Id")
	writeError(w, s.log, id, &httpError{status: http.StatusServiceUnavailable, code: CodeUnavailable,
		msg: "injected fault: service unavailable, retry"})
	return true
}

// dropConnection hijacks the connection, writes the start of a response
// and closes it. False when the connection cannot be hijacked (HTTP/2).
func (s *Server) dropConnection(w http.ResponseWriter) bool {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	if rec, ok := w.(*recorder); ok {
		rec.dropped = true
	}
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/js")
	buf.Flush()
	conn.Close()
	return true
}
