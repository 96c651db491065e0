package cache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"notebookfs/remote"
)

// StoreOptions configure a Store.
type StoreOptions struct {
	Client remote.Client
	// Content holds notebooks in memory; nil: every read goes to the
	// remote (concurrent readers still share one download).
	Content *Content
	// Disk holds notebooks larger than DiskThreshold (default 8 MiB, never
	// more than a quarter of Content) on local disk instead, streamed as
	// they arrive. Nil: every notebook goes through Content.
	Disk          *Disk
	DiskThreshold int64
	// CallTimeout is the deadline of one remote call (default 60 s); a
	// download to the disk cache gets 1 s more per MiB.
	CallTimeout time.Duration
}

// Store is where the file system gets notebook contents: it chooses the
// tier (memory or disk) by size and downloads what is not cached, so that
// no caller builds loaders of its own.
type Store struct {
	o      StoreOptions
	ctx    context.Context // downloads shared by several readers outlive each
	cancel context.CancelFunc

	prefetched atomic.Int64
}

const defaultDiskThreshold = 8 << 20

// maxInMemory bounds one notebook held in memory for reading.
const maxInMemory = 4 << 30

// firstAlloc bounds what a download sets aside before its bytes arrive.
const firstAlloc = 8 << 20

// NewStore returns a Store.
func NewStore(o StoreOptions) *Store {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 60 * time.Second
	}
	if o.Content == nil {
		o.Content = NewContent(0)
	}
	if o.DiskThreshold <= 0 {
		o.DiskThreshold = defaultDiskThreshold
	}
	if m := o.Content.Stats().MaxBytes / 4; m > 0 {
		o.DiskThreshold = min(o.DiskThreshold, m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{o: o, ctx: ctx, cancel: cancel}
}

// Close stops the downloads under way.
func (s *Store) Close() { s.cancel() }

// Source is one version of a notebook's content, opened for reading.
type Source interface {
	// ReadAt reads like io.ReaderAt, waiting (until ctx ends) for bytes
	// still on their way.
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	Close() error
}

// Bytes is a Source held in memory (shared with the cache: read only).
type Bytes []byte

// ReadAt copies from b.
func (b Bytes) ReadAt(_ context.Context, p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	return copy(p, b[off:]), nil
}

// Close does nothing.
func (Bytes) Close() error { return nil }

// File is a Source on local disk (a save not uploaded yet).
type File struct{ F *os.File }

// ReadAt reads the file.
func (s File) ReadAt(_ context.Context, p []byte, off int64) (int, error) {
	k, err := s.F.ReadAt(p, off)
	if err == io.EOF && k > 0 {
		err = nil
	}
	return k, err
}

// Close closes the file.
func (s File) Close() error { return s.F.Close() }

// Large reports whether a notebook of size bytes is read through the disk.
func (s *Store) Large(size int64) bool { return s.o.Disk != nil && size > s.o.DiskThreshold }

// Open opens the content of the version of notebook ns/id called version
// (the listing's), size bytes: a large notebook from the disk cache,
// streamed as it downloads, else from memory. An empty version needs no
// download (nor the remote).
//
// What is downloaded is the latest content, cached under version: if
// someone saved since the listing, newer bytes land under an older key,
// which is harmless (the next listing names the newer version); older
// bytes never land under a newer key.
func (s *Store) Open(ctx context.Context, ns, id string, version time.Time, size int64) (Source, error) {
	if size == 0 && !version.IsZero() {
		return Bytes{}, nil
	}
	if s.Large(size) {
		f, err := s.o.Disk.Open(s.ctx, NewKey(id, version), size, func(ctx context.Context) (io.ReadCloser, int64, error) {
			return s.download(ctx, ns, id, size)
		})
		if err != nil {
			return nil, err
		}
		return diskSource{f}, nil
	}
	data, err := s.Bytes(ctx, ns, id, version, size)
	if err != nil {
		return nil, err
	}
	return Bytes(data), nil
}

type diskSource struct{ f *DiskFile }

func (d diskSource) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	return d.f.ReadAt(ctx, p, off)
}

