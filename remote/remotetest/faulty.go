package remotetest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"notebookfs/remote"
)

// AnyMethod, given to FailNext, matches every method.
const AnyMethod = "*"

// Faulty wraps a remote.Client and injects latency and errors. A failed call
// does not reach the wrapped client. It is safe for concurrent use.
type Faulty struct {
	c remote.Client

	mu      sync.Mutex
	next    map[string]pendingFault // method or AnyMethod
	latency time.Duration
	rate    float64
	rateErr error
	rng     *rand.Rand
}

type pendingFault struct {
	n   int
	err error
}

var _ remote.Client = (*Faulty)(nil)

// NewFaulty wraps c, injecting nothing until told to.
func NewFaulty(c remote.Client) *Faulty {
	return &Faulty{c: c, next: map[string]pendingFault{}}
}

// FailNext makes the next n calls of method (AnyMethod: of any method)
// return err, replacing what was pending for that method. A method's own
// pending failures are used before AnyMethod's.
func (f *Faulty) FailNext(method string, n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n <= 0 || err == nil {
		delete(f.next, method)
		return
	}
	f.next[method] = pendingFault{n: n, err: err}
}

// SetLatency delays every call by d (0: none). The delay ends early, with
// ctx's error, when ctx is done.
func (f *Faulty) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// SetFailRate makes a fraction rate (0 to 1) of calls fail with err, drawn
// from a generator seeded with seed so that runs repeat. rate 0 stops it.
func (f *Faulty) SetFailRate(rate float64, err error, seed int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rate, f.rateErr = rate, err
	f.rng = rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
}

// fault decides the fate of one call of method: nil means call through.
func (f *Faulty) fault(ctx context.Context, method string) error {
	f.mu.Lock()
	latency := f.latency
	f.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("faulty %s: %w", method, ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, key := range []string{method, AnyMethod} {
		if p, ok := f.next[key]; ok {
			if p.n--; p.n <= 0 {
				delete(f.next, key)
			} else {
				f.next[key] = p
			}
			return fmt.Errorf("faulty %s: injected: %w", method, p.err)
		}
	}
	if f.rate > 0 && f.rateErr != nil && f.rng.Float64() < f.rate {
		return fmt.Errorf("faulty %s: injected at rate %g: %w", method, f.rate, f.rateErr)
	}
	return nil
}

func (f *Faulty) Whoami(ctx context.Context) (remote.User, error) {
	if err := f.fault(ctx, "Whoami"); err != nil {
		return remote.User{}, err
	}
	return f.c.Whoami(ctx)
}

func (f *Faulty) Namespaces(ctx context.Context, cat remote.Category) ([]string, error) {
	if err := f.fault(ctx, "Namespaces"); err != nil {
		return nil, err
	}
	return f.c.Namespaces(ctx, cat)
}

func (f *Faulty) List(ctx context.Context, cat remote.Category, ns string) ([]remote.Notebook, error) {
	if err := f.fault(ctx, "List"); err != nil {
		return nil, err
	}
	return f.c.List(ctx, cat, ns)
}

func (f *Faulty) Stat(ctx context.Context, ns, id string) (remote.Notebook, error) {
	if err := f.fault(ctx, "Stat"); err != nil {
		return remote.Notebook{}, err
	}
	return f.c.Stat(ctx, ns, id)
}

func (f *Faulty) Read(ctx context.Context, ns, id string, at time.Time) (*remote.Content, error) {
	if err := f.fault(ctx, "Read"); err != nil {
		return nil, err
	}
	return f.c.Read(ctx, ns, id, at)
}

func (f *Faulty) Create(ctx context.Context, ns, name string, r io.Reader, size int64, opts remote.CreateOptions) (remote.Notebook, error) {
	if err := f.fault(ctx, "Create"); err != nil {
		return remote.Notebook{}, err
	}
	return f.c.Create(ctx, ns, name, r, size, opts)
}

func (f *Faulty) Write(ctx context.Context, ns, id string, r io.Reader, size int64) (remote.Notebook, error) {
	if err := f.fault(ctx, "Write"); err != nil {
		return remote.Notebook{}, err
	}
	return f.c.Write(ctx, ns, id, r, size)
}

func (f *Faulty) Rename(ctx context.Context, ns, id, newName string) (remote.Notebook, error) {
	if err := f.fault(ctx, "Rename"); err != nil {
		return remote.Notebook{}, err
	}
	return f.c.Rename(ctx, ns, id, newName)
}

func (f *Faulty) Delete(ctx context.Context, ns, id string) error {
	if err := f.fault(ctx, "Delete"); err != nil {
		return err
	}
	return f.c.Delete(ctx, ns, id)
}

func (f *Faulty) Latest(ctx context.Context, ns, id string, at time.Time) (time.Time, error) {
	if err := f.fault(ctx, "Latest"); err != nil {
		return time.Time{}, err
	}
	return f.c.Latest(ctx, ns, id, at)
}

func (f *Faulty) Versions(ctx context.Context, ns, id string) ([]remote.Version, error) {
	if err := f.fault(ctx, "Versions"); err != nil {
		return nil, err
	}
	return f.c.Versions(ctx, ns, id)
}

func (f *Faulty) Shares(ctx context.Context, ns, id string) ([]remote.Share, error) {
	if err := f.fault(ctx, "Shares"); err != nil {
		return nil, err
	}
	return f.c.Shares(ctx, ns, id)
}

func (f *Faulty) Share(ctx context.Context, ns, id, with string, actions []string) error {
	if err := f.fault(ctx, "Share"); err != nil {
		return err
	}
	return f.c.Share(ctx, ns, id, with, actions)
}
