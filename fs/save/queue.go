// Package save is the one owner of pending saves in notebookfs: the journal
// on local disk, the order and coalescing of each notebook's saves, retries
// with backoff, cancelling the saves of a notebook deleted locally, renaming
// a notebook whose create is under way, the check for a save made by
// someone else meanwhile and the conflict copy it leads to, the lock that
// keeps one daemon per state directory, and the backend identity that keeps
// a journal from being replayed to another backend or account.
//
// The file system hands a save over with the version its content is based
// on (Save) and learns how each ended from Results, read by one goroutine
// of its own: nothing here calls back into the tree.
package save

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// Options configure a Saver.
type Options struct {
	// Dir is the journal's directory; it must be on local disk.
	Dir    string
	Client remote.Client
	Log    *logrus.Entry
	// Backend names the backend saves go to (its URL, or the embedded
	// store's directory); entries of another backend are kept aside.
	Backend string
	// User is the account of the saves to replay, when known at the start
	// (the last session's); SetUser confirms or changes it.
	User string
	// CallTimeout is the deadline of one remote call (default 60 s).
	CallTimeout time.Duration
	// Overwrite turns conflict detection off: every save becomes the
	// latest version (--on-conflict=overwrite).
	Overwrite bool
	// Parallel bounds concurrent uploads (default 4).
	Parallel int
	// Backoff is the first retry delay (default 250 ms), doubling up to
	// MaxBackoff (default 30 s), with jitter.
	Backoff, MaxBackoff time.Duration
	// Clock is the time uploads are scheduled by (default time.Now).
	Clock func() time.Time
	// Manual runs no upload goroutines and no timers: an upload runs when
	// Step is called, so a test decides where uploads fall between its
	// foreground operations.
	Manual bool
}

// Ref names the chain of saves of one notebook: "id:<uuid>" for a notebook
// that exists remotely, "new:<random>" for one not created yet (its later
// saves keep the ref and learn the id).
type Ref string

// RefOf is the ref of an existing notebook's saves.
func RefOf(id string) Ref { return Ref("id:" + id) }

// NewRef is the ref of a notebook not created yet.
func NewRef() Ref {
	b := make([]byte, 8)
	crand.Read(b)
	return Ref("new:" + hex.EncodeToString(b))
}

// Request describes one save.
type Request struct {
	Ref                 Ref // "" for a notebook never saved by this mount: RefOf(ID) or NewRef()
	Category, Namespace string
	ID                  string // "" creates a notebook
	Name                string // without .ipynb
	// Time is when the save was made: the modification time the file
	// shows for it.
	Time time.Time
	// Base is the remote version the content derives from, BaseSum the
	// checksum of that version's content when known: a newer version by
	// someone else found after the upload makes a conflict copy.
	Base    time.Time
	BaseSum string
	Storage remote.CreateOptions
}

// Outcome says how a save ended.
type Outcome int

const (
	// Saved: the content is the notebook's latest version (or was already).
	Saved Outcome = iota
	// Conflict: someone else saved first; the content is a new notebook.
	Conflict
	// Refused: the remote refused it for good (permission, invalid); the
	// entry stays in the journal and is tried again at the next start.
	Refused
	// Cancelled: the notebook was deleted locally; a create under way was
	// undone.
	Cancelled
)

func (o Outcome) String() string {
	return [...]string{"saved", "conflict", "refused", "cancelled"}[o]
}

// Result is how one save ended. Saves superseded by a newer save of the
// same notebook have none.
type Result struct {
	N       uint64 // results are numbered in the order they happen
	Entry   Entry
	Outcome Outcome
	// Notebook is the saved notebook (Saved), or the original as the
	// other writer left it (Conflict).
	Notebook remote.Notebook
	Copy     remote.Notebook // Conflict: the conflict copy
	Err      error           // Refused
	// Content is a file holding what was uploaded (Saved, Conflict),
	// until Release.
	Content string
}

// Ref is the chain the result belongs to.
func (r Result) Ref() Ref { return Ref(r.Entry.Key) }