func (d diskSource) Close() error { return d.f.Close() }

// Bytes returns the content of a version in memory, whatever its size:
// from the memory cache, else one download shared by concurrent callers.
func (s *Store) Bytes(ctx context.Context, ns, id string, version time.Time, size int64) ([]byte, error) {
	if size == 0 && !version.IsZero() {
		return []byte{}, nil
	}
	return s.o.Content.GetOrLoad(ctx, NewKey(id, version), func(ctx context.Context) ([]byte, error) {
		return s.readAll(ctx, ns, id, time.Time{})
	})
}

// Version returns the content of the version saved at t (history files):
// one Read at that time, then cached like any content.
func (s *Store) Version(ctx context.Context, ns, id string, t time.Time) ([]byte, error) {
	return s.o.Content.GetOrLoad(ctx, NewKey(id, t), func(ctx context.Context) ([]byte, error) {
		return s.readAll(ctx, ns, id, t)
	})
}

// readAll downloads a notebook's bytes (latest when at is zero) under the
// call deadline, checking the length against what the remote announced.
func (s *Store) readAll(ctx context.Context, ns, id string, at time.Time) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, s.o.CallTimeout)
	defer cancel()
	c, err := s.o.Client.Read(cctx, ns, id, at)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if c.Size < 0 || c.Size > maxInMemory {
		return nil, fmt.Errorf("reading %s/%s: %d bytes is more than notebookfs holds in memory (%d)", ns, id, c.Size, int64(maxInMemory))
	}
	// The size is the remote's word: memory grows with the bytes that
	// arrive (one allocation up to firstAlloc), never from the number
	// alone, so a reply announcing gigabytes and sending nothing costs
	// nothing.
	buf := bytes.NewBuffer(make([]byte, 0, min(c.Size, firstAlloc)))
	n, err := io.Copy(buf, io.LimitReader(c, c.Size+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading %s/%s: %w", ns, id, err)
	case n < c.Size:
		return nil, fmt.Errorf("reading %s/%s: %w", ns, id, io.ErrUnexpectedEOF)
	case n > c.Size:
		return nil, fmt.Errorf("reading %s/%s: more than the announced %d bytes", ns, id, c.Size)
	}
	return buf.Bytes(), nil
}

// download opens the latest content for the disk cache, under a deadline
// that grows with its expected size (the call deadline plus 1 s per MiB).
func (s *Store) download(ctx context.Context, ns, id string, size int64) (io.ReadCloser, int64, error) {
	cctx, cancel := context.WithTimeout(ctx, s.o.CallTimeout+time.Duration(size>>20)*time.Second)
	c, err := s.o.Client.Read(cctx, ns, id, time.Time{})
	if err != nil {
		cancel()
		return nil, 0, err
	}
	return cancelCloser{c, cancel}, c.Size, nil
}

type cancelCloser struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelCloser) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Peek returns a version's bytes if memory holds them, without counting a
// hit or making it recent.
func (s *Store) Peek(id string, version time.Time) ([]byte, bool) {
	return s.o.Content.Peek(NewKey(id, version))
}

// Get returns a version's bytes if memory holds them.
func (s *Store) Get(id string, version time.Time) ([]byte, bool) {
	return s.o.Content.Get(NewKey(id, version))
}

// Put keeps data as a version's content in memory (a rename's content).
func (s *Store) Put(id string, version time.Time, data []byte) {
	s.o.Content.Add(NewKey(id, version), data)
}

// Saved keeps what a save just uploaded as the version it became, so that
// reading our own save back costs no download: a large one is linked into
// the disk cache from path, a small one read from it into memory. Those
// that fit neither are not kept.
func (s *Store) Saved(id string, version time.Time, path string, size int64) {
	switch {
	case s.Large(size):
		s.o.Disk.AddFile(NewKey(id, version), path, size)
	case size <= s.o.Content.Stats().MaxBytes/4:
		if data, err := os.ReadFile(path); err == nil && int64(len(data)) == size {
			s.o.Content.Add(NewKey(id, version), data)
		}
	}
}

