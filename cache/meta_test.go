package cache

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is advanced by tests; nothing here sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	testTTL    = 10 * time.Second
	testNegTTL = 5 * time.Second
)

func TestMetaExpiry(t *testing.T) {
	tests := []struct {
		name      string
		negative  bool
		advance   time.Duration
		wantOK    bool
		wantFresh bool
	}{
		{"positive just stored", false, 0, true, true},
		{"positive just before ttl", false, testTTL - time.Millisecond, true, true},
		{"positive at ttl is stale", false, testTTL, true, false},
		{"positive long expired is served stale", false, time.Hour, true, false},
		{"negative just stored", true, 0, true, true},
		{"negative just before negative ttl", true, testNegTTL - time.Millisecond, true, true},
		{"negative at negative ttl is absent", true, testNegTTL, false, false},
		{"negative does not live to the positive ttl", true, testTTL - time.Millisecond, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			m := NewMeta[string, int](testTTL, testNegTTL, 10, clk.Now)
			stored := clk.Now()
			if tc.negative {
				m.PutNegative("k")
			} else {
				m.Put("k", 7)
			}
			clk.Advance(tc.advance)

			e, ok := m.Get("k")
			if ok != tc.wantOK {
				t.Fatalf("Get ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				if e != (Entry[int]{}) {
					t.Errorf("absent entry = %+v, want zero", e)
				}
				if n := m.Len(); n != 0 {
					t.Errorf("expired negative entry still held: Len = %d", n)
				}
				return
			}
			want := Entry[int]{Value: 7, Negative: tc.negative, Fresh: tc.wantFresh, Stored: stored}
			if tc.negative {
				want.Value = 0
			}
			if !e.Stored.Equal(want.Stored) || e.Value != want.Value || e.Negative != want.Negative || e.Fresh != want.Fresh {
				t.Errorf("Get = %+v, want %+v", e, want)
			}
		})
	}
}

func TestMetaReplace(t *testing.T) {
	tests := []struct {
		name         string
		ops          func(m *Meta[string, int], clk *fakeClock)
		wantOK       bool
		wantNegative bool
		wantValue    int
		wantFresh    bool
	}{
		{
			name:      "put replaces negative",
			ops:       func(m *Meta[string, int], _ *fakeClock) { m.PutNegative("k"); m.Put("k", 1) },
			wantOK:    true,
			wantValue: 1,
			wantFresh: true,
		},
		{
			name:         "negative replaces put",
			ops:          func(m *Meta[string, int], _ *fakeClock) { m.Put("k", 1); m.PutNegative("k") },
			wantOK:       true,
			wantNegative: true,
			wantFresh:    true,
		},
		{
			name: "put refreshes a stale entry",
			ops: func(m *Meta[string, int], clk *fakeClock) {
				m.Put("k", 1)
				clk.Advance(testTTL)
				m.Put("k", 2)
			},
			wantOK:    true,
			wantValue: 2,
			wantFresh: true,
		},
		{
			name:   "invalidate drops positive",
			ops:    func(m *Meta[string, int], _ *fakeClock) { m.Put("k", 1); m.Invalidate("k") },
			wantOK: false,
		},
		{
			name:   "invalidate drops negative",
			ops:    func(m *Meta[string, int], _ *fakeClock) { m.PutNegative("k"); m.Invalidate("k") },
			wantOK: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			m := NewMeta[string, int](testTTL, testNegTTL, 10, clk.Now)
			tc.ops(m, clk)
			e, ok := m.Get("k")
			if ok != tc.wantOK || e.Negative != tc.wantNegative || e.Value != tc.wantValue || (ok && e.Fresh != tc.wantFresh) {
				t.Errorf("Get = %+v, %v; want ok=%v negative=%v value=%d fresh=%v",
					e, ok, tc.wantOK, tc.wantNegative, tc.wantValue, tc.wantFresh)
			}
		})
	}
}

