package fs

import (
	"context"
	"sort"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"notebookfs/cache"
	"notebookfs/remote"
)

// History, read-only:
//
//	<cat>/<ns>/.versions/<name>.ipynb/<UTC time>.ipynb
//
// .versions is reachable by name but not listed in its namespace (like
// ZFS's .zfs with snapdir=hidden): grep -r, find, cp -r and backups would
// otherwise walk every notebook's history, two remote calls per notebook.
//
// one directory per notebook of the namespace, one file per version named
// by its time (2026-11-25T10:00:00.123Z.ipynb), whose content is that
// version. Listing a notebook's versions is one remote call per metadata
// TTL; reading one is one Read at that time, then cached like any content.

// versionsDirName is the hidden history directory of every namespace.
const versionsDirName = ".versions"

// versionTimeLayout names version files: UTC, millisecond precision.
const versionTimeLayout = "2006-01-02T15:04:05.000Z"

func versionFileName(t time.Time) string { return t.UTC().Format(versionTimeLayout) + Suffix }

func parseVersionFileName(name string) (time.Time, bool) {
	if !strings.HasSuffix(name, Suffix) {
		return time.Time{}, false
	}
	t, err := time.Parse(versionTimeLayout, strings.TrimSuffix(name, Suffix))
	return t, err == nil
}

// readOnlyDir is the shared refusal of every change in the history tree.
type readOnlyDir struct{ gofs.Inode }

var _ = (gofs.NodeMkdirer)((*readOnlyDir)(nil))
var _ = (gofs.NodeCreater)((*readOnlyDir)(nil))
var _ = (gofs.NodeUnlinker)((*readOnlyDir)(nil))
var _ = (gofs.NodeRmdirer)((*readOnlyDir)(nil))
var _ = (gofs.NodeRenamer)((*readOnlyDir)(nil))

