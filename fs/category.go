package fs

import (
	"context"
	"slices"
	"sort"
	"sync"
	"syscall"

	"notebookfs/remote"
)

// Category is owned/, shared/ or public/: a directory of namespaces.
type Category struct {
	fs  *FS
	cat remote.Category

	mu       sync.Mutex
	children map[string]*Namespace // GUARDED_BY(mu); namespaces are never forgotten
}

// Name is the directory's name.
func (c *Category) Name() string { return string(c.cat) }

// Ino is the directory's inode number.
func (c *Category) Ino() uint64 { return stableIno("category/" + string(c.cat)) }

// namespaces lists the namespaces of the category, from the metadata cache
// while fresh. A failed refresh serves the last known list. Names that
// cannot be directory names are left out.
func (c *Category) namespaces(ctx context.Context) ([]string, error) {
	if c.cat == remote.Owned {
		u, err := c.fs.whoami(ctx)
		if err != nil {
			return nil, err
		}
		return validNamespaces(u.Namespaces()), nil
	}
	e, ok := c.fs.nsLists.Get(c.cat)
	if ok && e.Fresh && !e.Negative {
		return e.Value, nil
	}
	cctx, cancel := c.fs.callCtx(ctx)
	defer cancel()
	list, err := c.fs.client.Namespaces(cctx, c.cat)
	if err != nil {
		if ok && !e.Negative {
			c.fs.log.WithError(err).WithField("category", c.cat).Warn("listing namespaces failed; showing the last known list")
			return e.Value, nil
		}
		return nil, err
	}
	list = validNamespaces(list)
	c.fs.nsLists.Put(c.cat, list)
	return list, nil
}

// validNamespaces keeps the names a directory can have (a hostile or
// broken server may send "x/y", which the kernel refuses for the whole
// listing).
func validNamespaces(list []string) []string {
	if !slices.ContainsFunc(list, func(ns string) bool { return remote.ValidNamespace(ns) != nil }) {
		return list
	}
	out := make([]string, 0, len(list))
	for _, ns := range list {
		if remote.ValidNamespace(ns) == nil {
			out = append(out, ns)
		}
	}
	return out
}

// DirEntry is one name in a directory listing.
type DirEntry struct {
	Name string
	Mode uint32 // S_IFREG, S_IFDIR or S_IFLNK
	Ino  uint64 // 0: not known
}

// ReadDir lists the namespaces, sorted.
func (c *Category) ReadDir(ctx context.Context) ([]DirEntry, error) {
	list, err := c.namespaces(ctx)
	if err != nil {
		return nil, err
	}
	list = append([]string(nil), list...)
	sort.Strings(list)
	ents := make([]DirEntry, 0, len(list))
	for _, ns := range list {
		ents = append(ents, DirEntry{Name: ns, Mode: syscall.S_IFDIR, Ino: stableIno(string(c.cat) + "/" + ns)})
	}
	return ents, nil
}

// Lookup finds a namespace.
func (c *Category) Lookup(ctx context.Context, name string) (*Namespace, error) {
	if remote.ValidNamespace(name) != nil {
		return nil, syscall.ENOENT
	}
	list, err := c.namespaces(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(list, name) {
		return nil, syscall.ENOENT
	}
	return c.child(name), nil
}

// child returns the one Namespace of ns, creating it on first use.
func (c *Category) child(ns string) *Namespace {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.children[ns]; ok {
		return n
	}
	n := newNamespace(c.fs, c.cat, ns)
	c.children[ns] = n
	return n
}
