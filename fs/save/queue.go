// Package writeback uploads journaled saves in the background: in order per
// notebook, coalescing saves that are still waiting, retrying transient
// failures with backoff, and turning a save that lost a race with another
// writer into a conflict copy instead of overwriting.
package save

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// Options configure an Uploader.
type Options struct {
	Client  remote.Client
	Journal *Journal
	Log     *logrus.Entry
	// CallTimeout is the deadline of one remote call (default 60 s).
	CallTimeout time.Duration
	// Overwrite turns conflict detection off: every save becomes the
	// latest version (--on-conflict=overwrite).
	Overwrite bool
	// User names the saver in conflict copies.
	User func(ctx context.Context) (string, error)
	// Done is told how each entry ended (not when a newer save of the same
	// notebook superseded it). It runs on an upload goroutine before
	// waiters are released and must not wait for them.
	Done func(Result)
	// Parallel bounds concurrent uploads (default 4).
	Parallel int
	// Backoff is the first retry delay (default 250 ms), doubling up to
	// MaxBackoff (default 30 s), with jitter.
	Backoff, MaxBackoff time.Duration
}

// Outcome says how an entry ended.
type Outcome int

const (
	// Saved: the content is the notebook's latest version (or was already).
	Saved Outcome = iota
	// Conflict: someone else saved first; the content is a new notebook.
	Conflict
	// Failed: the remote refused it for good (permission, invalid); the
	// entry stays in the journal and is tried again at the next start.
	Failed
)

// Result is how one entry ended.
type Result struct {
	Entry   Entry
	Outcome Outcome
	// Notebook is the saved notebook (Saved), or the original as the
	// other writer left it (Conflict).
	Notebook remote.Notebook
	Copy     remote.Notebook // Conflict: the conflict copy
	Err      error           // Failed
}

// Stats are the uploader's figures for `notebookfs status`.
type Stats struct {
	Pending       int            `json:"pending"`
	PendingBytes  int64          `json:"pending_bytes"`
	PendingFiles  []PendingEntry `json:"pending_files,omitempty"`
	Uploaded      int64          `json:"uploaded"`
	Coalesced     int64          `json:"coalesced"`
	Retries       int64          `json:"retries"`
	Conflicts     []string       `json:"conflicts,omitempty"` // conflict copies made, newest last
	ConflictCount int64          `json:"conflict_count"`
	Failed        []PendingEntry `json:"failed,omitempty"`
	LastErrors    []ErrorRecord  `json:"last_errors,omitempty"`
}

