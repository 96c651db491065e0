package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The GetOrLoad tests run in a synctest bubble so that synctest.Wait can tell
// when every caller has joined the flight and is blocked, with no sleeps.

func TestGetOrLoadSharesOneLoad(t *testing.T) {
	tests := []struct {
		name      string
		max       int64
		wantCache bool
	}{
		{"value cached", 1 << 20, true},
		// Not cached: a caller that missed the flight would load again.
		{"value too large to cache", 16, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := NewContent(tc.max)
				k := Key{"nb", 42}
				want := []byte("notebook bytes")
				var loads atomic.Int32
				release := make(chan struct{}) // the barrier
				load := func(ctx context.Context) ([]byte, error) {
					loads.Add(1)
					<-release
					return want, nil
				}

				const callers = 20
				got := make([][]byte, callers)
				errs := make([]error, callers)
				var wg sync.WaitGroup
				for i := range callers {
					wg.Go(func() { got[i], errs[i] = c.GetOrLoad(context.Background(), k, load) })
				}
				synctest.Wait() // all blocked: one load at the barrier, the rest waiting on it
				if n := loads.Load(); n != 1 {
					t.Fatalf("%d loads in flight, want 1", n)
				}
				close(release)
				wg.Wait()

				if n := loads.Load(); n != 1 {
					t.Errorf("load called %d times, want 1", n)
				}
				for i := range callers {
					if errs[i] != nil || &got[i][0] != &want[0] {
						t.Errorf("caller %d got %q, %v; want the loaded slice", i, got[i], errs[i])
					}
				}
				if _, ok := c.Get(k); ok != tc.wantCache {
					t.Errorf("cached = %v, want %v", ok, tc.wantCache)
				}
				if s := c.Stats(); s.Misses < callers {
					t.Errorf("Misses = %d, want at least %d", s.Misses, callers)
				}
			})
		})
	}
}

type ctxKey struct{}

func TestGetOrLoadWaiterGivesUpAlone(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		giveUp  func(cancel context.CancelFunc) // nil: wait for the deadline
		wantErr error
	}{
		{
			name:    "canceled",
			ctx:     func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			giveUp:  func(cancel context.CancelFunc) { cancel() },
			wantErr: context.Canceled,
		},
		{
			name: "deadline exceeded",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Second) // bubble time
			},
			wantErr: context.DeadlineExceeded,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := NewContent(1 << 20)
				k := Key{"nb", 1}
				want := []byte("shared")
				release := make(chan struct{})
				var loads atomic.Int32
				var loadCtxErr error
				var loadCtxVal any
				load := func(ctx context.Context) ([]byte, error) {
					loads.Add(1)
					<-release
					loadCtxErr, loadCtxVal = ctx.Err(), ctx.Value(ctxKey{})
					return want, nil
				}

				// The first caller starts the load with its ctx, then gives up.
				ctxA, cancelA := tc.ctx()
				defer cancelA()
				ctxA = context.WithValue(ctxA, ctxKey{}, "first")
				errA := make(chan error, 1)
				go func() {
					_, err := c.GetOrLoad(ctxA, k, load)
					errA <- err
				}()
				synctest.Wait()

				var gotB []byte
				var errB error
				doneB := make(chan struct{})
				go func() {
					gotB, errB = c.GetOrLoad(context.Background(), k, load)
					close(doneB)
				}()
				synctest.Wait()

				if tc.giveUp != nil {
					tc.giveUp(cancelA)
				}
				if err := <-errA; !errors.Is(err, tc.wantErr) {
					t.Fatalf("first caller err = %v, want %v", err, tc.wantErr)
				}
				synctest.Wait()
				select {
				case <-doneB:
					t.Fatal("second caller returned before the load finished")
				default:
				}

				close(release)
				<-doneB
				if errB != nil || string(gotB) != "shared" {
					t.Errorf("second caller got %q, %v", gotB, errB)
				}
				if loadCtxErr != nil {
					t.Errorf("load ctx ended with %v after the first caller gave up", loadCtxErr)
				}
				if loadCtxVal != "first" {
					t.Errorf("load ctx value = %v, want the first caller's", loadCtxVal)
				}
				if n := loads.Load(); n != 1 {
					t.Errorf("load called %d times, want 1", n)
				}
				if _, ok := c.Get(k); !ok {
					t.Errorf("loaded value not cached")
				}
			})
		})
	}
}

func TestGetOrLoadRetriesFailedLoad(t *testing.T) {
	c := NewContent(1 << 20)
	k := Key{"nb", 7}
	errBoom := errors.New("boom")
	calls := 0
	load := func(ctx context.Context) ([]byte, error) {
		calls++
		if calls == 1 {
			return nil, errBoom
		}
		return []byte("ok"), nil
	}

	if _, err := c.GetOrLoad(context.Background(), k, load); !errors.Is(err, errBoom) {
		t.Fatalf("first call err = %v, want %v", err, errBoom)
	}
	if s := c.Stats(); s.Entries != 0 {
		t.Fatalf("failed load cached: %+v", s)
	}
	for i := range 2 {
		v, err := c.GetOrLoad(context.Background(), k, load)
		if err != nil || string(v) != "ok" {
			t.Fatalf("call %d: got %q, %v", i+2, v, err)
		}
	}
	if calls != 2 {
		t.Errorf("load called %d times, want 2 (one failure, one success, then a hit)", calls)
	}
}

func TestGetOrLoadSequential(t *testing.T) {
	errNoCall := errors.New("load must not be called")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		max       int64
		preload   bool
		ctx       context.Context
		wantErr   error
		wantLoads int
	}{
		{name: "hit does not load", max: 1 << 20, preload: true, ctx: context.Background()},
		{name: "miss loads", max: 1 << 20, ctx: context.Background(), wantLoads: 1},
		{name: "oversize value is returned uncached", max: 8, ctx: context.Background(), wantLoads: 1},
		{name: "canceled ctx does not start a load", max: 1 << 20, ctx: canceled, wantErr: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewContent(tc.max)
			k := Key{"nb", 1}
			if tc.preload {
				c.Add(k, []byte("value"))
			}
			loads := 0
			v, err := c.GetOrLoad(tc.ctx, k, func(ctx context.Context) ([]byte, error) {
				loads++
				if tc.preload {
					return nil, errNoCall
				}
				return []byte("value"), nil
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && string(v) != "value" {
				t.Errorf("value = %q", v)
			}
			if loads != tc.wantLoads {
				t.Errorf("loads = %d, want %d", loads, tc.wantLoads)
			}
			checkInvariants(t, c)
		})
	}
}
