package cache

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// DefaultMetaEntries bounds a Meta built with maxEntries <= 0.
const DefaultMetaEntries = 10000

// Entry is what Meta.Get reports about a key.
type Entry[V any] struct {
	Value    V
	Negative bool      // the key is known not to exist; Value is the zero V
	Fresh    bool      // within its TTL; a stale entry may be served while revalidating
	Stored   time.Time // when it was put, by the cache's clock
}

type metaEntry[V any] struct {
	value    V
	negative bool
	stored   time.Time
	expires  time.Time
}

// Meta caches metadata (stats, listings) for a TTL, and the absence of a key
// (negative entries) for a separate, usually shorter, TTL. It is bounded by
// entry count, evicting the least recently used, and safe for concurrent use.
//
// Expiry is kept in each entry and checked against the injected clock on
// Get, so tests advance a fake clock instead of sleeping and no goroutine
// sweeps in the background. Stale positive entries stay until evicted or
// invalidated, so callers can serve them while they revalidate.
type Meta[K comparable, V any] struct {
	mu     sync.Mutex
	lru    *simplelru.LRU[K, metaEntry[V]] // guarded by mu
	ttl    time.Duration
	negTTL time.Duration
	now    func() time.Time
}

// NewMeta returns a Meta keeping positive entries fresh for ttl and negative
// ones for negativeTTL, holding at most maxEntries (DefaultMetaEntries if
// <= 0). A ttl <= 0 makes every entry stale at once; a negativeTTL <= 0
// disables negative caching. now is the clock; nil means time.Now.
func NewMeta[K comparable, V any](ttl, negativeTTL time.Duration, maxEntries int, now func() time.Time) *Meta[K, V] {
	if maxEntries <= 0 {
		maxEntries = DefaultMetaEntries
	}
	if now == nil {
		now = time.Now
	}
	lru, err := simplelru.NewLRU[K, metaEntry[V]](maxEntries, nil)
	if err != nil {
		panic(err) // only for maxEntries <= 0, excluded above
	}
	return &Meta[K, V]{lru: lru, ttl: ttl, negTTL: negativeTTL, now: now}
}

// Get returns the entry for k. Positive entries are returned even when
// expired, with Fresh false; expired negative entries are dropped and
// reported as absent, since a stale "does not exist" is worth nothing.
func (m *Meta[K, V]) Get(k K) (Entry[V], bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lru.Get(k)
	if !ok {
		return Entry[V]{}, false
	}
	fresh := m.now().Before(e.expires)
	if e.negative && !fresh {
		m.lru.Remove(k)
		return Entry[V]{}, false
	}
	return Entry[V]{Value: e.value, Negative: e.negative, Fresh: fresh, Stored: e.stored}, true
}

// Put stores v under k, replacing any entry, negative or not.
func (m *Meta[K, V]) Put(k K, v V) {
	m.PutAt(k, v, m.now())
}

// PutAt stores v as known at time at: a value fetched by a request is as
// old as the request's start, however long its answer took.
func (m *Meta[K, V]) PutAt(k K, v V, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Add(k, metaEntry[V]{value: v, stored: at, expires: at.Add(m.ttl)})
}

// Edit replaces the value of a positive entry of k and keeps when it was
// stored and when it expires: our own change to a listing does not make
// the rest of it any fresher. It reports false (and does nothing) when k
// has no positive entry.
func (m *Meta[K, V]) Edit(k K, v V) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lru.Get(k)
	if !ok || e.negative {
		return false
	}
	e.value = v
	m.lru.Add(k, e)
	return true
}

// PutNegative records that k does not exist, replacing any entry.
func (m *Meta[K, V]) PutNegative(k K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.negTTL <= 0 {
		m.lru.Remove(k) // whatever was known about k is wrong now
		return
	}
	now := m.now()
	m.lru.Add(k, metaEntry[V]{negative: true, stored: now, expires: now.Add(m.negTTL)})
}

// Invalidate drops k, for when we changed it ourselves.
func (m *Meta[K, V]) Invalidate(k K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(k)
}

// InvalidateIf drops every key for which match returns true, for example all
// entries of one namespace. match runs under the cache's lock and must not
// call back into m.
func (m *Meta[K, V]) InvalidateIf(match func(K) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.lru.Keys() {
		if match(k) {
			m.lru.Remove(k)
		}
	}
}

// Len returns the number of entries held, expired ones included until they
// are evicted or found expired by Get.
func (m *Meta[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}
