// Package cache holds notebookfs's bounded in-memory caches: Content, a
// byte-bounded LRU of notebook bytes keyed by (id, version) that merges
// concurrent downloads, and Meta, a TTL cache of metadata with negative
// entries and an injected clock.
//
// Both wrap golang-lru's simplelru under their own mutex rather than using
// lru.Cache or expirable.LRU: the byte counter must be updated atomically
// with the list, and expirable.LRU cannot take a clock and leaks a sweeper
// goroutine. Nothing here starts a goroutine of its own.
//
// The package knows nothing about FUSE.
package cache
