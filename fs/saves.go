package fs

// Saving: a close makes the staged copy durable through the save engine
// (fs/save) and returns; the engine uploads it in the background and
// reports how it ended on its results, which one goroutine applies here
// (readOutcomes). Until then the file reads its pending content from the
// journal.

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"
	"time"

	"notebookfs/fs/save"
	"notebookfs/remote"
)

// refLocked is the chain of the file's saves: kept while saves are on
// their way, else the notebook's own (a new notebook's chain ends once it
// is created and its pending saves are done).
func (n *File) refLocked() save.Ref {
	if n.ref == "" || (n.nb.ID != "" && n.ref != save.RefOf(n.nb.ID) && n.pend == nil) {
		n.ref = save.NewRef()
		if n.nb.ID != "" {
			n.ref = save.RefOf(n.nb.ID)
		}
	}
	return n.ref
}

// saveTimeLocked is the time a save made now shows as its mtime: the clock
// in milliseconds (what a remote version keeps), after any time the file
// showed before, so that an editor comparing mtimes sees every save.
func (n *File) saveTimeLocked() time.Time {
	t := n.ns.fs.now().UTC().Truncate(time.Millisecond)
	if a, err := n.attrLocked(); err == nil && !t.After(a.Mtime) {
		t = a.Mtime.Add(time.Millisecond)
	}
	return t
}

// journalLocked makes the staged copy a save: once it returns nil the
// save survives a crash.
func (n *File) journalLocked() error {
	if !n.dirty || n.gone || n.scratch || n.staged == nil {
		return nil
	}
	fi, err := n.staged.Stat()
	if err != nil {
		return err
	}
	p, err := n.prepareLocked(n.staged, fi.Size())
	if err != nil {
		return err
	}
	p.Commit()
	return nil
}

// prepareLocked journals size bytes of r as the file's next save without
// queueing it: a rename first deletes its source, and drops the save if
// that fails.
func (n *File) prepareLocked(r io.ReaderAt, size int64) (*save.Prepared, error) {
	d := n.ns
	req := save.Request{
		Ref: n.refLocked(), Category: string(d.cat), Namespace: d.ns, ID: n.nb.ID,
		Name: notebookName(n.name), Time: n.saveTimeLocked(), Base: n.base, BaseSum: n.baseSum,
	}
	if n.nb.ID == "" {
		req.Storage = d.createOptions()
	}
	p, err := d.fs.saver.Prepare(req, r, size)
	if err != nil {
		return nil, err
	}
	n.pend = &p.Entry
	n.dirty = false
	n.setUnsavedLocked(false)
	d.fs.saving.set(n.ref, n)
	return p, nil
}

// waitUploaded waits (without the file's lock) until the saves of ref are
// uploaded and their outcome applied, within the call deadline: fsync's
// promise.
func (n *File) waitUploaded(ctx context.Context, ref save.Ref) error {
	f := n.ns.fs
	if ref == "" {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, f.opts.CallTimeout)
	defer cancel()
	last, err := f.saver.Wait(cctx, ref)
	if err == nil {
		err = f.waitApplied(cctx, last)
	}
	if err != nil && cctx.Err() != nil {
		f.log.WithField("op", "fsync").WithField("path", n.Path()).
			Warn("the upload did not finish within the deadline; the save stays in the journal and is retried")
		return syscall.EIO
	}
	return err
}

// attachPendingLocked gives a file made after a restart the content of its
// notebook's pending save, so readers see it before the upload ends.
func (n *File) attachPendingLocked() {
	if n.nb.ID == "" || n.pend != nil {
		return
	}
	if e, ok := n.ns.fs.saver.PendingNotebook(n.nb.ID); ok {
		n.pend, n.ref, n.base = &e, save.Ref(e.Key), e.Base
		n.ns.fs.saving.set(n.ref, n)
	}
}

// readOutcomes applies the save engine's results as they come.
func (f *FS) readOutcomes(results <-chan save.Result) {
	defer f.outcomes.Done()
	for r := range results {
		f.apply(r)
	}
}

