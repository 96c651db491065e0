// Package remote defines what notebookfs needs from a notebook store: the
// Client interface every backend implements (the embedded SQLite store, the
// TileDB Cloud REST client), its types and its sentinel errors.
//
// Notebook names are not unique inside a namespace (TileDB Cloud allows
// duplicates), so every call that addresses one notebook takes its id (a
// UUID); names are only for listing, creating and renaming.
//
// The package knows nothing about FUSE or caching and imports nothing of ours.
package remote

import (
	"context"
	"io"
	"time"
)

// Category is one of the three top-level views of the catalog.
type Category string

// The categories, named as TileDB Cloud's /arrays/browser endpoints name them.
const (
	Owned  Category = "owned"  // my namespace and my organizations'
	Shared Category = "shared" // notebooks others shared with me
	Public Category = "public" // notebooks shared with everyone
)

// Categories lists the categories in the order the file system shows them.
var Categories = []Category{Owned, Shared, Public}

// Valid reports whether c is one of the three categories.
func (c Category) Valid() bool { return c == Owned || c == Shared || c == Public }

// Actions a caller may take on a notebook, spelled as TileDB's ArrayActions.
const (
	ActionRead  = "read"
	ActionWrite = "write"
	// ActionShare is ours: TileDB has no such array action (sharing is the
	// owner's or a namespace admin's right), but the file system needs to
	// know whether to offer it.
	ActionShare = "share"
)

// PublicNamespace is the namespace a notebook is shared with to make it
// public; every user is a member of it.
const PublicNamespace = "public"

// Notebook is one notebook in the catalog.
type Notebook struct {
	ID        string    // UUID, stable across renames and saves
	Namespace string    // owning namespace (user or organization)
	Name      string    // display name, without ".ipynb"
	Size      int64     // byte length of the latest version's .ipynb
	Version   time.Time // time of the latest version (millisecond precision)
	Created   time.Time // time of the first version; orders duplicate names
	Actions   []string  // what the caller may do: ActionRead, ActionWrite, ActionShare
}

// Can reports whether the caller holds the given action on n.
func (n Notebook) Can(action string) bool {
	for _, a := range n.Actions {
		if a == action {
			return true
		}
	}
	return false
}

// Version is one saved state of a notebook.
type Version struct {
	Time time.Time // millisecond precision; identifies the version
	Size int64
}

// Share is one grant of access to a notebook.
type Share struct {
	Namespace string   // user, organization, or PublicNamespace
	Actions   []string // sorted: "read" or "read","write"
	Type      string   // "user" or "organization"
}

// Organization is one organization the user belongs to.
type Organization struct {
	Name string
	Role string // owner, admin, read_write_delete, read_write, read_only
}

// User is the caller.
type User struct {
	Username      string
	Organizations []Organization // without the implicit "public" organization
}

// Namespaces is the user's own namespace followed by their organizations':
// the namespaces shown under owned/.
func (u User) Namespaces() []string {
	ns := []string{u.Username}
	for _, o := range u.Organizations {
		if o.Name != PublicNamespace {
			ns = append(ns, o.Name)
		}
	}
	return ns
}

// CreateOptions says where a new notebook's data goes (TileDB Cloud's
// storage location and credentials name); empty means the namespace default.
type CreateOptions struct {
	StoragePath       string
	StorageCredential string
}

// Content is a notebook's bytes, streamed. The caller must Close it.
type Content struct {
	io.ReadCloser
	Size    int64     // exact byte length
	Version time.Time // the version read
}

// Client is a notebook store. Every method honours ctx's deadline and
// cancellation; errors wrap the sentinels of this package.
type Client interface {
	// Whoami returns the caller and their organizations.
	Whoami(ctx context.Context) (User, error)
	// Namespaces lists the namespaces that have notebooks in cat (for Owned,
	// the user's namespaces, even empty ones), sorted.
	Namespaces(ctx context.Context, cat Category) ([]string, error)
	// List returns every notebook of namespace ns in cat, all pages, oldest
	// first in creation order (the first of a duplicate name keeps it).
	List(ctx context.Context, cat Category, ns string) ([]Notebook, error)
	// Stat returns one notebook.
	Stat(ctx context.Context, ns, id string) (Notebook, error)
	// Read opens the notebook's bytes: the latest version when at is zero,
	// else the latest version at or before at.
	Read(ctx context.Context, ns, id string, at time.Time) (*Content, error)
	// Create makes a new notebook named name in ns from size bytes of r.
	// Names need not be unique: a second "x" is a second notebook.
	Create(ctx context.Context, ns, name string, r io.Reader, size int64, opts CreateOptions) (Notebook, error)
	// Write saves size bytes of r as a new version of an existing notebook,
	// keeping its id, shares and history.
	Write(ctx context.Context, ns, id string, r io.Reader, size int64) (Notebook, error)
	// Rename changes a notebook's name; its id stays.
	Rename(ctx context.Context, ns, id, newName string) (Notebook, error)
	// Delete removes a notebook and its history.
	Delete(ctx context.Context, ns, id string) error
	// Latest returns the time of a notebook's latest version, or with a
	// non-zero at the latest at or before at (ErrNotFound when none): the
	// cheapest check of who saved when (one request on TileDB Cloud).
	Latest(ctx context.Context, ns, id string, at time.Time) (time.Time, error)
	// Versions lists a notebook's versions, oldest first.
	Versions(ctx context.Context, ns, id string) ([]Version, error)
	// Shares lists who a notebook is shared with, sorted by namespace.
	Shares(ctx context.Context, ns, id string) ([]Share, error)
	// Share grants exactly actions to namespace with (PublicNamespace makes
	// the notebook public); empty actions removes the share.
	Share(ctx context.Context, ns, id, with string, actions []string) error
}
