package cache

import (
	"context"
	"strconv"
)

// GetOrLoad returns the bytes cached under k, or calls load to fetch them.
//
// Concurrent callers missing the same key share one call of load. Each waits
// with its own ctx: a caller whose ctx ends gets ctx.Err() while the load
// goes on for the others. load therefore runs with a context no caller can
// cancel (it keeps the first caller's values) and must set its own deadline.
//
// A loaded value is cached if it fits and returned either way; an error is
// returned to every waiter and not cached, so the next call loads again. The
// returned bytes are shared: the caller must not modify them. A panic in load
// is not recovered (singleflight re-panics it on its own goroutine).
func (c *Content) GetOrLoad(ctx context.Context, k Key, load func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	if v, ok := c.Get(k); ok {
		return v, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err // nobody would wait for a load started now
	}
	loadCtx := context.WithoutCancel(ctx)
	ch := c.flight.DoChan(flightKey(k), func() (any, error) {
		// A load that finished between our miss and DoChan has cached it.
		if v, ok := c.Peek(k); ok {
			return v, nil
		}
		v, err := load(loadCtx)
		if err != nil {
			return nil, err
		}
		c.Add(k, v)
		return v, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]byte), nil
	}
}

// flightKey spells k for singleflight; ids are UUIDs, so "/" cannot clash.
func flightKey(k Key) string { return k.ID + "/" + strconv.FormatInt(k.Version, 10) }
