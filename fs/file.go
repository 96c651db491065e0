package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"notebookfs/cache"
	"notebookfs/fs/save"
	"notebookfs/remote"
)

// File is a regular file in a namespace. It is either a notebook (bound to
// a remote id, or new and not uploaded yet) or a scratch file on local
// disk. One type serves both because a rename keeps the file's identity
// (the kernel's inode): an editor's temp file renamed onto "x.ipynb"
// becomes the notebook, and "x.ipynb" renamed to a backup name becomes
// scratch.
//
// Writes to a notebook go to a staged local copy; the copy becomes one
// journaled save on close (or fsync), uploaded in the background as one
// new version, however many writes came first.
type File struct {
	ns  *Namespace
	ino uint64 // never changes: the kernel's identity of the file

	mu      sync.Mutex
	name    string          // GUARDED_BY(mu): current file name in ns
	nb      remote.Notebook // GUARDED_BY(mu): ID "" while new and not uploaded
	scratch bool            // GUARDED_BY(mu): content is the file ns.scratchPath(name)
	gone    bool            // GUARDED_BY(mu): deleted; flushes upload nothing
	staged  *os.File        // GUARDED_BY(mu): local copy being written, or nil
	dirty   bool            // GUARDED_BY(mu): staged differs from the remote
	writers int             // GUARDED_BY(mu): open handles that may write
	unsaved bool            // GUARDED_BY(mu): counted in FS.unsaved
	// pend is the newest journaled save not uploaded yet: what readers
	// see while there is no staged copy.
	pend *save.Entry // GUARDED_BY(mu)
	// base is the remote version the local content derives from; a save
	// finding a newer one by someone else becomes a conflict copy.
	base time.Time // GUARDED_BY(mu)
	// baseSum is the checksum of base's content when known: that content
	// written again by someone (a conflict's restore) is no conflict.
	baseSum string   // GUARDED_BY(mu)
	ref     save.Ref // GUARDED_BY(mu): the chain of this file's saves
	// pageCacheVersion is the version the kernel's page cache holds from
	// the last read-only open; zero when unknown (see Open).
	pageCacheVersion time.Time // GUARDED_BY(mu)
	// checked is when a Stat last confirmed nb (the listing's own time
	// counts too; see revalidate).
	checked time.Time // GUARDED_BY(mu)
	// toldVersion and toldSize are what the kernel was last told of the
	// remote version shown (Attr): an open serving another one must not go
	// through a page cache sized for the old one.
	toldVersion time.Time // GUARDED_BY(mu)
	toldSize    int64     // GUARDED_BY(mu)
	// forgotten: the kernel forgot the file while a save was on its way;
	// it is forgotten once that save's outcome is applied.
	forgotten bool // GUARDED_BY(mu)
	// readers counts the open read-only handles by the version they
	// were opened at.
	readers map[time.Time]int // GUARDED_BY(mu)
}

// Attr is what stat shows of a file.
type Attr struct {
	Mode  uint32 // type and permission bits
	Size  int64
	Mtime time.Time
	Atime time.Time
	Ctime time.Time
	// Local is the stat of a scratch file (nil for notebooks).
	Local *syscall.Stat_t
}

// Ino is the file's inode number, fixed for its life.
func (n *File) Ino() uint64 { return n.ino }

// Namespace is the file's directory.
func (n *File) Namespace() *Namespace { return n.ns }

func (n *File) isScratch() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.scratch
}

func (n *File) fileName() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.name
}

// Path is the file's path from the mount's root.
func (n *File) Path() string { return n.ns.Path(n.fileName()) }

func (n *File) boundTo(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.scratch && n.nb.ID == id
}

// Forget is told that nothing refers to the file any more (the kernel
// forgot it): its inode number and name may go to another file.
func (n *File) Forget() {
	n.mu.Lock()
	saving := n.pend != nil && n.nb.ID != ""
	n.forgotten = saving
	n.mu.Unlock()
	if saving {
		// A save of ours is on its way: the next lookup must find this
		// file (which shows it), not one made from an older listing. The
		// outcome forgets it (applyResult).
		return
	}
	n.ns.fs.nodes.forget(n)
	n.ns.forgetLive(n)
}

// markGone records that the notebook was deleted: open handles may still
// write, but nothing is uploaded.
func (n *File) markGone() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gone, n.dirty = true, false
	if n.pend != nil {
		n.ns.fs.saving.drop(n.ref, n)
		n.pend = nil
	}
	n.setUnsavedLocked(false)
	n.ns.fs.nodes.unbind(n.nb.ID, n)
}

