package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Disk is a byte-bounded LRU of large notebooks' contents as files in a
// directory on local disk, keyed like Content. A download fills its file in
// the background and readers read what has arrived: a read of the first
// bytes of a 1 GB notebook does not wait for the rest, and no notebook is
// ever held whole in memory.
//
// The directory is emptied by NewDisk: the disk cache is a cache, not state
// (the write-back journal is what survives a restart).
type Disk struct {
	dir string
	max int64

	mu        sync.Mutex
	lru       *simplelru.LRU[Key, *diskEntry] // GUARDED_BY(mu)
	bytes     int64                           // GUARDED_BY(mu)
	hits      int64                           // GUARDED_BY(mu)
	misses    int64                           // GUARDED_BY(mu)
	evictions int64                           // GUARDED_BY(mu)
	seq       int64                           // GUARDED_BY(mu): file names
}

type diskEntry struct {
	path  string
	bytes int64 // charged against the bound: the size expected at first

	mu   sync.Mutex
	cond *sync.Cond
	size int64 // GUARDED_BY(mu): the content's length, -1 until the download says
	have int64 // GUARDED_BY(mu): bytes written from the start
	done bool  // GUARDED_BY(mu)
	err  error // GUARDED_BY(mu): the download failed
}

// DiskStats is a snapshot of a Disk's counters.
type DiskStats struct {
	Hits, Misses, Evictions int64
	Bytes, Entries          int64
	MaxBytes                int64
}

// NewDisk empties dir (creating it) and returns a cache of at most maxBytes.
func NewDisk(dir string, maxBytes int64) (*Disk, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("disk cache %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("disk cache %s: %w", dir, err)
	}
	d := &Disk{dir: dir, max: maxBytes}
	lru, err := simplelru.NewLRU[Key, *diskEntry](maxLRUEntries, func(_ Key, e *diskEntry) {
		// Open readers keep their descriptors; the download keeps writing
		// to its own.
		d.bytes -= e.bytes
		os.Remove(e.path)
	})
	if err != nil {
		return nil, err
	}
	d.lru = lru
	return d, nil
}

// addLocked makes a new entry for key and evicts the oldest ones beyond
// the byte bound (never the new one).
func (d *Disk) addLocked(key Key, size int64) *diskEntry {
	d.seq++
	e := &diskEntry{path: d.entryPath(key), bytes: size, size: -1}
	e.cond = sync.NewCond(&e.mu)
	d.lru.Add(key, e)
	d.bytes += size
	for d.bytes > d.max && d.lru.Len() > 1 {
		d.lru.RemoveOldest()
		d.evictions++
	}
	return e
}

// entryPath names the file of a new entry (mu held). The id comes from
// the remote: only its hash goes into the name, which thus never holds a
// separator or "..", whatever the id.
func (d *Disk) entryPath(key Key) string {
	sum := sha256.Sum256([]byte(key.ID))
	return filepath.Join(d.dir, hex.EncodeToString(sum[:16])+"-"+strconv.FormatInt(key.Version, 10)+"-"+strconv.FormatInt(d.seq, 10))
}

// inside fails unless p is a file directly in dir: a last check before a
// file is created, linked or removed.
func inside(dir, p string) error {
	if filepath.Dir(p) != filepath.Clean(dir) {
		return fmt.Errorf("disk cache: %s is not in %s", p, dir)
	}
	return nil
}

// Has reports whether key's content is cached or on its way (a download
// that has not failed), without counting a hit or making it recent.
func (d *Disk) Has(key Key) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.lru.Peek(key)
	if !ok {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return !(e.done && e.err != nil)
}

