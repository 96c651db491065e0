package fuse

import (
	"context"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"notebookfs/fs"
)

// nsNode is a namespace directory.
type nsNode struct {
	gofs.Inode
	root *rootNode
	ns   *fs.Namespace

	versionsOnce sync.Once
	versions     *versionsNode
}

var _ = (gofs.NodeLookuper)((*nsNode)(nil))
var _ = (gofs.NodeReaddirer)((*nsNode)(nil))
var _ = (gofs.NodeGetattrer)((*nsNode)(nil))
var _ = (gofs.NodeSetattrer)((*nsNode)(nil))
var _ = (gofs.NodeCreater)((*nsNode)(nil))
var _ = (gofs.NodeMkdirer)((*nsNode)(nil))
var _ = (gofs.NodeRmdirer)((*nsNode)(nil))
var _ = (gofs.NodeUnlinker)((*nsNode)(nil))
var _ = (gofs.NodeRenamer)((*nsNode)(nil))
var _ = (gofs.NodeSymlinker)((*nsNode)(nil))
var _ = (gofs.NodeLinker)((*nsNode)(nil))
var _ = (gofs.NodeMknoder)((*nsNode)(nil))
var _ = (gofs.NodeGetxattrer)((*nsNode)(nil))
var _ = (gofs.NodeSetxattrer)((*nsNode)(nil))
var _ = (gofs.NodeRemovexattrer)((*nsNode)(nil))
var _ = (gofs.NodeListxattrer)((*nsNode)(nil))

func (n *nsNode) errno(op, name string, err error) syscall.Errno {
	p := n.ns.Key()
	if name != "" {
		p = n.ns.Path(name)
	}
	return toErrno(n.root.fs.Log(), op, p, err)
}

// Getattr reports the namespace directory: writable where I may create.
func (n *nsNode) Getattr(ctx context.Context, f gofs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	n.attr(ctx, &out.Attr)
	return 0
}

func (n *nsNode) attr(ctx context.Context, a *gofuse.Attr) {
	perm := uint32(0o555)
	if n.ns.Writable(ctx) {
		perm = 0o755
	}
	n.root.dirAttr(a, perm)
}

// Setattr on a namespace directory is accepted and ignored (cp -a, rsync).
func (n *nsNode) Setattr(ctx context.Context, f gofs.FileHandle, in *gofuse.SetAttrIn, out *gofuse.AttrOut) syscall.Errno {
	n.attr(ctx, &out.Attr)
	return 0
}

// Readdir lists notebooks, new notebooks and scratch entries.
func (n *nsNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ents, err := n.ns.ReadDir(ctx)
	if err != nil {
		return nil, n.errno("readdir", "", err)
	}
	return dirStream(ents), 0
}

// Lookup finds a notebook or a scratch entry.
func (n *nsNode) Lookup(ctx context.Context, name string, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	e, err := n.ns.Lookup(ctx, name)
	if err != nil {
		return nil, n.errno("lookup", name, err)
	}
	return n.entryInode(ctx, name, e, out)
}

// entryInode makes (or finds) the kernel's node of an entry.
func (n *nsNode) entryInode(ctx context.Context, name string, e fs.Entry, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	switch {
	case e.Versions != nil:
		n.root.dirAttr(&out.Attr, 0o555)
		return n.versionsNode(ctx, e.Versions).EmbeddedInode(), 0
	case e.File != nil:
		a, err := e.File.Attr()
		if err != nil {
			return nil, n.errno("lookup", name, err)
		}
		n.root.fileAttr(&out.Attr, a)
		if a.Local == nil {
			// The kernel's caches never make what it shows older than
			// the TTL: they end when the file's metadata goes stale.
			t := kernelTimeout(e.File.FreshFor())
			out.SetEntryTimeout(t)
			out.SetAttrTimeout(t)
		}
		return n.fileInode(ctx, e.File), 0
	}
	// A scratch directory or symlink: go-fuse's loopback node. Local
	// inode numbers are reused as soon as a file is deleted, and go-fuse
	// dedupes nodes by (mode, ino, gen), so the generation is the ctime,
	// as go-fuse's loopback does with birth times.
	st := &e.Stat
	out.Attr.FromStat(st)
	n.root.ownAttr(&out.Attr)
	attr := gofs.StableAttr{Mode: uint32(st.Mode) & syscall.S_IFMT, Ino: st.Ino, Gen: uint64(ctimeNano(st))}
	return n.NewInode(ctx, &gofs.LoopbackNode{RootData: n.root.scratch}, attr), 0
}