// Mkdir is refused: history is read-only.
func (*readOnlyDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

// Create is refused: history is read-only.
func (*readOnlyDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

// Unlink is refused: history is read-only.
func (*readOnlyDir) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

// Rmdir is refused: history is read-only.
func (*readOnlyDir) Rmdir(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

// Rename is refused: history is read-only.
func (*readOnlyDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}

// versionsDir is <ns>/.versions: a directory per notebook.
type versionsDir struct {
	readOnlyDir
	ns *nsDir
}

var _ = (gofs.NodeLookuper)((*versionsDir)(nil))
var _ = (gofs.NodeReaddirer)((*versionsDir)(nil))
var _ = (gofs.NodeGetattrer)((*versionsDir)(nil))

// Getattr reports a read-only directory.
func (v *versionsDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	v.ns.root.dirAttr(&out.Attr, 0o555)
	return 0
}

// Readdir lists the namespace's notebooks, as directories.
func (v *versionsDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	names, err := v.ns.list(ctx)
	if err != nil {
		return nil, toErrno(v.ns.root.log, "readdir", v.ns.path(versionsDirName), err)
	}
	ents := make([]fuse.DirEntry, 0, len(names))
	for file := range names {
		ents = append(ents, fuse.DirEntry{Name: file, Mode: syscall.S_IFDIR})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return gofs.NewListDirStream(ents), 0
}

// Lookup finds a notebook's history directory.
func (v *versionsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	names, err := v.ns.list(ctx)
	if err != nil {
		return nil, toErrno(v.ns.root.log, "lookup", v.ns.path(versionsDirName+"/"+name), err)
	}
	nb, ok := names[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	if ch := v.GetChild(name); ch != nil {
		if h, ok := ch.Operations().(*historyDir); ok && h.nb.ID == nb.ID {
			h.Getattr(ctx, nil, &fuse.AttrOut{})
			v.ns.root.dirAttr(&out.Attr, 0o555)
			return ch, 0
		}
	}
	v.ns.root.dirAttr(&out.Attr, 0o555)
	return v.NewInode(ctx, &historyDir{ns: v.ns, nb: nb}, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// historyDir is .versions/<name>.ipynb: one file per version.
type historyDir struct {
	readOnlyDir
	ns *nsDir
	nb remote.Notebook
}

var _ = (gofs.NodeLookuper)((*historyDir)(nil))
var _ = (gofs.NodeReaddirer)((*historyDir)(nil))
var _ = (gofs.NodeGetattrer)((*historyDir)(nil))

// Getattr reports a read-only directory.
func (h *historyDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	h.ns.root.dirAttr(&out.Attr, 0o555)
	return 0
}

// versions lists the notebook's versions, cached for the metadata TTL.
func (h *historyDir) versions(ctx context.Context) ([]remote.Version, error) {
	r := h.ns.root
	if e, ok := r.versionLists.Get(h.nb.ID); ok && e.Fresh && !e.Negative {
		return e.Value, nil
	}
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	vs, err := r.client.Versions(cctx, h.ns.ns, h.nb.ID)
	if err != nil {
		return nil, err
	}
	r.versionLists.Put(h.nb.ID, vs)
	return vs, nil
}

// Readdir lists one file per version, oldest first.
func (h *historyDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	vs, err := h.versions(ctx)
	if err != nil {
		return nil, toErrno(h.ns.root.log, "readdir", h.ns.path(versionsDirName+"/"+h.nb.Name), err)
	}
	ents := make([]fuse.DirEntry, 0, len(vs))
	for _, v := range vs {
		ents = append(ents, fuse.DirEntry{Name: versionFileName(v.Time), Mode: syscall.S_IFREG})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return gofs.NewListDirStream(ents), 0
}

// Lookup finds one version by its file name.
func (h *historyDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	t, ok := parseVersionFileName(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	vs, err := h.versions(ctx)
	if err != nil {
		return nil, toErrno(h.ns.root.log, "lookup", h.ns.path(versionsDirName+"/"+h.nb.Name+"/"+name), err)
	}
	for _, v := range vs {
		if v.Time.UnixMilli() == t.UnixMilli() {
			f := &versionFile{ns: h.ns, nb: h.nb, v: v}
			f.attr(&out.Attr)
			// A version never changes: the kernel may cache it for long.
			out.SetEntryTimeout(time.Hour)
			out.SetAttrTimeout(time.Hour)
			return h.NewInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
		}
	}
	return nil, syscall.ENOENT
}

// versionFile is one version's content, read-only.
type versionFile struct {
	gofs.Inode
	ns *nsDir
	nb remote.Notebook
	v  remote.Version
}

var _ = (gofs.NodeGetattrer)((*versionFile)(nil))
var _ = (gofs.NodeOpener)((*versionFile)(nil))
var _ = (gofs.NodeReader)((*versionFile)(nil))
var _ = (gofs.NodeSetattrer)((*versionFile)(nil))

func (f *versionFile) attr(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | 0o444
	a.Size = uint64(f.v.Size)
	a.Blocks = (a.Size + 511) / 512
	a.Nlink = 1
	a.SetTimes(&f.v.Time, &f.v.Time, &f.v.Time)
	f.ns.ownAttr(a)
}

// Getattr: size and time of the version.
func (f *versionFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.attr(&out.Attr)
	return 0
}

// Setattr is refused: a version never changes.
func (f *versionFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

// Open allows reading only; the kernel may keep pages across opens since
// a version's bytes never change.
func (f *versionFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EROFS
	}
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

// Read serves the version from the content cache, else one Read at its time.
func (f *versionFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	r := f.ns.root
	key := cache.NewKey(f.nb.ID, f.v.Time)
	load := func(ctx context.Context) ([]byte, error) {
		return readAll(ctx, r, f.ns.ns, f.nb.ID, f.v.Time)
	}
	var data []byte
	var err error
	if r.content != nil {
		data, err = r.content.GetOrLoad(ctx, key, load)
	} else {
		data, err = load(ctx)
	}
	if err != nil {
		return nil, toErrno(r.log, "read", f.ns.path(versionsDirName+"/"+f.nb.Name+"/"+versionFileName(f.v.Time)), err)
	}
	if off >= int64(len(data)) {
		return fuse.ReadResultData(nil), 0
	}
	end := off + int64(len(dest))
	if end > int64(len(data)) {
		end = int64(len(data))
	}
	return fuse.ReadResultData(data[off:end]), 0
}
