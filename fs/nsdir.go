package fs

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"notebookfs/fs/save"
	"notebookfs/remote"
)

// nsDir is one namespace: its notebooks as "<name>.ipynb" files, plus local
// scratch entries (editor files) kept under the scratch directory.
type nsDir struct {
	gofs.Inode
	root *Root
	cat  remote.Category
	ns   string
	key  string // "cat/ns": the listing's cache key and the scratch sub-path

	mu sync.Mutex
	// pending are new notebooks not uploaded yet, by file name.
	pending map[string]*fileNode // GUARDED_BY(mu)
	// replayed are new notebooks a previous run journaled and did not
	// upload, by file name, until a lookup makes them pending nodes.
	replayed map[string]save.Entry // GUARDED_BY(mu)
	// moved records notebooks renamed to a scratch name (an editor's backup),
	// by that scratch name: a new file of the old name becomes a new
	// version of the same notebook, and removing the backup without that
	// deletes the notebook.
	moved map[string]*movedAway // GUARDED_BY(mu)
	// hidden are ids of moved-away notebooks, not shown under their name.
	hidden map[string]bool // GUARDED_BY(mu)
	// names is the file-name view of the cached listing of namesAt.
	names   map[string]remote.Notebook // GUARDED_BY(mu)
	namesAt time.Time                  // GUARDED_BY(mu)
	// gen counts our own changes to the listing; a refresh that raced
	// with one is not stored.
	gen        uint64 // GUARDED_BY(mu)
	refreshing bool   // GUARDED_BY(mu): a background refresh runs

	versions     *versionsDir // the .versions history, made on first lookup
	versionsOnce sync.Once
}

type movedAway struct {
	nb      remote.Notebook
	file    string // the file name it had
	rebound bool   // a new file of that name took over the notebook
}

var _ = (gofs.NodeLookuper)((*nsDir)(nil))
var _ = (gofs.NodeReaddirer)((*nsDir)(nil))
var _ = (gofs.NodeGetattrer)((*nsDir)(nil))
var _ = (gofs.NodeSetattrer)((*nsDir)(nil))
var _ = (gofs.NodeCreater)((*nsDir)(nil))
var _ = (gofs.NodeMkdirer)((*nsDir)(nil))
var _ = (gofs.NodeRmdirer)((*nsDir)(nil))
var _ = (gofs.NodeUnlinker)((*nsDir)(nil))
var _ = (gofs.NodeRenamer)((*nsDir)(nil))
var _ = (gofs.NodeSymlinker)((*nsDir)(nil))
var _ = (gofs.NodeLinker)((*nsDir)(nil))
var _ = (gofs.NodeMknoder)((*nsDir)(nil))

func newNSDir(r *Root, cat remote.Category, ns string) *nsDir {
	d := &nsDir{
		root: r, cat: cat, ns: ns, key: string(cat) + "/" + ns,
		pending: map[string]*fileNode{},
		hidden:  map[string]bool{},
	}
	d.replayed = map[string]save.Entry{}
	for _, e := range r.wb.UnfinishedCreates(string(cat), ns) {
		d.replayed[e.Name+".ipynb"] = e
	}
	// Backups made before a restart keep their notebooks hidden.
	d.moved = r.moved.get(d.key, d.scratchDir())
	for _, m := range d.moved {
		if !m.rebound {
			d.hidden[m.nb.ID] = true
		}
	}
	return d
}

func (d *nsDir) scratchDir() string { return filepath.Join(d.root.scratch.Path, d.key) }

func (d *nsDir) scratchPath(file string) string { return filepath.Join(d.scratchDir(), file) }

func (d *nsDir) path(file string) string { return d.key + "/" + file }

// canCreate reports whether I may create notebooks here: in owned/, my own
// namespace and organizations where my role is not read_only.
func (d *nsDir) canCreate(ctx context.Context) bool {
	if d.cat != remote.Owned || d.root.opts.ReadOnly {
		return false
	}
	u, err := d.root.whoami(ctx)
	if err != nil {
		return false
	}
	if u.Username == d.ns {
		return true
	}
	for _, o := range u.Organizations {
		if o.Name == d.ns {
			return o.Role != "read_only"
		}
	}
	return false
}

