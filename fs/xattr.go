package fs

import (
	"context"
	"sort"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"notebookfs/remote"
)

// Sharing through extended attributes (ARCHITECTURE.md section 4).
//
// On a notebook:
//
//	user.tiledb.share.<ns>   get: actions ("read,write"); set: share with exactly these; remove: unshare
//	user.tiledb.share.public get: "read" when public; set "read": make public; remove: make private
//	user.tiledb.shares       read-only: one "ns:actions" line per share, sorted
//	user.tiledb.uri, .id     read-only: tiledb://ns/name and the UUID
//	user.tiledb.permissions  read-only: my allowed actions
//
// listxattr names only the read-only attributes, so cp -a, rsync -X and
// Python's copystat, which copy every listed user.* attribute, never copy
// sharing onto a copy. system.* and security.* (the kernel asks for
// security.capability on every write) answer ENODATA with no remote call;
// other names are ENOTSUP, so cp -a only warns.
const (
	xattrShare       = "user.tiledb.share."
	xattrShares      = "user.tiledb.shares"
	xattrURI         = "user.tiledb.uri"
	xattrID          = "user.tiledb.id"
	xattrPermissions = "user.tiledb.permissions"
)

// readOnlyXattrs are what listxattr shows on a notebook.
var readOnlyXattrs = []string{xattrID, xattrPermissions, xattrShares, xattrURI}

func isReadOnlyXattr(attr string) bool {
	for _, a := range readOnlyXattrs {
		if a == attr {
			return true
		}
	}
	return false
}

// isSystemXattr: names the kernel and tools probe; never remote.
func isSystemXattr(attr string) bool {
	return strings.HasPrefix(attr, "system.") || strings.HasPrefix(attr, "security.") || strings.HasPrefix(attr, "trusted.")
}

// xattrReply copies value into dest, or reports the size needed: ERANGE
// with the size, which go-fuse turns into success for the size-0 probe.
func xattrReply(dest []byte, value string) (uint32, syscall.Errno) {
	if len(dest) < len(value) {
		return uint32(len(value)), syscall.ERANGE
	}
	return uint32(copy(dest, value)), 0
}

// xattrListReply is xattrReply for NUL-terminated name lists.
func xattrListReply(dest []byte, names []string) (uint32, syscall.Errno) {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(0)
	}
	return xattrReply(dest, b.String())
}

var _ = (gofs.NodeGetxattrer)((*fileNode)(nil))
var _ = (gofs.NodeSetxattrer)((*fileNode)(nil))
var _ = (gofs.NodeRemovexattrer)((*fileNode)(nil))
var _ = (gofs.NodeListxattrer)((*fileNode)(nil))

// scratchXattrPath is the local file of a scratch node, whose extended
// attributes are its own (rsync -X sets them on its temp file before
// renaming it onto a notebook; they stay local and are never uploaded).
func (n *fileNode) scratchXattrPath() (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dir.scratchPath(n.name), n.scratch
}

// localXattrErr maps a local xattr syscall error to an errno.
func localXattrErr(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errno, ok := err.(syscall.Errno); ok {
		return errno
	}
	return syscall.EIO
}

// notebookForXattr is the remote notebook a node stands for, if any. A
// new notebook still on its way is waited for (within the call deadline):
// sharing right after creating must work.
func (n *fileNode) notebookForXattr(ctx context.Context) (remote.Notebook, bool) {
	n.mu.Lock()
	if !n.scratch && !n.gone && n.nb.ID == "" && n.pend != nil {
		key := n.wbKey
		n.mu.Unlock()
		n.waitUploaded(ctx, key, "")
		n.mu.Lock()
	}
	defer n.mu.Unlock()
	if n.scratch || n.gone || n.nb.ID == "" {
		return remote.Notebook{}, false
	}
	return n.nb, true
}

// Getxattr answers the sharing attributes; only the share lists cost a
// remote call, and those are cached for the metadata TTL.
func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if p, ok := n.scratchXattrPath(); ok {
		sz, err := unix.Lgetxattr(p, attr, dest)
		if err == syscall.ERANGE || (err == nil && len(dest) == 0) {
			sz, err = unix.Lgetxattr(p, attr, nil)
			return uint32(sz), syscall.ERANGE
		}
		return uint32(sz), localXattrErr(err)
	}
	if isSystemXattr(attr) {
		return 0, gofs.ENOATTR
	}
	if !strings.HasPrefix(attr, "user.tiledb.") {
		return 0, syscall.ENOTSUP
	}
	nb, ok := n.notebookForXattr(ctx)
	if !ok {
		return 0, gofs.ENOATTR
	}
	switch {
	case attr == xattrURI:
		return xattrReply(dest, "tiledb://"+nb.Namespace+"/"+nb.Name)
	case attr == xattrID:
		return xattrReply(dest, nb.ID)
	case attr == xattrPermissions:
		return xattrReply(dest, strings.Join(nb.Actions, ","))
	case attr == xattrShares:
		shares, err := n.dir.shares(ctx, nb)
		if err != nil {
			return 0, toErrno(n.dir.root.log, "getxattr", n.path(), err)
		}
		var b strings.Builder
		for _, s := range shares {
			b.WriteString(s.Namespace + ":" + strings.Join(s.Actions, ",") + "\n")
		}
		return xattrReply(dest, b.String())
	case strings.HasPrefix(attr, xattrShare):
		with := strings.TrimPrefix(attr, xattrShare)
		shares, err := n.dir.shares(ctx, nb)
		if err != nil {
			return 0, toErrno(n.dir.root.log, "getxattr", n.path(), err)
		}
		if s, ok := findShare(shares, with); ok {
			return xattrReply(dest, strings.Join(s.Actions, ","))
		}
		return 0, gofs.ENOATTR
	}
	return 0, syscall.ENOTSUP
}