// refresh takes new listing metadata for the notebook this file shows.
// It refuses (false) when the file is something else; metadata of a file
// with a local copy in progress is kept until that copy is saved.
func (n *File) refresh(file string, nb remote.Notebook) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.scratch || n.gone || (n.nb.ID != "" && n.nb.ID != nb.ID) {
		return false
	}
	n.name = file
	if n.nb.ID == nb.ID && nb.Version.Before(n.nb.Version) {
		// A listing that raced with our own save: what we saved is newer,
		// and a save based on the older version would be a false conflict.
		return true
	}
	if n.staged == nil && n.pend == nil {
		n.nb = nb
	} else if n.nb.ID == "" {
		n.nb.ID, n.nb.Namespace, n.nb.Actions = nb.ID, nb.Namespace, nb.Actions
	}
	return true
}

// statAbove is the listing size above which one Stat is cheaper than the
// listing's pages to revalidate one notebook.
const statAbove = 100

// revalidate makes sure the notebook's metadata was checked within the
// TTL, asking the remote now when not (force: whatever its age). Files
// with local changes, new and scratch files have nothing to check. A
// notebook deleted remotely is ENOENT; an unreachable remote leaves what
// is known (with one warning).
func (n *File) revalidate(ctx context.Context, force bool) error {
	d := n.ns
	n.mu.Lock()
	id, name := n.nb.ID, n.name
	local := n.scratch || n.gone || id == "" || n.staged != nil || n.pend != nil
	checked := n.checked
	n.mu.Unlock()
	if local {
		return nil
	}
	now := d.fs.now()
	if !force && (d.fresh() || now.Sub(checked) < d.fs.opts.MetadataTTL) {
		return nil
	}
	var found bool
	if e, ok := d.fs.lists.Get(d.key); ok && !e.Negative && len(e.Value) > statAbove {
		cctx, cancel := d.fs.callCtx(ctx)
		nb, err := d.fs.client.Stat(cctx, d.ns, id)
		cancel()
		switch {
		case errors.Is(err, remote.ErrNotFound):
		case err != nil && ctx.Err() != nil:
			return err
		case err != nil:
			d.fs.log.WithError(err).WithField("path", d.Path(name)).Warn("checking a notebook for a newer version failed; showing the last known one")
			return nil
		default:
			found = true
			n.mu.Lock()
			changed := !n.nb.Version.Equal(nb.Version) || !sameActions(n.nb.Actions, nb.Actions)
			n.checked = now
			n.mu.Unlock()
			if changed {
				n.refresh(name, nb)
				d.upsertRemote(nb)
				d.fs.inval.add(Invalidation{Kind: InvalidContent, Category: d.cat, Namespace: d.ns, Name: name})
			}
		}
	} else {
		nbs, stored, err := d.refreshShared(ctx)
		if err != nil && ctx.Err() != nil {
			return err // interrupted: never pass the stale state off as checked
		}
		if err != nil {
			d.fs.log.WithError(err).WithField("path", d.key).Warn("refreshing a listing failed; showing the last known one")
			return nil
		}
		// A listing that raced with our own change (a create landing)
		// may predate the notebook: only a stored one tells it is gone.
		found = !stored
		for _, nb := range nbs {
			found = found || nb.ID == id
		}
	}
	if !found {
		n.mu.Lock()
		clean := n.staged == nil && n.pend == nil && !n.scratch
		n.mu.Unlock()
		if clean {
			d.fs.log.WithField("path", d.Path(name)).Debug("the notebook is gone from the remote")
			n.markGone()
			return syscall.ENOENT
		}
	}
	return nil
}

// AttrFresh is Attr, past the TTL checked with the remote first: editors
// (Jupyter) compare mtimes before they save.
func (n *File) AttrFresh(ctx context.Context) (Attr, error) {
	if err := n.revalidate(ctx, false); err != nil {
		return Attr{}, err
	}
	return n.Attr()
}

