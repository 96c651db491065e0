package fuse

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"notebookfs/fs"
)

// fileNode is a notebook or a scratch regular file.
type fileNode struct {
	gofs.Inode
	root *rootNode
	f    *fs.File
}

var _ = (gofs.NodeGetattrer)((*fileNode)(nil))
var _ = (gofs.NodeSetattrer)((*fileNode)(nil))
var _ = (gofs.NodeOpener)((*fileNode)(nil))
var _ = (gofs.NodeOnForgetter)((*fileNode)(nil))
var _ = (gofs.NodeGetxattrer)((*fileNode)(nil))
var _ = (gofs.NodeSetxattrer)((*fileNode)(nil))
var _ = (gofs.NodeRemovexattrer)((*fileNode)(nil))
var _ = (gofs.NodeListxattrer)((*fileNode)(nil))

func (n *fileNode) errno(op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return toErrno(n.root.fs.Log(), op, n.f.Path(), err)
}

// Getattr reports size, time and a mode that says whether I may write.
func (n *fileNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	a, err := n.f.AttrFresh(ctx)
	if err != nil {
		return n.errno("getattr", err)
	}
	n.root.fileAttr(&out.Attr, a)
	if a.Local == nil {
		out.SetTimeout(kernelTimeout(n.f.FreshFor()))
	}
	return 0
}

// Setattr truncates; chmod, chown and utimes of notebooks are ignored.
func (n *fileNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *gofuse.SetAttrIn, out *gofuse.AttrOut) syscall.Errno {
	var sa fs.SetAttr
	if size, ok := in.GetSize(); ok {
		sa.Size = &size
	}
	if mode, ok := in.GetMode(); ok {
		sa.Mode = &mode
	}
	if t, ok := in.GetATime(); ok {
		sa.Atime = &t
	}
	if t, ok := in.GetMTime(); ok {
		sa.Mtime = &t
	}
	var h *fs.Handle
	if hh, ok := fh.(*handle); ok {
		h = hh.h
	}
	a, err := n.f.Setattr(ctx, sa, h)
	if err != nil {
		return n.errno("setattr", err)
	}
	n.root.fileAttr(&out.Attr, a)
	return 0
}

// Open gives a handle; the kernel keeps its pages of an unchanged version.
func (n *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	h, keep, err := n.f.Open(ctx, flags)
	if err != nil {
		return nil, 0, n.errno("open", err)
	}
	var fl uint32
	if keep {
		fl = gofuse.FOPEN_KEEP_CACHE
	}
	if h.Direct {
		fl = gofuse.FOPEN_DIRECT_IO
	}
	return handleOf(n.root, h), fl, 0
}

// OnForget runs when the kernel forgot the node and it has no children.
func (n *fileNode) OnForget() { n.f.Forget() }

// Getxattr answers the sharing attributes (scratch files: their own).
func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.f.Getxattr(ctx, attr)
	if err != nil {
		if errno, ok := err.(syscall.Errno); ok {
			return 0, errno // ENODATA, ENOTSUP: answers, not failures to log
		}
		return 0, n.errno("getxattr", err)
	}
	return xattrReply(dest, v)
}

// Listxattr lists only the read-only names.
func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	v, err := n.f.Listxattr(ctx)
	if err != nil {
		return 0, n.errno("listxattr", err)
	}
	return xattrReply(dest, v)
}

// Setxattr shares a notebook.
func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return n.errno("setxattr", n.f.Setxattr(ctx, attr, data, xattrFlags(flags)))
}

// Removexattr unshares.
func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return n.errno("removexattr", n.f.Removexattr(ctx, attr))
}

// handle is an open notebook.
type handle struct {
	root *rootNode
	h    *fs.Handle
}

var _ = (gofs.FileReader)((*handle)(nil))
var _ = (gofs.FileWriter)((*handle)(nil))
var _ = (gofs.FileFlusher)((*handle)(nil))
var _ = (gofs.FileFsyncer)((*handle)(nil))
var _ = (gofs.FileReleaser)((*handle)(nil))

// handleOf is the kernel's handle of an open file: a scratch file's is
// go-fuse's loopback file over its local file.
func handleOf(r *rootNode, h *fs.Handle) gofs.FileHandle {
	if f := h.OS(); f != nil {
		return gofs.NewLoopbackFileFromOS(f)
	}
	return &handle{root: r, h: h}
}

func (h *handle) errno(op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return toErrno(h.root.fs.Log(), op, h.h.File().Path(), err)
}

// Read reads one version of the notebook, or the writer's own copy.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (gofuse.ReadResult, syscall.Errno) {
	k, err := h.h.ReadAt(ctx, dest, off)
	if err != nil {
		return nil, h.errno("read", err)
	}
	return gofuse.ReadResultData(dest[:k]), 0
}

// Write writes into the staged copy (go-fuse reuses the buffer).
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	k, err := h.h.WriteAt(ctx, data, off)
	return uint32(k), h.errno("write", err)
}

// Flush (every close) journals what this handle wrote.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	return h.errno("close", h.h.Flush(ctx))
}

// Fsync journals and waits for the upload.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.errno("fsync", h.h.Fsync(ctx))
}

// Release ends the handle.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	return h.errno("release", h.h.Release(ctx))
}
