// Package cache holds notebookfs's caches, and only caches: Content, a
// byte-bounded LRU of notebook bytes keyed by (id, version) that merges
// concurrent downloads; Disk, the on-disk tier for large notebooks; Meta,
// a TTL cache of metadata with negative entries and an injected clock; and
// Store, which picks the tier for a notebook and downloads it, so that the
// file system asks for a version and never builds loaders.
//
// Content and Meta wrap golang-lru's simplelru under their own mutex rather than using
// lru.Cache or expirable.LRU: the byte counter must be updated atomically
// with the list, and expirable.LRU cannot take a clock and leaks a sweeper
// goroutine. Nothing here starts a goroutine of its own.
//
// The package knows nothing about FUSE.
package cache