// ApplyOutcomes applies the results waiting (ManualSaves) and reports how
// many there were.
func (f *FS) ApplyOutcomes() int {
	k := 0
	for {
		r, ok := f.saver.Next()
		if !ok {
			return k
		}
		f.apply(r)
		k++
	}
}

// waitApplied waits until the outcome numbered last has been applied.
func (f *FS) waitApplied(ctx context.Context, last uint64) error {
	stop := context.AfterFunc(ctx, func() {
		f.appliedMu.Lock()
		f.appliedC.Broadcast()
		f.appliedMu.Unlock()
	})
	defer stop()
	f.appliedMu.Lock()
	defer f.appliedMu.Unlock()
	for f.applied < last {
		if err := ctx.Err(); err != nil {
			return err
		}
		f.appliedC.Wait()
	}
	return nil
}

// apply takes the outcome of one save: the listing, the file, the caches
// and the backup records learn what the remote holds now.
func (f *FS) apply(res save.Result) {
	defer func() {
		f.saver.Release(res)
		f.appliedMu.Lock()
		f.applied = res.N
		f.appliedC.Broadcast()
		f.appliedMu.Unlock()
	}()
	e := res.Entry
	cat := remote.Category(e.Category)
	n := f.saving.get(res.Ref())
	if n == nil && e.ID != "" {
		n = f.nodes.get(e.ID)
	}
	d := f.nsOf(cat, e.Namespace)
	if d != nil && e.ID == "" {
		// Uploaded before anyone looked it up: the listing has it now
		// (the upsert below comes first in the listing's eyes).
		defer func() {
			d.mu.Lock()
			if re, ok := d.replayed[e.Name+Suffix]; ok && re.Key == e.Key {
				delete(d.replayed, e.Name+Suffix)
			}
			d.mu.Unlock()
		}()
	}
	if res.Outcome == save.Saved && e.ID == "" && n != nil {
		// A new notebook renamed after its create was done, before we
		// heard of it: the saver renamed it (or does now).
		n.mu.Lock()
		want, live := notebookName(n.name), !n.scratch && !n.gone
		n.mu.Unlock()
		if live && want != res.Notebook.Name {
			ctx, cancel := context.WithTimeout(context.Background(), f.opts.CallTimeout)
			if nb, done, err := f.saver.Rename(ctx, res.Ref(), want); done && err == nil {
				res.Notebook = nb
			}
			cancel()
		}
	}
	if n != nil {
		n.mu.Lock()
		gone := n.gone
		n.mu.Unlock()
		if gone {
			// Deleted locally (or renamed over) meanwhile: the listing
			// must not bring it back; the saver undid a create (Cancel).
			n.applyResult(res)
			return
		}
	}
	switch res.Outcome {
	case save.Saved:
		if res.Notebook.ID == "" {
			break
		}
		if n != nil {
			// Renamed since this save was uploaded: the name the file has
			// now (done remotely) wins over the one the upload reported.
			n.mu.Lock()
			if !n.scratch && !n.gone && n.nb.ID == res.Notebook.ID && n.nb.Name != "" {
				res.Notebook.Name = n.nb.Name
			}
			n.mu.Unlock()
		}
		f.noteShown(res.Notebook, e.Time)
		if d != nil {
			d.upsert(res.Notebook)
		} else {
			f.lists.Invalidate(e.Category + "/" + e.Namespace)
		}
		f.noteVersion(cat, res.Notebook)
		// Reading our own save back costs no download.
		if res.Content != "" {
			f.store.Saved(res.Notebook.ID, res.Notebook.Version, res.Content, e.Size)
		}
	case save.Refused:
		if errors.Is(res.Err, remote.ErrPermission) {
			// The cached mode let it through: check the permissions at
			// once, so the file shows what the remote now allows.
			f.lists.Invalidate(e.Category + "/" + e.Namespace)
		}
	case save.Conflict:
		if d != nil {
			d.upsert(res.Notebook)
		}
		for _, c := range remote.Categories {
			f.lists.Invalidate(string(c) + "/" + res.Copy.Namespace)
		}
		if d := f.nsOf(remote.Owned, res.Copy.Namespace); d != nil {
			d.upsert(res.Copy)
		}
	}
	// The listing learned the notebook before the file leaves the pending
	// set, so a readdir or lookup in between finds it in one of the two.
	if n != nil {
		n.applyResult(res)
	}
}