// list returns the namespace's notebooks by file name: from the metadata
// cache while fresh; a stale listing is served at once while one refresh
// runs in the background (stale-while-revalidate); with nothing cached,
// one List call now. When the remote fails, the last known listing stays.
func (d *nsDir) list(ctx context.Context) (map[string]remote.Notebook, error) {
	e, ok := d.root.lists.Get(d.key)
	switch {
	case ok && !e.Negative && e.Fresh:
	case ok && !e.Negative:
		d.refreshInBackground()
	default:
		nbs, stored, err := d.refreshList(ctx)
		if err != nil {
			// Unreachable with nothing cached (a mount started offline):
			// the listing of the last session, if any.
			var last []remote.Notebook
			if !d.root.last.load("list/"+d.key, &last) {
				return nil, err
			}
			d.root.log.WithError(err).WithField("path", d.key).Warn("the remote is unreachable; showing the listing of the last session")
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.visible(fileNames(last)), nil
		}
		if !stored {
			// Our own change raced with this listing: use it for this call
			// only, with that change applied by the next refresh.
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.visible(fileNames(nbs)), nil
		}
		e, _ = d.root.lists.Get(d.key)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.namesLocked(e), nil
}

// refreshList asks the remote for the listing and stores it, unless one
// of our own changes (create, rename, delete) happened meanwhile: the
// listing may predate it, and storing it would undo the change.
func (d *nsDir) refreshList(ctx context.Context) ([]remote.Notebook, bool, error) {
	d.mu.Lock()
	gen := d.gen
	d.mu.Unlock()
	cctx, cancel := d.root.callCtx(ctx)
	nbs, err := d.root.client.List(cctx, d.cat, d.ns)
	cancel()
	if err != nil {
		return nil, false, err
	}
	d.mu.Lock()
	stored := d.gen == gen
	if stored {
		d.root.lists.Put(d.key, nbs)
		d.names = nil
	}
	d.mu.Unlock()
	// Kept for a mount started offline; off the listing's path (nbs is
	// never modified: our own edits copy it).
	d.root.background(func(context.Context) { d.root.last.save("list/"+d.key, nbs) })
	d.root.prefetch(d.ns, nbs)
	return nbs, stored, nil
}

// refreshInBackground starts one refresh of a stale listing, if none runs.
func (d *nsDir) refreshInBackground() {
	d.mu.Lock()
	if d.refreshing {
		d.mu.Unlock()
		return
	}
	d.refreshing = true
	d.mu.Unlock()
	d.root.background(func(ctx context.Context) {
		defer func() {
			d.mu.Lock()
			d.refreshing = false
			d.mu.Unlock()
		}()
		if _, _, err := d.refreshList(ctx); err != nil {
			d.root.log.WithError(err).WithField("path", d.key).Warn("refreshing a listing failed; showing the last known one")
		}
	})
}

// namesLocked derives the file-name view once per stored listing.
func (d *nsDir) namesLocked(e cacheEntry) map[string]remote.Notebook {
	if d.names != nil && d.namesAt.Equal(e.Stored) {
		return d.names
	}
	d.names, d.namesAt = d.visible(fileNames(e.Value)), e.Stored
	return d.names
}

// visible leaves out moved-away notebooks.
func (d *nsDir) visible(names map[string]remote.Notebook) map[string]remote.Notebook {
	for file, nb := range names {
		if d.hidden[nb.ID] {
			delete(names, file)
		}
	}
	return names
}

// editList applies our own change to the cached listing, so the next
// lookup sees it without another List call.
func (d *nsDir) editList(f func([]remote.Notebook) []remote.Notebook) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	e, ok := d.root.lists.Get(d.key)
	if !ok || e.Negative {
		return
	}
	d.root.lists.Put(d.key, f(append([]remote.Notebook(nil), e.Value...)))
	d.names = nil
}

