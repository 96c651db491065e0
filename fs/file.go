package fs

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"notebookfs/cache"
	"notebookfs/fs/save"
	"notebookfs/remote"
)

type cacheEntry = cache.Entry[[]remote.Notebook]

// fileNode is a regular file in a namespace directory. It is either a
// notebook (bound to a remote id, or new and not uploaded yet) or a scratch
// file on local disk. One type serves both because a rename keeps the
// kernel's inode: an editor's temp file renamed onto "x.ipynb" becomes the
// notebook, and "x.ipynb" renamed to a backup name becomes scratch.
//
// Writes to a notebook go to a staged local copy; on flush (close) or fsync
// the copy becomes one journal entry, uploaded in the background as one new
// version, however many writes came first.
type fileNode struct {
	gofs.Inode
	dir *nsDir

	mu      sync.Mutex
	name    string          // GUARDED_BY(mu): current file name in dir
	nb      remote.Notebook // GUARDED_BY(mu): ID "" while new and not uploaded
	scratch bool            // GUARDED_BY(mu): content is the file dir.scratchPath(name)
	gone    bool            // GUARDED_BY(mu): deleted; flushes upload nothing
	staged  *os.File        // GUARDED_BY(mu): local copy being written, or nil
	dirty   bool            // GUARDED_BY(mu): staged differs from the remote
	writers int             // GUARDED_BY(mu): open handles that may write
	unsaved bool            // GUARDED_BY(mu): counted in Root.unsaved
	// pend is the newest journaled save not uploaded yet: what readers
	// see while there is no staged copy.
	pend *save.Entry // GUARDED_BY(mu)
	// base is the remote version the local content derives from; a save
	// finding a newer one by someone else becomes a conflict copy.
	base time.Time // GUARDED_BY(mu)
	// baseSum is the checksum of base's content when known: that content
	// written again by someone (a conflict's restore) is no conflict.
	baseSum string // GUARDED_BY(mu)
	wbKey   string // GUARDED_BY(mu): the journal key of this node's saves
	// kept is the version the kernel's page cache holds from the last
	// read-only open; zero when unknown (see Open).
	kept time.Time // GUARDED_BY(mu)
}

var _ = (gofs.NodeGetattrer)((*fileNode)(nil))
var _ = (gofs.NodeSetattrer)((*fileNode)(nil))
var _ = (gofs.NodeOpener)((*fileNode)(nil))

func (n *fileNode) isScratch() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.scratch
}

func (n *fileNode) boundTo(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.scratch && n.nb.ID == id
}

// markGone records that the notebook was deleted: open handles may still
// write, but nothing is uploaded.
func (n *fileNode) markGone() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gone, n.dirty = true, false
	if n.pend != nil {
		n.dir.root.wbn.drop(n.pend.Key, n)
		n.pend = nil
	}
	n.setUnsavedLocked(false)
	n.dir.root.nodes.unbind(n.nb.ID, n)
}

// refresh takes new listing metadata for the notebook this node shows.
// It refuses (false) when the node is something else; metadata of a node
// with a local copy in progress is kept until that copy is saved.
func (n *fileNode) refresh(file string, nb remote.Notebook) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.scratch || n.gone || (n.nb.ID != "" && n.nb.ID != nb.ID) {
		return false
	}
	n.name = file
	if n.staged == nil && n.pend == nil {
		n.nb = nb
	} else if n.nb.ID == "" {
		n.nb.ID, n.nb.Namespace, n.nb.Actions = nb.ID, nb.Namespace, nb.Actions
	}
	return true
}

func (n *fileNode) path() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dir.path(n.name)
}

// canWriteLocked: new notebooks are mine; others need the write action.
func (n *fileNode) canWriteLocked() bool {
	return n.nb.ID == "" || n.nb.Can(remote.ActionWrite)
}

// Getattr reports size (of the local copy while one is staged), the latest
// version's time and a mode that says whether I may write.
func (n *fileNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return n.getattr(ctx, &out.Attr)
}

func (n *fileNode) getattr(ctx context.Context, a *fuse.Attr) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.getattrLocked(a)
}