// FreshFor is how much longer the kernel may keep this file's entry and
// attributes: never past the TTL of what the file shows.
func (n *File) FreshFor() time.Duration {
	n.mu.Lock()
	local := n.scratch || n.nb.ID == "" || n.staged != nil || n.pend != nil
	checked := n.checked
	n.mu.Unlock()
	ttl := n.ns.fs.opts.MetadataTTL
	if local {
		return ttl
	}
	// The kernel rounds its timeouts up to a clock tick: end them a
	// margin early, so that it asks again before our own check expires
	// and never holds attributes older than what an open serves.
	return max(max(n.ns.freshFor(), ttl-n.ns.fs.now().Sub(checked))-kernelMargin, 0)
}

// kernelMargin is more than the kernel's clock tick (4 ms at HZ=250).
const kernelMargin = 20 * time.Millisecond

// hasLocalChanges: a staged copy or a save of ours not uploaded yet.
func (n *File) hasLocalChanges() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.staged != nil || n.pend != nil
}

func (n *File) canWrite() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.canWriteLocked()
}

// canWriteLocked: new notebooks are mine; others need the write action.
func (n *File) canWriteLocked() bool {
	return n.nb.ID == "" || n.nb.Can(remote.ActionWrite)
}

// Attr reports size (of the local copy while one is staged), the time of
// the version shown (for a version this mount saved, the time of the save,
// which never moves once shown) and a mode that says whether I may write.
func (n *File) Attr() (Attr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.attrLocked()
}

func (n *File) attrLocked() (Attr, error) {
	if n.scratch {
		var st syscall.Stat_t
		if err := syscall.Lstat(n.ns.scratchPath(n.name), &st); err != nil {
			return Attr{}, err
		}
		return Attr{Mode: uint32(st.Mode), Size: st.Size, Local: &st}, nil
	}
	size := n.nb.Size
	mtime := n.ns.fs.shownTime(n.nb)
	if n.pend != nil {
		size, mtime = n.pend.Size, n.pend.Time
	}
	if n.staged != nil {
		if fi, err := n.staged.Stat(); err == nil {
			size = fi.Size()
		}
	}
	if mtime.IsZero() {
		mtime = n.ns.fs.started
	}
	if n.pend == nil && n.staged == nil {
		n.toldVersion, n.toldSize = n.nb.Version, size
	}
	perm := uint32(0o444)
	if n.canWriteLocked() && !n.ns.fs.opts.ReadOnly {
		perm = 0o644
	}
	return Attr{Mode: syscall.S_IFREG | perm, Size: size, Mtime: mtime, Atime: mtime, Ctime: mtime}, nil
}

// SetAttr is what a setattr changes; nil fields stay.
type SetAttr struct {
	Size         *uint64
	Mode         *uint32
	Atime, Mtime *time.Time
}

// Setattr truncates; chmod, chown and utimes on notebooks are accepted and
// ignored (cp -p, git and Jupyter call them). A truncate by path (h nil)
// is saved at once, since no close of its own will follow; one through a
// handle counts as that handle's write.
func (n *File) Setattr(ctx context.Context, in SetAttr, h *Handle) (Attr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.scratch {
		return n.setattrScratchLocked(in)
	}
	if in.Size != nil {
		if n.ns.fs.opts.ReadOnly {
			return Attr{}, syscall.EROFS
		}
		if !n.canWriteLocked() {
			return Attr{}, syscall.EACCES
		}
		if err := n.stageLocked(ctx, true); err != nil {
			return Attr{}, err
		}
		if err := n.staged.Truncate(int64(*in.Size)); err != nil {
			return Attr{}, err
		}
		n.dirty = !n.gone
		if h != nil {
			h.wrote = true
		} else {
			// truncate(2) by path has no handle whose close would save
			// it, and the kernel's RELEASE of an earlier close may still
			// be in flight, so open writers do not mean a flush will
			// follow: save now.
			if err := n.journalLocked(); err != nil {
				return Attr{}, err
			}
			if n.writers == 0 {
				n.dropStagedLocked()
			}
		}
	}
	return n.attrLocked()
}

func (n *File) setattrScratchLocked(in SetAttr) (Attr, error) {
	p := n.ns.scratchPath(n.name)
	if in.Size != nil {
		if err := os.Truncate(p, int64(*in.Size)); err != nil {
			return Attr{}, err
		}
	}
	if in.Mode != nil {
		if err := os.Chmod(p, os.FileMode(*in.Mode&0o7777)); err != nil {
			return Attr{}, err
		}
	}
	if in.Atime != nil || in.Mtime != nil {
		var atime, mtime time.Time
		if in.Atime != nil {
			atime = *in.Atime
		}
		if in.Mtime != nil {
			mtime = *in.Mtime
		}
		if in.Atime == nil || in.Mtime == nil {
			if fi, err := os.Lstat(p); err == nil {
				if in.Atime == nil {
					atime = accessTime(fi)
				}
				if in.Mtime == nil {
					mtime = fi.ModTime()
				}
			}
		}
		if err := os.Chtimes(p, atime, mtime); err != nil {
			return Attr{}, err
		}
	}
	// chown is ignored: scratch files belong to the mounting user.
	return n.attrLocked()
}

