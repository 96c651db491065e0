package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"notebookfs/cache"
	"notebookfs/fs"
	"notebookfs/remote"
	"notebookfs/remote/instrument"
)

// mountMetrics serves the daemon's Prometheus metrics (--metrics-addr):
// remote calls by operation and outcome with their latency, the content
// cache, prefetch and unsaved files, plus Go and process metrics.
type mountMetrics struct {
	reg *prometheus.Registry
	srv *http.Server
}

// newMountMetrics wraps the client with call metrics; start serves them
// once the cache and root exist.
func newMountMetrics(client remote.Client) (*mountMetrics, remote.Client, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	wrapped, err := instrument.Wrap(client, reg)
	if err != nil {
		return nil, nil, err
	}
	return &mountMetrics{reg: reg}, wrapped, nil
}

// start registers the cache and mount figures and listens on addr.
func (m *mountMetrics) start(addr string, content *cache.Content, root *fs.FS, log *logrus.Entry) error {
	stat := func(f func(cache.ContentStats) int64) func() float64 {
		return func() float64 { return float64(f(content.Stats())) }
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "notebookfs_cache_hits_total", Help: "Content cache hits."},
			stat(func(s cache.ContentStats) int64 { return s.Hits })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "notebookfs_cache_misses_total", Help: "Content cache misses."},
			stat(func(s cache.ContentStats) int64 { return s.Misses })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "notebookfs_cache_evictions_total", Help: "Content cache evictions."},
			stat(func(s cache.ContentStats) int64 { return s.Evictions })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "notebookfs_cache_bytes", Help: "Bytes held by the content cache."},
			stat(func(s cache.ContentStats) int64 { return s.Bytes })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "notebookfs_cache_max_bytes", Help: "The content cache's bound."},
			stat(func(s cache.ContentStats) int64 { return s.MaxBytes })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "notebookfs_cache_entries", Help: "Notebook versions in the content cache."},
			stat(func(s cache.ContentStats) int64 { return s.Entries })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "notebookfs_prefetch_bytes_total", Help: "Bytes downloaded by prefetch."},
			func() float64 { return float64(root.Status().Prefetched) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "notebookfs_pending_uploads", Help: "Saves in the write-back journal not uploaded yet (including refused ones)."},
			func() float64 { s := root.Status().Uploads; return float64(s.Pending + len(s.Failed)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "notebookfs_pending_upload_bytes", Help: "Bytes of the saves waiting in the write-back journal."},
			func() float64 { return float64(root.Status().Uploads.PendingBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "notebookfs_upload_retries_total", Help: "Upload attempts that failed and were retried."},
			func() float64 { return float64(root.Status().Uploads.Retries) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "notebookfs_conflicts_total", Help: "Saves stored as conflict copies since the mount."},
			func() float64 { return float64(root.Status().Uploads.ConflictCount) }),
	)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("metrics server stopped")
		}
	}()
	log.WithField("addr", "http://"+ln.Addr().String()+"/metrics").Info("serving metrics")
	return nil
}

// stop ends the metrics server.
func (m *mountMetrics) stop() {
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m.srv.Shutdown(ctx)
	}
}
