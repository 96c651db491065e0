package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics counts requests and injected faults, served by GET /metrics in
// the Prometheus text format. Each Server has its own registry, so that
// several servers in one process (tests) count apart.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	faults   *prometheus.CounterVec
	handler  http.Handler
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notebookfs_server_requests_total",
			Help: `Requests answered, by route pattern and HTTP status ("dropped": connection dropped by fault injection).`,
		}, []string{"route", "code"}),
		faults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notebookfs_server_faults_injected_total",
			Help: "Faults injected, by kind (503 reply, dropped connection).",
		}, []string{"kind"}),
	}
	m.reg.MustRegister(m.requests, m.faults)
	// Both kinds are shown from the start, at 0.
	for _, kind := range []string{faultUnavailable, faultDrop} {
		m.faults.WithLabelValues(kind)
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	return m
}

func (m *metrics) request(route, code string) { m.requests.WithLabelValues(route, code).Inc() }

func (m *metrics) fault(kind string) { m.faults.WithLabelValues(kind).Inc() }

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ *call) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}
