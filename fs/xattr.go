package fs

import (
	"context"
	"errors"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"notebookfs/remote"
)

// Sharing through extended attributes. On a notebook:
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
// other names are ENOTSUP, so cp -a only warns. macOS's com.apple.* (Finder
// info, quarantine, TextEdit's encoding) are set freely there: on a
// notebook they are dropped without an error, and read as absent.
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

// isAppleXattr: what macOS apps set on any file they touch.
func isAppleXattr(attr string) bool { return strings.HasPrefix(attr, "com.apple.") }

// isSystemXattr: names the kernel and tools probe; never remote.
func isSystemXattr(attr string) bool {
	return strings.HasPrefix(attr, "system.") || strings.HasPrefix(attr, "security.") || strings.HasPrefix(attr, "trusted.")
}

// nameList is names as listxattr returns them: each NUL-terminated.
func nameList(names []string) []byte {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(0)
	}
	return []byte(b.String())
}

// Flags of setxattr(2).
const (
	XattrCreate  = 1
	XattrReplace = 2
)

// scratchXattrPath is the local file of a scratch file, whose extended
// attributes are its own (rsync -X sets them on its temp file before
// renaming it onto a notebook; they stay local and are never uploaded).
func (n *File) scratchXattrPath() (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ns.scratchPath(n.name), n.scratch
}

// localXattr reads a local file's attribute whole.
func localXattr(p, attr string) ([]byte, error) {
	for {
		sz, err := unix.Lgetxattr(p, attr, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, sz)
		k, err := unix.Lgetxattr(p, attr, buf)
		if errors.Is(err, syscall.ERANGE) {
			continue // grew in between
		}
		if err != nil {
			return nil, err
		}
		return buf[:k], nil
	}
}

func localXattrList(p string) ([]byte, error) {
	for {
		sz, err := unix.Llistxattr(p, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, sz)
		k, err := unix.Llistxattr(p, buf)
		if errors.Is(err, syscall.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:k], nil
	}
}

