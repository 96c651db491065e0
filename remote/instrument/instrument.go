// Package instrument wraps a remote.Client with Prometheus metrics: calls
// by operation and outcome, and their latency. The daemon serves them with
// --metrics-addr; the wrapper changes nothing else.
package instrument

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"notebookfs/remote"
)

// Client is a remote.Client that records every call.
type Client struct {
	next     remote.Client
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

var _ remote.Client = (*Client)(nil)

// Wrap instruments c and registers its metrics with reg.
func Wrap(c remote.Client, reg prometheus.Registerer) (*Client, error) {
	w := &Client{
		next: c,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notebookfs_remote_requests_total",
			Help: "Remote calls by operation and outcome (ok, or the kind of error).",
		}, []string{"op", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "notebookfs_remote_request_seconds",
			Help:    "Latency of remote calls by operation, retries included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"op"}),
	}
	for _, col := range []prometheus.Collector{w.calls, w.duration} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// status names an outcome for the status label.
func status(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, remote.ErrNotFound):
		return "not_found"
	case errors.Is(err, remote.ErrPermission):
		return "permission"
	case errors.Is(err, remote.ErrUnauthenticated):
		return "unauthenticated"
	case errors.Is(err, remote.ErrInvalid), errors.Is(err, remote.ErrNameTooLong):
		return "invalid"
	case errors.Is(err, remote.ErrExist):
		return "exists"
	case errors.Is(err, remote.ErrConflict):
		return "conflict"
	case errors.Is(err, remote.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

// track starts timing op; the returned func records the outcome that
// *err holds when the call returns (use: defer w.track(op)(&err)).
func (w *Client) track(op string) func(*error) {
	start := time.Now()
	return func(err *error) {
		w.calls.WithLabelValues(op, status(*err)).Inc()
		w.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}

func (w *Client) Whoami(ctx context.Context) (u remote.User, err error) {
	defer w.track("Whoami")(&err)
	return w.next.Whoami(ctx)
}

func (w *Client) Namespaces(ctx context.Context, cat remote.Category) (ns []string, err error) {
	defer w.track("Namespaces")(&err)
	return w.next.Namespaces(ctx, cat)
}

func (w *Client) List(ctx context.Context, cat remote.Category, ns string) (nbs []remote.Notebook, err error) {
	defer w.track("List")(&err)
	return w.next.List(ctx, cat, ns)
}

func (w *Client) Stat(ctx context.Context, ns, id string) (nb remote.Notebook, err error) {
	defer w.track("Stat")(&err)
	return w.next.Stat(ctx, ns, id)
}

// Read times the call that opens the content, not the streaming after it.
func (w *Client) Read(ctx context.Context, ns, id string, at time.Time) (c *remote.Content, err error) {
	defer w.track("Read")(&err)
	return w.next.Read(ctx, ns, id, at)
}

func (w *Client) Create(ctx context.Context, ns, name string, r io.Reader, size int64, opts remote.CreateOptions) (nb remote.Notebook, err error) {
	defer w.track("Create")(&err)
	return w.next.Create(ctx, ns, name, r, size, opts)
}

func (w *Client) Write(ctx context.Context, ns, id string, r io.Reader, size int64) (nb remote.Notebook, err error) {
	defer w.track("Write")(&err)
	return w.next.Write(ctx, ns, id, r, size)
}

func (w *Client) Rename(ctx context.Context, ns, id, newName string) (nb remote.Notebook, err error) {
	defer w.track("Rename")(&err)
	return w.next.Rename(ctx, ns, id, newName)
}

func (w *Client) Delete(ctx context.Context, ns, id string) (err error) {
	defer w.track("Delete")(&err)
	return w.next.Delete(ctx, ns, id)
}

func (w *Client) Latest(ctx context.Context, ns, id string, at time.Time) (t time.Time, err error) {
	defer w.track("Latest")(&err)
	return w.next.Latest(ctx, ns, id, at)
}

func (w *Client) Versions(ctx context.Context, ns, id string) (vs []remote.Version, err error) {
	defer w.track("Versions")(&err)
	return w.next.Versions(ctx, ns, id)
}

func (w *Client) Shares(ctx context.Context, ns, id string) (ss []remote.Share, err error) {
	defer w.track("Shares")(&err)
	return w.next.Shares(ctx, ns, id)
}

func (w *Client) Share(ctx context.Context, ns, id, with string, actions []string) (err error) {
	defer w.track("Share")(&err)
	return w.next.Share(ctx, ns, id, with, actions)
}
