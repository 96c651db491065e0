package instrument

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"notebookfs/remote"
	"notebookfs/remote/local"
)

func TestCallsCountedByOutcome(t *testing.T) {
	store, err := local.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if err := store.AddUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c, err := Wrap(store.As("alice"), reg)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := c.Create(ctx, "alice", "x", bytes.NewReader([]byte("{}")), 2, remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "alice", nb.ID); err != nil {
		t.Fatal(err)
	}
	c.Stat(ctx, "alice", "00000000-0000-4000-8000-000000000000")
	c.Create(ctx, "alice", "", bytes.NewReader(nil), 0, remote.CreateOptions{})
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	c.List(canceled, remote.Owned, "alice")
	if _, err := c.Read(ctx, "alice", nb.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		op, status string
		want       float64
	}{
		{"Create", "ok", 1}, {"Create", "invalid", 1}, {"Stat", "ok", 1}, {"Stat", "not_found", 1},
		{"List", "canceled", 1}, {"Read", "ok", 1},
	} {
		if got := testutil.ToFloat64(c.calls.WithLabelValues(tc.op, tc.status)); got != tc.want {
			t.Errorf("%s/%s = %v, want %v", tc.op, tc.status, got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(c.duration, "notebookfs_remote_request_seconds"); n != 4 {
		t.Errorf("latency histograms for %d operations, want 4 (Create, Stat, List, Read)", n)
	}
	// The exposition a scraper sees.
	out, err := testutil.GatherAndCount(reg)
	if err != nil || out == 0 {
		t.Errorf("gather: %d series, %v", out, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP notebookfs_remote_requests_total Remote calls by operation and outcome (ok, or the kind of error).
# TYPE notebookfs_remote_requests_total counter
notebookfs_remote_requests_total{op="Create",status="invalid"} 1
notebookfs_remote_requests_total{op="Create",status="ok"} 1
notebookfs_remote_requests_total{op="List",status="canceled"} 1
notebookfs_remote_requests_total{op="Read",status="ok"} 1
notebookfs_remote_requests_total{op="Stat",status="not_found"} 1
notebookfs_remote_requests_total{op="Stat",status="ok"} 1
`), "notebookfs_remote_requests_total"); err != nil {
		t.Error(err)
	}
}