func (n *fileNode) getattrLocked(a *fuse.Attr) syscall.Errno {
	if n.scratch {
		var st syscall.Stat_t
		if err := syscall.Lstat(n.dir.scratchPath(n.name), &st); err != nil {
			return toErrno(n.dir.root.log, "getattr", n.dir.path(n.name), err)
		}
		a.FromStat(&st)
		a.Ino = 0 // the node's own stable ino, which the bridge fills in
		n.dir.ownAttr(a)
		return 0
	}
	size := n.nb.Size
	mtime := n.nb.Version
	if n.pend != nil {
		size, mtime = n.pend.Size, n.pend.Time
	}
	if n.staged != nil {
		if fi, err := n.staged.Stat(); err == nil {
			size = fi.Size()
		}
	}
	if mtime.IsZero() {
		mtime = time.Now()
	}
	perm := uint32(0o444)
	if n.canWriteLocked() && !n.dir.root.opts.ReadOnly {
		perm = 0o644
	}
	a.Mode = syscall.S_IFREG | perm
	a.Size = uint64(size)
	a.Blocks = (a.Size + 511) / 512
	a.Nlink = 1
	a.SetTimes(&mtime, &mtime, &mtime)
	n.dir.ownAttr(a)
	return 0
}

// Setattr truncates; chmod, chown and utimes on notebooks are accepted and
// ignored (cp -p, git and Jupyter call them). A truncate by path is saved
// at once, since no close of its own will follow.
func (n *fileNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.scratch {
		return n.setattrScratchLocked(in, &out.Attr)
	}
	if size, ok := in.GetSize(); ok {
		if n.dir.root.opts.ReadOnly {
			return syscall.EROFS
		}
		if !n.canWriteLocked() {
			return syscall.EACCES
		}
		if err := n.stageLocked(ctx, true); err != nil {
			return toErrno(n.dir.root.log, "truncate", n.dir.path(n.name), err)
		}
		if err := n.staged.Truncate(int64(size)); err != nil {
			return toErrno(n.dir.root.log, "truncate", n.dir.path(n.name), err)
		}
		n.dirty = true
		// truncate(2) by path has no handle whose close would save it, and
		// the kernel's RELEASE of an earlier close may still be in flight,
		// so open writers do not mean a flush will follow: save now.
		if f == nil {
			if errno := n.journalLocked("truncate"); errno != 0 {
				return errno
			}
			if n.writers == 0 {
				n.dropStagedLocked()
			}
		}
	}
	return n.getattrLocked(&out.Attr)
}

func (n *fileNode) setattrScratchLocked(in *fuse.SetAttrIn, a *fuse.Attr) syscall.Errno {
	p := n.dir.scratchPath(n.name)
	op := n.dir.path(n.name)
	if size, ok := in.GetSize(); ok {
		if err := os.Truncate(p, int64(size)); err != nil {
			return toErrno(n.dir.root.log, "truncate", op, err)
		}
	}
	if mode, ok := in.GetMode(); ok {
		if err := os.Chmod(p, os.FileMode(mode&0o7777)); err != nil {
			return toErrno(n.dir.root.log, "chmod", op, err)
		}
	}
	atime, aok := in.GetATime()
	mtime, mok := in.GetMTime()
	if aok || mok {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err == nil {
			if !aok {
				atime = time.Unix(st.Atim.Unix())
			}
			if !mok {
				mtime = time.Unix(st.Mtim.Unix())
			}
		}
		if err := os.Chtimes(p, atime, mtime); err != nil {
			return toErrno(n.dir.root.log, "utimes", op, err)
		}
	}
	// chown is ignored: scratch files belong to the mounting user.
	return n.getattrLocked(a)
}