// Open returns a reader of key's content, expected to be size bytes long.
// On a miss load is started in the background (under ctx, which must
// outlive the caller: other readers may share the download); it returns
// the content and its exact length, and its bytes are written to the cache
// file as they arrive.
func (d *Disk) Open(ctx context.Context, key Key, size int64, load func(ctx context.Context) (io.ReadCloser, int64, error)) (*DiskFile, error) {
	for attempt := 0; ; attempt++ {
		d.mu.Lock()
		e, ok := d.lru.Get(key)
		if ok {
			e.mu.Lock()
			failed := e.done && e.err != nil
			e.mu.Unlock()
			if failed {
				d.lru.Remove(key)
				ok = false
			}
		}
		var w *os.File
		if ok {
			d.hits++
		} else {
			d.misses++
			e = d.addLocked(key, size)
			err := inside(d.dir, e.path)
			if err == nil {
				w, err = os.OpenFile(e.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			}
			if err != nil {
				d.lru.Remove(key)
				d.mu.Unlock()
				return nil, fmt.Errorf("disk cache: %w", err)
			}
		}
		d.mu.Unlock()
		if w != nil {
			go e.fill(ctx, w, load)
		}
		f, err := os.Open(e.path)
		if errors.Is(err, os.ErrNotExist) && attempt == 0 {
			continue // evicted in between: once more
		}
		if err != nil {
			return nil, fmt.Errorf("disk cache: %w", err)
		}
		return &DiskFile{e: e, f: f}, nil
	}
}

// fill downloads into the entry's file, publishing progress to readers.
func (e *diskEntry) fill(ctx context.Context, w *os.File, load func(ctx context.Context) (io.ReadCloser, int64, error)) {
	err := func() error {
		defer w.Close()
		r, size, err := load(ctx)
		if err != nil {
			return err
		}
		defer r.Close()
		e.mu.Lock()
		e.size = size
		e.cond.Broadcast()
		e.mu.Unlock()
		buf := make([]byte, 1<<20)
		for {
			n, rerr := r.Read(buf)
			if n > 0 {
				if _, err := w.Write(buf[:n]); err != nil {
					return fmt.Errorf("disk cache: %w", err)
				}
				e.mu.Lock()
				e.have += int64(n)
				e.cond.Broadcast()
				e.mu.Unlock()
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return rerr
			}
		}
		e.mu.Lock()
		have, size := e.have, e.size
		e.mu.Unlock()
		if have != size {
			return fmt.Errorf("download gave %d bytes, %d announced", have, size)
		}
		return nil
	}()
	e.mu.Lock()
	e.done, e.err = true, err
	e.cond.Broadcast()
	e.mu.Unlock()
}

// AddFile puts a complete file (a save just uploaded) into the cache as
// key's content, linking it when it is on the same file system.
func (d *Disk) AddFile(key Key, path string, size int64) error {
	d.mu.Lock()
	if _, ok := d.lru.Peek(key); ok {
		d.mu.Unlock()
		return nil
	}
	e := d.addLocked(key, size)
	d.mu.Unlock()
	err := inside(d.dir, e.path)
	if err == nil {
		if err = os.Link(path, e.path); err != nil {
			err = copyFile(path, e.path)
		}
	}
	e.mu.Lock()
	if err == nil {
		e.have, e.size = size, size
	}
	e.done, e.err = true, err
	e.cond.Broadcast()
	e.mu.Unlock()
	if err != nil {
		d.mu.Lock()
		if cur, ok := d.lru.Peek(key); ok && cur == e {
			d.lru.Remove(key)
		}
		d.mu.Unlock()
	}
	return err
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// RemoveID drops every cached version of a notebook.
func (d *Disk) RemoveID(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range d.lru.Keys() {
		if k.ID == id {
			d.lru.Remove(k)
		}
	}
}

// Stats returns a snapshot of the counters.
func (d *Disk) Stats() DiskStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DiskStats{Hits: d.hits, Misses: d.misses, Evictions: d.evictions, Bytes: d.bytes, Entries: int64(d.lru.Len()), MaxBytes: d.max}
}

// DiskFile reads one cached notebook, waiting for bytes still on their way.
type DiskFile struct {
	e *diskEntry
	f *os.File
}

// ReadAt reads like io.ReaderAt, waiting (until ctx ends) for the range to
// be downloaded; a failed download is its error.
func (f *DiskFile) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	stop := context.AfterFunc(ctx, func() {
		f.e.mu.Lock()
		f.e.cond.Broadcast()
		f.e.mu.Unlock()
	})
	defer stop()
	e := f.e
	e.mu.Lock()
	for e.size < 0 && e.err == nil && !e.done && ctx.Err() == nil {
		e.cond.Wait()
	}
	if e.size >= 0 && off >= e.size {
		e.mu.Unlock()
		return 0, io.EOF
	}
	end := off + int64(len(p))
	if e.size >= 0 {
		end = min(end, e.size)
	}
	for e.have < end && e.err == nil && !e.done && ctx.Err() == nil {
		e.cond.Wait()
	}
	have, err := e.have, e.err
	e.mu.Unlock()
	if have < end {
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	n, err := f.f.ReadAt(p[:end-off], off)
	if err == io.EOF && int64(n) == end-off {
		err = nil
	}
	return n, err
}

// Fd is the descriptor of the cache file, for reads spliced by the kernel
// once the range has arrived (see Ready).
func (f *DiskFile) Fd() uintptr { return f.f.Fd() }

// Ready reports whether the whole content has arrived.
func (f *DiskFile) Ready() bool {
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	return f.e.done && f.e.err == nil
}

// Close releases the reader (not the download, which other readers share).
func (f *DiskFile) Close() error { return f.f.Close() }
