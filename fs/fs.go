package fs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"notebookfs/cache"
	"notebookfs/fs/save"
	"notebookfs/remote"
)

// Options configure an FS. Zero durations take the defaults below.
type Options struct {
	Client remote.Client
	Log    *logrus.Entry

	// StateDir holds the mount's local state: scratch/ (editor files),
	// staging/ (dirty copies being written), journal/ (saves not uploaded
	// yet) and backends/ (what is kept per backend and account). It must
	// be on local disk. PrivateFrom is the directory from which every
	// component down to StateDir must be ours and private (the cache
	// directory); "" checks StateDir alone.
	StateDir    string
	PrivateFrom string
	// Backend names the backend (its URL, or the embedded store's
	// directory): saves, backups and last-known listings are kept per
	// backend and account, never replayed to another.
	Backend string
	// StateLockWait bounds the wait for another daemon that holds the
	// state directory (default 10 s).
	StateLockWait time.Duration

	MetadataTTL time.Duration // listings and stats; default 10 s
	// PollInterval, when set, refreshes the listings of recently used
	// namespaces in the background that often (Poll).
	PollInterval time.Duration
	NegativeTTL  time.Duration // kernel negative lookups; default 5 s
	CallTimeout  time.Duration // deadline of one remote call; default 60 s
	ReadOnly     bool

	// OnConflictOverwrite makes every save the latest version, even when
	// someone else saved since (no conflict copies).
	OnConflictOverwrite bool
	// UploadParallel bounds concurrent background uploads (default 4).
	UploadParallel int
	// RetryBackoff is the first delay before an upload is retried, and
	// MaxRetryBackoff the longest (defaults 250 ms and 30 s).
	RetryBackoff, MaxRetryBackoff time.Duration

	// Content holds notebook contents in memory (nil: none cached);
	// DiskCache holds notebooks larger than DiskThreshold (default 8 MiB)
	// on local disk instead. Nil: every notebook goes through Content.
	Content       *cache.Content
	DiskCache     *cache.Disk
	DiskThreshold int64
	// PrefetchBytes is the budget of small notebooks fetched in the
	// background after each fresh listing; 0 turns prefetch off.
	PrefetchBytes int64

	// Clock is the time of metadata expiry and of saves (default time.Now).
	Clock func() time.Time
	// Scheduler runs background work (default: a goroutine per job).
	Scheduler Scheduler
	// ManualSaves uploads nothing by itself: the caller steps uploads
	// (Saver().Step) and applies their outcomes (ApplyOutcomes), so a test
	// decides where they fall between foreground operations.
	ManualSaves bool
}

const (
	defaultMetadataTTL = 10 * time.Second
	defaultNegativeTTL = 5 * time.Second
	defaultCallTimeout = 60 * time.Second
	defaultLockWait    = 10 * time.Second
)

// FS is the notebook tree of one mount.
type FS struct {
	// Dependencies.
	opts   Options
	client remote.Client
	store  *cache.Store
	saver  *save.Saver
	lock   *save.Lock
	log    *logrus.Entry
	bg     Scheduler
	now    func() time.Time

	// Constant.
	scratch string // root of the scratch files: scratch/<cat>/<ns>/...
	staging string
	started time.Time
	cats    map[remote.Category]*Category

	// Mutable; each has its own lock.
	lists        *cache.Meta[string, []remote.Notebook]
	inval        *invalidations // remote changes for the kernel to forget
	stopPoll     chan struct{}  // ends pollEvery; nil without PollInterval
	nsLists      *cache.Meta[remote.Category, []string]
	shareLists   *cache.Meta[string, []remote.Share]   // by notebook id
	versionLists *cache.Meta[string, []remote.Version] // by notebook id
	storage      *storageSettings
	moved        *movedStore
	last         *lastKnown
	nodes        *registry
	saving       *savingFiles
	unsaved      atomic.Int64 // files holding changes not journaled, or refused
	own          ownTimes
	releases     counter // handles whose release is to save what they truncated

	userMu sync.Mutex
	user   *remote.User // GUARDED_BY(userMu): nil until a Whoami succeeds

	appliedMu sync.Mutex
	appliedC  *sync.Cond
	applied   uint64 // GUARDED_BY(appliedMu): the last save outcome applied
	outcomes  sync.WaitGroup
}