// applyResult updates the file after one of its saves ended.
func (n *File) applyResult(res save.Result) {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := res.Entry
	last := n.pend != nil && n.pend.Seq == e.Seq
	switch res.Outcome {
	case save.Saved:
		if n.scratch || n.gone || res.Notebook.ID == "" {
			break
		}
		created := n.nb.ID == ""
		if created || n.nb.ID == res.Notebook.ID {
			n.nb = res.Notebook
			n.base, n.baseSum = res.Notebook.Version, e.Sum
			n.checked = n.ns.fs.now() // the remote's state, as of our save
		}
		if created {
			n.ns.fs.nodes.bind(res.Notebook.ID, n)
			n.ns.mu.Lock()
			if n.ns.pending[n.name] == n {
				delete(n.ns.pending, n.name)
			}
			n.ns.mu.Unlock()
		}
		if !created && e.ID != "" && res.Notebook.ID != e.ID {
			// The notebook was deleted remotely and the save made a new one.
			n.ns.fs.nodes.unbind(e.ID, n)
			n.nb = res.Notebook
			n.base, n.baseSum = res.Notebook.Version, e.Sum
			n.ns.fs.nodes.bind(res.Notebook.ID, n)
		}
	case save.Conflict:
		// The file shows the other writer's version; ours is the copy.
		// The base stays: further saves of this content conflict too.
		if !n.scratch && !n.gone && n.nb.ID == res.Notebook.ID {
			n.nb = res.Notebook
		}
	case save.Refused:
		n.setUnsavedLocked(true)
		return
	}
	if last {
		n.pend = nil
		n.ns.fs.saving.drop(save.Ref(e.Key), n)
		if n.forgotten {
			n.forgotten = false
			defer func() { // under n.mu: the order n.mu, then d.mu, as Rename
				n.ns.fs.nodes.forget(n)
				n.ns.forgetLive(n)
			}()
		}
	}
}

// ownTimes remembers, for versions this mount saved, the time their save
// showed as mtime: the remote keeps its own time for a version (a few ms
// later), and an editor that sees mtime move after its save thinks
// someone else changed the file (vim: "The file has been changed since
// reading it"; Jupyter: "File changed on disk").
type ownTimes struct {
	mu sync.Mutex
	m  map[string]ownTime // GUARDED_BY(mu): by notebook id
}

type ownTime struct{ version, shown time.Time }

// maxOwnTimes bounds the memory kept; forgetting one costs at worst an
// mtime moved by a few ms on a notebook not saved for a long while.
const maxOwnTimes = 10000

// noteShown records that version v of nb (a save of ours) shows as t.
func (f *FS) noteShown(nb remote.Notebook, t time.Time) {
	f.own.mu.Lock()
	defer f.own.mu.Unlock()
	if f.own.m == nil {
		f.own.m = map[string]ownTime{}
	}
	if len(f.own.m) >= maxOwnTimes {
		for id := range f.own.m {
			delete(f.own.m, id)
			break
		}
	}
	f.own.m[nb.ID] = ownTime{version: nb.Version, shown: t}
}

// shownTime is the mtime a notebook's version shows.
// ownVersion reports whether nb's version is one this mount saved.
func (f *FS) ownVersion(nb remote.Notebook) bool {
	f.own.mu.Lock()
	defer f.own.mu.Unlock()
	o, ok := f.own.m[nb.ID]
	return ok && o.version.Equal(nb.Version)
}

func (f *FS) shownTime(nb remote.Notebook) time.Time {
	f.own.mu.Lock()
	defer f.own.mu.Unlock()
	if o, ok := f.own.m[nb.ID]; ok && o.version.Equal(nb.Version) {
		return o.shown
	}
	return nb.Version
}
