package remotetest

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"notebookfs/remote"
)

// Methods lists the remote.Client method names, as Counting and Faulty key
// them.
func Methods() []string {
	return []string{"Whoami", "Namespaces", "List", "Stat", "Read", "Create",
		"Write", "Rename", "Delete", "Latest", "Versions", "Shares", "Share"}
}

// Counting wraps a remote.Client and counts calls per method, failed ones
// included. It is safe for concurrent use.
type Counting struct {
	c      remote.Client
	counts map[string]*atomic.Int64 // fixed keys: read without a lock
}

var _ remote.Client = (*Counting)(nil)

// NewCounting wraps c.
func NewCounting(c remote.Client) *Counting {
	k := &Counting{c: c, counts: map[string]*atomic.Int64{}}
	for _, m := range Methods() {
		k.counts[m] = new(atomic.Int64)
	}
	return k
}

// Count returns the calls of method so far (0 for an unknown name).
func (k *Counting) Count(method string) int64 {
	if n, ok := k.counts[method]; ok {
		return n.Load()
	}
	return 0
}

// Total returns the calls of every method.
func (k *Counting) Total() int64 {
	var t int64
	for _, n := range k.counts {
		t += n.Load()
	}
	return t
}

// Reset sets every count to zero.
func (k *Counting) Reset() {
	for _, n := range k.counts {
		n.Store(0)
	}
}

// Snapshot returns every method's count, zeros included.
func (k *Counting) Snapshot() map[string]int64 {
	out := make(map[string]int64, len(k.counts))
	for m, n := range k.counts {
		out[m] = n.Load()
	}
	return out
}

func (k *Counting) inc(method string) { k.counts[method].Add(1) }

func (k *Counting) Whoami(ctx context.Context) (remote.User, error) {
	k.inc("Whoami")
	return k.c.Whoami(ctx)
}

func (k *Counting) Namespaces(ctx context.Context, cat remote.Category) ([]string, error) {
	k.inc("Namespaces")
	return k.c.Namespaces(ctx, cat)
}

func (k *Counting) List(ctx context.Context, cat remote.Category, ns string) ([]remote.Notebook, error) {
	k.inc("List")
	return k.c.List(ctx, cat, ns)
}

func (k *Counting) Stat(ctx context.Context, ns, id string) (remote.Notebook, error) {
	k.inc("Stat")
	return k.c.Stat(ctx, ns, id)
}

func (k *Counting) Read(ctx context.Context, ns, id string, at time.Time) (*remote.Content, error) {
	k.inc("Read")
	return k.c.Read(ctx, ns, id, at)
}

func (k *Counting) Create(ctx context.Context, ns, name string, r io.Reader, size int64, opts remote.CreateOptions) (remote.Notebook, error) {
	k.inc("Create")
	return k.c.Create(ctx, ns, name, r, size, opts)
}

func (k *Counting) Write(ctx context.Context, ns, id string, r io.Reader, size int64) (remote.Notebook, error) {
	k.inc("Write")
	return k.c.Write(ctx, ns, id, r, size)
}

func (k *Counting) Rename(ctx context.Context, ns, id, newName string) (remote.Notebook, error) {
	k.inc("Rename")
	return k.c.Rename(ctx, ns, id, newName)
}

func (k *Counting) Delete(ctx context.Context, ns, id string) error {
	k.inc("Delete")
	return k.c.Delete(ctx, ns, id)
}

func (k *Counting) Latest(ctx context.Context, ns, id string, at time.Time) (time.Time, error) {
	k.inc("Latest")
	return k.c.Latest(ctx, ns, id, at)
}

func (k *Counting) Versions(ctx context.Context, ns, id string) ([]remote.Version, error) {
	k.inc("Versions")
	return k.c.Versions(ctx, ns, id)
}

func (k *Counting) Shares(ctx context.Context, ns, id string) ([]remote.Share, error) {
	k.inc("Shares")
	return k.c.Shares(ctx, ns, id)
}

func (k *Counting) Share(ctx context.Context, ns, id, with string, actions []string) error {
	k.inc("Share")
	return k.c.Share(ctx, ns, id, with, actions)
}