// New checks the options, takes the state directory's lock and opens the
// journal (its uploads start at once).
func New(opts Options) (*FS, error) {
	if opts.Client == nil {
		return nil, fmt.Errorf("fs: no remote client")
	}
	if opts.Log == nil {
		l := logrus.New()
		l.SetOutput(os.Stderr)
		opts.Log = logrus.NewEntry(l)
	}
	if opts.MetadataTTL <= 0 {
		opts.MetadataTTL = defaultMetadataTTL
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = defaultNegativeTTL
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = defaultCallTimeout
	}
	if opts.StateLockWait <= 0 {
		opts.StateLockWait = defaultLockWait
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.StateDir == "" {
		return nil, fmt.Errorf("fs: no state directory")
	}
	if opts.PrivateFrom == "" {
		opts.PrivateFrom = opts.StateDir
	}
	if err := save.PrepareStateDir(opts.PrivateFrom, opts.StateDir); err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	lock, err := save.LockState(opts.StateDir, opts.StateLockWait)
	if err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	f, err := newFS(opts, lock)
	if err != nil {
		lock.Release()
		return nil, err
	}
	return f, nil
}

func newFS(opts Options, lock *save.Lock) (*FS, error) {
	log := opts.Log.WithField("component", "fs")
	scratch := filepath.Join(opts.StateDir, "scratch")
	staging := filepath.Join(opts.StateDir, "staging")
	backend := filepath.Join(opts.StateDir, "backends", backendKey(opts.Backend))
	for _, d := range []string{scratch, staging, backend} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("fs: state directory: %w", err)
		}
	}
	// Dirty copies left by a previous run were never acknowledged by a
	// close (acknowledged saves are in the journal), so they are not saves
	// to replay.
	if ents, err := os.ReadDir(staging); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(staging, e.Name()))
		}
	}
	storage, err := loadStorageSettings(filepath.Join(backend, "storage.json"))
	if err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	moved, err := loadMovedStore(filepath.Join(backend, "moved.json"))
	if err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	last := &lastKnown{dir: filepath.Join(backend, "lastknown"), log: log}
	var lastUser remote.User
	last.load("user", &lastUser)
	saver, err := save.Open(save.Options{
		Dir:         filepath.Join(opts.StateDir, "journal"),
		Client:      opts.Client,
		Log:         opts.Log.WithField("component", "save"),
		Backend:     opts.Backend,
		User:        lastUser.Username,
		CallTimeout: opts.CallTimeout,
		Overwrite:   opts.OnConflictOverwrite,
		Parallel:    opts.UploadParallel,
		Backoff:     opts.RetryBackoff,
		MaxBackoff:  opts.MaxRetryBackoff,
		Clock:       opts.Clock,
		Manual:      opts.ManualSaves,
	})
	if err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	f := &FS{
		opts:   opts,
		client: opts.Client,
		store: cache.NewStore(cache.StoreOptions{Client: opts.Client, Content: opts.Content, Disk: opts.DiskCache,
			DiskThreshold: opts.DiskThreshold, CallTimeout: opts.CallTimeout}),
		saver:        saver,
		lock:         lock,
		log:          log,
		bg:           opts.Scheduler,
		now:          opts.Clock,
		scratch:      scratch,
		staging:      staging,
		started:      opts.Clock(),
		cats:         map[remote.Category]*Category{},
		inval:        newInvalidations(),
		lists:        cache.NewMeta[string, []remote.Notebook](opts.MetadataTTL, opts.NegativeTTL, 4096, opts.Clock),
		nsLists:      cache.NewMeta[remote.Category, []string](opts.MetadataTTL, opts.NegativeTTL, 16, opts.Clock),
		shareLists:   cache.NewMeta[string, []remote.Share](opts.MetadataTTL, opts.NegativeTTL, 4096, opts.Clock),
		versionLists: cache.NewMeta[string, []remote.Version](opts.MetadataTTL, opts.NegativeTTL, 4096, opts.Clock),
		storage:      storage,
		moved:        moved,
		last:         last,
		nodes:        newRegistry(),
		saving:       &savingFiles{m: map[save.Ref]*File{}},
	}
	if f.bg == nil {
		f.bg = newBackground()
	}
	f.appliedC = sync.NewCond(&f.appliedMu)
	for _, c := range remote.Categories {
		f.cats[c] = &Category{fs: f, cat: c, children: map[string]*Namespace{}}
	}
	if !opts.ManualSaves {
		f.outcomes.Add(1)
		go f.readOutcomes(saver.Results())
	}
	if opts.PollInterval > 0 {
		f.stopPoll = make(chan struct{})
		go f.pollEvery(opts.PollInterval, f.stopPoll)
	}
	return f, nil
}

// backendKey names a backend's state directory.
func backendKey(backend string) string {
	s := sha256.Sum256([]byte(backend))
	return hex.EncodeToString(s[:8])
}

