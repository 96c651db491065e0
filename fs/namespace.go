package fs

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/singleflight"

	"notebookfs/cache"
	"notebookfs/fs/save"
	"notebookfs/remote"
)

// Namespace is one namespace directory: its notebooks as "<name>.ipynb"
// files, plus local scratch entries (editor files) kept under the scratch
// directory.
type Namespace struct {
	fs  *FS
	cat remote.Category
	ns  string
	key string // "cat/ns": the listing's cache key and the scratch sub-path

	mu sync.Mutex
	// pending are new notebooks not uploaded yet, by file name.
	pending map[string]*File // GUARDED_BY(mu)
	// replayed are new notebooks a previous run journaled and did not
	// upload, by file name, until a lookup makes them pending files.
	replayed map[string]save.Entry // GUARDED_BY(mu)
	// moved records notebooks renamed to a scratch name (an editor's
	// backup), by that scratch name: a new file of the old name becomes a
	// new version of the same notebook, and removing the backup without
	// that deletes the notebook.
	moved map[string]*movedAway // GUARDED_BY(mu)
	// hidden are ids of moved-away notebooks, not shown under their name.
	hidden map[string]bool // GUARDED_BY(mu)
	// names is the file-name view of the cached listing of namesAt.
	names   map[string]remote.Notebook // GUARDED_BY(mu)
	namesAt time.Time                  // GUARDED_BY(mu)
	// gen counts our own changes to the listing; a refresh that raced
	// with one is not stored.
	gen        uint64     // GUARDED_BY(mu)
	edits      []listEdit // GUARDED_BY(mu): the last of our changes, by gen
	refreshing bool       // GUARDED_BY(mu): a background refresh runs
	used       time.Time  // GUARDED_BY(mu): last listing or lookup (Poll)
	// live are the files handed out by name (the kernel may hold them):
	// a rename or delete of a name acts on its file.
	live map[string]*File // GUARDED_BY(mu)

	flight singleflight.Group // one List at a time

	versions     *Versions // the .versions history, made on first lookup
	versionsOnce sync.Once
}

type movedAway struct {
	nb      remote.Notebook
	file    string // the file name it had
	rebound bool   // a new file of that name took over the notebook
}

func newNamespace(f *FS, cat remote.Category, ns string) *Namespace {
	d := &Namespace{
		fs: f, cat: cat, ns: ns, key: string(cat) + "/" + ns,
		pending:  map[string]*File{},
		hidden:   map[string]bool{},
		live:     map[string]*File{},
		replayed: map[string]save.Entry{},
	}
	for _, e := range f.saver.PendingCreates(string(cat), ns) {
		d.replayed[e.Name+Suffix] = e
	}
	// Backups made before a restart keep their notebooks hidden.
	d.moved = f.moved.get(d.key, d.scratchDir())
	for _, m := range d.moved {
		if !m.rebound {
			d.hidden[m.nb.ID] = true
		}
	}
	return d
}

// Name is the namespace.
func (d *Namespace) Name() string { return d.ns }

// Category is the namespace's category.
func (d *Namespace) Category() remote.Category { return d.cat }

// Ino is the directory's inode number.
func (d *Namespace) Ino() uint64 { return stableIno(d.key) }

func (d *Namespace) scratchDir() string { return filepath.Join(d.fs.scratch, d.key) }

func (d *Namespace) scratchPath(file string) string { return filepath.Join(d.scratchDir(), file) }

// Key is the directory's path from the mount's root: "cat/ns".
func (d *Namespace) Key() string { return d.key }

// Path is file's path from the mount's root.
func (d *Namespace) Path(file string) string { return d.key + "/" + file }

