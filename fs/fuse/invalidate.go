package fuse

import (
	"context"
	"errors"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"notebookfs/fs"
)

// invalidate tells the kernel what remote changes made wrong in its
// caches, one at a time from this one goroutine, outside every lock of the
// file system (a notification may wait for a request the kernel sends us).
// It ends when the file system is closed.
func (r *rootNode) invalidate() {
	for {
		items, err := r.fs.NextInvalidations(context.Background())
		if errors.Is(err, fs.ErrClosed) {
			return
		}
		for _, it := range items {
			r.invalidateOne(it)
		}
	}
}

func (r *rootNode) invalidateOne(it fs.Invalidation) {
	cat := r.GetChild(r.fs.Category(it.Category).Name())
	if cat == nil {
		return
	}
	ns := cat.GetChild(it.Namespace)
	if ns == nil {
		return // the kernel holds nothing of it
	}
	child := ns.GetChild(it.Name)
	var errno syscall.Errno
	switch it.Kind {
	case fs.InvalidContent:
		if child == nil {
			return
		}
		errno = child.NotifyContent(0, 0)
	case fs.InvalidDelete:
		if child != nil {
			errno = ns.NotifyDelete(it.Name, child)
		} else {
			errno = ns.NotifyEntry(it.Name)
		}
	default:
		errno = ns.NotifyEntry(it.Name)
	}
	log := r.fs.Log().WithField("path", string(it.Category)+"/"+it.Namespace+"/"+it.Name).WithField("kind", it.Kind)
	if errno != 0 && errno != syscall.ENOENT {
		log.WithError(errno).Debug("the kernel did not take an invalidation")
		return
	}
	log.Debug("the kernel was told of a remote change")
}

var _ gofs.InodeEmbedder = (*rootNode)(nil)