// Open gives a handle. Writers work on a staged copy: with O_TRUNC an
// empty one (no download), else a copy of the current content.
func (n *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.scratch {
		f, err := os.OpenFile(n.dir.scratchPath(n.name), int(flags&^(syscall.O_CREAT|syscall.O_EXCL)), 0)
		if err != nil {
			return nil, 0, toErrno(n.dir.root.log, "open", n.dir.path(n.name), err)
		}
		return gofs.NewLoopbackFileFromOS(f), 0, 0
	}
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if !write {
		// Keep the kernel's page cache only when it holds this very
		// version. Any change (our save, a newer version in a refreshed
		// listing) makes the next open go without FOPEN_KEEP_CACHE, and
		// the kernel then drops the old pages itself.
		var fl uint32
		if n.staged == nil && n.pend == nil && n.nb.ID != "" && !n.nb.Version.IsZero() && n.kept.Equal(n.nb.Version) {
			fl = fuse.FOPEN_KEEP_CACHE
		}
		n.kept = time.Time{}
		if n.staged == nil && n.pend == nil {
			n.kept = n.nb.Version
		}
		return &handle{node: n}, fl, 0
	}
	n.kept = time.Time{}
	if n.dir.root.opts.ReadOnly {
		return nil, 0, syscall.EROFS
	}
	if !n.canWriteLocked() {
		return nil, 0, syscall.EACCES
	}
	trunc := flags&syscall.O_TRUNC != 0
	if err := n.stageLocked(ctx, !trunc); err != nil {
		return nil, 0, toErrno(n.dir.root.log, "open", n.dir.path(n.name), err)
	}
	if trunc {
		n.dirty = true
	}
	n.writers++
	return &handle{node: n, write: true}, 0, 0
}

// openNew opens a node just made by Create: an empty staged copy that is
// uploaded on close even if nothing is written (touch makes a notebook).
func (n *fileNode) openNew(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.stageLocked(ctx, false); err != nil {
		return nil, 0, toErrno(n.dir.root.log, "create", n.dir.path(n.name), err)
	}
	n.dirty = true
	n.writers++
	return &handle{node: n, write: true}, 0, 0
}

// stageLocked makes sure a local copy exists; keep fills a new one with
// the current content, else it starts (or is cut to) empty.
func (n *fileNode) stageLocked(ctx context.Context, keep bool) error {
	if n.staged != nil {
		if !keep {
			return n.staged.Truncate(0)
		}
		return nil
	}
	f, err := os.CreateTemp(n.dir.root.staging, "stage-*")
	if err != nil {
		return fmt.Errorf("staging a local copy: %w", err)
	}
	if n.pend == nil {
		// A fresh copy of the remote content: later saves are based on
		// the version it shows.
		if !n.base.Equal(n.nb.Version) {
			n.base, n.baseSum = n.nb.Version, ""
		}
		if n.baseSum == "" && n.nb.ID != "" && n.dir.root.content != nil {
			if data, ok := n.dir.root.content.Peek(cacheKey(n.nb)); ok {
				n.baseSum = save.Sum(data)
			}
		}
	}
	if keep && (n.nb.ID != "" || n.pend != nil) {
		if err := n.copyContentLocked(ctx, f); err != nil {
			f.Close()
			os.Remove(f.Name())
			return err
		}
	}
	n.staged = f
	return nil
}

func (n *fileNode) dropStagedLocked() {
	if n.staged != nil {
		n.staged.Close()
		os.Remove(n.staged.Name())
		n.staged = nil
	}
}

// loadLocked returns the notebook's current bytes: from the content cache,
// else one Read shared by concurrent openers.
func (n *fileNode) loadLocked(ctx context.Context) ([]byte, error) {
	if n.pend != nil {
		return n.pendingBytesLocked()
	}
	if n.nb.Size == 0 && !n.nb.Version.IsZero() {
		// The version the listing names is empty: nothing to download
		// (and nothing needs the remote, offline included).
		return []byte{}, nil
	}
	r := n.dir.root
	ns, id, version := n.dir.ns, n.nb.ID, n.nb.Version
	// Read the latest version and cache it under the listing's version.
	// If someone saved since the listing, newer bytes land under an older
	// key: harmless, the next listing names the newer version and reads
	// fetch it again; older bytes can never land under a newer key.
	load := func(ctx context.Context) ([]byte, error) { return readAll(ctx, r, ns, id, time.Time{}) }
	if r.content == nil {
		return load(ctx)
	}
	return r.content.GetOrLoad(ctx, cache.NewKey(id, version), load)
}

// maxInMemory bounds one notebook held in memory for reading.
const maxInMemory = 4 << 30

// readAll downloads a notebook's bytes (latest when at is zero) under the
// call deadline, checking the length against what the remote announced.
func readAll(ctx context.Context, r *Root, ns, id string, at time.Time) ([]byte, error) {
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	c, err := r.client.Read(cctx, ns, id, at)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if c.Size < 0 || c.Size > maxInMemory {
		return nil, fmt.Errorf("reading %s/%s: %d bytes is more than notebookfs holds in memory (%d)", ns, id, c.Size, int64(maxInMemory))
	}
	// The size is announced: one exact allocation, not io.ReadAll's
	// doubling (which peaked at 2.7x a 200 MB notebook).
	data := make([]byte, c.Size)
	if _, err := io.ReadFull(c, data); err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", ns, id, err)
	}
	if k, _ := c.Read(make([]byte, 1)); k != 0 {
		return nil, fmt.Errorf("reading %s/%s: more than the announced %d bytes", ns, id, c.Size)
	}
	return data, nil
}

