package cache

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// unit is the accounted size of a 100-byte value.
const unit = 100 + entryOverhead

// valOf returns a value whose accounted size is units units plus extra
// bytes, or just the overhead plus extra bytes when units is 0.
func valOf(units, extra int) []byte {
	if units > 0 {
		extra += units*unit - entryOverhead
	}
	return make([]byte, extra)
}

func key(id string) Key { return Key{ID: id, Version: 1} }

// checkInvariants verifies the byte counter and the id index against the
// list itself.
func checkInvariants(t *testing.T, c *Content) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum int64
	index := 0
	for _, k := range c.lru.Keys() {
		v, _ := c.lru.Peek(k)
		sum += sizeOf(v)
		if _, ok := c.byID[k.ID][k.Version]; !ok {
			t.Errorf("key %v missing from id index", k)
		}
	}
	for _, vs := range c.byID {
		if len(vs) == 0 {
			t.Errorf("empty id set left in index")
		}
		index += len(vs)
	}
	if sum != c.bytes {
		t.Errorf("bytes counter = %d, entries sum to %d", c.bytes, sum)
	}
	if c.bytes > c.maxBytes {
		t.Errorf("bytes %d over max %d", c.bytes, c.maxBytes)
	}
	if index != c.lru.Len() {
		t.Errorf("id index holds %d keys, lru %d", index, c.lru.Len())
	}
}

func lruKeys(c *Content) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, k := range c.lru.Keys() { // oldest first
		ids = append(ids, k.ID)
	}
	return ids
}

func TestContentEvictionAndAccounting(t *testing.T) {
	type op struct {
		do     string // "add", "get", "remove"
		id     string
		units  int
		extra  int  // bytes beyond units
		reject bool // add: expect false
	}
	add := func(id string, units int) op { return op{do: "add", id: id, units: units} }
	tests := []struct {
		name          string
		max           int64
		ops           []op
		wantKeys      []string // oldest first
		wantBytes     int64
		wantEvictions int64
	}{
		{
			name:      "fills without eviction",
			max:       3 * unit,
			ops:       []op{add("a", 1), add("b", 1), add("c", 1)},
			wantKeys:  []string{"a", "b", "c"},
			wantBytes: 3 * unit,
		},
		{
			name:          "evicts the oldest",
			max:           3 * unit,
			ops:           []op{add("a", 1), add("b", 1), add("c", 1), add("d", 1)},
			wantKeys:      []string{"b", "c", "d"},
			wantBytes:     3 * unit,
			wantEvictions: 1,
		},
		{
			name:          "get refreshes recency",
			max:           3 * unit,
			ops:           []op{add("a", 1), add("b", 1), add("c", 1), {do: "get", id: "a"}, add("d", 1)},
			wantKeys:      []string{"c", "a", "d"},
			wantBytes:     3 * unit,
			wantEvictions: 1,
		},
		{
			name:          "evicts as many as needed for a large value",
			max:           3 * unit,
			ops:           []op{add("a", 1), add("b", 1), add("c", 1), add("d", 2)},
			wantKeys:      []string{"c", "d"},
			wantBytes:     3 * unit,
			wantEvictions: 2,
		},
		{
			name:          "value of exactly max evicts everything else",
			max:           3 * unit,
			ops:           []op{add("a", 1), add("b", 1), add("c", 3)},
			wantKeys:      []string{"c"},
			wantBytes:     3 * unit,
			wantEvictions: 2,
		},
		{
			name:          "replace oldest with larger evicts others, not itself",
			max:           3 * unit,
			ops:           []op{add("a", 1), add("b", 1), add("c", 1), add("a", 2)},
			wantKeys:      []string{"c", "a"},
			wantBytes:     3 * unit,
			wantEvictions: 1,
		},
		{
			name:      "replace with larger that still fits",
			max:       4 * unit,
			ops:       []op{add("a", 1), add("b", 1), add("a", 2)},
			wantKeys:  []string{"b", "a"},
			wantBytes: 3 * unit,
		},
		{
			name:      "replace sole entry with one of max size",
			max:       3 * unit,
			ops:       []op{add("a", 1), add("a", 3)},
			wantKeys:  []string{"a"},
			wantBytes: 3 * unit,
		},
		{
			name:      "replace with smaller frees bytes",
			max:       3 * unit,
			ops:       []op{add("a", 2), add("b", 1), {do: "add", id: "a", units: 0, extra: 10}},
			wantKeys:  []string{"b", "a"},
			wantBytes: unit + entryOverhead + 10, // b, then a at 10 bytes
		},
		{
			name:      "replace with same size",
			max:       3 * unit,
			ops:       []op{add("a", 1), add("b", 1), add("a", 1)},
			wantKeys:  []string{"b", "a"},
			wantBytes: 2 * unit,
		},
		{
			name:      "oversize value is rejected",
			max:       3 * unit,
			ops:       []op{add("a", 1), {do: "add", id: "b", units: 3, extra: 1, reject: true}},
			wantKeys:  []string{"a"},
			wantBytes: unit,
		},
		{
			name:      "oversize replacement drops the old value",
			max:       3 * unit,
			ops:       []op{add("a", 1), add("b", 1), {do: "add", id: "a", units: 3, extra: 1, reject: true}},
			wantKeys:  []string{"b"},
			wantBytes: unit,
		},
		{
			name:      "remove frees bytes",
			max:       3 * unit,
			ops:       []op{add("a", 1), add("b", 2), {do: "remove", id: "b"}, {do: "remove", id: "zz"}},
			wantKeys:  []string{"a"},
			wantBytes: unit,
		},
		{
			name:     "zero max disables caching",
			max:      0,
			ops:      []op{{do: "add", id: "a", units: 0, reject: true}},
			wantKeys: nil,
		},
		{
			name:     "negative max disables caching",
			max:      -5,
			ops:      []op{{do: "add", id: "a", units: 1, reject: true}},
			wantKeys: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewContent(tc.max)
			for i, o := range tc.ops {
				switch o.do {
				case "add":
					if got := c.Add(key(o.id), valOf(o.units, o.extra)); got != !o.reject {
						t.Fatalf("op %d: Add(%s) = %v, want %v", i, o.id, got, !o.reject)
					}
				case "get":
					c.Get(key(o.id))
				case "remove":
					c.Remove(key(o.id))
				}
				checkInvariants(t, c)
			}
			if got := lruKeys(c); !slices.Equal(got, tc.wantKeys) {
				t.Errorf("keys = %v, want %v", got, tc.wantKeys)
			}
			s := c.Stats()
			if s.Bytes != tc.wantBytes {
				t.Errorf("Bytes = %d, want %d", s.Bytes, tc.wantBytes)
			}
			if s.Entries != int64(len(tc.wantKeys)) {
				t.Errorf("Entries = %d, want %d", s.Entries, len(tc.wantKeys))
			}
			if s.Evictions != tc.wantEvictions {
				t.Errorf("Evictions = %d, want %d", s.Evictions, tc.wantEvictions)
			}
			if s.MaxBytes != max(tc.max, 0) {
				t.Errorf("MaxBytes = %d, want %d", s.MaxBytes, max(tc.max, 0))
			}
		})
	}
}