// Writable reports whether I may create notebooks here: in owned/, my own
// namespace and organizations where my role is not read_only.
func (d *Namespace) Writable(ctx context.Context) bool {
	if d.cat != remote.Owned || d.fs.opts.ReadOnly {
		return false
	}
	u, err := d.fs.whoami(ctx)
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
// cache while fresh, else from a listing asked for now (close-to-open: what
// is shown after the TTL is current; concurrent callers share one List).
// When the remote fails, the stale listing, or the last session's, stays.
func (d *Namespace) list(ctx context.Context) (map[string]remote.Notebook, error) {
	d.touch()
	e, ok := d.fs.lists.Get(d.key)
	if ok && !e.Negative && e.Fresh {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.namesLocked(e), nil
	}
	nbs, stored, err := d.refreshShared(ctx)
	// A listing that raced with our own change (a create landing) may
	// lack it, and answering from it would hide a notebook we just saved:
	// ask again, now that the change is done.
	for try := 0; err == nil && !stored && try < 2; try++ {
		nbs, stored, err = d.refreshShared(ctx)
	}
	if err != nil && ctx.Err() != nil {
		// Interrupted (a signal to the caller): an answer from the stale
		// listing would look fresh; the caller retries.
		return nil, err
	}
	if err != nil {
		if ok && !e.Negative {
			d.fs.log.WithError(err).WithField("path", d.key).Warn("refreshing a listing failed; showing the last known one")
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.namesLocked(e), nil
		}
		// Unreachable with nothing cached (a mount started offline): the
		// listing of the last session, if any.
		var last []remote.Notebook
		if !d.fs.last.load("list/"+d.key, &last) {
			return nil, err
		}
		d.fs.log.WithError(err).WithField("path", d.key).Warn("the remote is unreachable; showing the listing of the last session")
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.visible(fileNames(last)), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.fs.lists.Get(d.key); stored && ok && !e.Negative {
		return d.namesLocked(e), nil
	}
	// Our own change raced with this listing: use it for this call only,
	// with that change applied by the next refresh.
	return d.visible(fileNames(nbs)), nil
}

type listed struct {
	nbs    []remote.Notebook
	stored bool
}

// refreshShared runs one refresh of the listing for all who ask at once;
// each caller stops waiting when its own ctx ends.
func (d *Namespace) refreshShared(ctx context.Context) ([]remote.Notebook, bool, error) {
	ch := d.flight.DoChan("list", func() (any, error) {
		nbs, stored, err := d.refreshList(context.WithoutCancel(ctx))
		return listed{nbs, stored}, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, false, r.Err
		}
		l := r.Val.(listed)
		return l.nbs, l.stored, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// fresh reports whether the listing was checked within the TTL.
func (d *Namespace) fresh() bool {
	e, ok := d.fs.lists.Get(d.key)
	return ok && !e.Negative && e.Fresh
}

// freshFor is how much longer the listing is trusted (0: stale); the
// kernel's caches of its entries must not outlive it.
func (d *Namespace) freshFor() time.Duration {
	e, ok := d.fs.lists.Get(d.key)
	if !ok || e.Negative || !e.Fresh {
		return 0
	}
	return max(0, d.fs.opts.MetadataTTL-d.fs.now().Sub(e.Stored))
}

// refreshList asks the remote for the listing and stores it, unless one
// of our own changes (create, rename, delete) happened meanwhile: the
// listing may predate it, and storing it would undo the change. Files the
// kernel may hold take the new metadata, and what changed remotely is
// queued for the kernel to forget.
func (d *Namespace) refreshList(ctx context.Context) ([]remote.Notebook, bool, error) {
	d.mu.Lock()
	gen := d.gen
	d.mu.Unlock()
	asked := d.fs.now()
	cctx, cancel := d.fs.callCtx(ctx)
	nbs, err := d.fs.client.List(cctx, d.cat, d.ns)
	cancel()
	if err != nil {
		return nil, false, err
	}
	var changes []Invalidation
	var cur map[string]remote.Notebook
	d.mu.Lock()
	// Our own changes made while the request was out are applied again:
	// the answer may predate them, and storing it as it is would undo them.
	raw := nbs
	nbs, stored := d.withEditsSinceLocked(nbs, gen)
	if !stored {
		nbs = raw
	}
	if stored {
		old, had := d.fs.lists.Get(d.key)
		d.fs.lists.PutAt(d.key, nbs, asked)
		d.names = nil
		cur = d.visible(fileNames(nbs))
		if had && !old.Negative {
			changes = listingChanges(d.cat, d.ns, d.visible(fileNames(old.Value)), cur)
		}
	}
	d.mu.Unlock()
	if stored {
		for file, nb := range cur {
			if n := d.fs.nodes.get(nb.ID); n != nil && n.ns == d {
				n.refresh(file, nb)
			}
		}
		d.fs.inval.add(d.fs.othersChanges(changes, cur)...)
	}
	// Kept for a mount started offline; off the listing's path (nbs is
	// never modified: our own edits copy it).
	d.fs.bg.Go(func(context.Context) { d.fs.last.save("list/"+d.key, nbs) })
	d.fs.prefetch(d.ns, nbs)
	return nbs, stored, nil
}

// refreshInBackground starts one refresh of the listing, if none runs
// (--poll-interval).
func (d *Namespace) refreshInBackground() {
	d.mu.Lock()
	if d.refreshing {
		d.mu.Unlock()
		return
	}
	d.refreshing = true
	d.mu.Unlock()
	started := d.fs.bg.Go(func(ctx context.Context) {
		defer func() {
			d.mu.Lock()
			d.refreshing = false
			d.mu.Unlock()
		}()
		if _, _, err := d.refreshShared(ctx); err != nil {
			d.fs.log.WithError(err).WithField("path", d.key).Warn("refreshing a listing failed; showing the last known one")
		}
	})
	if !started {
		d.mu.Lock()
		d.refreshing = false
		d.mu.Unlock()
	}
}

// namesLocked derives the file-name view once per stored listing.
func (d *Namespace) namesLocked(e cache.Entry[[]remote.Notebook]) map[string]remote.Notebook {
	if d.names != nil && d.namesAt.Equal(e.Stored) {
		return d.names
	}
	d.names, d.namesAt = d.visible(fileNames(e.Value)), e.Stored
	return d.names
}

// visible leaves out moved-away notebooks.
func (d *Namespace) visible(names map[string]remote.Notebook) map[string]remote.Notebook {
	for file, nb := range names {
		if d.hidden[nb.ID] {
			delete(names, file)
		}
	}
	return names
}

// editList applies our own change to the cached listing, so the next
// lookup sees it without another List call.
func (d *Namespace) editList(f func([]remote.Notebook) []remote.Notebook) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	d.edits = append(d.edits, listEdit{gen: d.gen, f: f})
	if len(d.edits) > maxListEdits {
		d.edits = d.edits[len(d.edits)-maxListEdits:]
	}
	e, ok := d.fs.lists.Get(d.key)
	if !ok || e.Negative {
		return
	}
	// Our change makes the rest of the listing no fresher.
	d.fs.lists.Edit(d.key, f(append([]remote.Notebook(nil), e.Value...)))
	d.names = nil
}

// listEdit is one of our own changes to the listing, kept to be applied
// again to a listing whose request raced with it.
type listEdit struct {
	gen uint64
	f   func([]remote.Notebook) []remote.Notebook
}

// maxListEdits bounds the changes kept; a listing older than all of them
// is not stored (the next access asks again).
const maxListEdits = 256

// withEditsSinceLocked is nbs with our own changes made after gen applied
// again (d.mu held), or false when some of them are no longer kept.
func (d *Namespace) withEditsSinceLocked(nbs []remote.Notebook, gen uint64) ([]remote.Notebook, bool) {
	if d.gen == gen {
		return nbs, true
	}
	if len(d.edits) == 0 || d.edits[0].gen > gen+1 {
		return nil, false
	}
	out := append([]remote.Notebook(nil), nbs...)
	for _, e := range d.edits {
		if e.gen > gen {
			out = e.f(out)
		}
	}
	return out, true
}

// upsert puts nb into the cached listing, replacing an entry of its id;
// its cached version list is stale from now on.
func (d *Namespace) upsert(nb remote.Notebook) {
	d.fs.versionLists.Invalidate(nb.ID)
	d.editList(func(l []remote.Notebook) []remote.Notebook {
		for i := range l {
			if l[i].ID == nb.ID {
				// Applied again to a later listing, a newer version
				// there (someone else's) stays.
				if !nb.Version.Before(l[i].Version) {
					l[i] = nb
				}
				return l
			}
		}
		return append(l, nb)
	})
}

// upsertRemote puts a newer state of a notebook, learned from the remote,
// into the cached listing; unlike our own changes, it does not make a
// refresh in flight drop its result.
func (d *Namespace) upsertRemote(nb remote.Notebook) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.fs.lists.Get(d.key)
	if !ok || e.Negative {
		return
	}
	l := append([]remote.Notebook(nil), e.Value...)
	for i := range l {
		if l[i].ID == nb.ID {
			l[i] = nb
			d.fs.lists.Edit(d.key, l)
			d.names = nil
			return
		}
	}
}

// drop removes notebook id from the cached listing.
func (d *Namespace) drop(id string) {
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

// ReadDir lists notebooks, new notebooks not yet uploaded and scratch
// entries, sorted by name.
func (d *Namespace) ReadDir(ctx context.Context) ([]DirEntry, error) {
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
		return nil, err
	}
	seen := map[string]bool{}
	var ents []DirEntry
	add := func(e DirEntry) {
		if !seen[e.Name] {
			seen[e.Name] = true
			ents = append(ents, e)
		}
	}
	for file, nb := range names {
		add(DirEntry{Name: file, Mode: syscall.S_IFREG, Ino: stableIno(nb.ID)})
	}
	for _, file := range pending {
		add(DirEntry{Name: file, Mode: syscall.S_IFREG})
	}
	if local, err := os.ReadDir(d.scratchDir()); err == nil {
		for _, e := range local {
			add(DirEntry{Name: e.Name(), Mode: modeType(e.Type())})
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return ents, nil
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

// Entry is what a name in a namespace stands for: a File (a notebook, or a
// scratch regular file), the .versions directory, or a scratch directory
// or symlink, which is served from its local path as it is.
type Entry struct {
	File        *File
	Versions    *Versions
	ScratchPath string
	Stat        syscall.Stat_t // of the scratch directory or symlink
}

// Lookup finds a notebook (listing or pending) or a scratch entry.
func (d *Namespace) Lookup(ctx context.Context, name string) (Entry, error) {
	if name == versionsDirName {
		return Entry{Versions: d.versionsDir()}, nil
	}
	d.mu.Lock()
	p := d.pending[name]
	if e, ok := d.replayed[name]; ok && p == nil {
		// A new notebook journaled before a restart: shown (and read
		// from the journal) before its upload.
		delete(d.replayed, name)
		p = d.newFile(name)
		p.pend, p.ref = &e, save.Ref(e.Key)
		d.pending[name] = p
		d.fs.saving.set(p.ref, p)
	}
	if p != nil {
		d.live[name] = p
	}
	d.mu.Unlock()
	if p != nil {
		return Entry{File: p}, nil
	}
	names, err := d.list(ctx)
	if err != nil {
		return Entry{}, err
	}
	if nb, ok := names[name]; ok {
		return Entry{File: d.notebookFile(name, nb)}, nil
	}
	if isNotebookName(name) {
		return Entry{}, syscall.ENOENT
	}
	return d.lookupScratch(name)
}

// newFile is a File of this namespace with a fresh inode number.
func (d *Namespace) newFile(name string) *File {
	return &File{ns: d, name: name, ino: d.fs.nodes.newIno()}
}

// versionsDir is the namespace's .versions directory.
func (d *Namespace) versionsDir() *Versions {
	d.versionsOnce.Do(func() { d.versions = &Versions{ns: d} })
	return d.versions
}

// notebookFile returns the one live File of a notebook, refreshing its
// metadata from the listing unless it has unsaved writes.
func (d *Namespace) notebookFile(file string, nb remote.Notebook) *File {
	if n := d.fs.nodes.get(nb.ID); n != nil && n.ns == d && n.refresh(file, nb) {
		n.mu.Lock()
		n.forgotten = false // the kernel holds it again
		n.mu.Unlock()
		d.setLive(file, n)
		return n
	}
	n := &File{ns: d, name: file, nb: nb, base: nb.Version}
	n.ino = d.fs.nodes.ino(nb.ID, n)
	n.attachPendingLocked()
	d.fs.nodes.bind(nb.ID, n)
	d.setLive(file, n)
	return n
}

func (d *Namespace) setLive(file string, n *File) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.live[file] = n
}

// liveFile is the file last handed out under a name, if any.
func (d *Namespace) liveFile(file string) *File {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.live[file]
}

// forgetLive drops n from the handed-out names.
func (d *Namespace) forgetLive(n *File) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, m := range d.live {
		if m == n {
			delete(d.live, name)
		}
	}
}

func (d *Namespace) lookupScratch(name string) (Entry, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(d.scratchPath(name), &st); err != nil {
		return Entry{}, err
	}
	if uint32(st.Mode)&syscall.S_IFMT != syscall.S_IFREG {
		return Entry{ScratchPath: d.scratchPath(name), Stat: st}, nil
	}
	if n := d.liveFile(name); n != nil && n.isScratch() {
		return Entry{File: n}, nil
	}
	n := d.newFile(name)
	n.scratch = true
	d.setLive(name, n)
	return Entry{File: n}, nil
}

func (d *Namespace) ensureScratchDir() error {
	return os.MkdirAll(d.scratchDir(), 0o700)
}

// Create makes a new notebook (uploaded on its last close) or a scratch
// file, and opens it.
func (d *Namespace) Create(ctx context.Context, name string, flags uint32, mode uint32) (*File, *Handle, error) {
	if name == versionsDirName {
		return nil, nil, syscall.EEXIST
	}
	if !isNotebookName(name) {
		return d.createScratch(name, flags, mode)
	}
	if d.fs.opts.ReadOnly {
		return nil, nil, syscall.EROFS
	}
	if err := remote.ValidName(notebookName(name)); err != nil {
		return nil, nil, err
	}
	names, err := d.list(ctx)
	if err != nil {
		return nil, nil, err
	}
	if nb, ok := names[name]; ok {
		// The kernel thought the name free (a stale negative entry).
		if flags&syscall.O_EXCL != 0 {
			return nil, nil, syscall.EEXIST
		}
		n := d.notebookFile(name, nb)
		h, _, err := n.Open(ctx, flags|syscall.O_TRUNC)
		if err != nil {
			return nil, nil, err
		}
		return n, h, nil
	}
	if !d.Writable(ctx) {
		return nil, nil, syscall.EACCES
	}
	d.mu.Lock()
	if _, dup := d.pending[name]; dup {
		d.mu.Unlock()
		return nil, nil, syscall.EEXIST
	}
	n := &File{ns: d, name: name}
	// An editor that moved the notebook away to a backup name and now
	// writes a new file of the old name is saving the same notebook.
	for _, m := range d.moved {
		if m.file == name && !m.rebound {
			m.rebound = true
			d.saveMovedLocked()
			delete(d.hidden, m.nb.ID)
			d.names = nil
			n.nb = m.nb
			n.base = m.nb.Version
			break
		}
	}
	if n.nb.ID == "" {
		d.pending[name] = n
	}
	d.mu.Unlock()
	if n.nb.ID != "" {
		// Rebound to a moved-away notebook, whose backup may still hold
		// the stable ino: then a fresh number.
		n.ino = d.fs.nodes.ino(n.nb.ID, n)
		d.fs.nodes.bind(n.nb.ID, n)
	} else {
		n.ino = d.fs.nodes.newIno()
	}
	h, err := n.openNew()
	if err != nil {
		d.mu.Lock()
		delete(d.pending, name)
		d.mu.Unlock()
		return nil, nil, err
	}
	d.setLive(name, n)
	return n, h, nil
}

func (d *Namespace) createScratch(name string, flags uint32, mode uint32) (*File, *Handle, error) {
	if err := d.ensureScratchDir(); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(d.scratchPath(name), int(flags&^syscall.O_APPEND)|os.O_CREATE, os.FileMode(mode&0o7777))
	if err != nil {
		return nil, nil, err
	}
	n := d.newFile(name)
	n.scratch = true
	d.setLive(name, n)
	return n, &Handle{file: n, os: f}, nil
}

// Mkdir makes a scratch directory (e.g. .ipynb_checkpoints); a directory
// cannot take a notebook's name.
func (d *Namespace) Mkdir(name string, mode uint32) (Entry, error) {
	if name == versionsDirName {
		return Entry{}, syscall.EEXIST
	}
	if isNotebookName(name) {
		return Entry{}, syscall.EPERM
	}
	if err := d.ensureScratchDir(); err != nil {
		return Entry{}, err
	}
	if err := os.Mkdir(d.scratchPath(name), os.FileMode(mode&0o7777)); err != nil {
		return Entry{}, err
	}
	return d.lookupScratch(name)
}

// Rmdir removes a scratch directory.
func (d *Namespace) Rmdir(name string) error {
	if name == versionsDirName {
		return syscall.EROFS
	}
	if isNotebookName(name) {
		return syscall.ENOTDIR
	}
	return syscall.Rmdir(d.scratchPath(name))
}

// Symlink makes a scratch symlink (emacs lock files); notebooks cannot be
// symlinks.
func (d *Namespace) Symlink(target, name string) (Entry, error) {
	if isNotebookName(name) || name == versionsDirName {
		return Entry{}, syscall.EPERM
	}
	if err := d.ensureScratchDir(); err != nil {
		return Entry{}, err
	}
	if err := os.Symlink(target, d.scratchPath(name)); err != nil {
		return Entry{}, err
	}
	return d.lookupScratch(name)
}

// Unlink deletes a notebook, forgets a pending one, or removes a scratch
// file. Removing an editor's backup of a moved-away notebook that was not
// written again deletes that notebook. Names that come from the remote are
// notebooks, whatever they look like (".x.ipynb", "#x.ipynb").
func (d *Namespace) Unlink(ctx context.Context, name string) error {
	if name == versionsDirName {
		return syscall.EISDIR
	}
	d.mu.Lock()
	if p := d.pending[name]; p != nil {
		delete(d.pending, name)
		delete(d.live, name)
		d.mu.Unlock()
		return d.discardPending(ctx, p)
	}
	m := d.moved[name]
	d.mu.Unlock()

	if m != nil {
		if !m.rebound {
			if err := d.deleteRemote(ctx, name, m.nb, nil); err != nil {
				return err
			}
		}
		d.mu.Lock()
		delete(d.moved, name)
		d.saveMovedLocked()
		delete(d.live, name)
		d.mu.Unlock()
		if err := syscall.Unlink(d.scratchPath(name)); err != nil && err != syscall.ENOENT {
			return err
		}
		return nil
	}
	names, err := d.list(ctx)
	if nb, ok := names[name]; err == nil && ok {
		return d.deleteRemote(ctx, name, nb, nil)
	}
	if isNotebookName(name) {
		if err != nil {
			return err
		}
		return syscall.ENOENT
	}
	if err := syscall.Unlink(d.scratchPath(name)); err != nil {
		return err
	}
	d.mu.Lock()
	delete(d.live, name)
	d.mu.Unlock()
	return nil
}

// deleteRemote deletes a notebook and every trace of it in our caches.
// held is a File whose lock the caller holds (a rename's source; never the
// deleted notebook's File), or nil.
func (d *Namespace) deleteRemote(ctx context.Context, file string, nb remote.Notebook, held *File) error {
	if d.fs.opts.ReadOnly {
		return syscall.EROFS
	}
	cctx, cancel := d.fs.saveCtx(ctx)
	err := d.fs.client.Delete(cctx, d.ns, nb.ID)
	cancel()
	if err != nil {
		return err
	}
	// Saves still on their way would bring the notebook back.
	d.fs.saver.CancelNotebook(nb.ID)
	d.drop(nb.ID)
	d.fs.store.RemoveID(nb.ID)
	if n := d.liveFile(file); n != nil && n != held && n.boundTo(nb.ID) {
		n.markGone()
		d.mu.Lock()
		if d.live[file] == n {
			delete(d.live, file)
		}
		d.mu.Unlock()
	}
	return nil
}

// discardPending forgets a new notebook not uploaded yet (deleted, or its
// name taken by a rename): its queued create is dropped, one under way or
// just done is undone.
func (d *Namespace) discardPending(ctx context.Context, p *File) error {
	p.mu.Lock()
	ref := p.ref
	p.mu.Unlock()
	if ref != "" {
		cctx, cancel := d.fs.saveCtx(ctx)
		gone, err := d.fs.saver.CancelCreated(cctx, ref)
		cancel()
		if gone.ID != "" {
			d.drop(gone.ID) // a listing may have shown it meanwhile
		}
		if err != nil {
			d.fs.log.WithError(err).WithField("path", d.Path(p.fileName())).Warn("could not delete a notebook removed while it was being created")
		}
	}
	p.markGone()
	return nil
}
