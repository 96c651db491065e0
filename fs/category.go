package fs

import (
	"context"
	"sort"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"notebookfs/remote"
)

// categoryDir is owned/, shared/ or public/: a directory of namespaces.
type categoryDir struct {
	gofs.Inode
	root *Root
	cat  remote.Category

	mu       sync.Mutex
	children map[string]*nsDir // GUARDED_BY(mu); namespace dirs are persistent
}

var _ = (gofs.NodeLookuper)((*categoryDir)(nil))
var _ = (gofs.NodeReaddirer)((*categoryDir)(nil))
var _ = (gofs.NodeGetattrer)((*categoryDir)(nil))
var _ = (gofs.NodeMkdirer)((*categoryDir)(nil))
var _ = (gofs.NodeCreater)((*categoryDir)(nil))
var _ = (gofs.NodeGetxattrer)((*categoryDir)(nil))

// namespaces lists the namespaces of the category, from the metadata cache
// while fresh. A failed refresh serves the last known list.
func (d *categoryDir) namespaces(ctx context.Context) ([]string, error) {
	if d.cat == remote.Owned {
		u, err := d.root.whoami(ctx)
		if err != nil {
			return nil, err
		}
		return u.Namespaces(), nil
	}
	e, ok := d.root.nsLists.Get(d.cat)
	if ok && e.Fresh && !e.Negative {
		return e.Value, nil
	}
	cctx, cancel := d.root.callCtx(ctx)
	defer cancel()
	list, err := d.root.client.Namespaces(cctx, d.cat)
	if err != nil {
		if ok && !e.Negative {
			d.root.log.WithError(err).WithField("category", d.cat).Warn("listing namespaces failed; showing the last known list")
			return e.Value, nil
		}
		return nil, err
	}
	d.root.nsLists.Put(d.cat, list)
	return list, nil
}

// Readdir lists the namespaces, sorted.
func (d *categoryDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	list, err := d.namespaces(ctx)
	if err != nil {
		return nil, toErrno(d.root.log, "readdir", string(d.cat), err)
	}
	list = append([]string(nil), list...)
	sort.Strings(list)
	ents := make([]fuse.DirEntry, 0, len(list))
	for _, ns := range list {
		ents = append(ents, fuse.DirEntry{Name: ns, Mode: syscall.S_IFDIR, Ino: stableIno(string(d.cat) + "/" + ns)})
	}
	return gofs.NewListDirStream(ents), 0
}

// Lookup finds a namespace directory.
func (d *categoryDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if remote.ValidNamespace(name) != nil {
		return nil, syscall.ENOENT
	}
	list, err := d.namespaces(ctx)
	if err != nil {
		return nil, toErrno(d.root.log, "lookup", string(d.cat)+"/"+name, err)
	}
	found := false
	for _, ns := range list {
		if ns == name {
			found = true
			break
		}
	}
	if !found {
		return nil, syscall.ENOENT
	}
	n := d.child(ctx, name)
	n.attr(ctx, &out.Attr)
	d.root.entryTimeouts(out)
	return n.EmbeddedInode(), 0
}

// child returns the one nsDir of a namespace, creating it on first use.
func (d *categoryDir) child(ctx context.Context, ns string) *nsDir {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.children[ns]; ok {
		return n
	}
	n := newNSDir(d.root, d.cat, ns)
	d.NewPersistentInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: stableIno(string(d.cat) + "/" + ns)})
	d.children[ns] = n
	return n
}

// Getattr reports a read-only directory: namespaces are not made here.
func (d *categoryDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.root.dirAttr(&out.Attr, 0o555)
	return 0
}

// Mkdir is refused: namespaces are users and organizations, not folders.
func (d *categoryDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Create is refused: notebooks live inside a namespace.
func (d *categoryDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}

// Getxattr answers every name with ENODATA and no remote call.
func (d *categoryDir) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, gofs.ENOATTR
}
