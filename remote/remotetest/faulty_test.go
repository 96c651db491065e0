package remotetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"notebookfs/remote"
)

func TestFaultyFailNext(t *testing.T) {
	ctx := t.Context()
	s := &stub{}
	f := NewFaulty(s)
	for method, err := range callAll(ctx, f) {
		if err != nil {
			t.Fatalf("%s with no faults: %v", method, err)
		}
	}
	s.calls.Store(0)

	boom := errors.New("boom")
	f.FailNext("Stat", 2, boom)
	for i := range 2 {
		if _, err := f.Stat(ctx, "ns", "id"); !errors.Is(err, boom) {
			t.Fatalf("Stat %d: %v, want boom", i, err)
		}
	}
	if _, err := f.Stat(ctx, "ns", "id"); err != nil {
		t.Fatalf("third Stat: %v", err)
	}
	if n := s.calls.Load(); n != 1 {
		t.Fatalf("%d calls reached the client, want 1 (failed calls must not)", n)
	}

	f.FailNext(AnyMethod, 3, remote.ErrConflict)
	f.FailNext("Read", 1, remote.ErrNotFound)
	if _, err := f.Read(ctx, "ns", "id", time.Time{}); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Read: %v, want the method's own fault first", err)
	}
	errs := callAll(ctx, f)
	failed := 0
	for _, m := range Methods() {
		if errors.Is(errs[m], remote.ErrConflict) {
			failed++
		} else if errs[m] != nil {
			t.Fatalf("%s: %v", m, errs[m])
		}
	}
	if failed != 3 || !errors.Is(errs["Whoami"], remote.ErrConflict) || errs["Stat"] != nil {
		t.Fatalf("AnyMethod x3 failed %d calls: %v", failed, errs)
	}
	f.FailNext("Delete", 5, remote.ErrPermission)
	f.FailNext("Delete", 0, nil) // clears
	if err := f.Delete(ctx, "ns", "id"); err != nil {
		t.Fatalf("Delete after clearing: %v", err)
	}
}

func TestFaultyFailRate(t *testing.T) {
	ctx := t.Context()
	count := func(seed int64) (fails int) {
		f := NewFaulty(&stub{})
		f.SetFailRate(0.3, remote.ErrConflict, seed)
		for range 1000 {
			if _, err := f.Whoami(ctx); errors.Is(err, remote.ErrConflict) {
				fails++
			} else if err != nil {
				t.Fatal(err)
			}
		}
		return fails
	}
	a, b := count(7), count(7)
	if a != b {
		t.Fatalf("same seed, different failures: %d and %d", a, b)
	}
	if a < 200 || a > 400 {
		t.Fatalf("rate 0.3 failed %d of 1000 calls", a)
	}
	f := NewFaulty(&stub{})
	f.SetFailRate(0.5, remote.ErrConflict, 1)
	f.SetFailRate(0, nil, 1)
	for range 100 {
		if _, err := f.Whoami(ctx); err != nil {
			t.Fatalf("rate 0: %v", err)
		}
	}
}

func TestFaultyLatency(t *testing.T) {
	f := NewFaulty(&stub{})
	f.SetLatency(20 * time.Millisecond)
	start := time.Now()
	if _, err := f.Whoami(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("call took %v, want at least the latency", d)
	}
	f.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := f.Whoami(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call under a deadline: %v, want DeadlineExceeded", err)
	}
}

func TestFaultyConcurrent(t *testing.T) {
	f := NewFaulty(NewCounting(&stub{}))
	f.SetFailRate(0.5, remote.ErrConflict, 3)
	f.FailNext(AnyMethod, 50, remote.ErrNotFound)
	var wg sync.WaitGroup
	var mu sync.Mutex
	notFound := 0
	for range 8 {
		wg.Go(func() {
			for range 50 {
				_, err := f.Stat(t.Context(), "ns", "id")
				if errors.Is(err, remote.ErrNotFound) {
					mu.Lock()
					notFound++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if notFound != 50 {
		t.Fatalf("FailNext(*, 50) failed %d calls", notFound)
	}
}
