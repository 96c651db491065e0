package server

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// metrics counts requests and injected faults, served by GET /metrics in
// the Prometheus text format (version 0.0.4).
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]uint64 // route pattern, status -> count
	faults   map[string]uint64    // kind -> count
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]uint64{}, faults: map[string]uint64{}}
}

func (m *metrics) request(route, code string) {
	m.mu.Lock()
	m.requests[[2]string{route, code}]++
	m.mu.Unlock()
}

func (m *metrics) fault(kind string) {
	m.mu.Lock()
	m.faults[kind]++
	m.mu.Unlock()
}

// render writes the exposition text, series sorted so that it is stable.
func (m *metrics) render() string {
	m.mu.Lock()
	reqs := make([]string, 0, len(m.requests))
	for k, v := range m.requests {
		reqs = append(reqs, fmt.Sprintf("notebookfs_server_requests_total{route=\"%s\",code=\"%s\"} %d\n", escapeLabel(k[0]), escapeLabel(k[1]), v))
	}
	faults := make([]string, 0, 2)
	for _, kind := range []string{faultUnavailable, faultDrop} {
		faults = append(faults, fmt.Sprintf("notebookfs_server_faults_injected_total{kind=\"%s\"} %d\n", kind, m.faults[kind]))
	}
	m.mu.Unlock()
	sort.Strings(reqs)
	var b strings.Builder
	b.WriteString("# HELP notebookfs_server_requests_total Requests answered, by route pattern and HTTP status (\"dropped\": connection dropped by fault injection).\n")
	b.WriteString("# TYPE notebookfs_server_requests_total counter\n")
	for _, l := range reqs {
		b.WriteString(l)
	}
	b.WriteString("# HELP notebookfs_server_faults_injected_total Faults injected, by kind (503 reply, dropped connection).\n")
	b.WriteString("# TYPE notebookfs_server_faults_injected_total counter\n")
	for _, l := range faults {
		b.WriteString(l)
	}
	return b.String()
}

// escapeLabel escapes a label value as the text format requires.
func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request, _ *call) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, err := w.Write([]byte(s.metrics.render()))
	if err != nil {
		s.log.WithError(err).Debug("write metrics")
	}
	return nil
}