func TestMetaDisabledTTLs(t *testing.T) {
	clk := newFakeClock()
	m := NewMeta[string, int](0, 0, 10, clk.Now)
	m.Put("k", 1)
	if e, ok := m.Get("k"); !ok || e.Fresh {
		t.Errorf("ttl 0: Get = %+v, %v; want a stale entry", e, ok)
	}
	m.PutNegative("k")
	if e, ok := m.Get("k"); ok {
		t.Errorf("negative ttl 0: Get = %+v, want absent (and the positive entry dropped)", e)
	}
	if n := m.Len(); n != 0 {
		t.Errorf("Len = %d, want 0", n)
	}
}

func TestMetaInvalidateIf(t *testing.T) {
	clk := newFakeClock()
	m := NewMeta[string, string](testTTL, testNegTTL, 100, clk.Now)
	for _, k := range []string{"alice/a", "alice/b", "bob/a", "alice2/c"} {
		m.Put(k, k)
	}
	m.PutNegative("alice/missing")
	m.InvalidateIf(func(k string) bool { return strings.HasPrefix(k, "alice/") })
	var left []string
	for _, k := range []string{"alice/a", "alice/b", "alice/missing", "bob/a", "alice2/c"} {
		if _, ok := m.Get(k); ok {
			left = append(left, k)
		}
	}
	if want := []string{"bob/a", "alice2/c"}; !slices.Equal(left, want) {
		t.Errorf("left = %v, want %v", left, want)
	}
	if m.Len() != 2 {
		t.Errorf("Len = %d, want 2", m.Len())
	}
}

func TestMetaLRUBound(t *testing.T) {
	clk := newFakeClock()
	m := NewMeta[string, int](testTTL, testNegTTL, 3, clk.Now)
	m.Put("a", 1)
	m.Put("b", 2)
	m.PutNegative("c")
	m.Get("a") // a is now the most recently used
	m.Put("d", 4)
	if n := m.Len(); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
	m.mu.Lock()
	keys := m.lru.Keys()
	m.mu.Unlock()
	if want := []string{"c", "a", "d"}; !slices.Equal(keys, want) {
		t.Errorf("keys (oldest first) = %v, want %v", keys, want)
	}
	if _, ok := m.Get("b"); ok {
		t.Errorf("least recently used entry b survived")
	}
}

func TestMetaDefaults(t *testing.T) {
	m := NewMeta[int, int](time.Hour, time.Hour, 0, nil) // real clock, default bound
	m.Put(1, 1)
	if e, ok := m.Get(1); !ok || !e.Fresh || e.Stored.IsZero() {
		t.Errorf("Get = %+v, %v; want a fresh entry", e, ok)
	}
	for i := range DefaultMetaEntries + 1 {
		m.Put(i+2, i)
	}
	if n := m.Len(); n != DefaultMetaEntries {
		t.Errorf("Len = %d, want the default bound %d", n, DefaultMetaEntries)
	}
}

func TestMetaConcurrent(t *testing.T) {
	clk := newFakeClock()
	m := NewMeta[string, int](testTTL, testNegTTL, 16, clk.Now)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				k := fmt.Sprint((g + i) % 24)
				switch i % 7 {
				case 0:
					m.PutNegative(k)
				case 1:
					m.Invalidate(k)
				case 2:
					m.InvalidateIf(func(s string) bool { return s == k })
				case 3:
					clk.Advance(time.Second)
				case 4:
					m.Len()
				default:
					m.Put(k, i)
					m.Get(k)
				}
			}
		})
	}
	wg.Wait()
	if n := m.Len(); n > 16 {
		t.Errorf("Len = %d over the bound", n)
	}
}

// Edit keeps an entry's age; PutAt dates it by the request's start.
func TestMetaEditAndPutAt(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMeta[string, int](10*time.Second, 0, 0, func() time.Time { return now })
	if m.Edit("k", 1) {
		t.Fatal("Edit of a missing key")
	}
	m.PutAt("k", 1, now.Add(-8*time.Second))
	now = now.Add(time.Second)
	if !m.Edit("k", 2) {
		t.Fatal("Edit of a present key")
	}
	e, _ := m.Get("k")
	if e.Value != 2 || !e.Fresh || !e.Stored.Equal(time.Unix(992, 0)) {
		t.Fatalf("after Edit: %+v", e)
	}
	now = now.Add(time.Second + time.Millisecond)
	if e, _ := m.Get("k"); e.Fresh {
		t.Fatalf("Edit extended the TTL: %+v", e)
	}
}