// fileInode is the kernel's node of a file: the file system gives each
// file a number no other live file holds, so go-fuse finds the node it
// already has of it.
func (n *nsNode) fileInode(ctx context.Context, f *fs.File) *gofs.Inode {
	return n.NewInode(ctx, &fileNode{root: n.root, f: f}, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: f.Ino()})
}

func (n *nsNode) versionsNode(ctx context.Context, v *fs.Versions) *versionsNode {
	n.versionsOnce.Do(func() {
		n.versions = &versionsNode{root: n.root, v: v}
		n.NewPersistentInode(ctx, n.versions, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: v.Ino()})
	})
	return n.versions
}

// Create makes a new notebook (uploaded on close) or a scratch file.
func (n *nsNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *gofuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	f, h, err := n.ns.Create(ctx, name, flags, mode)
	if err != nil {
		return nil, nil, 0, n.errno("create", name, err)
	}
	a, err := f.Attr()
	if err != nil {
		h.Release(ctx)
		return nil, nil, 0, n.errno("create", name, err)
	}
	n.root.fileAttr(&out.Attr, a)
	return n.fileInode(ctx, f), handleOf(n.root, h), 0, 0
}

// Mkdir makes a scratch directory (e.g. .ipynb_checkpoints).
func (n *nsNode) Mkdir(ctx context.Context, name string, mode uint32, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	e, err := n.ns.Mkdir(name, mode)
	if err != nil {
		return nil, n.errno("mkdir", name, err)
	}
	return n.entryInode(ctx, name, e, out)
}

// Rmdir removes a scratch directory.
func (n *nsNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.errno("rmdir", name, n.ns.Rmdir(name))
}

// Symlink makes a scratch symlink (emacs lock files).
func (n *nsNode) Symlink(ctx context.Context, target, name string, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	e, err := n.ns.Symlink(target, name)
	if err != nil {
		return nil, n.errno("symlink", name, err)
	}
	return n.entryInode(ctx, name, e, out)
}

// Link is refused: notebooks have one name.
func (n *nsNode) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Mknod is refused: no devices or fifos in a namespace.
func (n *nsNode) Mknod(ctx context.Context, name string, mode, dev uint32, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Unlink deletes a notebook or removes a scratch file.
func (n *nsNode) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.errno("unlink", name, n.ns.Unlink(ctx, name))
}

// Rename within the namespace (the editors' save patterns); across
// namespaces EXDEV.
func (n *nsNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	to, ok := newParent.(*nsNode)
	if !ok {
		return syscall.EXDEV
	}
	return n.errno("rename", name, n.ns.Rename(ctx, name, to.ns, newName, flags))
}

// Getxattr answers the storage settings.
func (n *nsNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.ns.Getxattr(attr)
	if err != nil {
		return 0, n.errno("getxattr", "", err)
	}
	return xattrReply(dest, v)
}

// Listxattr lists the storage settings that are set.
func (n *nsNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return xattrReply(dest, n.ns.Listxattr())
}

// Setxattr sets a storage setting.
func (n *nsNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return n.errno("setxattr", "", n.ns.Setxattr(attr, data, xattrFlags(flags)))
}

// Removexattr clears a storage setting.
func (n *nsNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return n.errno("removexattr", "", n.ns.Removexattr(attr))
}
