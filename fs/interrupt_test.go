package fs_test

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"notebookfs/remote"
)

// A lookup interrupted (a signal to the caller) while its listing is
// refreshed past the TTL fails, rather than answering from the stale
// listing as if it had been checked: a notebook deleted remotely must not
// look present. Go's own preemption signals interrupt FUSE requests often.
func TestInterruptedRefreshIsNoAnswer(t *testing.T) {
	e, err := newCoreEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	ctx := context.Background()
	nb, err := e.client().Create(ctx, coreUser, "x", bytes.NewReader([]byte("{}")), 2, remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.Lookup(ctx, "x.ipynb"); err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if err := e.client().Delete(ctx, coreUser, nb.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * coreTTL)
	e.faults.SetLatency(300 * time.Millisecond) // the refresh outlasts its caller
	ictx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	ent, err := e.ns.Lookup(ictx, "x.ipynb")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("an interrupted lookup past the TTL: %+v, %v; want context.Canceled", ent, err)
	}
	e.faults.SetLatency(0)
	if _, err := e.ns.Lookup(ctx, "x.ipynb"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("the next lookup: %v, want ENOENT", err)
	}
}