// notebookForXattr is the remote notebook a file stands for, if any. A
// new notebook still on its way is waited for (within the call deadline):
// sharing right after creating must work. One created but not saved yet
// (touch, whose last release is still to come) is saved now.
func (n *File) notebookForXattr(ctx context.Context) (remote.Notebook, bool) {
	n.mu.Lock()
	if !n.scratch && !n.gone && n.nb.ID == "" && n.pend == nil && n.dirty {
		n.journalLocked()
	}
	if !n.scratch && !n.gone && n.nb.ID == "" && n.pend != nil {
		ref := n.ref
		n.mu.Unlock()
		n.waitUploaded(ctx, ref)
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
func (n *File) Getxattr(ctx context.Context, attr string) ([]byte, error) {
	if p, ok := n.scratchXattrPath(); ok {
		return localXattr(p, attr)
	}
	if isSystemXattr(attr) || isAppleXattr(attr) {
		return nil, errNoAttr
	}
	if !strings.HasPrefix(attr, "user.tiledb.") {
		return nil, syscall.ENOTSUP
	}
	nb, ok := n.notebookForXattr(ctx)
	if !ok {
		return nil, errNoAttr
	}
	switch {
	case attr == xattrURI:
		return []byte("tiledb://" + nb.Namespace + "/" + nb.Name), nil
	case attr == xattrID:
		return []byte(nb.ID), nil
	case attr == xattrPermissions:
		return []byte(strings.Join(nb.Actions, ",")), nil
	case attr == xattrShares:
		shares, err := n.ns.shares(ctx, nb)
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		for _, s := range shares {
			b.WriteString(s.Namespace + ":" + strings.Join(s.Actions, ",") + "\n")
		}
		return []byte(b.String()), nil
	case strings.HasPrefix(attr, xattrShare):
		with := strings.TrimPrefix(attr, xattrShare)
		shares, err := n.ns.shares(ctx, nb)
		if err != nil {
			return nil, err
		}
		if s, ok := findShare(shares, with); ok {
			return []byte(strings.Join(s.Actions, ",")), nil
		}
		return nil, errNoAttr
	}
	return nil, syscall.ENOTSUP
}

// Listxattr lists only the read-only names (never the share names), as
// listxattr(2) returns them.
func (n *File) Listxattr(ctx context.Context) ([]byte, error) {
	if p, ok := n.scratchXattrPath(); ok {
		return localXattrList(p)
	}
	if _, ok := n.notebookForXattr(ctx); !ok {
		return nil, nil
	}
	return nameList(readOnlyXattrs), nil
}

// Setxattr shares a notebook: the value is a comma-separated list of
// actions (read, write; any order or case, spaces ignored).
func (n *File) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) error {
	if p, ok := n.scratchXattrPath(); ok {
		return unix.Lsetxattr(p, attr, data, localXattrFlags(flags))
	}
	switch {
	case isAppleXattr(attr):
		return nil
	case isReadOnlyXattr(attr):
		return syscall.EPERM
	case !strings.HasPrefix(attr, xattrShare):
		return syscall.ENOTSUP
	}
	if n.ns.fs.opts.ReadOnly {
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
	if flags&(XattrCreate|XattrReplace) != 0 {
		shares, err := n.ns.shares(ctx, nb)
		if err != nil {
			return err
		}
		_, exists := findShare(shares, with)
		if flags&XattrCreate != 0 && exists {
			return syscall.EEXIST
		}
		if flags&XattrReplace != 0 && !exists {
			return errNoAttr
		}
	}
	return n.ns.share(ctx, nb, with, actions)
}

// Removexattr unshares.
func (n *File) Removexattr(ctx context.Context, attr string) error {
	if p, ok := n.scratchXattrPath(); ok {
		return unix.Lremovexattr(p, attr)
	}
	switch {
	case isSystemXattr(attr), isAppleXattr(attr):
		return errNoAttr
	case isReadOnlyXattr(attr):
		return syscall.EPERM
	case !strings.HasPrefix(attr, xattrShare):
		return syscall.ENOTSUP
	}
	if n.ns.fs.opts.ReadOnly {
		return syscall.EROFS
	}
	nb, ok := n.notebookForXattr(ctx)
	if !ok {
		return errNoAttr
	}
	with := strings.TrimPrefix(attr, xattrShare)
	if remote.ValidNamespace(with) != nil {
		return syscall.EINVAL
	}
	shares, err := n.ns.shares(ctx, nb)
	if err != nil {
		return err
	}
	if _, ok := findShare(shares, with); !ok {
		return errNoAttr
	}
	return n.ns.share(ctx, nb, with, []string{})
}

func findShare(shares []remote.Share, ns string) (remote.Share, bool) {
	for _, s := range shares {
		if s.Namespace == ns {
			return s, true
		}
	}
	return remote.Share{}, false
}

// shares lists a notebook's shares, cached for the metadata TTL.
func (d *Namespace) shares(ctx context.Context, nb remote.Notebook) ([]remote.Share, error) {
	if e, ok := d.fs.shareLists.Get(nb.ID); ok && e.Fresh && !e.Negative {
		return e.Value, nil
	}
	cctx, cancel := d.fs.callCtx(ctx)
	defer cancel()
	shares, err := d.fs.client.Shares(cctx, d.ns, nb.ID)
	if err != nil {
		return nil, err
	}
	sort.Slice(shares, func(i, j int) bool { return shares[i].Namespace < shares[j].Namespace })
	d.fs.shareLists.Put(nb.ID, shares)
	return shares, nil
}

// share grants (or with no actions removes) a share, then drops what it
// makes stale at once: the share list, and public/ when that changed.
func (d *Namespace) share(ctx context.Context, nb remote.Notebook, with string, actions []string) error {
	cctx, cancel := d.fs.saveCtx(ctx)
	err := d.fs.client.Share(cctx, d.ns, nb.ID, with, actions)
	cancel()
	d.fs.shareLists.Invalidate(nb.ID)
	if err != nil {
		return err
	}
	if with == remote.PublicNamespace {
		d.fs.nsLists.Invalidate(remote.Public)
		d.fs.lists.Invalidate(string(remote.Public) + "/" + nb.Namespace)
	}
	return nil
}