// upsert puts nb into the cached listing, replacing an entry of its id;
// its cached version list is stale from now on.
func (d *nsDir) upsert(nb remote.Notebook) {
	d.root.versionLists.Invalidate(nb.ID)
	d.editList(func(l []remote.Notebook) []remote.Notebook {
		for i := range l {
			if l[i].ID == nb.ID {
				l[i] = nb
				return l
			}
		}
		return append(l, nb)
	})
}

// drop removes notebook id from the cached listing.
func (d *nsDir) drop(id string) {
	d.editList(func(l []remote.Notebook) []remote.Notebook {
		out := l[:0]
		for _, nb := range l {
			if nb.ID != id {
				out = append(out, nb)
			}
		}
		return out
	})
}

// Getattr reports the namespace directory: writable where I may create.
func (d *nsDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.attr(ctx, &out.Attr)
	return 0
}

func (d *nsDir) attr(ctx context.Context, a *fuse.Attr) {
	perm := uint32(0o555)
	if d.canCreate(ctx) {
		perm = 0o755
	}
	d.root.dirAttr(a, perm)
}

// Setattr on a namespace directory is accepted and ignored (cp -a, rsync).
func (d *nsDir) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	d.attr(ctx, &out.Attr)
	return 0
}

// Readdir lists notebooks, new notebooks not yet uploaded and scratch
// entries, sorted by name.
func (d *nsDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	// Pending first: a new notebook whose upload ends meanwhile is in the
	// listing by the time it leaves the pending set.
	d.mu.Lock()
	var pending []string
	for file := range d.pending {
		pending = append(pending, file)
	}
	for file := range d.replayed {
		pending = append(pending, file)
	}
	d.mu.Unlock()
	names, err := d.list(ctx)
	if err != nil {
		return nil, toErrno(d.root.log, "readdir", d.key, err)
	}
	seen := map[string]bool{}
	var ents []fuse.DirEntry
	add := func(e fuse.DirEntry) {
		if !seen[e.Name] {
			seen[e.Name] = true
			ents = append(ents, e)
		}
	}
	for file, nb := range names {
		add(fuse.DirEntry{Name: file, Mode: syscall.S_IFREG, Ino: stableIno(nb.ID)})
	}
	for _, file := range pending {
		add(fuse.DirEntry{Name: file, Mode: syscall.S_IFREG})
	}
	if local, err := os.ReadDir(d.scratchDir()); err == nil {
		for _, e := range local {
			add(fuse.DirEntry{Name: e.Name(), Mode: uint32(e.Type().Type()) | modeType(e.Type())})
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return gofs.NewListDirStream(ents), 0
}

// modeType converts an os.FileMode type to the S_IF bits.
func modeType(m os.FileMode) uint32 {
	switch {
	case m&os.ModeDir != 0:
		return syscall.S_IFDIR
	case m&os.ModeSymlink != 0:
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

// Lookup finds a notebook (listing or pending) or a scratch entry.
func (d *nsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if name == versionsDirName {
		d.root.dirAttr(&out.Attr, 0o555)
		return d.versionsDir(ctx).EmbeddedInode(), 0
	}
	d.mu.Lock()
	p := d.pending[name]
	if e, ok := d.replayed[name]; ok && p == nil {
		// A new notebook journaled before a restart: shown (and read
		// from the journal) before its upload.
		delete(d.replayed, name)
		p = &fileNode{dir: d, name: name, pend: &e, wbKey: e.Key}
		d.pending[name] = p
		d.root.wbn.set(e.Key, p)
		d.NewInode(ctx, p, gofs.StableAttr{Mode: syscall.S_IFREG})
	}
	d.mu.Unlock()
	if p != nil {
		p.getattr(ctx, &out.Attr)
		return p.EmbeddedInode(), 0
	}
	names, err := d.list(ctx)
	if err != nil {
		return nil, toErrno(d.root.log, "lookup", d.path(name), err)
	}
	if nb, ok := names[name]; ok {
		n := d.notebookNode(ctx, name, nb)
		n.getattr(ctx, &out.Attr)
		d.root.entryTimeouts(out)
		return n.EmbeddedInode(), 0
	}
	if isNotebookName(name) {
		return nil, syscall.ENOENT
	}
	return d.lookupScratch(ctx, name, out)
}

// versionsDir is the namespace's .versions directory, one per nsDir.
func (d *nsDir) versionsDir(ctx context.Context) *versionsDir {
	d.versionsOnce.Do(func() {
		d.versions = &versionsDir{ns: d}
		d.NewPersistentInode(ctx, d.versions, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: stableIno("versions/" + d.key)})
	})
	return d.versions
}

// notebookNode returns the one live node of a notebook, refreshing its
// metadata from the listing unless it has unsaved writes.
func (d *nsDir) notebookNode(ctx context.Context, file string, nb remote.Notebook) *fileNode {
	if n := d.root.nodes.get(nb.ID); n != nil && n.dir == d && n.refresh(file, nb) {
		return n
	}
	n := &fileNode{dir: d, name: file, nb: nb, base: nb.Version}
	n.attachPendingLocked()
	d.NewInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: d.root.nodes.claimIno(nb.ID, n)})
	d.root.nodes.bind(nb.ID, n)
	return n
}

func (d *nsDir) lookupScratch(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	var st syscall.Stat_t
	if err := syscall.Lstat(d.scratchPath(name), &st); err != nil {
		return nil, toErrno(d.root.log, "lookup", d.path(name), err)
	}
	out.Attr.FromStat(&st)
	ch := d.scratchInode(ctx, name, &st)
	if st.Mode&syscall.S_IFMT == syscall.S_IFREG {
		out.Attr.Ino = 0 // an automatic number, filled in by the bridge
	}
	return ch, 0
}

// scratchInode wraps a scratch entry: regular files are fileNodes (so a
// rename onto a notebook name can turn them into a save), directories and
// symlinks are plain go-fuse loopback nodes.
//
// Local inode numbers are reused as soon as a file is deleted (every
// "sed -i" temp file gets the number of the previous one), and go-fuse
// dedupes nodes by (mode, ino, gen): a reused number would resolve to a
// node that has since become a notebook. So scratch files take automatic
// numbers (they never have a second name), and directories and symlinks
// carry their ctime as the generation, as go-fuse's loopback does with
// birth times.
func (d *nsDir) scratchInode(ctx context.Context, name string, st *syscall.Stat_t) *gofs.Inode {
	if st.Mode&syscall.S_IFMT == syscall.S_IFREG {
		if ch := d.GetChild(name); ch != nil {
			if n, ok := ch.Operations().(*fileNode); ok && n.isScratch() {
				return ch
			}
		}
		return d.NewInode(ctx, &fileNode{dir: d, name: name, scratch: true}, gofs.StableAttr{Mode: syscall.S_IFREG})
	}
	attr := gofs.StableAttr{Mode: st.Mode & syscall.S_IFMT, Ino: st.Ino, Gen: uint64(st.Ctim.Nano())}
	return d.NewInode(ctx, &gofs.LoopbackNode{RootData: d.root.scratch}, attr)
}

func (d *nsDir) ensureScratchDir() error {
	return os.MkdirAll(d.scratchDir(), 0o700)
}

// Create makes a new notebook (uploaded on close) or a scratch file.
func (d *nsDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if name == versionsDirName {
		return nil, nil, 0, syscall.EEXIST
	}
	if !isNotebookName(name) {
		return d.createScratch(ctx, name, flags, mode, out)
	}
	if d.root.opts.ReadOnly {
		return nil, nil, 0, syscall.EROFS
	}
	if err := remote.ValidName(notebookName(name)); err != nil {
		return nil, nil, 0, toErrno(d.root.log, "create", d.path(name), err)
	}
	names, err := d.list(ctx)
	if err != nil {
		return nil, nil, 0, toErrno(d.root.log, "create", d.path(name), err)
	}
	if nb, ok := names[name]; ok {
		// The kernel thought the name free (a stale negative entry).
		if flags&syscall.O_EXCL != 0 {
			return nil, nil, 0, syscall.EEXIST
		}
		n := d.notebookNode(ctx, name, nb)
		fh, fflags, errno := n.Open(ctx, flags|syscall.O_TRUNC)
		if errno != 0 {
			return nil, nil, 0, errno
		}
		n.getattr(ctx, &out.Attr)
		return n.EmbeddedInode(), fh, fflags, 0
	}
	if !d.canCreate(ctx) {
		return nil, nil, 0, syscall.EACCES
	}
	n := &fileNode{dir: d, name: name}
	d.mu.Lock()
	if _, dup := d.pending[name]; dup {
		d.mu.Unlock()
		return nil, nil, 0, syscall.EEXIST
	}
	// An editor that moved the notebook away to a backup name and now
	// writes a new file of the old name is saving the same notebook.
	for _, m := range d.moved {
		if m.file == name && !m.rebound {
			m.rebound = true
			d.saveMovedLocked()
			delete(d.hidden, m.nb.ID)
			d.names = nil
			n.nb = m.nb
			break
		}
	}
	if n.nb.ID == "" {
		d.pending[name] = n
	}
	d.mu.Unlock()

	attr := gofs.StableAttr{Mode: syscall.S_IFREG}
	if n.nb.ID != "" {
		// Rebound to a moved-away notebook, whose backup node may still
		// hold the stable ino: claimIno then gives 0, a fresh number.
		attr.Ino = d.root.nodes.claimIno(n.nb.ID, n)
		d.root.nodes.bind(n.nb.ID, n)
	}
	ch := d.NewInode(ctx, n, attr)
	fh, fflags, errno := n.openNew(ctx, flags)
	if errno != 0 {
		d.mu.Lock()
		delete(d.pending, name)
		d.mu.Unlock()
		return nil, nil, 0, errno
	}
	n.getattr(ctx, &out.Attr)
	return ch, fh, fflags, 0
}

func (d *nsDir) createScratch(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if err := d.ensureScratchDir(); err != nil {
		return nil, nil, 0, toErrno(d.root.log, "create", d.path(name), err)
	}
	f, err := os.OpenFile(d.scratchPath(name), int(flags&^syscall.O_APPEND)|os.O_CREATE, os.FileMode(mode&0o7777))
	if err != nil {
		return nil, nil, 0, toErrno(d.root.log, "create", d.path(name), err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, nil, 0, toErrno(d.root.log, "create", d.path(name), err)
	}
	ch := d.NewInode(ctx, &fileNode{dir: d, name: name, scratch: true}, gofs.StableAttr{Mode: syscall.S_IFREG})
	out.Attr.FromStat(&st)
	out.Attr.Ino = 0
	d.ownAttr(&out.Attr)
	return ch, gofs.NewLoopbackFileFromOS(f), 0, 0
}

// ownAttr shows scratch entries as the mounting user's, like notebooks.
func (d *nsDir) ownAttr(a *fuse.Attr) { a.Uid, a.Gid = d.root.opts.UID, d.root.opts.GID }

// Mkdir makes a scratch directory (e.g. .ipynb_checkpoints); a directory
// cannot take a notebook's name.
func (d *nsDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if name == versionsDirName {
		return nil, syscall.EEXIST
	}
	if isNotebookName(name) {
		return nil, syscall.EPERM
	}
	if err := d.ensureScratchDir(); err != nil {
		return nil, toErrno(d.root.log, "mkdir", d.path(name), err)
	}
	if err := os.Mkdir(d.scratchPath(name), os.FileMode(mode&0o7777)); err != nil {
		return nil, toErrno(d.root.log, "mkdir", d.path(name), err)
	}
	return d.lookupScratch(ctx, name, out)
}

// Rmdir removes a scratch directory.
func (d *nsDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	if name == versionsDirName {
		return syscall.EROFS
	}
	if isNotebookName(name) {
		return syscall.ENOTDIR
	}
	return toErrno(d.root.log, "rmdir", d.path(name), syscall.Rmdir(d.scratchPath(name)))
}

// Symlink makes a scratch symlink (emacs lock files); notebooks cannot be
// symlinks.
func (d *nsDir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if isNotebookName(name) || name == versionsDirName {
		return nil, syscall.EPERM
	}
	if err := d.ensureScratchDir(); err != nil {
		return nil, toErrno(d.root.log, "symlink", d.path(name), err)
	}
	if err := os.Symlink(target, d.scratchPath(name)); err != nil {
		return nil, toErrno(d.root.log, "symlink", d.path(name), err)
	}
	return d.lookupScratch(ctx, name, out)
}

// Link is refused: notebooks have one name.
func (d *nsDir) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Mknod is refused: no devices or fifos in a namespace.
func (d *nsDir) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Unlink deletes a notebook, forgets a pending one, or removes a scratch
// file. Removing an editor's backup of a moved-away notebook that was not
// written again deletes that notebook.
func (d *nsDir) Unlink(ctx context.Context, name string) syscall.Errno {
	if name == versionsDirName {
		return syscall.EISDIR
	}
	d.mu.Lock()
	if p := d.pending[name]; p != nil {
		delete(d.pending, name)
		d.mu.Unlock()
		p.mu.Lock()
		key := p.wbKey
		p.mu.Unlock()
		if key != "" {
			d.root.wb.Cancel(key, "")
		}
		p.markGone()
		return 0
	}
	m := d.moved[name]
	d.mu.Unlock()

	if !isNotebookName(name) || m != nil {
		if m != nil && !m.rebound {
			if errno := d.deleteRemote(ctx, name, m.nb); errno != 0 {
				return errno
			}
		}
		d.mu.Lock()
		delete(d.moved, name)
		d.saveMovedLocked()
		d.mu.Unlock()
		err := syscall.Unlink(d.scratchPath(name))
		if m != nil && err == syscall.ENOENT {
			err = nil
		}
		return toErrno(d.root.log, "unlink", d.path(name), err)
	}
	names, err := d.list(ctx)
	if err != nil {
		return toErrno(d.root.log, "unlink", d.path(name), err)
	}
	nb, ok := names[name]
	if !ok {
		return syscall.ENOENT
	}
	return d.deleteRemote(ctx, name, nb)
}

// deleteRemote deletes a notebook and every trace of it in our caches.
func (d *nsDir) deleteRemote(ctx context.Context, file string, nb remote.Notebook) syscall.Errno {
	return d.deleteRemoteHeld(ctx, file, nb, nil)
}

// deleteRemoteHeld is deleteRemote from a rename, which holds held's lock
// (held is never the deleted notebook's node).
func (d *nsDir) deleteRemoteHeld(ctx context.Context, file string, nb remote.Notebook, held *fileNode) syscall.Errno {
	if d.root.opts.ReadOnly {
		return syscall.EROFS
	}
	cctx, cancel := d.root.saveCtx(ctx)
	err := d.root.client.Delete(cctx, d.ns, nb.ID)
	cancel()
	if err != nil {
		return toErrno(d.root.log, "unlink", d.path(file), err)
	}
	// Saves still on their way would bring the notebook back.
	d.root.wb.Cancel("", nb.ID)
	d.drop(nb.ID)
	if d.root.content != nil {
		d.root.content.RemoveID(nb.ID)
	}
	if d.root.disk != nil {
		d.root.disk.RemoveID(nb.ID)
	}
	if ch := d.GetChild(file); ch != nil {
		if n, ok := ch.Operations().(*fileNode); ok && n != held && n.boundTo(nb.ID) {
			n.markGone()
		}
	}
	return 0
}
