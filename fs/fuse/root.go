package fuse

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"notebookfs/fs"
	"notebookfs/remote"
)

// rootNode is the mount's root: the three categories.
type rootNode struct {
	gofs.Inode
	fs      *fs.FS
	opts    MountOptions
	scratch *gofs.LoopbackRoot
}

var _ = (gofs.NodeOnAdder)((*rootNode)(nil))
var _ = (gofs.NodeGetattrer)((*rootNode)(nil))
var _ = (gofs.NodeMkdirer)((*rootNode)(nil))
var _ = (gofs.NodeCreater)((*rootNode)(nil))
var _ = (gofs.NodeGetxattrer)((*rootNode)(nil))

// scratchDev fills in the device of the scratch directory, whose loopback
// nodes report it.
func (r *rootNode) scratchDev() error {
	var st syscall.Stat_t
	if err := syscall.Stat(r.scratch.Path, &st); err != nil {
		return err
	}
	r.scratch.Dev = uint64(st.Dev)
	return nil
}

// OnAdd builds the fixed top of the tree.
func (r *rootNode) OnAdd(ctx context.Context) {
	for _, c := range remote.Categories {
		cat := r.fs.Category(c)
		n := &categoryNode{root: r, cat: cat, children: map[string]*nsNode{}}
		ch := r.NewPersistentInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: cat.Ino()})
		r.AddChild(cat.Name(), ch, false)
	}
}

// Getattr reports the root directory.
func (r *rootNode) Getattr(ctx context.Context, f gofs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	r.dirAttr(&out.Attr, 0o555)
	return 0
}

// Mkdir at the root is refused: the top level is fixed.
func (r *rootNode) Mkdir(ctx context.Context, name string, mode uint32, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Create at the root is refused: the top level is fixed.
func (r *rootNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *gofuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}

// StatusXattr on the mount root is the daemon's status as JSON (pending
// uploads, conflicts, errors, cache figures): `notebookfs status` reads it.
// It is not listed, so copying the root copies nothing of it.
const StatusXattr = "user.notebookfs.status"

// Getxattr answers the status; every other name is ENODATA, with no
// remote call.
func (r *rootNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr != StatusXattr {
		return 0, gofs.ENOATTR
	}
	b, err := json.Marshal(r.fs.Status())
	if err != nil {
		return 0, toErrno(r.fs.Log(), "getxattr", "/", err)
	}
	return xattrReply(dest, b)
}

func (r *rootNode) dirAttr(a *gofuse.Attr, perm uint32) {
	a.Mode = syscall.S_IFDIR | perm
	a.Nlink = 2
	r.ownAttr(a)
	t := uint64(r.fs.Started().Unix())
	a.Mtime, a.Ctime, a.Atime = t, t, t
}

// ownAttr shows every entry as the mounting user's, with the mode bits
// that the kernel's default_permissions then enforces as guard does: with
// allow_other, others get nothing, or reads only when the owner opted in.
func (r *rootNode) ownAttr(a *gofuse.Attr) {
	a.Uid, a.Gid = r.opts.UID, r.opts.GID
	switch {
	case r.opts.AllowOther && r.opts.OthersRead:
		a.Mode &^= 0o022
	case r.opts.AllowOther:
		a.Mode &^= 0o077
	}
}

// kernelTimeout is d as a kernel cache timeout: go-fuse replaces a zero
// one by the mount's default, so "do not cache" is the shortest nonzero.
func kernelTimeout(d time.Duration) time.Duration { return max(d, time.Nanosecond) }

func (r *rootNode) entryTimeouts(out *gofuse.EntryOut) {
	out.SetEntryTimeout(r.fs.MetadataTTL())
	out.SetAttrTimeout(r.fs.MetadataTTL())
}

// fileAttr fills a kernel attribute from the file system's.
func (r *rootNode) fileAttr(a *gofuse.Attr, fa fs.Attr) {
	if fa.Local != nil {
		a.FromStat(fa.Local)
		a.Ino = 0 // the node's own ino, which the bridge fills in
		r.ownAttr(a)
		return
	}
	a.Mode = fa.Mode
	a.Size = uint64(fa.Size)
	a.Blocks = (a.Size + 511) / 512
	a.Nlink = 1
	a.SetTimes(&fa.Atime, &fa.Mtime, &fa.Ctime)
	r.ownAttr(a)
}

// xattrReply copies value into dest, or reports the size needed: ERANGE
// with the size, which go-fuse turns into success for the size-0 probe.
func xattrReply(dest []byte, value []byte) (uint32, syscall.Errno) {
	if len(dest) < len(value) {
		return uint32(len(value)), syscall.ERANGE
	}
	return uint32(copy(dest, value)), 0
}

// categoryNode is owned/, shared/ or public/.
type categoryNode struct {
	gofs.Inode
	root *rootNode
	cat  *fs.Category

	mu       sync.Mutex
	children map[string]*nsNode // GUARDED_BY(mu); namespace nodes are persistent
}

var _ = (gofs.NodeLookuper)((*categoryNode)(nil))
var _ = (gofs.NodeReaddirer)((*categoryNode)(nil))
var _ = (gofs.NodeGetattrer)((*categoryNode)(nil))
var _ = (gofs.NodeMkdirer)((*categoryNode)(nil))
var _ = (gofs.NodeCreater)((*categoryNode)(nil))
var _ = (gofs.NodeGetxattrer)((*categoryNode)(nil))

// Readdir lists the namespaces.
func (c *categoryNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ents, err := c.cat.ReadDir(ctx)
	if err != nil {
		return nil, toErrno(c.root.fs.Log(), "readdir", c.cat.Name(), err)
	}
	return dirStream(ents), 0
}

// Lookup finds a namespace directory.
func (c *categoryNode) Lookup(ctx context.Context, name string, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ns, err := c.cat.Lookup(ctx, name)
	if err != nil {
		return nil, toErrno(c.root.fs.Log(), "lookup", c.cat.Name()+"/"+name, err)
	}
	n := c.child(ctx, ns)
	n.attr(ctx, &out.Attr)
	c.root.entryTimeouts(out)
	return n.EmbeddedInode(), 0
}

// child returns the one node of a namespace, creating it on first use.
func (c *categoryNode) child(ctx context.Context, ns *fs.Namespace) *nsNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.children[ns.Name()]; ok {
		return n
	}
	n := &nsNode{root: c.root, ns: ns}
	c.NewPersistentInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ns.Ino()})
	c.children[ns.Name()] = n
	return n
}

// Getattr reports a read-only directory: namespaces are not made here.
func (c *categoryNode) Getattr(ctx context.Context, f gofs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	c.root.dirAttr(&out.Attr, 0o555)
	return 0
}

// Mkdir is refused: namespaces are users and organizations, not folders.
func (c *categoryNode) Mkdir(ctx context.Context, name string, mode uint32, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Create is refused: notebooks live inside a namespace.
func (c *categoryNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *gofuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}

// Getxattr answers every name with ENODATA and no remote call.
func (c *categoryNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, gofs.ENOATTR
}

// dirStream turns the file system's entries into a kernel listing.
func dirStream(ents []fs.DirEntry) gofs.DirStream {
	out := make([]gofuse.DirEntry, 0, len(ents))
	for _, e := range ents {
		out = append(out, gofuse.DirEntry{Name: e.Name, Mode: e.Mode, Ino: e.Ino})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return gofs.NewListDirStream(out)
}