// cacheKey is the content cache's key of a notebook's current version.
func cacheKey(nb remote.Notebook) cache.Key { return cache.NewKey(nb.ID, nb.Version) }

// saveLocked journals the staged copy if it is dirty; the upload follows
// in the background (Create for a new notebook, else Write: a new version
// of the same id).
func (n *fileNode) saveLocked(ctx context.Context, op string) syscall.Errno {
	return n.journalLocked(op)
}

// setUnsavedLocked keeps Root.unsaved, the count of files holding changes
// that failed to upload, in step with this node.
func (n *fileNode) setUnsavedLocked(on bool) {
	if n.unsaved == on {
		return
	}
	n.unsaved = on
	if on {
		n.dir.root.unsaved.Add(1)
	} else {
		n.dir.root.unsaved.Add(-1)
	}
}

// handle is an open notebook. Reads see the staged copy while there is
// one (a writer sees its own writes), else one version of the notebook,
// never a mix.
type handle struct {
	node  *fileNode
	write bool

	mu       sync.Mutex
	released bool   // GUARDED_BY(mu)
	src      source // GUARDED_BY(mu): the version read
}

var _ = (gofs.FileReader)((*handle)(nil))
var _ = (gofs.FileWriter)((*handle)(nil))
var _ = (gofs.FileFlusher)((*handle)(nil))
var _ = (gofs.FileFsyncer)((*handle)(nil))
var _ = (gofs.FileReleaser)((*handle)(nil))

// Read serves from the staged copy, else from the version this handle
// first read: a pending save in the journal, the disk cache (large
// notebooks, streamed as they download) or the content cache.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := h.node
	n.mu.Lock()
	if n.staged != nil {
		defer n.mu.Unlock()
		k, err := n.staged.ReadAt(dest, off)
		if err != nil && err != io.EOF {
			return nil, toErrno(n.dir.root.log, "read", n.dir.path(n.name), err)
		}
		return fuse.ReadResultData(dest[:k]), 0
	}
	h.mu.Lock()
	// A handle keeps the version it first read, even when a listing
	// refresh brings a newer one: a read never mixes two versions
	// (close-to-open consistency, as NFS).
	if h.src == nil {
		src, err := n.sourceLocked(ctx)
		if err != nil {
			h.mu.Unlock()
			n.mu.Unlock()
			return nil, toErrno(n.dir.root.log, "read", n.dir.path(n.name), err)
		}
		h.src = src
	}
	src := h.src
	h.mu.Unlock()
	path := n.dir.path(n.name)
	n.mu.Unlock()
	// Without the node's lock: a streamed read may wait for its bytes.
	k, err := src.readAt(ctx, dest, off)
	if err != nil && err != io.EOF {
		return nil, toErrno(n.dir.root.log, "read", path, err)
	}
	return fuse.ReadResultData(dest[:k]), 0
}

// Write copies data into the staged copy (go-fuse reuses the buffer).
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n := h.node
	n.mu.Lock()
	defer n.mu.Unlock()
	if !h.write {
		return 0, syscall.EBADF
	}
	if err := n.stageLocked(ctx, true); err != nil {
		return 0, toErrno(n.dir.root.log, "write", n.dir.path(n.name), err)
	}
	k, err := n.staged.WriteAt(data, off)
	if err != nil {
		return uint32(k), toErrno(n.dir.root.log, "write", n.dir.path(n.name), err)
	}
	n.dirty = !n.gone
	return uint32(k), 0
}

// Flush (every close) journals the staged copy if it changed: the save is
// durable when close returns. It is idempotent: dup'ed descriptors flush
// more than once.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if !h.write {
		return 0
	}
	n := h.node
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.saveLocked(ctx, "close")
}