// Stats are the saver's figures for `notebookfs status`.
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
	// Aside are saves recorded for another backend or account: kept in
	// the journal, never uploaded here.
	Aside      []PendingEntry `json:"aside,omitempty"`
	LastErrors []ErrorRecord  `json:"last_errors,omitempty"`
}

// PendingEntry is one save not uploaded yet.
type PendingEntry struct {
	Path     string    `json:"path"` // category/namespace/name.ipynb
	Size     int64     `json:"size"`
	Saved    time.Time `json:"saved"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	Backend  string    `json:"backend,omitempty"` // Aside only: whose save it is
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

// Saver journals saves and uploads them.
type Saver struct {
	o      Options
	j      *journal
	ctx    context.Context
	cancel context.CancelFunc
	run    sync.WaitGroup

	mu      sync.Mutex
	cond    *sync.Cond
	user    string               // GUARDED_BY(mu): the account saves are made for
	queue   []*item              // GUARDED_BY(mu): unfinished, by sequence
	failed  []*item              // GUARDED_BY(mu): refused for good
	held    []Entry              // GUARDED_BY(mu): replays waiting to learn the account
	aside   []Entry              // GUARDED_BY(mu): another backend's or account's
	written map[string]time.Time // GUARDED_BY(mu): id -> version our last write made
	errs    map[Ref]error        // GUARDED_BY(mu): ref -> last permanent failure
	stats   Stats                // GUARDED_BY(mu): counters only
	closed  bool                 // GUARDED_BY(mu)
	waiting int                  // GUARDED_BY(mu): callers blocked in waitFor
	// cancelled are notebooks deleted locally (refs and ids): their
	// unfinished saves are dropped, and one being created is deleted.
	cancelled map[string]bool // GUARDED_BY(mu)
	// created are chains whose create is done: their notebook.
	created map[Ref]remote.Notebook // GUARDED_BY(mu)
	// renamed are new names of notebooks whose create is under way.
	renamed map[Ref]string       // GUARDED_BY(mu)
	timers  map[*time.Timer]bool // GUARDED_BY(mu)
	results []Result             // GUARDED_BY(mu): not taken yet
	lastN   uint64               // GUARDED_BY(mu)
	ready   chan struct{}        // a result is waiting (capacity 1)
	out     chan Result          // Results: fed by one goroutine
	outOnce sync.Once
	corrupt []Corrupt
}

// Open opens (creating) the journal in o.Dir and starts uploading the
// saves a previous run left there for this backend and account.
func Open(o Options) (*Saver, error) {
	j, entries, corrupt, err := openJournal(o.Dir)
	if err != nil {
		return nil, err
	}
	s := newSaver(o, j, entries)
	s.corrupt = corrupt
	for _, c := range corrupt {
		s.o.Log.WithField("entry", c.Seq).WithField("moved_to", c.Path).WithField("cause", c.Reason).
			Error("a journal entry is corrupt or incomplete; it is not uploaded")
	}
	return s, nil
}

// newSaver starts a saver over an open journal and the entries found in it.
func newSaver(o Options, j *journal, entries []Entry) *Saver {
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
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = logrus.NewEntry(l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Saver{o: o, j: j, ctx: ctx, cancel: cancel, user: o.User,
		written: map[string]time.Time{}, errs: map[Ref]error{}, timers: map[*time.Timer]bool{},
		cancelled: map[string]bool{}, created: map[Ref]remote.Notebook{}, renamed: map[Ref]string{},
		ready: make(chan struct{}, 1)}
	s.cond = sync.NewCond(&s.mu)
	var replay []Entry
	for _, e := range entries {
		switch {
		case e.Backend != o.Backend:
			s.aside = append(s.aside, e)
		case e.User != "" && s.user == "":
			s.held = append(s.held, e)
		case e.User != "" && e.User != s.user:
			s.aside = append(s.aside, e)
		default:
			replay = append(replay, e)
		}
	}
	if len(s.aside) > 0 {
		s.o.Log.WithField("saves", len(s.aside)).WithField("journal", o.Dir).
			Warn("the journal holds saves made for another backend or account; they are kept and not uploaded here (notebookfs status lists them)")
	}
	s.replayLocked(replay)
	if !o.Manual {
		for i := 0; i < o.Parallel; i++ {
			s.run.Add(1)
			go s.worker()
		}
	}
	return s
}

// replayLocked queues entries a previous run left.
func (s *Saver) replayLocked(entries []Entry) {
	if len(entries) == 0 {
		return
	}
	var bytes int64
	for _, e := range entries {
		bytes += e.Size
		s.o.Log.WithFields(e.LogFields()).Debug("left in the journal")
		s.addLocked(&item{e: e, replayed: true})
	}
	s.o.Log.WithField("saves", len(entries)).WithField("bytes", bytes).Info("uploading saves a previous run left in the journal")
	s.cond.Broadcast()
}

// SetUser says which account this mount saves for, once the remote said
// who we are: replays held for it start, and replays of another account
// are set aside.
func (s *Saver) SetUser(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" || name == s.user {
		if name != "" && len(s.held) > 0 {
			s.releaseHeldLocked()
		}
		return
	}
	s.user = name
	// Replays queued for the account believed at the start, and not
	// started yet, belong to someone else now.
	s.queue = slices.DeleteFunc(s.queue, func(it *item) bool {
		if it.replayed && !it.inflight && it.attempts == 0 && it.e.User != "" && it.e.User != name {
			s.aside = append(s.aside, it.e)
			return true
		}
		return false
	})
	s.releaseHeldLocked()
}

func (s *Saver) releaseHeldLocked() {
	var replay []Entry
	for _, e := range s.held {
		if e.User == s.user {
			replay = append(replay, e)
		} else {
			s.aside = append(s.aside, e)
		}
	}
	s.held = nil
	s.replayLocked(replay)
}

func (s *Saver) now() time.Time { return s.o.Clock() }

func sameNotebook(a, b Entry) bool {
	return a.Key == b.Key || (a.ID != "" && a.ID == b.ID)
}

// probeLocked matches every save of ref's notebook.
func (s *Saver) probeLocked(ref Ref) Entry {
	p := Entry{Key: string(ref)}
	if id, ok := strings.CutPrefix(string(ref), "id:"); ok {
		p.ID = id
	} else if nb, ok := s.created[ref]; ok {
		p.ID = nb.ID
	}
	return p
}

// Prepared is a save made durable but not queued yet: a rename-over first
// deletes its source, and drops the save if that fails.
type Prepared struct {
	s     *Saver
	Entry Entry
}

// Commit queues the save's upload.
func (p *Prepared) Commit() {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.s.addLocked(&item{e: p.Entry})
	p.s.cond.Broadcast()
}

// Discard forgets the save.
func (p *Prepared) Discard() {
	if err := p.s.j.Remove(p.Entry); err != nil {
		p.s.o.Log.WithError(err).Warn("removing a discarded journal entry")
	}
}

// Save makes size bytes of r durable as the save req describes and queues
// its upload: once it returns, the save survives a crash.
func (s *Saver) Save(req Request, r io.ReaderAt, size int64) (Entry, error) {
	p, err := s.Prepare(req, r, size)
	if err != nil {
		return Entry{}, err
	}
	p.Commit()
	return p.Entry, nil
}

// Prepare journals a save without queueing it.
func (s *Saver) Prepare(req Request, r io.ReaderAt, size int64) (*Prepared, error) {
	ref := req.Ref
	if ref == "" {
		ref = NewRef()
		if req.ID != "" {
			ref = RefOf(req.ID)
		}
	}
	e := Entry{
		Key: string(ref), Category: req.Category, Namespace: req.Namespace, ID: req.ID,
		Name: req.Name, Time: req.Time.UTC(), Base: req.Base, Backend: s.o.Backend,
		StoragePath: req.Storage.StoragePath, StorageCredential: req.Storage.StorageCredential,
	}
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	if req.BaseSum != "" {
		e.AddPrev(req.BaseSum)
	}
	s.mu.Lock()
	e.User = s.user
	if prev, ok := s.pendingLocked(s.probeLocked(ref)); ok {
		// Our own earlier saves are still on their way: the remote will
		// hold one of them, which is no conflict.
		e.Base = prev.Base
		e.Prevs = slices.Clone(prev.Prevs)
		e.AddPrev(prev.Sum)
	}
	s.mu.Unlock()
	e, err := s.j.Add(e, r, size)
	if err != nil {
		return nil, err
	}
	s.o.Log.WithFields(e.LogFields()).Debug("journaled")
	return &Prepared{s: s, Entry: e}, nil
}

// add queues an entry already in the journal.
func (s *Saver) add(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(&item{e: e})
	s.cond.Broadcast()
}

// addLocked queues an item. A waiting (not uploading) save of the same
// notebook is superseded and removed: only the newest content matters.
func (s *Saver) addLocked(it *item) {
	if nb, ok := s.created[Ref(it.e.Key)]; ok && it.e.ID == "" {
		// The create of this chain is done: this save is a new version,
		// based on the create's (below; it must be recorded before a
		// restart, when the create's version would look like someone
		// else's).
		it.e.ID = nb.ID
		if err := s.j.Update(it.e); err != nil {
			s.o.Log.WithError(err).WithField("path", it.e.Path()).Warn("recording a save's notebook in the journal")
		}
	}
	if w, ok := s.written[it.e.ID]; ok && it.e.Base.Before(w) && !it.replayed {
		// Journaled while the save before it was finishing: it builds on
		// the version we wrote (see followLocked).
		it.e.Base = w
		if err := s.j.Update(it.e); err != nil {
			s.o.Log.WithError(err).WithField("path", it.e.Path()).Warn("recording a save's base in the journal")
		}
	}
	q := s.queue[:0]
	for _, o := range s.queue {
		// A save that was tried (or comes from a previous run) may have
		// left a cut-off version remotely, which only its own content
		// explains: it uploads before the newer one.
		if !o.inflight && o.attempts == 0 && !o.replayed && sameNotebook(o.e, it.e) && o.e.Seq < it.e.Seq {
			s.stats.Coalesced++
			s.removeEntry(o.e)
			continue
		}
		q = append(q, o)
	}
	s.queue = append(q, it)
	// A newer save also replaces one that was refused: replaying the old
	// one later would put older content over newer.
	f := s.failed[:0]
	for _, o := range s.failed {
		if sameNotebook(o.e, it.e) {
			s.removeEntry(o.e)
			continue
		}
		f = append(f, o)
	}
	s.failed = f
	delete(s.errs, Ref(it.e.Key))
}

func (s *Saver) removeEntry(e Entry) {
	if err := s.j.Remove(e); err != nil {
		s.o.Log.WithError(err).Warn("removing a finished journal entry")
	}
}

// Rename gives a notebook not created yet (or whose create has just
// finished, before the caller heard of it) a new name. Queued creates take
// it; a create under way is renamed once it is done. When the create is
// already done, the notebook is renamed now and returned (done true).
func (s *Saver) Rename(ctx context.Context, ref Ref, name string) (nb remote.Notebook, done bool, err error) {
	s.mu.Lock()
	created, isCreated := s.created[ref]
	underWay := false
	// Refused creates too: a rename (to a shorter name, say) is what
	// fixes one, and the next start must create it under the new name.
	for _, o := range slices.Concat(s.queue, s.failed) {
		if o.e.Key != string(ref) || o.e.ID != "" {
			continue
		}
		if o.inflight {
			underWay = true
			continue
		}
		o.e.Name = name
		if err := s.j.Update(o.e); err != nil {
			s.o.Log.WithError(err).Warn("recording a rename in the journal")
		}
	}
	if underWay {
		s.renamed[ref] = name
	}
	s.mu.Unlock()
	if underWay || !isCreated {
		return remote.Notebook{}, false, nil
	}
	if created.Name == name {
		return created, true, nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.o.CallTimeout)
	defer cancel()
	nb, err = s.o.Client.Rename(cctx, created.Namespace, created.ID, name)
	if err != nil {
		return remote.Notebook{}, true, err
	}
	s.mu.Lock()
	s.created[ref] = nb
	s.mu.Unlock()
	return nb, true, nil
}

// Cancel drops the saves of a notebook the user deleted before hearing
// that its create was done (ref): queued ones are removed, one uploading
// now ends without recreating the notebook, and a create under way or
// done is undone.
func (s *Saver) Cancel(ctx context.Context, ref Ref) error {
	_, err := s.CancelCreated(ctx, ref)
	return err
}

// CancelCreated is Cancel, and reports the notebook it deleted (its create
// was done), for the caller to drop from what it shows.
func (s *Saver) CancelCreated(ctx context.Context, ref Ref) (remote.Notebook, error) {
	s.mu.Lock()
	s.cancelLocked(s.probeLocked(ref))
	s.cancelled[string(ref)] = true
	created, ok := s.created[ref]
	if ok {
		s.cancelled[created.ID] = true
		delete(s.created, ref)
	}
	s.mu.Unlock()
	if !ok {
		return remote.Notebook{}, nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.o.CallTimeout)
	defer cancel()
	return created, s.o.Client.Delete(cctx, created.Namespace, created.ID)
}

// CancelNotebook drops the saves of notebook id, which the caller deleted.
func (s *Saver) CancelNotebook(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelLocked(Entry{ID: id})
	s.cancelled[id] = true
}

func (s *Saver) cancelLocked(probe Entry) {
	match := func(o *item) bool {
		return probe.Key != "" && o.e.Key == probe.Key || probe.ID != "" && o.e.ID == probe.ID
	}
	s.queue = slices.DeleteFunc(s.queue, func(o *item) bool {
		if o.inflight || !match(o) {
			return false
		}
		s.removeEntry(o.e)
		return true
	})
	s.failed = slices.DeleteFunc(s.failed, func(o *item) bool {
		if !match(o) {
			return false
		}
		s.removeEntry(o.e)
		return true
	})
	// Saves of the notebook uploaded before it was deleted, whose results
	// are not taken yet, no longer hold: the notebook is gone (a create
	// done is undone by the caller). Reported as saved, the file system
	// would put the deleted notebook back in its listing.
	for i := range s.results {
		r := &s.results[i]
		if r.Outcome == Saved && (probe.Key != "" && r.Entry.Key == probe.Key ||
			probe.ID != "" && (r.Entry.ID == probe.ID || r.Notebook.ID == probe.ID)) {
			r.Outcome, r.Notebook = Cancelled, remote.Notebook{}
		}
	}
	s.cond.Broadcast()
}

func (s *Saver) isCancelled(e Entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancelled[e.Key] || (e.ID != "" && s.cancelled[e.ID])
}

// PendingCreates are the newest waiting saves of notebooks not created yet
// in category/namespace (after a restart: files to show before their
// upload).
func (s *Saver) PendingCreates(category, namespace string) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	newest := map[string]Entry{}
	for _, it := range s.queue {
		if it.e.ID == "" && it.e.Category == category && it.e.Namespace == namespace {
			newest[it.e.Key] = it.e
		}
	}
	out := make([]Entry, 0, len(newest))
	for _, e := range newest {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return int(a.Seq) - int(b.Seq) })
	return out
}

// Pending reports the newest save of ref's notebook not uploaded yet:
// readers see pending content.
func (s *Saver) Pending(ref Ref) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pendingLocked(s.probeLocked(ref))
}

// PendingNotebook is Pending for notebook id, whatever its ref.
func (s *Saver) PendingNotebook(id string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pendingLocked(Entry{ID: id})
}

func (s *Saver) pendingLocked(probe Entry) (Entry, bool) {
	for i := len(s.queue) - 1; i >= 0; i-- {
		e := s.queue[i].e
		if probe.Key != "" && e.Key == probe.Key || probe.ID != "" && e.ID == probe.ID {
			return e, true
		}
	}
	return Entry{}, false
}

// Content opens a pending save's data.
func (s *Saver) Content(e Entry) (*os.File, error) { return s.j.Content(e) }

// ReadAll returns a pending save's data, checked against its checksum.
func (s *Saver) ReadAll(e Entry) ([]byte, error) { return s.j.ReadAll(e) }

// DataPath is the file holding a save's data while it is in the journal
// (for linking it into a cache).
func (s *Saver) DataPath(e Entry) string { return s.j.DataPath(e) }

// Wait returns once no save of ref's notebook is left to upload, with the
// number of the last result by then and the error of a save that was
// refused, or ctx's error.
func (s *Saver) Wait(ctx context.Context, ref Ref) (uint64, error) {
	return s.waitFor(ctx, func() bool {
		probe := s.probeLocked(ref)
		for _, it := range s.queue {
			if probe.Key != "" && it.e.Key == probe.Key || probe.ID != "" && it.e.ID == probe.ID {
				return false
			}
		}
		return true
	}, func() error { return s.errs[ref] })
}

// Drain returns once every queued save is uploaded (or refused), with the
// number of the last result, or with ctx's error.
func (s *Saver) Drain(ctx context.Context) (uint64, error) {
	return s.waitFor(ctx, func() bool { return len(s.queue) == 0 }, func() error { return nil })
}

func (s *Saver) waitFor(ctx context.Context, done func() bool, result func() error) (uint64, error) {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !done() {
		if err := ctx.Err(); err != nil {
			return s.lastN, err
		}
		if s.closed {
			return s.lastN, errors.New("save: stopped")
		}
		s.waiting++
		s.cond.Wait()
		s.waiting--
	}
	return s.lastN, result()
}

// Waiting reports how many callers of Wait and Drain are blocked on
// uploads not done yet: with Options.Manual, whoever steps the uploads
// knows that someone waits for them.
func (s *Saver) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// emitLocked records a result for the reader of Results.
func (s *Saver) emitLocked(r Result) {
	s.lastN++
	r.N = s.lastN
	s.results = append(s.results, r)
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Release is told that the reader of a result is done with its Content.
func (s *Saver) Release(r Result) {
	if r.Content != "" {
		os.Remove(r.Content)
	}
}

// Next takes the oldest result not taken yet, if any.
func (s *Saver) Next() (Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.results) == 0 {
		return Result{}, false
	}
	r := s.results[0]
	s.results = s.results[1:]
	return r, true
}

// Results delivers every result, in order, to one reader; it is closed by
// Close. A saver's results are read either here or with Next, not both.
func (s *Saver) Results() <-chan Result {
	s.outOnce.Do(func() {
		s.out = make(chan Result)
		s.run.Add(1)
		go s.deliver()
	})
	return s.out
}

func (s *Saver) deliver() {
	defer s.run.Done()
	defer close(s.out)
	for {
		r, ok := s.Next()
		if !ok {
			select {
			case <-s.ready:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		select {
		case s.out <- r:
		case <-s.ctx.Done():
			return
		}
	}
}

// Close stops the uploads; what is not uploaded stays in the journal.
func (s *Saver) Close() {
	s.mu.Lock()
	s.closed = true
	for t := range s.timers {
		t.Stop()
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	s.cancel()
	s.run.Wait()
}

// Corrupt is how many journal entries Open found corrupt and set aside.
func (s *Saver) Corrupt() int { return len(s.corrupt) }

// Stats reports the saver's figures.
func (s *Saver) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Conflicts = slices.Clone(s.stats.Conflicts)
	st.LastErrors = slices.Clone(s.stats.LastErrors)
	st.PendingFiles, st.Failed, st.Aside = nil, nil, nil
	for _, it := range s.queue {
		st.Pending++
		st.PendingBytes += it.e.Size
		st.PendingFiles = append(st.PendingFiles, pendingOf(it))
	}
	for _, it := range s.failed {
		st.Failed = append(st.Failed, pendingOf(it))
	}
	for _, e := range append(slices.Clone(s.aside), s.held...) {
		who := e.Backend
		if e.User != "" {
			who = e.User + " at " + who
		}
		st.Aside = append(st.Aside, PendingEntry{Path: e.Path(), Size: e.Size, Saved: e.Time, Backend: who})
	}
	return st
}

func pendingOf(it *item) PendingEntry {
	p := PendingEntry{Path: it.e.Path(), Size: it.e.Size, Saved: it.e.Time, Attempts: it.attempts}
	if it.lastErr != nil {
		p.Error = it.lastErr.Error()
	}
	return p
}

// nextLocked picks the oldest runnable item: not uploading, not backing
// off, and no older unfinished save of the same notebook.
func (s *Saver) nextLocked(now time.Time) *item {
	for i, it := range s.queue {
		if it.inflight || it.notBefore.After(now) {
			continue
		}
		blocked := false
		for _, o := range s.queue[:i] {
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

func (s *Saver) worker() {
	defer s.run.Done()
	for {
		s.mu.Lock()
		var it *item
		for {
			if s.closed {
				s.mu.Unlock()
				return
			}
			if it = s.nextLocked(s.now()); it != nil {
				break
			}
			s.cond.Wait()
		}
		it.inflight = true
		s.mu.Unlock()
		if !s.process(it) {
			return
		}
	}
}

// Step runs one runnable upload in the caller's goroutine (Options.Manual)
// and reports whether there was one.
func (s *Saver) Step() bool {
	s.mu.Lock()
	it := s.nextLocked(s.now())
	if it == nil || s.closed {
		s.mu.Unlock()
		return false
	}
	it.inflight = true
	s.mu.Unlock()
	s.process(it)
	return true
}

// Runnable reports how many saves could upload now (Options.Manual).
func (s *Saver) Runnable() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	now := s.now()
	for i, it := range s.queue {
		if it.inflight || it.notBefore.After(now) {
			continue
		}
		if !slices.ContainsFunc(s.queue[:i], func(o *item) bool { return sameNotebook(o.e, it.e) }) {
			n++
		}
	}
	return n
}

// process uploads one item and records how it ended; false when stopping.
func (s *Saver) process(it *item) bool {
	e := it.e
	res, err := s.upload(e, it.replayed)
	if err != nil && retryable(err) && s.ctx.Err() == nil {
		s.retry(it, err)
		return true
	}
	if err != nil && s.ctx.Err() != nil {
		// Stopping: the entry stays in the journal for the next start.
		s.mu.Lock()
		it.inflight = false
		s.mu.Unlock()
		return false
	}
	if err != nil && s.supersede(it, err) {
		return true
	}
	if err != nil {
		res = Result{Entry: e, Outcome: Refused, Err: err}
		s.o.Log.WithError(err).WithField("path", e.Path()).
			Error("the remote refused a save; it stays in the journal and is tried again at the next mount")
	}
	if e.ID == "" && res.Outcome == Saved && s.isCancelled(e) {
		// Deleted locally while the create was under way: undo it.
		s.deleteCreated(e, res.Notebook.ID)
		res = Result{Entry: e, Outcome: Cancelled}
	}
	for {
		s.mu.Lock()
		// A create renamed while it was under way takes the new name
		// before it counts as done: a Rename either finds it under way
		// (and leaves the name here) or done (and renames it itself).
		name, renamed := s.renamed[Ref(e.Key)]
		delete(s.renamed, Ref(e.Key))
		if !renamed || res.Outcome != Saved || e.ID != "" || name == res.Notebook.Name {
			s.finishLocked(it, res)
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		res.Notebook = s.renameCreated(e, res.Notebook, name)
	}
}

// supersede drops a refused save when a newer save of the same notebook
// is queued behind it: keeping it for the next mount would upload older
// content over the newer one there.
func (s *Saver) supersede(it *item, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	newer := slices.ContainsFunc(s.queue, func(o *item) bool {
		return o != it && sameNotebook(o.e, it.e) && o.e.Seq > it.e.Seq
	})
	if !newer {
		return false
	}
	s.o.Log.WithError(err).WithField("path", it.e.Path()).
		Warn("the remote refused a save; a newer save of the same notebook replaces it")
	s.noteErrorLocked(it.e, err)
	s.stats.Coalesced++
	s.queue = slices.DeleteFunc(s.queue, func(o *item) bool { return o == it })
	s.removeEntry(it.e)
	s.cond.Broadcast()
	return true
}

// retry puts an item back with a backoff delay.
func (s *Saver) retry(it *item, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it.inflight = false
	it.attempts++
	it.lastErr = err
	s.stats.Retries++
	s.noteErrorLocked(it.e, err)
	d := s.o.Backoff << min(it.attempts-1, 16)
	if d > s.o.MaxBackoff || d <= 0 {
		d = s.o.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	it.notBefore = s.now().Add(d)
	if it.attempts == 1 || it.attempts%10 == 0 {
		s.o.Log.WithError(err).WithField("path", it.e.Path()).WithField("attempts", it.attempts).
			WithField("pending", len(s.queue)).Warn("upload failed; the save is kept in the journal and retried")
	}
	s.cond.Broadcast()
	if s.o.Manual {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.timers, t)
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	s.timers[t] = true
}

func (s *Saver) noteErrorLocked(e Entry, err error) {
	s.stats.LastErrors = append(s.stats.LastErrors, ErrorRecord{Time: s.now().UTC(), Path: e.Path(), Error: err.Error()})
	if len(s.stats.LastErrors) > maxErrors {
		s.stats.LastErrors = s.stats.LastErrors[len(s.stats.LastErrors)-maxErrors:]
	}
}

// finishLocked records how an entry ended, reports it and releases its
// waiters.
func (s *Saver) finishLocked(it *item, res Result) {
	it.inflight = false
	s.queue = slices.DeleteFunc(s.queue, func(o *item) bool { return o == it })
	ref := Ref(it.e.Key)
	switch res.Outcome {
	case Refused:
		it.lastErr = res.Err
		s.failed = append(s.failed, it)
		s.errs[ref] = res.Err
		s.noteErrorLocked(it.e, res.Err)
	case Cancelled:
		s.removeEntry(it.e)
	default:
		s.stats.Uploaded++
		if res.Outcome == Conflict {
			s.stats.ConflictCount++
			s.stats.Conflicts = append(s.stats.Conflicts, res.Copy.Namespace+"/"+res.Copy.Name+".ipynb")
			if len(s.stats.Conflicts) > maxConflicts {
				s.stats.Conflicts = s.stats.Conflicts[1:]
			}
		} else if res.Notebook.ID != "" {
			s.written[res.Notebook.ID] = res.Notebook.Version
		}
		if res.Notebook.ID != "" && (it.e.ID == "" || res.Notebook.ID != it.e.ID) {
			// Created (or created again after a remote delete): later
			// saves and renames of the chain go to this notebook.
			s.created[ref] = res.Notebook
		}
		if res.Notebook.ID != "" {
			for _, o := range s.queue {
				if !o.inflight && sameNotebook(o.e, it.e) {
					s.followLocked(o, it.e, res)
				}
			}
		}
		// The content stays readable for the reader of the result (to
		// keep it as the version it became) until it calls Release.
		if p, err := s.j.handOver(it.e); err == nil {
			res.Content = p
		} else {
			s.removeEntry(it.e)
		}
	}
	s.emitLocked(res)
	s.cond.Broadcast()
}

// followLocked updates a later queued save of the notebook whose save e
// has just been uploaded as res, in memory and in the journal before e
// leaves it: saves of a notebook just created (or created again after a
// remote delete) go to its new id, and saves that build on ours are based
// on the version we wrote. That base is what tells, after a restart, that
// this version is our own and no conflict: Prevs keeps only the newest
// checksums, and many saves may coalesce while one uploads.
func (s *Saver) followLocked(o *item, e Entry, res Result) {
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
	if err := s.j.Update(o.e); err != nil {
		s.o.Log.WithError(err).WithField("path", o.e.Path()).Warn("recording an uploaded save's successor in the journal")
	}
}

// retryable: everything but a definite refusal is worth another try.
func retryable(err error) bool {
	for _, perm := range []error{remote.ErrPermission, remote.ErrInvalid, remote.ErrNameTooLong, remote.ErrUnsupported, ErrCorrupt} {
		if errors.Is(err, perm) {
			return false
		}
	}
	return true
}

// sleep waits d, or not at all when stopping or stepped by hand.
func (s *Saver) sleep(d time.Duration) {
	if s.o.Manual {
		return
	}
	select {
	case <-time.After(d):
	case <-s.ctx.Done():
	}
}

func (s *Saver) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.o.CallTimeout)
}

func (s *Saver) currentUser() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}
