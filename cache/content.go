package cache

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"
)

// entryOverhead is charged per entry on top of the value's length, so that
// many tiny notebooks cannot hold unbounded memory in keys, list elements and
// map slots.
const entryOverhead = 128

// maxLRUEntries caps the entry count handed to simplelru, which insists on
// one; the byte bound is the one that matters.
const maxLRUEntries = 1 << 30

// Key identifies one version of one notebook's content. A new version gets a
// new key, so cached bytes never need to be checked for staleness.
type Key struct {
	ID      string // notebook UUID
	Version int64  // version time in unix milliseconds
}

// NewKey builds the Key of the notebook version saved at t.
func NewKey(id string, t time.Time) Key { return Key{ID: id, Version: t.UnixMilli()} }

// ContentStats is a snapshot of a Content's counters.
type ContentStats struct {
	Hits, Misses, Evictions int64
	Bytes, Entries          int64 // current use, overhead included in Bytes
	MaxBytes                int64
}

// Content is a byte-bounded LRU of notebook bytes, safe for concurrent use.
//
// Byte slices handed to Add and returned by Get and GetOrLoad are shared with
// the cache and with other callers: nobody may modify them.
type Content struct {
	mu        sync.Mutex
	lru       *simplelru.LRU[Key, []byte]   // guarded by mu
	byID      map[string]map[int64]struct{} // versions held per id, guarded by mu
	bytes     int64                         // guarded by mu
	hits      int64                         // guarded by mu
	misses    int64                         // guarded by mu
	evictions int64                         // guarded by mu
	maxBytes  int64                         // immutable

	flight singleflight.Group
}

// NewContent returns a cache holding at most maxBytes, each entry counted as
// its length plus a small fixed overhead. maxBytes <= 0 disables caching, but
// GetOrLoad still merges concurrent loads.
func NewContent(maxBytes int64) *Content {
	maxBytes = max(maxBytes, 0)
	c := &Content{maxBytes: maxBytes, byID: make(map[string]map[int64]struct{})}
	// Every entry costs at least entryOverhead, so this count is never the
	// binding limit (short of the cap).
	n := int(min(maxBytes/entryOverhead+1, maxLRUEntries))
	lru, err := simplelru.NewLRU(n, c.onEvict)
	if err != nil {
		panic(err) // only for n <= 0, which cannot happen
	}
	c.lru = lru
	return c
}

func sizeOf(v []byte) int64 { return int64(len(v)) + entryOverhead }

// onEvict keeps the byte counter and the id index in step with the list. It
// runs synchronously inside simplelru's Add, Remove and RemoveOldest, so
// under c.mu: it must not call back into c. simplelru does not call it when
// Add replaces an existing key; Add accounts for that itself.
func (c *Content) onEvict(k Key, v []byte) {
	c.bytes -= sizeOf(v)
	if vs := c.byID[k.ID]; vs != nil {
		delete(vs, k.Version)
		if len(vs) == 0 {
			delete(c.byID, k.ID)
		}
	}
}

// Get returns the bytes cached under k, counting a hit or a miss.
func (c *Content) Get(k Key) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.lru.Get(k)
	if ok {
		c.hits++
	} else {
		c.misses++
	}
	return v, ok
}

// Peek is Get without touching the counters or the recency order (for
// prefetch, which must not count as a reader).
func (c *Content) Peek(k Key) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Peek(k)
}

// Add caches v under k, evicting the least recently used entries until it
// fits, and reports whether v was cached. A value larger than the whole cache
// is not cached, and drops any older value under k. The cache keeps v: the
// caller must not modify it afterwards.
func (c *Content) Add(k Key, v []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	size := sizeOf(v)
	if size > c.maxBytes {
		c.lru.Remove(k)
		return false
	}
	delta := size
	if old, ok := c.lru.Peek(k); ok {
		// simplelru replaces an existing value without calling onEvict, so
		// account for the old size here. Touch k first so the loop below
		// evicts everything else before it; it never reaches k, because k
		// alone plus delta is size <= maxBytes.
		delta -= sizeOf(old)
		c.lru.Get(k)
	}
	for c.bytes+delta > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
		c.evictions++
	}
	if c.lru.Add(k, v) { // the entry-count cap, in theory only
		c.evictions++
	}
	c.bytes += delta
	vs := c.byID[k.ID]
	if vs == nil {
		vs = make(map[int64]struct{})
		c.byID[k.ID] = vs
	}
	vs[k.Version] = struct{}{}
	return true
}

// Remove drops k if cached.
func (c *Content) Remove(k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(k)
}

// RemoveID drops every cached version of notebook id, for when it is deleted
// or overwritten.
func (c *Content) RemoveID(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ver := range c.byID[id] { // onEvict deletes from the map: allowed
		c.lru.Remove(Key{ID: id, Version: ver})
	}
}

// Stats returns a snapshot of the counters.
func (c *Content) Stats() ContentStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ContentStats{
		Hits:      c.hits,
		Misses:    c.misses,
		Evictions: c.evictions,
		Bytes:     c.bytes,
		Entries:   int64(c.lru.Len()),
		MaxBytes:  c.maxBytes,
	}
}