// Open gives a handle. Writers work on a staged copy: with O_TRUNC an
// empty one (no download), else a copy of the current content. keepCache
// says the kernel may keep the pages it holds of this file.
func (n *File) Open(ctx context.Context, flags uint32) (h *Handle, keepCache bool, err error) {
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	// Close-to-open: past the TTL, the open reads the latest version.
	if err := n.revalidate(ctx, false); err != nil {
		return nil, false, err
	}
	if write && !n.ns.fs.opts.ReadOnly && !n.canWrite() {
		// A mode cached within the TTL never turns away a save the
		// remote now allows (a share just granted).
		if err := n.revalidate(ctx, true); err != nil {
			return nil, false, err
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.scratch {
		f, err := os.OpenFile(n.ns.scratchPath(n.name), int(flags&^(syscall.O_CREAT|syscall.O_EXCL)), 0)
		if err != nil {
			return nil, false, err
		}
		return &Handle{file: n, os: f}, false, nil
	}
	if !write {
		// Keep the kernel's page cache only when it holds this very
		// version. Any change (our save, a newer version in a refreshed
		// listing) makes the next open go without FOPEN_KEEP_CACHE, and
		// the kernel then drops the old pages itself.
		keep := n.staged == nil && n.pend == nil && n.nb.ID != "" && !n.nb.Version.IsZero() && n.pageCacheVersion.Equal(n.nb.Version)
		n.pageCacheVersion = time.Time{}
		h := &Handle{file: n}
		if n.staged == nil && n.pend == nil {
			n.pageCacheVersion = n.nb.Version
			for v, c := range n.readers {
				if c > 0 && !v.Equal(n.nb.Version) {
					h.Direct, keep = true, false
				}
			}
			if !n.toldVersion.Equal(n.nb.Version) || n.toldSize != n.nb.Size {
				// A newer version than the kernel's attributes say (a
				// refresh came first): its cached size would cut or pad
				// this version's bytes.
				h.Direct, keep = true, false
			}
			h.nb = n.nb
			if n.readers == nil {
				n.readers = map[time.Time]int{}
			}
			if h.Direct {
				n.pageCacheVersion = time.Time{} // the pages are the older one's
			}
			h.pinned = n.nb.Version
			n.readers[h.pinned]++
		}
		return h, keep, nil
	}
	n.pageCacheVersion = time.Time{}
	if n.ns.fs.opts.ReadOnly {
		return nil, false, syscall.EROFS
	}
	if !n.canWriteLocked() {
		return nil, false, syscall.EACCES
	}
	trunc := flags&syscall.O_TRUNC != 0
	if err := n.stageLocked(ctx, !trunc); err != nil {
		return nil, false, err
	}
	if trunc {
		n.dirty = !n.gone
	}
	n.writers++
	return &Handle{file: n, write: true}, false, nil
}

// openNew opens a file just made by Create: an empty staged copy that is
// saved at the last close even if nothing is written (touch makes a
// notebook).
func (n *File) openNew() (*Handle, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.stageLocked(context.Background(), false); err != nil {
		return nil, err
	}
	n.dirty = true
	n.writers++
	return &Handle{file: n, write: true}, nil
}

// stageLocked makes sure a local copy exists; keep fills a new one with
// the current content, else it starts (or is cut to) empty.
func (n *File) stageLocked(ctx context.Context, keep bool) error {
	if n.staged != nil {
		if !keep {
			return n.staged.Truncate(0)
		}
		return nil
	}
	f, err := os.CreateTemp(n.ns.fs.staging, "stage-*")
	if err != nil {
		return fmt.Errorf("staging a local copy: %w", err)
	}
	if n.pend == nil {
		// A fresh copy of the remote content: later saves are based on
		// the version it shows.
		if !n.base.Equal(n.nb.Version) {
			n.base, n.baseSum = n.nb.Version, ""
		}
		if n.baseSum == "" && n.nb.ID != "" {
			if data, ok := n.ns.fs.store.Peek(n.nb.ID, n.nb.Version); ok {
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

func (n *File) dropStagedLocked() {
	if n.staged != nil {
		n.staged.Close()
		os.Remove(n.staged.Name())
		n.staged = nil
	}
}

// sourceLocked opens the file's current content for reading: its pending
// save, else its version from the caches.
func (n *File) sourceLocked(ctx context.Context) (cache.Source, error) {
	switch {
	case n.pend != nil:
		f, err := n.ns.fs.saver.Content(*n.pend)
		if err != nil {
			return nil, err
		}
		return cache.File{F: f}, nil
	case n.nb.ID == "":
		return cache.Bytes(nil), nil
	}
	return n.ns.fs.store.Open(ctx, n.ns.ns, n.nb.ID, n.nb.Version, n.nb.Size)
}

// bytesLocked is the file's current content in memory: the staged copy if
// any, else its pending save, else the notebook's bytes.
func (n *File) bytesLocked(ctx context.Context) ([]byte, error) {
	if n.staged != nil {
		fi, err := n.staged.Stat()
		if err != nil {
			return nil, err
		}
		data := make([]byte, fi.Size())
		if _, err := n.staged.ReadAt(data, 0); err != nil && err != io.EOF {
			return nil, err
		}
		return data, nil
	}
	if n.pend != nil {
		data, err := n.ns.fs.saver.ReadAll(*n.pend)
		if err != nil {
			return nil, fmt.Errorf("reading a pending save: %w", err)
		}
		return data, nil
	}
	if n.nb.ID == "" {
		return []byte{}, nil
	}
	return n.ns.fs.store.Bytes(ctx, n.ns.ns, n.nb.ID, n.nb.Version, n.nb.Size)
}

// copyContentLocked writes the file's current content into w (a new
// staged copy), streaming large notebooks instead of holding them.
func (n *File) copyContentLocked(ctx context.Context, w io.Writer) error {
	src, err := n.sourceLocked(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	h := save.NewHash()
	buf := make([]byte, 1<<20)
	for off := int64(0); ; {
		k, err := src.ReadAt(ctx, buf, off)
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

// setUnsavedLocked keeps FS.unsaved, the count of files holding changes
// that could not be saved, in step with this file.
func (n *File) setUnsavedLocked(on bool) {
	if n.unsaved == on {
		return
	}
	n.unsaved = on
	if on {
		n.ns.fs.unsaved.Add(1)
	} else {
		n.ns.fs.unsaved.Add(-1)
	}
}

// Handle is an open file. A notebook's handle reads the staged copy while
// there is one (a writer sees its own writes), else one version of the
// notebook, never a mix; a scratch file's handle is the local file (OS).
type Handle struct {
	file  *File
	write bool
	os    *os.File // scratch files

	// wrote is set by a write or ftruncate through this handle; only then
	// is its flush a save (a shell's open(O_TRUNC) is followed by a flush
	// of the descriptor it dup'ed before anything is written).
	wrote bool // GUARDED_BY(file.mu)
	// awaiting is set while a flush left the file to this handle's
	// release to save (counted in FS.releases, which Drain waits for).
	awaiting bool // GUARDED_BY(file.mu)

	// Direct asks the kernel not to cache this handle's reads: the
	// kernel's page cache is one per file, and another handle still
	// reads an older version from it (each handle reads one version).
	Direct bool
	pinned time.Time       // the version shown at open, while counted in file.readers
	nb     remote.Notebook // that version: what the handle reads, whatever comes after

	mu       sync.Mutex
	released bool         // GUARDED_BY(mu)
	src      cache.Source // GUARDED_BY(mu): the version read
}

// OS is the local file of a scratch file's handle, else nil.
func (h *Handle) OS() *os.File { return h.os }

// File is the handle's file.
func (h *Handle) File() *File { return h.file }

// Pinned reports whether the handle reads the remote version shown at
// open, whatever comes after (a read-only open with no save of ours on its
// way); otherwise it reads what the file holds at its first read.
func (h *Handle) Pinned() bool { return h.nb.ID != "" }

// ReadAt serves from the staged copy, else from the version this handle
// first read: a pending save in the journal, the disk cache (large
// notebooks, streamed as they download) or the memory cache.
func (h *Handle) ReadAt(ctx context.Context, dest []byte, off int64) (int, error) {
	if h.os != nil {
		k, err := h.os.ReadAt(dest, off)
		if err == io.EOF {
			err = nil
		}
		return k, err
	}
	n := h.file
	n.mu.Lock()
	if n.staged != nil {
		defer n.mu.Unlock()
		k, err := n.staged.ReadAt(dest, off)
		if err == io.EOF {
			err = nil
		}
		return k, err
	}
	h.mu.Lock()
	// A handle keeps the version it first read, even when a listing
	// refresh brings a newer one: a read never mixes two versions
	// (close-to-open consistency, as NFS).
	if h.src == nil {
		var src cache.Source
		var err error
		if h.nb.ID != "" {
			// The version shown at open, even when a refresh or a save
			// came between the open and the first read.
			src, err = n.ns.fs.store.Open(ctx, n.ns.ns, h.nb.ID, h.nb.Version, h.nb.Size)
		} else {
			src, err = n.sourceLocked(ctx)
		}
		if err != nil {
			h.mu.Unlock()
			n.mu.Unlock()
			return 0, err
		}
		h.src = src
	}
	src := h.src
	h.mu.Unlock()
	n.mu.Unlock()
	// Without the file's lock: a streamed read may wait for its bytes.
	k, err := src.ReadAt(ctx, dest, off)
	if err == io.EOF {
		err = nil
	}
	return k, err
}

// WriteAt copies data into the staged copy (the caller may reuse data).
func (h *Handle) WriteAt(ctx context.Context, data []byte, off int64) (int, error) {
	if h.os != nil {
		return h.os.WriteAt(data, off)
	}
	n := h.file
	n.mu.Lock()
	defer n.mu.Unlock()
	if !h.write {
		return 0, syscall.EBADF
	}
	if err := n.stageLocked(ctx, true); err != nil {
		return 0, err
	}
	k, err := n.staged.WriteAt(data, off)
	if err != nil {
		return k, err
	}
	n.dirty = !n.gone
	h.wrote = true
	return k, nil
}

// Flush (every close) journals the staged copy if this handle changed it:
// the save is durable when close returns. It is idempotent: dup'ed
// descriptors flush more than once.
func (h *Handle) Flush(ctx context.Context) error {
	if h.os != nil || !h.write {
		return nil
	}
	n := h.file
	n.mu.Lock()
	defer n.mu.Unlock()
	if !h.wrote {
		// Truncated at open and nothing written yet: the last release
		// saves it if nothing else does (": > x.ipynb").
		if n.dirty && !h.awaiting {
			h.awaiting = true
			n.ns.fs.releases.add(1)
		}
		return nil
	}
	return n.journalLocked()
}

// Fsync journals like Flush, then waits for the upload: EIO when it is not
// done within the call deadline (the save stays queued).
func (h *Handle) Fsync(ctx context.Context) error {
	if h.os != nil {
		return h.os.Sync()
	}
	n := h.file
	n.mu.Lock()
	err := n.journalLocked()
	ref := n.ref
	n.mu.Unlock()
	if err != nil {
		return err
	}
	return n.waitUploaded(ctx, ref)
}

// Release frees the staged copy once no writer is left and it is saved.
// A copy still dirty then (truncated and never written, or a journal
// write that failed at close) is saved now; one that cannot be is kept,
// so readers and the next close see it.
func (h *Handle) Release(ctx context.Context) error {
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return syscall.EBADF
	}
	h.released = true
	if h.src != nil {
		h.src.Close()
		h.src = nil
	}
	h.mu.Unlock()
	if h.os != nil {
		return h.os.Close()
	}
	if !h.write {
		if !h.pinned.IsZero() {
			n := h.file
			n.mu.Lock()
			if n.readers[h.pinned]--; n.readers[h.pinned] <= 0 {
				delete(n.readers, h.pinned)
			}
			n.mu.Unlock()
		}
		return nil
	}
	n := h.file
	n.mu.Lock()
	defer n.mu.Unlock()
	if h.awaiting {
		defer n.ns.fs.releases.add(-1)
	}
	n.writers--
	if n.writers == 0 {
		if n.dirty {
			if err := n.journalLocked(); err != nil {
				n.ns.fs.log.WithError(err).WithField("path", n.ns.Path(n.name)).Warn("changes could not be journaled; they are kept in the staged copy and saved at the next close or fsync")
				n.setUnsavedLocked(true)
				return nil
			}
		}
		n.dropStagedLocked()
	}
	return nil
}
