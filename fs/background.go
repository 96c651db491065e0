package fs

import (
	"context"
	"sync"
	"time"

	"notebookfs/remote"
)

// Background work (listing refreshes, prefetch) runs under the Root's
// context, so Close can stop it and wait for it before the process (or a
// test) goes on.

// prefetchMaxFile is the largest notebook prefetch downloads; bigger ones
// are fetched when opened.
const prefetchMaxFile = 1 << 20

// prefetchParallel bounds concurrent prefetch downloads per listing: at
// 50 ms per request, 8 at a time needed 12.7 s for 1,000 notebooks.
const prefetchParallel = 32

// A counter and a condition, not a WaitGroup: work may start while Idle
// waits (an Add concurrent with Wait at zero is a WaitGroup misuse).
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	n      int        // GUARDED_BY(mu): running jobs
	idle   *sync.Cond // signalled when n drops to 0
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{ctx: ctx, cancel: cancel}
	b.idle = sync.NewCond(&b.mu)
	return b
}

// background runs f in a goroutine tracked by the Root, unless the Root is
// closed (false).
func (r *Root) background(f func(ctx context.Context)) bool {
	b := r.bg
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
				b.idle.Broadcast()
			}
			b.mu.Unlock()
		}()
		f(b.ctx)
	}()
	return true
}

// Idle waits until no background work runs (tests, benchmarks).
func (r *Root) Idle() {
	b := r.bg
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.n > 0 {
		b.idle.Wait()
	}
}

// Close stops background work and uploads and waits for them; call it
// after unmounting (and Drain, for a clean stop). Saves not uploaded stay
// in the journal for the next start.
func (r *Root) Close() {
	r.bg.cancel()
	r.Idle()
	r.wb.Close()
}

// prefetch downloads the small notebooks of a fresh listing into the
// content cache, a few at a time and within a byte budget, so that
// reading a whole cold namespace (grep -r, a Jupyter file browser) does
// not pay one round trip per file in sequence. Off when PrefetchBytes is 0.
func (r *Root) prefetch(ns string, nbs []remote.Notebook) {
	if r.opts.PrefetchBytes <= 0 || r.content == nil {
		return
	}
	budget := r.opts.PrefetchBytes
	var todo []remote.Notebook
	for _, nb := range nbs {
		if nb.Size <= 0 || nb.Size > prefetchMaxFile || nb.Size > budget {
			continue
		}
		if _, ok := r.content.Peek(cacheKey(nb)); ok {
			continue
		}
		budget -= nb.Size
		todo = append(todo, nb)
	}
	if len(todo) == 0 {
		return
	}
	r.background(func(ctx context.Context) {
		sem := make(chan struct{}, prefetchParallel)
		var wg sync.WaitGroup
		start, fetched := time.Now(), int64(0)
		var mu sync.Mutex
		for _, nb := range todo {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return
			}
			wg.Add(1)
			go func(nb remote.Notebook) {
				defer func() { <-sem; wg.Done() }()
				_, err := r.content.GetOrLoad(ctx, cacheKey(nb), func(ctx context.Context) ([]byte, error) {
					return readAll(ctx, r, ns, nb.ID, time.Time{})
				})
				if err == nil {
					mu.Lock()
					fetched += nb.Size
					mu.Unlock()
					r.prefetched.Add(nb.Size)
				}
			}(nb)
		}
		wg.Wait()
		r.log.WithField("namespace", ns).WithField("notebooks", len(todo)).WithField("bytes", fetched).
			WithField("took", time.Since(start).Round(time.Millisecond)).Debug("prefetched")
	})
}
