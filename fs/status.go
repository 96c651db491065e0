package fs

import (
	"time"

	"notebookfs/fs/save"
)

// Status is what `notebookfs status` shows.
type Status struct {
	Uploads        save.Stats   `json:"uploads"`
	CorruptEntries int          `json:"corrupt_journal_entries"`
	Cache          *CacheStatus `json:"cache,omitempty"`
	DiskCache      *CacheStatus `json:"disk_cache,omitempty"`
	Prefetched     int64        `json:"prefetched_bytes"`
	// UnsavedFiles hold changes that could not be journaled (local disk
	// full or failing) or whose save the remote refused.
	UnsavedFiles int64     `json:"unsaved_files"`
	Since        time.Time `json:"mounted_since"`
}

// CacheStatus are a content cache's figures.
type CacheStatus struct {
	Bytes     int64 `json:"bytes"`
	MaxBytes  int64 `json:"max_bytes"`
	Entries   int64 `json:"entries"`
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Evictions int64 `json:"evictions"`
}

// Status reports the mount's state.
func (f *FS) Status() Status {
	c := f.store.Stats()
	s := Status{Uploads: f.saver.Stats(), CorruptEntries: f.saver.Corrupt(), Prefetched: c.Prefetched,
		UnsavedFiles: f.unsaved.Load(), Since: f.started.UTC()}
	if m := c.Memory; m.MaxBytes > 0 {
		s.Cache = &CacheStatus{Bytes: m.Bytes, MaxBytes: m.MaxBytes, Entries: m.Entries, Hits: m.Hits, Misses: m.Misses, Evictions: m.Evictions}
	}
	if d := c.Disk; d != nil {
		s.DiskCache = &CacheStatus{Bytes: d.Bytes, MaxBytes: d.MaxBytes, Entries: d.Entries, Hits: d.Hits, Misses: d.Misses, Evictions: d.Evictions}
	}
	return s
}