// RemoveID forgets every cached version of a deleted notebook.
func (s *Store) RemoveID(id string) {
	s.o.Content.RemoveID(id)
	if s.o.Disk != nil {
		s.o.Disk.RemoveID(id)
	}
}

// prefetchParallel bounds concurrent prefetch downloads per listing. A
// cat or grep of a cold folder goes at the prefetch's pace: N notebooks
// take about N / prefetchParallel round trips (10,000 at 50 ms: 8 s).
const prefetchParallel = 64

// PrefetchPlan picks the notebooks of a listing that Prefetch would fetch:
// those not cached yet, in name order (as ls, cat * and grep -r walk a
// folder), while they fit in budget bytes; one larger than what is left is
// skipped, not the rest. Large notebooks are in it too: read one at a time
// when opened, each would cost a round trip more.
func (s *Store) PrefetchPlan(nbs []remote.Notebook, budget int64) []remote.Notebook {
	if budget <= 0 || s.o.Content.Stats().MaxBytes <= 0 {
		return nil
	}
	byName := slices.Clone(nbs)
	slices.SortStableFunc(byName, func(a, b remote.Notebook) int { return strings.Compare(a.Name, b.Name) })
	var todo []remote.Notebook
	for _, nb := range byName {
		if nb.Size <= 0 || nb.Size > budget || nb.Size > maxInMemory {
			continue
		}
		if s.cached(nb) {
			continue
		}
		budget -= nb.Size
		todo = append(todo, nb)
	}
	return todo
}

// cached reports whether a version is in memory, or on disk (or on its
// way there).
func (s *Store) cached(nb remote.Notebook) bool {
	if s.Large(nb.Size) {
		return s.o.Disk.Has(NewKey(nb.ID, nb.Version))
	}
	_, ok := s.Peek(nb.ID, nb.Version)
	return ok
}

// Prefetch downloads notebooks of namespace ns into their tiers, a few at
// a time, and returns the bytes fetched: reading a whole cold namespace
// (grep -r, a Jupyter file browser) does not pay one round trip per file
// in sequence.
func (s *Store) Prefetch(ctx context.Context, ns string, todo []remote.Notebook) int64 {
	sem := make(chan struct{}, prefetchParallel)
	var wg sync.WaitGroup
	var fetched atomic.Int64
	for _, nb := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return fetched.Load()
		}
		wg.Add(1)
		go func(nb remote.Notebook) {
			defer func() { <-sem; wg.Done() }()
			if err := s.fetch(ctx, ns, nb); err == nil {
				fetched.Add(nb.Size)
				s.prefetched.Add(nb.Size)
			}
		}(nb)
	}
	wg.Wait()
	return fetched.Load()
}

// fetch downloads one notebook into its tier: memory, or for a large one
// the disk cache, waiting until its last byte has arrived.
func (s *Store) fetch(ctx context.Context, ns string, nb remote.Notebook) error {
	if !s.Large(nb.Size) {
		_, err := s.Bytes(ctx, ns, nb.ID, nb.Version, nb.Size)
		return err
	}
	src, err := s.Open(ctx, ns, nb.ID, nb.Version, nb.Size)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = src.ReadAt(ctx, make([]byte, 1), nb.Size-1)
	return err
}

// StoreStats are a Store's figures; Disk is nil without a disk cache.
type StoreStats struct {
	Memory     ContentStats
	Disk       *DiskStats
	Prefetched int64
}

// Stats reports the caches' figures.
func (s *Store) Stats() StoreStats {
	st := StoreStats{Memory: s.o.Content.Stats(), Prefetched: s.prefetched.Load()}
	if s.o.Disk != nil {
		d := s.o.Disk.Stats()
		st.Disk = &d
	}
	return st
}