// Category is one of the top-level directories.
func (f *FS) Category(c remote.Category) *Category { return f.cats[c] }

// Started is when the mount started.
func (f *FS) Started() time.Time { return f.started }

// ReadOnly reports a read-only mount.
func (f *FS) ReadOnly() bool { return f.opts.ReadOnly }

// MetadataTTL is how long listings and stats are trusted.
func (f *FS) MetadataTTL() time.Duration { return f.opts.MetadataTTL }

// NegativeTTL is how long the kernel may remember a missing name.
func (f *FS) NegativeTTL() time.Duration { return f.opts.NegativeTTL }

// ScratchRoot is the local directory behind every scratch entry.
func (f *FS) ScratchRoot() string { return f.scratch }

// Saver is the save engine (tests step it with ManualSaves).
func (f *FS) Saver() *save.Saver { return f.saver }

// Log is the file system's logger.
func (f *FS) Log() *logrus.Entry { return f.log }

// Close stops background work and uploads and waits for them; call it
// after unmounting (and Drain, for a clean stop). Saves not uploaded stay
// in the journal for the next start.
func (f *FS) Close() {
	defer f.inval.close()
	if f.stopPoll != nil {
		close(f.stopPoll)
	}
	if b, ok := f.bg.(*background); ok {
		b.cancel()
		b.idle()
	}
	f.saver.Close()
	f.outcomes.Wait()
	f.store.Close()
	f.lock.Release()
}

// Idle waits until no background work runs (tests, benchmarks).
func (f *FS) Idle() {
	if b, ok := f.bg.(*background); ok {
		b.idle()
	}
}

// Drain waits until every journaled save is uploaded and its outcome
// applied, or ctx ends (the journal keeps what is left).
func (f *FS) Drain(ctx context.Context) error {
	// A close that left its save to the release (a file truncated and not
	// written, as touch does) is followed by that release at once.
	if err := f.releases.waitZero(ctx); err != nil {
		return err
	}
	n, err := f.saver.Drain(ctx)
	if err != nil {
		return err
	}
	return f.waitApplied(ctx, n)
}

// counter is a count one can wait to see at zero.
type counter struct {
	mu sync.Mutex
	n  int
	c  *sync.Cond
}

func (c *counter) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	if c.n == 0 && c.c != nil {
		c.c.Broadcast()
	}
}

func (c *counter) waitZero(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		c.c = sync.NewCond(&c.mu)
	}
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.c.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	for c.n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.c.Wait()
	}
	return nil
}

// whoami is asked once per mount: the user and their organizations decide
// what owned/ shows and where notebooks may be created. Only an answer is
// kept; a failure (offline, interrupted) is retried at the next access.
func (f *FS) whoami(ctx context.Context) (remote.User, error) {
	f.userMu.Lock()
	defer f.userMu.Unlock()
	if f.user != nil {
		return *f.user, nil
	}
	cctx, cancel := f.callCtx(ctx)
	defer cancel()
	u, err := f.client.Whoami(cctx)
	if err != nil {
		// Offline at the start: who I was last time (not kept, so the
		// next access asks again). Refused credentials are no outage.
		var last remote.User
		if !errors.Is(err, remote.ErrUnauthenticated) && f.last.load("user", &last) && last.Username != "" {
			f.log.WithError(err).Warn("the remote is unreachable; using the user of the last session")
			return last, nil
		}
		return remote.User{}, err
	}
	f.user = &u
	f.saver.SetUser(u.Username)
	f.last.save("user", u)
	return u, nil
}

// AskUser asks the remote who I am in the background, once at the start;
// the channel gets the outcome. A failure is not kept: the first access
// asks again.
func (f *FS) AskUser() <-chan error {
	done := make(chan error, 1)
	if !f.bg.Go(func(ctx context.Context) {
		_, err := f.whoami(ctx)
		if err != nil && !errors.Is(err, remote.ErrUnauthenticated) {
			f.log.WithError(err).Warn("could not ask the remote who I am; asked again at the first access")
		}
		done <- err
	}) {
		done <- errors.New("closed")
	}
	return done
}

// callCtx gives a remote call its deadline. Reads and listings keep the
// caller's cancellation (an interrupted ls stops waiting).
func (f *FS) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.opts.CallTimeout)
}

// saveCtx is for mutations: an interrupt must not leave a save half done,
// so only the deadline applies (gcsfuse's interruptless context).
func (f *FS) saveCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), f.opts.CallTimeout)
}

// nsOf is the namespace cat/ns if it has been looked up.
func (f *FS) nsOf(cat remote.Category, ns string) *Namespace {
	c := f.cats[cat]
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.children[ns]
}
