package fs

import (
	"context"
	"sort"
	"strings"
	"syscall"
	"time"

	"notebookfs/remote"
)

// History, read-only:
//
//	<cat>/<ns>/.versions/<name>.ipynb/<UTC time>.ipynb
//
// .versions is reachable by name but not listed in its namespace (like
// ZFS's .zfs with snapdir=hidden): grep -r, find, cp -r and backups would
// otherwise walk every notebook's history, two remote calls per notebook.
// It has one directory per notebook of the namespace, one file per version
// named by its time (2026-11-25T10:00:00.123Z.ipynb), whose content is
// that version. Listing a notebook's versions is one remote call per
// metadata TTL; reading one is one Read at that time, then cached like any
// content.

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

// Versions is <ns>/.versions: a directory per notebook.
type Versions struct{ ns *Namespace }

// Ino is the directory's inode number.
func (v *Versions) Ino() uint64 { return stableIno("versions/" + v.ns.key) }

// ReadDir lists the namespace's notebooks, as directories.
func (v *Versions) ReadDir(ctx context.Context) ([]DirEntry, error) {
	names, err := v.ns.list(ctx)
	if err != nil {
		return nil, err
	}
	ents := make([]DirEntry, 0, len(names))
	for file := range names {
		ents = append(ents, DirEntry{Name: file, Mode: syscall.S_IFDIR})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return ents, nil
}

// Lookup finds a notebook's history directory.
func (v *Versions) Lookup(ctx context.Context, name string) (*History, error) {
	names, err := v.ns.list(ctx)
	if err != nil {
		return nil, err
	}
	nb, ok := names[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	return &History{ns: v.ns, nb: nb}, nil
}

// History is .versions/<name>.ipynb: one file per version.
type History struct {
	ns *Namespace
	nb remote.Notebook
}

// ID is the notebook whose history this is.
func (h *History) ID() string { return h.nb.ID }

// Path is the directory's path from the mount's root.
func (h *History) Path() string { return h.ns.Path(versionsDirName + "/" + h.nb.Name + Suffix) }

// versions lists the notebook's versions, cached for the metadata TTL.
func (h *History) versions(ctx context.Context) ([]remote.Version, error) {
	f := h.ns.fs
	if e, ok := f.versionLists.Get(h.nb.ID); ok && e.Fresh && !e.Negative {
		return e.Value, nil
	}
	cctx, cancel := f.callCtx(ctx)
	defer cancel()
	vs, err := f.client.Versions(cctx, h.ns.ns, h.nb.ID)
	if err != nil {
		return nil, err
	}
	f.versionLists.Put(h.nb.ID, vs)
	return vs, nil
}

// ReadDir lists one file per version, oldest first.
func (h *History) ReadDir(ctx context.Context) ([]DirEntry, error) {
	vs, err := h.versions(ctx)
	if err != nil {
		return nil, err
	}
	ents := make([]DirEntry, 0, len(vs))
	for _, v := range vs {
		ents = append(ents, DirEntry{Name: versionFileName(v.Time), Mode: syscall.S_IFREG})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return ents, nil
}

// Lookup finds one version by its file name.
func (h *History) Lookup(ctx context.Context, name string) (*Version, error) {
	t, ok := parseVersionFileName(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	vs, err := h.versions(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v.Time.UnixMilli() == t.UnixMilli() {
			return &Version{ns: h.ns, nb: h.nb, v: v}, nil
		}
	}
	return nil, syscall.ENOENT
}

// Version is one version's content, read-only; it never changes.
type Version struct {
	ns *Namespace
	nb remote.Notebook
	v  remote.Version
}

// Attr is the version's size and time.
func (f *Version) Attr() Attr {
	return Attr{Mode: syscall.S_IFREG | 0o444, Size: f.v.Size, Mtime: f.v.Time, Atime: f.v.Time, Ctime: f.v.Time}
}

// Path is the file's path from the mount's root.
func (f *Version) Path() string {
	return f.ns.Path(versionsDirName + "/" + f.nb.Name + Suffix + "/" + versionFileName(f.v.Time))
}

// ReadAt reads the version: from the content cache, else one Read at its
// time.
func (f *Version) ReadAt(ctx context.Context, dest []byte, off int64) (int, error) {
	data, err := f.ns.fs.store.Version(ctx, f.ns.ns, f.nb.ID, f.v.Time)
	if err != nil {
		return 0, err
	}
	if off >= int64(len(data)) {
		return 0, nil
	}
	return copy(dest, data[off:]), nil
}