func TestContentGetReturnsStoredBytes(t *testing.T) {
	c := NewContent(1 << 20)
	v := []byte("notebook")
	c.Add(Key{"x", 1}, v)
	got, ok := c.Get(Key{"x", 1})
	if !ok || string(got) != "notebook" {
		t.Fatalf("Get = %q, %v", got, ok)
	}
	if &got[0] != &v[0] {
		t.Errorf("Get copied the value; it should share it")
	}
	if _, ok := c.Get(Key{"x", 2}); ok {
		t.Errorf("another version of the same id hit")
	}
}

func TestContentRemoveID(t *testing.T) {
	c := NewContent(1 << 20)
	for _, k := range []Key{{"x", 1}, {"x", 2}, {"x", 3}, {"y", 1}, {"xy", 1}} {
		c.Add(k, valOf(1, 0))
	}
	c.RemoveID("x")
	checkInvariants(t, c)
	for _, k := range []Key{{"x", 1}, {"x", 2}, {"x", 3}} {
		if _, ok := c.Get(k); ok {
			t.Errorf("%v still cached after RemoveID", k)
		}
	}
	for _, k := range []Key{{"y", 1}, {"xy", 1}} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%v dropped by RemoveID(x)", k)
		}
	}
	if s := c.Stats(); s.Bytes != 2*unit || s.Entries != 2 || s.Evictions != 0 {
		t.Errorf("Stats = %+v, want 2 entries of %d bytes, no evictions", s, 2*unit)
	}
	c.RemoveID("absent") // no-op
	checkInvariants(t, c)
}

func TestContentStats(t *testing.T) {
	c := NewContent(2 * unit)
	c.Add(key("a"), valOf(1, 0))
	c.Get(key("a"))
	c.Get(key("a"))
	c.Get(key("b"))
	c.Add(key("b"), valOf(1, 0))
	c.Add(key("c"), valOf(1, 0))
	want := ContentStats{Hits: 2, Misses: 1, Evictions: 1, Bytes: 2 * unit, Entries: 2, MaxBytes: 2 * unit}
	if got := c.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestContentConcurrent(t *testing.T) {
	c := NewContent(8 * unit)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 2000 {
				k := Key{ID: fmt.Sprint(r.IntN(4)), Version: r.Int64N(4)}
				switch r.IntN(10) {
				case 0:
					c.RemoveID(k.ID)
				case 1:
					c.Remove(k)
				case 2, 3, 4:
					c.Add(k, valOf(r.IntN(3), r.IntN(50)))
				default:
					c.Get(k)
				}
			}
		})
	}
	wg.Wait()
	checkInvariants(t, c)
}

func BenchmarkContentGet(b *testing.B) {
	c := NewContent(64 << 20)
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = Key{ID: fmt.Sprint("nb-", i), Version: 1}
		c.Add(keys[i], make([]byte, 4096))
	}
	i := 0
	for b.Loop() {
		c.Get(keys[i%len(keys)])
		i++
	}
}

func BenchmarkContentGetParallel(b *testing.B) {
	c := NewContent(64 << 20)
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = Key{ID: fmt.Sprint("nb-", i), Version: 1}
		c.Add(keys[i], make([]byte, 4096))
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get(keys[i%len(keys)])
			i++
		}
	})
}

// BenchmarkContentAdd adds more than fits, so most Adds also evict.
func BenchmarkContentAdd(b *testing.B) {
	c := NewContent(1 << 20)
	keys := make([]Key, 4096)
	for i := range keys {
		keys[i] = Key{ID: fmt.Sprint("nb-", i%512), Version: int64(i)}
	}
	v := make([]byte, 4096)
	i := 0
	for b.Loop() {
		c.Add(keys[i%len(keys)], v)
		i++
	}
}