// Fsync journals like Flush, then waits for the upload: EIO when it is not
// done within the call deadline (the save stays queued).
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	n := h.node
	n.mu.Lock()
	errno := n.saveLocked(ctx, "fsync")
	key, id := n.wbKey, n.nb.ID
	n.mu.Unlock()
	if errno != 0 {
		return errno
	}
	return n.waitUploaded(ctx, key, id)
}

// Release frees the staged copy once no writer is left and it is saved.
// A copy whose upload failed is kept, so readers and the next close see it.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return syscall.EBADF
	}
	h.released = true
	if h.src != nil {
		h.src.close()
		h.src = nil
	}
	h.mu.Unlock()
	if !h.write {
		return 0
	}
	n := h.node
	n.mu.Lock()
	defer n.mu.Unlock()
	n.writers--
	if n.writers == 0 {
		if n.dirty {
			n.dir.root.log.WithField("path", n.dir.path(n.name)).Warn("changes could not be journaled; they are kept in the staged copy and saved at the next close or fsync")
			n.setUnsavedLocked(true)
			return 0
		}
		n.dropStagedLocked()
	}
	return 0
}

// source is what a read handle reads: one version of a notebook.
type source interface {
	readAt(ctx context.Context, p []byte, off int64) (int, error)
	close()
}

// bytesSource is a version held in memory (shared with the content cache).
type bytesSource []byte

func (b bytesSource) readAt(_ context.Context, p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	return copy(p, b[off:]), nil
}

func (bytesSource) close() {}

// fileSource is a file on local disk: a pending save in the journal.
type fileSource struct{ f *os.File }

func (s fileSource) readAt(_ context.Context, p []byte, off int64) (int, error) {
	k, err := s.f.ReadAt(p, off)
	if err == io.EOF {
		err = nil
		if k == 0 {
			err = io.EOF
		}
	}
	return k, err
}

func (s fileSource) close() { s.f.Close() }

// diskSource is a large notebook in the disk cache, maybe still arriving.
type diskSource struct{ f *cache.DiskFile }

func (s diskSource) readAt(ctx context.Context, p []byte, off int64) (int, error) {
	return s.f.ReadAt(ctx, p, off)
}

func (s diskSource) close() { s.f.Close() }

// sourceLocked opens the node's current content for reading: its pending
// save, else its version from the disk cache (large notebooks) or the
// content cache.
func (n *fileNode) sourceLocked(ctx context.Context) (source, error) {
	r := n.dir.root
	switch {
	case n.pend != nil:
		f, err := r.journal.Content(*n.pend)
		if err != nil {
			return nil, err
		}
		return fileSource{f}, nil
	case n.nb.ID == "":
		return bytesSource(nil), nil
	case r.disk != nil && n.nb.Size > r.diskThreshold():
		ns, id, size := n.dir.ns, n.nb.ID, n.nb.Size
		f, err := r.disk.Open(r.bg.ctx, cacheKey(n.nb), size, func(ctx context.Context) (io.ReadCloser, int64, error) {
			return r.download(ctx, ns, id, size)
		})
		if err != nil {
			return nil, err
		}
		return diskSource{f}, nil
	}
	data, err := n.loadLocked(ctx)
	if err != nil {
		return nil, err
	}
	return bytesSource(data), nil
}

// download opens the latest content for the disk cache, under a deadline
// that grows with its expected size (the call deadline plus 1 s per MiB).
func (r *Root) download(ctx context.Context, ns, id string, size int64) (io.ReadCloser, int64, error) {
	cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout+time.Duration(size>>20)*time.Second)
	c, err := r.client.Read(cctx, ns, id, time.Time{})
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

// copyContentLocked writes the node's current content into w (a new
// staged copy), streaming large notebooks instead of holding them.
func (n *fileNode) copyContentLocked(ctx context.Context, w io.Writer) error {
	src, err := n.sourceLocked(ctx)
	if err != nil {
		return err
	}
	defer src.close()
	h := save.NewHash()
	buf := make([]byte, 1<<20)
	for off := int64(0); ; {
		k, err := src.readAt(ctx, buf, off)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return fmt.Errorf("staging a local copy: %w", werr)
			}
			h.Write(buf[:k])
			off += int64(k)
		}
		if err == io.EOF || (err == nil && k == 0) {
			break
		}
		if err != nil {
			return err
		}
	}
	if n.pend == nil && n.baseSum == "" {
		n.baseSum = fmt.Sprintf("%x", h.Sum(nil))
	}
	return nil
}
