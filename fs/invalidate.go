package fs

import (
	"context"
	"errors"
	"sync"

	"notebookfs/remote"
)

// InvalidationKind says what of the kernel's caches a remote change makes
// wrong.
type InvalidationKind int

const (
	// InvalidContent: a file's content or attributes changed (a new
	// version, other permissions); the kernel drops its pages and attrs.
	InvalidContent InvalidationKind = iota
	// InvalidEntry: a name in a namespace directory means something else
	// now (a notebook appeared, was renamed away or to it).
	InvalidEntry
	// InvalidDelete: the file of a name was deleted remotely.
	InvalidDelete
)

// Invalidation is one remote change the kernel's caches must forget. The
// FUSE adapter finds its nodes by Category/Namespace/Name.
type Invalidation struct {
	Kind      InvalidationKind
	Category  remote.Category
	Namespace string
	Name      string // the file name the kernel knows
	id        string // the notebook's id (InvalidContent)
}

// invalidations queues what listing refreshes saw change, for one worker
// of the adapter: refreshes append under no lock of the tree and never
// block, and the kernel is told outside every lock of ours (a kernel
// notification may wait for a request that needs them).
type invalidations struct {
	mu     sync.Mutex
	items  []Invalidation // GUARDED_BY(mu)
	closed bool           // GUARDED_BY(mu)
	ready  chan struct{}  // one token: items were added
}

func newInvalidations() *invalidations {
	return &invalidations{ready: make(chan struct{}, 1)}
}

func (q *invalidations) add(items ...Invalidation) {
	if len(items) == 0 {
		return
	}
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, items...)
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *invalidations) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// ErrClosed: the file system was closed.
var ErrClosed = errors.New("the file system is closed")

// NextInvalidations waits for remote changes that the kernel's caches must
// forget and returns them in order; it returns ctx's error, or
// ErrClosed once the file system is closed.
func (f *FS) NextInvalidations(ctx context.Context) ([]Invalidation, error) {
	q := f.inval
	for {
		q.mu.Lock()
		items, closed := q.items, q.closed
		q.items = nil
		q.mu.Unlock()
		if len(items) > 0 {
			return items, nil
		}
		if closed {
			return nil, ErrClosed
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// listingChanges compares two listings of a namespace (by file name) and
// says what the kernel must forget: names whose notebook changed version
// or permissions, was deleted, renamed, or newly appeared.
func listingChanges(cat remote.Category, ns string, old, cur map[string]remote.Notebook) []Invalidation {
	var out []Invalidation
	at := func(kind InvalidationKind, name string) {
		out = append(out, Invalidation{Kind: kind, Category: cat, Namespace: ns, Name: name, id: old[name].ID})
	}
	curByID := make(map[string]string, len(cur))
	for file, nb := range cur {
		curByID[nb.ID] = file
	}
	for file, was := range old {
		now, ok := cur[file]
		switch {
		case ok && now.ID == was.ID:
			if !now.Version.Equal(was.Version) || now.Size != was.Size || !sameActions(now.Actions, was.Actions) {
				at(InvalidContent, file)
			}
		case ok:
			at(InvalidEntry, file) // another notebook under this name now
		default:
			if _, renamed := curByID[was.ID]; renamed {
				at(InvalidEntry, file)
			} else {
				at(InvalidDelete, file)
			}
		}
	}
	for file := range cur {
		if _, ok := old[file]; !ok {
			at(InvalidEntry, file) // a negative entry may be cached
		}
	}
	return out
}

// othersChanges leaves out the content changes that are ours: a version
// this mount saved, or a file with a save of ours on its way (the listing
// may show our upload before we heard of it). The kernel's pages of those
// are already what we wrote, and every notification is a write into the
// kernel that may wait for its locks.
func (f *FS) othersChanges(items []Invalidation, cur map[string]remote.Notebook) []Invalidation {
	out := items[:0]
	for _, it := range items {
		if it.Kind == InvalidContent {
			if nb, ok := cur[it.Name]; ok && f.ownVersion(nb) {
				continue // our own save
			}
			if n := f.nodes.get(it.id); n != nil && n.hasLocalChanges() {
				continue
			}
		}
		out = append(out, it)
	}
	return out
}

func sameActions(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