// Listxattr lists only the read-only names (never the share names).
func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if p, ok := n.scratchXattrPath(); ok {
		sz, err := unix.Llistxattr(p, dest)
		if err == syscall.ERANGE || (err == nil && len(dest) == 0) {
			sz, err = unix.Llistxattr(p, nil)
			return uint32(sz), syscall.ERANGE
		}
		return uint32(sz), localXattrErr(err)
	}
	if _, ok := n.notebookForXattr(ctx); !ok {
		return 0, 0
	}
	return xattrListReply(dest, readOnlyXattrs)
}

// Setxattr shares a notebook: the value is a comma-separated list of
// actions (read, write; any order or case, spaces ignored).
func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if p, ok := n.scratchXattrPath(); ok {
		return localXattrErr(unix.Lsetxattr(p, attr, data, int(flags)))
	}
	switch {
	case isReadOnlyXattr(attr):
		return syscall.EPERM
	case !strings.HasPrefix(attr, xattrShare):
		return syscall.ENOTSUP
	}
	if n.dir.root.opts.ReadOnly {
		return syscall.EROFS
	}
	nb, ok := n.notebookForXattr(ctx)
	if !ok {
		return syscall.ENOTSUP
	}
	with := strings.TrimPrefix(attr, xattrShare)
	if remote.ValidNamespace(with) != nil || with == nb.Namespace {
		return syscall.EINVAL
	}
	actions, err := remote.NormalizeActions(strings.Split(strings.TrimRight(string(data), "\x00"), ","))
	if err != nil || len(actions) == 0 {
		return syscall.EINVAL
	}
	if with == remote.PublicNamespace && (len(actions) != 1 || actions[0] != remote.ActionRead) {
		return syscall.EINVAL
	}
	if flags&(xattrCreate|xattrReplace) != 0 {
		shares, err := n.dir.shares(ctx, nb)
		if err != nil {
			return toErrno(n.dir.root.log, "setxattr", n.path(), err)
		}
		_, exists := findShare(shares, with)
		if flags&xattrCreate != 0 && exists {
			return syscall.EEXIST
		}
		if flags&xattrReplace != 0 && !exists {
			return gofs.ENOATTR
		}
	}
	return n.dir.share(ctx, nb, with, actions, "setxattr", n.path())
}

// Removexattr unshares.
func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if p, ok := n.scratchXattrPath(); ok {
		return localXattrErr(unix.Lremovexattr(p, attr))
	}
	switch {
	case isSystemXattr(attr):
		return gofs.ENOATTR
	case isReadOnlyXattr(attr):
		return syscall.EPERM
	case !strings.HasPrefix(attr, xattrShare):
		return syscall.ENOTSUP
	}
	if n.dir.root.opts.ReadOnly {
		return syscall.EROFS
	}
	nb, ok := n.notebookForXattr(ctx)
	if !ok {
		return gofs.ENOATTR
	}
	with := strings.TrimPrefix(attr, xattrShare)
	if remote.ValidNamespace(with) != nil {
		return syscall.EINVAL
	}
	shares, err := n.dir.shares(ctx, nb)
	if err != nil {
		return toErrno(n.dir.root.log, "removexattr", n.path(), err)
	}
	if _, ok := findShare(shares, with); !ok {
		return gofs.ENOATTR
	}
	return n.dir.share(ctx, nb, with, []string{}, "removexattr", n.path())
}

// Flags of setxattr(2).
const (
	xattrCreate  = 1
	xattrReplace = 2
)

func findShare(shares []remote.Share, ns string) (remote.Share, bool) {
	for _, s := range shares {
		if s.Namespace == ns {
			return s, true
		}
	}
	return remote.Share{}, false
}

// shares lists a notebook's shares, cached for the metadata TTL.
func (d *nsDir) shares(ctx context.Context, nb remote.Notebook) ([]remote.Share, error) {
	if e, ok := d.root.shareLists.Get(nb.ID); ok && e.Fresh && !e.Negative {
		return e.Value, nil
	}
	cctx, cancel := d.root.callCtx(ctx)
	defer cancel()
	shares, err := d.root.client.Shares(cctx, d.ns, nb.ID)
	if err != nil {
		return nil, err
	}
	sort.Slice(shares, func(i, j int) bool { return shares[i].Namespace < shares[j].Namespace })
	d.root.shareLists.Put(nb.ID, shares)
	return shares, nil
}

// share grants (or with no actions removes) a share, then drops what it
// makes stale at once: the share list, and public/ when that changed.
func (d *nsDir) share(ctx context.Context, nb remote.Notebook, with string, actions []string, op, path string) syscall.Errno {
	cctx, cancel := d.root.saveCtx(ctx)
	err := d.root.client.Share(cctx, d.ns, nb.ID, with, actions)
	cancel()
	d.root.shareLists.Invalidate(nb.ID)
	if err != nil {
		return toErrno(d.root.log, op, path, err)
	}
	if with == remote.PublicNamespace {
		d.root.nsLists.Invalidate(remote.Public)
		d.root.lists.Invalidate(string(remote.Public) + "/" + nb.Namespace)
	}
	return 0
}
