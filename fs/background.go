package fs

import (
	"context"
	"sync"
	"time"

	"notebookfs/remote"
)

// Scheduler runs the file system's background work: listing refreshes,
// prefetches, keeping last-known listings. Go returns false when the file
// system is closed and the job will not run.
type Scheduler interface {
	Go(job func(ctx context.Context)) bool
}

// background is the default Scheduler: a goroutine per job, under one
// context that Close cancels, counted so that Close (and tests) can wait.
// A counter and a condition, not a WaitGroup: work may start while idle
// waits (an Add concurrent with Wait at zero is a WaitGroup misuse).
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	n      int // GUARDED_BY(mu): running jobs
	done   *sync.Cond
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{ctx: ctx, cancel: cancel}
	b.done = sync.NewCond(&b.mu)
	return b
}

func (b *background) Go(job func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx.Err() != nil {
		return false
	}
	b.n++
	go func() {
		defer func() {
			b.mu.Lock()
			b.n--
			if b.n == 0 {
				b.done.Broadcast()
			}
			b.mu.Unlock()
		}()
		job(b.ctx)
	}()
	return true
}

func (b *background) idle() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.n > 0 {
		b.done.Wait()
	}
}

// prefetch downloads the small notebooks of a fresh listing into the
// content cache in the background, within PrefetchBytes.
func (f *FS) prefetch(ns string, nbs []remote.Notebook) {
	todo := f.store.PrefetchPlan(nbs, f.opts.PrefetchBytes)
	if len(todo) == 0 {
		return
	}
	f.bg.Go(func(ctx context.Context) {
		start := time.Now()
		fetched := f.store.Prefetch(ctx, ns, todo)
		f.log.WithField("namespace", ns).WithField("notebooks", len(todo)).WithField("bytes", fetched).
			WithField("took", time.Since(start).Round(time.Millisecond)).Debug("prefetched")
	})
}