// PendingEntry is one save not uploaded yet.
type PendingEntry struct {
	Path     string    `json:"path"` // namespace/name.ipynb
	Size     int64     `json:"size"`
	Saved    time.Time `json:"saved"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
}

// ErrorRecord is a failed upload attempt.
type ErrorRecord struct {
	Time  time.Time `json:"time"`
	Path  string    `json:"path"`
	Error string    `json:"error"`
}

const (
	maxErrors    = 10
	maxConflicts = 50
)

type item struct {
	e         Entry
	replayed  bool // from a previous run: check the remote by content
	inflight  bool
	attempts  int
	notBefore time.Time
	lastErr   error
}

// Uploader runs the uploads.
type Uploader struct {
	o      Options
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*item              // GUARDED_BY(mu): unfinished, by sequence
	failed  []*item              // GUARDED_BY(mu): refused for good
	written map[string]time.Time // GUARDED_BY(mu): id -> version our last write made
	errs    map[string]error     // GUARDED_BY(mu): key -> last permanent failure
	stats   Stats                // GUARDED_BY(mu): counters only
	closed  bool                 // GUARDED_BY(mu)
	// cancelled are notebooks deleted locally (ids and keys): their
	// unfinished saves are dropped, and one being created is deleted.
	cancelled map[string]bool      // GUARDED_BY(mu)
	timers    map[*time.Timer]bool // GUARDED_BY(mu)
}

// New starts an uploader over the entries a previous run left.
func New(o Options, replay []Entry) *Uploader {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 60 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Done == nil {
		o.Done = func(Result) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &Uploader{o: o, ctx: ctx, cancel: cancel, written: map[string]time.Time{},
		errs: map[string]error{}, timers: map[*time.Timer]bool{}, cancelled: map[string]bool{}}
	u.cond = sync.NewCond(&u.mu)
	for _, e := range replay {
		u.addLocked(&item{e: e, replayed: true})
	}
	for i := 0; i < o.Parallel; i++ {
		u.wg.Add(1)
		go u.worker()
	}
	return u
}

func sameNotebook(a, b Entry) bool {
	return a.Key == b.Key || (a.ID != "" && a.ID == b.ID)
}

// Add queues a journaled entry. A waiting (not uploading) save of the same
// notebook is superseded and removed: only the newest content matters.
func (u *Uploader) Add(e Entry) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.addLocked(&item{e: e})
	u.cond.Broadcast()
}

func (u *Uploader) addLocked(it *item) {
	if w, ok := u.written[it.e.ID]; ok && it.e.Base.Before(w) && !it.replayed {
		// Journaled while the save before it was finishing: it builds on
		// the version we wrote (see followLocked).
		it.e.Base = w
		if err := u.o.Journal.Update(it.e); err != nil {
			u.o.Log.WithError(err).WithField("path", it.e.Path()).Warn("recording a save's base in the journal")
		}
	}
	q := u.queue[:0]
	for _, o := range u.queue {
		// A save that was tried (or comes from a previous run) may have
		// left a cut-off version remotely, which only its own content
		// explains: it uploads before the newer one.
		if !o.inflight && o.attempts == 0 && !o.replayed && sameNotebook(o.e, it.e) && o.e.Seq < it.e.Seq {
			u.stats.Coalesced++
			u.removeEntry(o.e)
			continue
		}
		q = append(q, o)
	}
	u.queue = append(q, it)
	// A newer save also replaces one that was refused: replaying the old
	// one later would put older content over newer.
	f := u.failed[:0]
	for _, o := range u.failed {
		if sameNotebook(o.e, it.e) {
			u.removeEntry(o.e)
			continue
		}
		f = append(f, o)
	}
	u.failed = f
	delete(u.errs, it.e.Key)
}

func (u *Uploader) removeEntry(e Entry) {
	if err := u.o.Journal.Remove(e); err != nil {
		u.o.Log.WithError(err).Warn("removing a finished journal entry")
	}
}

// SetName renames the queued creates of key (a new notebook renamed before
// its upload); one under way keeps the name it started with.
func (u *Uploader) SetName(key, name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, o := range u.queue {
		if o.e.Key == key && o.e.ID == "" && !o.inflight {
			o.e.Name = name
			if err := u.o.Journal.Update(o.e); err != nil {
				u.o.Log.WithError(err).Warn("recording a rename in the journal")
			}
		}
	}
}

// Cancel drops the saves of a notebook the user deleted (by key, or by
// id when id is not empty): queued ones are removed; one uploading now
// ends without recreating the notebook, and a create is undone.
func (u *Uploader) Cancel(key, id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	probe := Entry{Key: key, ID: id}
	u.queue = slices.DeleteFunc(u.queue, func(o *item) bool {
		if o.inflight || !sameNotebook(o.e, probe) {
			return false
		}
		u.removeEntry(o.e)
		return true
	})
	u.failed = slices.DeleteFunc(u.failed, func(o *item) bool {
		if !sameNotebook(o.e, probe) {
			return false
		}
		u.removeEntry(o.e)
		return true
	})
	if key != "" {
		u.cancelled[key] = true
	}
	if id != "" {
		u.cancelled[id] = true
	}
	u.cond.Broadcast()
}

func (u *Uploader) isCancelled(e Entry) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cancelled[e.Key] || (e.ID != "" && u.cancelled[e.ID])
}

// UnfinishedCreates are the newest waiting saves of notebooks not created
// yet in category/namespace (after a restart: files to show before their
// upload).
func (u *Uploader) UnfinishedCreates(category, namespace string) []Entry {
	u.mu.Lock()
	defer u.mu.Unlock()
	newest := map[string]Entry{}
	for _, it := range u.queue {
		if it.e.ID == "" && it.e.Category == category && it.e.Namespace == namespace {
			newest[it.e.Key] = it.e
		}
	}
	out := make([]Entry, 0, len(newest))
	for _, e := range newest {
		out = append(out, e)
	}
	return out
}

// Unfinished reports the newest save of notebook id (or of key) that is
// not uploaded yet: readers see pending content.
func (u *Uploader) Unfinished(key, id string) (Entry, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	probe := Entry{Key: key, ID: id}
	for i := len(u.queue) - 1; i >= 0; i-- {
		if sameNotebook(u.queue[i].e, probe) {
			return u.queue[i].e, true
		}
	}
	return Entry{}, false
}

// Wait returns once no save of the notebook (key or id) is left to
// upload, with the error of one that was refused, or ctx's error.
func (u *Uploader) Wait(ctx context.Context, key, id string) error {
	probe := Entry{Key: key, ID: id}
	return u.waitFor(ctx, func() bool {
		for _, it := range u.queue {
			if sameNotebook(it.e, probe) {
				return false
			}
		}
		return true
	}, func() error { return u.errs[key] })
}

// Drain returns once every queued save is uploaded (or refused), or with
// ctx's error.
func (u *Uploader) Drain(ctx context.Context) error {
	return u.waitFor(ctx, func() bool { return len(u.queue) == 0 }, func() error { return nil })
}

func (u *Uploader) waitFor(ctx context.Context, done func() bool, result func() error) error {
	stop := context.AfterFunc(ctx, func() {
		u.mu.Lock()
		u.cond.Broadcast()
		u.mu.Unlock()
	})
	defer stop()
	u.mu.Lock()
	defer u.mu.Unlock()
	for !done() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if u.closed {
			return errors.New("writeback: stopped")
		}
		u.cond.Wait()
	}
	return result()
}

// Close stops the uploads; what is not uploaded stays in the journal.
func (u *Uploader) Close() {
	u.mu.Lock()
	u.closed = true
	for t := range u.timers {
		t.Stop()
	}
	u.cond.Broadcast()
	u.mu.Unlock()
	u.cancel()
	u.wg.Wait()
}

// Stats reports the uploader's figures.
func (u *Uploader) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.stats
	s.Conflicts = slices.Clone(u.stats.Conflicts)
	s.LastErrors = slices.Clone(u.stats.LastErrors)
	s.PendingFiles, s.Failed = nil, nil
	for _, it := range u.queue {
		s.Pending++
		s.PendingBytes += it.e.Size
		s.PendingFiles = append(s.PendingFiles, pendingOf(it))
	}
	for _, it := range u.failed {
		s.Failed = append(s.Failed, pendingOf(it))
	}
	return s
}

func pendingOf(it *item) PendingEntry {
	p := PendingEntry{Path: it.e.Path(), Size: it.e.Size, Saved: it.e.Time, Attempts: it.attempts}
	if it.lastErr != nil {
		p.Error = it.lastErr.Error()
	}
	return p
}

// next picks the oldest runnable item: not uploading, not backing off, and
// no older unfinished save of the same notebook.
func (u *Uploader) nextLocked(now time.Time) *item {
	for i, it := range u.queue {
		if it.inflight || it.notBefore.After(now) {
			continue
		}
		blocked := false
		for _, o := range u.queue[:i] {
			if sameNotebook(o.e, it.e) {
				blocked = true
				break
			}
		}
		if !blocked {
			return it
		}
	}
	return nil
}

func (u *Uploader) worker() {
	defer u.wg.Done()
	for {
		u.mu.Lock()
		var it *item
		for {
			if u.closed {
				u.mu.Unlock()
				return
			}
			if it = u.nextLocked(time.Now()); it != nil {
				break
			}
			u.cond.Wait()
		}
		it.inflight = true
		e, replayed := it.e, it.replayed
		u.mu.Unlock()

		res, err := u.upload(e, replayed)

		if err != nil && retryable(err) && u.ctx.Err() == nil {
			u.retry(it, err)
			continue
		}
		if err != nil && u.ctx.Err() != nil {
			// Stopping: the entry stays in the journal for the next start.
			u.mu.Lock()
			it.inflight = false
			u.mu.Unlock()
			return
		}
		if err != nil && u.supersede(it, err) {
			continue
		}
		if err != nil {
			res = Result{Entry: e, Outcome: Failed, Err: err}
			u.o.Log.WithError(err).WithField("path", e.Path()).
				Error("the remote refused a save; it stays in the journal and is tried again at the next mount")
		}
		u.o.Done(res)
		if e.ID == "" && res.Outcome == Saved && res.Notebook.ID != "" && u.isCancelled(e) {
			// Deleted locally while Done waited for the file: undo.
			u.deleteCreated(e, res.Notebook.ID)
		}
		u.finish(it, res)
	}
}

// supersede drops a refused save when a newer save of the same notebook
// is queued behind it: keeping it for the next mount would upload older
// content over the newer one there.
func (u *Uploader) supersede(it *item, err error) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	newer := slices.ContainsFunc(u.queue, func(o *item) bool {
		return o != it && sameNotebook(o.e, it.e) && o.e.Seq > it.e.Seq
	})
	if !newer {
		return false
	}
	u.o.Log.WithError(err).WithField("path", it.e.Path()).
		Warn("the remote refused a save; a newer save of the same notebook replaces it")
	u.noteErrorLocked(it.e, err)
	u.stats.Coalesced++
	u.queue = slices.DeleteFunc(u.queue, func(o *item) bool { return o == it })
	u.removeEntry(it.e)
	u.cond.Broadcast()
	return true
}

// retry puts an item back with a backoff delay.
func (u *Uploader) retry(it *item, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	it.inflight = false
	it.attempts++
	it.lastErr = err
	u.stats.Retries++
	u.noteErrorLocked(it.e, err)
	d := u.o.Backoff << min(it.attempts-1, 16)
	if d > u.o.MaxBackoff || d <= 0 {
		d = u.o.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	it.notBefore = time.Now().Add(d)
	if it.attempts == 1 || it.attempts%10 == 0 {
		u.o.Log.WithError(err).WithField("path", it.e.Path()).WithField("attempts", it.attempts).
			WithField("pending", len(u.queue)).Warn("upload failed; the save is kept in the journal and retried")
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		u.mu.Lock()
		delete(u.timers, t)
		u.cond.Broadcast()
		u.mu.Unlock()
	})
	u.timers[t] = true
}

func (u *Uploader) noteErrorLocked(e Entry, err error) {
	u.stats.LastErrors = append(u.stats.LastErrors, ErrorRecord{Time: time.Now().UTC(), Path: e.Path(), Error: err.Error()})
	if len(u.stats.LastErrors) > maxErrors {
		u.stats.LastErrors = u.stats.LastErrors[len(u.stats.LastErrors)-maxErrors:]
	}
}

// finish records how an entry ended and releases its waiters.
func (u *Uploader) finish(it *item, res Result) {
	u.mu.Lock()
	defer u.mu.Unlock()
	it.inflight = false
	u.queue = slices.DeleteFunc(u.queue, func(o *item) bool { return o == it })
	switch res.Outcome {
	case Failed:
		it.lastErr = res.Err
		u.failed = append(u.failed, it)
		u.errs[it.e.Key] = res.Err
		u.noteErrorLocked(it.e, res.Err)
	default:
		u.stats.Uploaded++
		if res.Outcome == Conflict {
			u.stats.ConflictCount++
			u.stats.Conflicts = append(u.stats.Conflicts, res.Copy.Namespace+"/"+res.Copy.Name+".ipynb")
			if len(u.stats.Conflicts) > maxConflicts {
				u.stats.Conflicts = u.stats.Conflicts[1:]
			}
		} else if res.Notebook.ID != "" {
			u.written[res.Notebook.ID] = res.Notebook.Version
		}
		if res.Notebook.ID != "" {
			for _, o := range u.queue {
				if !o.inflight && sameNotebook(o.e, it.e) {
					u.followLocked(o, it.e, res)
				}
			}
		}
		u.removeEntry(it.e)
	}
	u.cond.Broadcast()
}

// followLocked updates a later queued save of the notebook whose save e
// has just been uploaded as res, in memory and in the journal before e
// leaves it: saves of a notebook just created (or created again after a
// remote delete) go to its new id, and saves that build on ours are based
// on the version we wrote. That base is what tells, after a restart, that
// this version is our own and no conflict: Prevs keeps only the newest
// checksums, and many saves may coalesce while one uploads.
func (u *Uploader) followLocked(o *item, e Entry, res Result) {
	changed := false
	if res.Notebook.ID != e.ID && o.e.Key == e.Key && (o.e.ID == "" || o.e.ID == e.ID) {
		o.e.ID = res.Notebook.ID
		changed = true
	}
	if res.Outcome == Saved && o.e.ID == res.Notebook.ID && o.e.Base.Before(res.Notebook.Version) {
		o.e.Base = res.Notebook.Version
		o.e.AddPrev(e.Sum)
		changed = true
	}
	if !changed {
		return
	}
	if err := u.o.Journal.Update(o.e); err != nil {
		u.o.Log.WithError(err).WithField("path", o.e.Path()).Warn("recording an uploaded save's successor in the journal")
	}
}

// retryable: everything but a definite refusal is worth another try.
func retryable(err error) bool {
	for _, perm := range []error{remote.ErrPermission, remote.ErrInvalid, remote.ErrNameTooLong, remote.ErrUnsupported} {
		if errors.Is(err, perm) {
			return false
		}
	}
	return true
}

func (u *Uploader) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(u.ctx, u.o.CallTimeout)
}

// upload sends one entry.
func (u *Uploader) upload(e Entry, replayed bool) (Result, error) {
	f, err := u.o.Journal.Content(e)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", remote.ErrInvalid, err)
	}
	defer f.Close()
	body := func() io.Reader { return io.NewSectionReader(f, 0, e.Size) }

	if e.ID == "" {
		if replayed {
			// The previous run may have created it and died before
			// recording that: adopt a notebook of this name and content.
			if nb, ok, err := u.findByContent(e, e.Name); err != nil {
				return Result{}, err
			} else if ok {
				return Result{Entry: e, Outcome: Saved, Notebook: nb}, nil
			}
		}
		nb, err := u.create(e, e.Namespace, e.Name, body())
		if err != nil {
			return Result{}, err
		}
		if u.isCancelled(e) {
			u.deleteCreated(e, nb.ID)
			return Result{Entry: e, Outcome: Saved}, nil
		}
		return Result{Entry: e, Outcome: Saved, Notebook: nb}, nil
	}

	ctx, cancel := u.callCtx()
	nb, err := u.o.Client.Write(ctx, e.Namespace, e.ID, body(), e.Size)
	cancel()
	if errors.Is(err, remote.ErrNotFound) {
		return u.recreate(e, body())
	}
	if err != nil {
		return Result{}, err
	}
	u.o.Log.WithFields(e.LogFields()).WithField("version", nb.Version.UTC().Format(time.RFC3339Nano)).
		WithField("replayed", replayed).Debug("uploaded")
	if u.o.Overwrite {
		return Result{Entry: e, Outcome: Saved, Notebook: nb}, nil
	}
	return u.verify(e, nb, f)
}

// verify checks, after the write, that the version before ours is the one
// our content was based on (or one of our own). TileDB has no conditional
// write, so checking after the write is what also catches a save that
// landed between a check and our write: one request (the version before
// ours) on the normal path. Someone else's version there means we
// overwrote a save we never saw: ours becomes the conflict copy and theirs
// is written back as the latest, so the later writer always yields.
func (u *Uploader) verify(e Entry, nb remote.Notebook, mine io.ReaderAt) (Result, error) {
	body := func() io.Reader { return io.NewSectionReader(mine, 0, e.Size) }
	saved := Result{Entry: e, Outcome: Saved, Notebook: nb}
	log := u.o.Log.WithField("path", e.Path())
	var prev time.Time
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := u.callCtx()
		prev, err = u.o.Client.Latest(ctx, e.Namespace, e.ID, nb.Version.Add(-time.Millisecond))
		cancel()
		if err == nil || errors.Is(err, remote.ErrNotFound) || u.ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(u.o.Backoff << attempt):
		case <-u.ctx.Done():
		}
	}
	u.mu.Lock()
	ours := !prev.IsZero() && prev.Equal(u.written[e.ID])
	u.mu.Unlock()
	u.o.Log.WithFields(e.LogFields()).WithField("before", prev.UTC().Format(time.RFC3339Nano)).WithField("ours", ours).
		WithError(err).Debug("checked the version before this save")
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return saved, nil // ours is the first version (recreated meanwhile)
	case err != nil:
		log.WithError(err).Warn("saved, but could not check for a concurrent save by someone else")
		return saved, nil
	case ours || !prev.After(e.Base):
		return saved, nil
	}
	theirs, sum, err := u.remoteContent(e.Namespace, e.ID, prev)
	if err != nil {
		log.WithError(err).Warn("saved, but could not read the version before it to check for a conflict")
		return saved, nil
	}
	u.o.Log.WithFields(e.LogFields()).WithField("their_size", len(theirs)).WithField("their_sum", sum[:12]).
		Debug("read the version before this save")
	if sum == e.Sum || slices.Contains(e.Prevs, sum) || partialOf(theirs, mine, e.Size) {
		// An earlier save of ours (recorded before a restart), the very
		// content ours was based on written again, or what a write of
		// this content left when it was cut off between TileDB's data
		// write and its file_size metadata (a crash, a dropped connection):
		// our bytes cut to, or padded with 0xff to, the size before.
		return saved, nil
	}
	copyNB, err := u.conflictCopy(e, body())
	if err != nil {
		// Ours is the latest and theirs is in the history: nothing is lost.
		log.WithError(err).Error("conflict: someone else saved first, and the conflict copy could not be made; your save is the latest version and theirs is in the history")
		return saved, nil
	}
	ctx, cancel := u.callCtx()
	restored, err := u.o.Client.Write(ctx, e.Namespace, e.ID, bytes.NewReader(theirs), int64(len(theirs)))
	cancel()
	if err != nil {
		log.WithError(err).Error("conflict: could not write the other save back as the latest; it is in the history")
		restored = nb
	}
	log.WithField("copy", copyNB.Namespace+"/"+copyNB.Name+".ipynb").
		WithField("their_version", prev.UTC().Format(time.RFC3339Nano)).
		Warn("conflict: someone else saved this notebook first; your save is kept as a conflict copy and the notebook keeps their version")
	return Result{Entry: e, Outcome: Conflict, Notebook: restored, Copy: copyNB}, nil
}

// deleteCreated deletes a notebook created for a file that was deleted
// locally while the create was on its way.
func (u *Uploader) deleteCreated(e Entry, id string) {
	ctx, cancel := u.callCtx()
	defer cancel()
	if err := u.o.Client.Delete(ctx, e.Namespace, id); err != nil {
		u.o.Log.WithError(err).WithField("path", e.Path()).Warn("could not delete a notebook removed while it was being created")
	}
}

func (u *Uploader) create(e Entry, ns, name string, r io.Reader) (remote.Notebook, error) {
	ctx, cancel := u.callCtx()
	defer cancel()
	return u.o.Client.Create(ctx, ns, name, r, e.Size, remote.CreateOptions{
		StoragePath: e.StoragePath, StorageCredential: e.StorageCredential})
}

// recreate saves content whose notebook was deleted remotely meanwhile as
// a new notebook of the same name: a save wins over a delete.
func (u *Uploader) recreate(e Entry, r io.Reader) (Result, error) {
	if u.isCancelled(e) {
		return Result{Entry: e, Outcome: Saved}, nil
	}
	nb, err := u.create(e, e.Namespace, e.Name, r)
	if err != nil {
		return Result{}, err
	}
	u.o.Log.WithField("path", e.Path()).WithField("id", nb.ID).
		Warn("the notebook was deleted remotely before this save was uploaded; saved as a new notebook of the same name")
	return Result{Entry: e, Outcome: Saved, Notebook: nb}, nil
}

// conflictCopy stores the content as a new notebook next to the original
// (in my own namespace when I may not create in the original's).
func (u *Uploader) conflictCopy(e Entry, r io.Reader) (remote.Notebook, error) {
	user := "unknown"
	if u.o.User != nil {
		ctx, cancel := u.callCtx()
		if name, err := u.o.User(ctx); err == nil && name != "" {
			user = name
		}
		cancel()
	}
	name := ConflictName(e.Name, user, e.Time)
	nb, err := u.create(e, e.Namespace, name, r)
	if errors.Is(err, remote.ErrPermission) && user != "unknown" && user != e.Namespace {
		if s, ok := r.(io.Seeker); ok {
			s.Seek(0, io.SeekStart)
		}
		nb, err = u.create(e, user, name, r)
	}
	return nb, err
}

// partialOf reports whether theirs is a cut-off write of mine: a strict
// prefix of it, or all of it followed by 0xff fill (TileDB reads cells past
// a write as the fill value when file_size still says the older, longer
// size).
func partialOf(theirs []byte, mine io.ReaderAt, size int64) bool {
	n := min(int64(len(theirs)), size)
	if int64(len(theirs)) == size {
		return false // same length and another checksum: not ours
	}
	buf := make([]byte, n)
	if _, err := mine.ReadAt(buf, 0); err != nil && err != io.EOF {
		return false
	}
	if !bytes.Equal(buf, theirs[:n]) {
		return false
	}
	for _, c := range theirs[n:] {
		if c != 0xff {
			return false
		}
	}
	return true
}

// ConflictName is the name of a conflict copy (without .ipynb), cut to fit.
func ConflictName(name, user string, at time.Time) string {
	suffix := fmt.Sprintf(".conflict-%s-%s", user, at.UTC().Format("20060102T150405.000Z"))
	if over := len(name) + len(suffix) - remote.MaxNameLen; over > 0 {
		cut := max(0, len(name)-over)
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut-- // never split a character
		}
		name = name[:cut]
	}
	return name + suffix
}

// remoteContent reads a notebook's content at a version, and its checksum.
func (u *Uploader) remoteContent(ns, id string, at time.Time) ([]byte, string, error) {
	ctx, cancel := u.callCtx()
	defer cancel()
	c, err := u.o.Client.Read(ctx, ns, id, at)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	data, err := io.ReadAll(c)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s/%s: %w", ns, id, err)
	}
	return data, Sum(data), nil
}

// findByContent looks for a notebook named name whose latest content is
// the entry's.
func (u *Uploader) findByContent(e Entry, name string) (remote.Notebook, bool, error) {
	ctx, cancel := u.callCtx()
	nbs, err := u.o.Client.List(ctx, remote.Category(e.Category), e.Namespace)
	cancel()
	if err != nil {
		return remote.Notebook{}, false, err
	}
	for _, nb := range nbs {
		if nb.Name != name || nb.Size != e.Size || nb.Created.Before(e.Time.Add(-time.Minute)) {
			continue
		}
		_, sum, err := u.remoteContent(e.Namespace, nb.ID, time.Time{})
		if err != nil {
			return remote.Notebook{}, false, err
		}
		if sum == e.Sum {
			return nb, true, nil
		}
	}
	return remote.Notebook{}, false, nil
}
