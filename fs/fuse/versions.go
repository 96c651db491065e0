package fuse

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"notebookfs/fs"
)

// readOnlyDir is the shared refusal of every change in the history tree.
type readOnlyDir struct{ gofs.Inode }

var _ = (gofs.NodeMkdirer)((*readOnlyDir)(nil))
var _ = (gofs.NodeCreater)((*readOnlyDir)(nil))
var _ = (gofs.NodeUnlinker)((*readOnlyDir)(nil))
var _ = (gofs.NodeRmdirer)((*readOnlyDir)(nil))
var _ = (gofs.NodeRenamer)((*readOnlyDir)(nil))

// Mkdir is refused: history is read-only.
func (*readOnlyDir) Mkdir(ctx context.Context, name string, mode uint32, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

// Create is refused: history is read-only.
func (*readOnlyDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *gofuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
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

// versionsNode is <ns>/.versions: a directory per notebook.
type versionsNode struct {
	readOnlyDir
	root *rootNode
	v    *fs.Versions
}

var _ = (gofs.NodeLookuper)((*versionsNode)(nil))
var _ = (gofs.NodeReaddirer)((*versionsNode)(nil))
var _ = (gofs.NodeGetattrer)((*versionsNode)(nil))

// Getattr reports a read-only directory.
func (v *versionsNode) Getattr(ctx context.Context, f gofs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	v.root.dirAttr(&out.Attr, 0o555)
	return 0
}

// Readdir lists the namespace's notebooks, as directories.
func (v *versionsNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ents, err := v.v.ReadDir(ctx)
	if err != nil {
		return nil, toErrno(v.root.fs.Log(), "readdir", ".versions", err)
	}
	return dirStream(ents), 0
}

// Lookup finds a notebook's history directory.
func (v *versionsNode) Lookup(ctx context.Context, name string, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	h, err := v.v.Lookup(ctx, name)
	if err != nil {
		return nil, toErrno(v.root.fs.Log(), "lookup", ".versions/"+name, err)
	}
	v.root.dirAttr(&out.Attr, 0o555)
	if ch := v.GetChild(name); ch != nil {
		if hn, ok := ch.Operations().(*historyNode); ok && hn.h.ID() == h.ID() {
			return ch, 0
		}
	}
	return v.NewInode(ctx, &historyNode{root: v.root, h: h}, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// historyNode is .versions/<name>.ipynb: one file per version.
type historyNode struct {
	readOnlyDir
	root *rootNode
	h    *fs.History
}

var _ = (gofs.NodeLookuper)((*historyNode)(nil))
var _ = (gofs.NodeReaddirer)((*historyNode)(nil))
var _ = (gofs.NodeGetattrer)((*historyNode)(nil))

// Getattr reports a read-only directory.
func (h *historyNode) Getattr(ctx context.Context, f gofs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	h.root.dirAttr(&out.Attr, 0o555)
	return 0
}

// Readdir lists one file per version, oldest first.
func (h *historyNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ents, err := h.h.ReadDir(ctx)
	if err != nil {
		return nil, toErrno(h.root.fs.Log(), "readdir", h.h.Path(), err)
	}
	return dirStream(ents), 0
}

// Lookup finds one version by its file name.
func (h *historyNode) Lookup(ctx context.Context, name string, out *gofuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	v, err := h.h.Lookup(ctx, name)
	if err != nil {
		return nil, toErrno(h.root.fs.Log(), "lookup", h.h.Path()+"/"+name, err)
	}
	h.root.fileAttr(&out.Attr, v.Attr())
	// A version never changes: the kernel may cache it for long.
	out.SetEntryTimeout(time.Hour)
	out.SetAttrTimeout(time.Hour)
	return h.NewInode(ctx, &versionNode{root: h.root, v: v}, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
}

// versionNode is one version's content, read-only.
type versionNode struct {
	gofs.Inode
	root *rootNode
	v    *fs.Version
}

var _ = (gofs.NodeGetattrer)((*versionNode)(nil))
var _ = (gofs.NodeOpener)((*versionNode)(nil))
var _ = (gofs.NodeReader)((*versionNode)(nil))
var _ = (gofs.NodeSetattrer)((*versionNode)(nil))

// Getattr: size and time of the version.
func (f *versionNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	f.root.fileAttr(&out.Attr, f.v.Attr())
	return 0
}

// Setattr is refused: a version never changes.
func (f *versionNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *gofuse.SetAttrIn, out *gofuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

// Open allows reading only; the kernel may keep pages across opens since
// a version's bytes never change.
func (f *versionNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EROFS
	}
	return nil, gofuse.FOPEN_KEEP_CACHE, 0
}

// Read serves the version.
func (f *versionNode) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (gofuse.ReadResult, syscall.Errno) {
	k, err := f.v.ReadAt(ctx, dest, off)
	if err != nil {
		return nil, toErrno(f.root.fs.Log(), "read", f.v.Path(), err)
	}
	return gofuse.ReadResultData(dest[:k]), 0
}
