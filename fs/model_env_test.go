package fs_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"notebookfs/cache"
	"notebookfs/fs"
	"notebookfs/remote"
	"notebookfs/remote/local"
	"notebookfs/remote/remotetest"
)

// The environment of the core model test: the FUSE-free core over the
// embedded SQLite store, with a clock, an upload engine and a background
// scheduler that only move when the test says so.

const (
	coreUser = "alice"
	coreTTL  = 10 * time.Second
	// coreDiskThreshold sends the long contents the test draws through the
	// disk cache and the short ones through memory.
	coreDiskThreshold = 4096
)

// fakeClock is the time of the core, its save engine and the store.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// stepScheduler queues the core's background work (listing refreshes,
// prefetches, last-known listings) until the test runs it, one job at a
// time, in the test's goroutine.
type stepScheduler struct {
	mu     sync.Mutex
	jobs   []func(context.Context)
	closed bool
}

func (s *stepScheduler) Go(job func(context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.jobs = append(s.jobs, job)
	return true
}

func (s *stepScheduler) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs)
}

// run takes job i out of the queue and runs it.
func (s *stepScheduler) run(i int) {
	s.mu.Lock()
	job := s.jobs[i]
	s.jobs = append(s.jobs[:i:i], s.jobs[i+1:]...)
	s.mu.Unlock()
	job(context.Background())
}

// close drops what is queued and refuses more: the file system is closed.
func (s *stepScheduler) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed, s.jobs = true, nil
}

// logRing keeps the last lines the core logged, shown when a check fails.
type logRing struct {
	mu    sync.Mutex
	lines []string
}

const logRingLines = 120

func (r *logRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		r.lines = append(r.lines, l)
	}
	if len(r.lines) > logRingLines {
		r.lines = r.lines[len(r.lines)-logRingLines:]
	}
	return len(p), nil
}

func (r *logRing) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// coreEnv is one store and one state directory, and the core running on
// them (fs, nil while stopped).
type coreEnv struct {
	dir      string
	storeDir string
	stateDir string
	store    *local.Store
	clock    *fakeClock
	logs     *logRing
	log      *logrus.Entry

	// faults makes chosen remote calls of the core fail (the other
	// client, client(), never fails).
	faults *remotetest.Faulty

	sched *stepScheduler
	fs    *fs.FS
	ns    *fs.Namespace // owned/alice
}

// newCoreEnv makes a fresh store with the user and starts the core. The
// caller closes it.
func newCoreEnv() (*coreEnv, error) {
	dir, err := os.MkdirTemp(modelTempRoot(), "nbfs-model-")
	if err != nil {
		dir, err = os.MkdirTemp("", "nbfs-model-")
	}
	if err != nil {
		return nil, err
	}
	e := &coreEnv{
		dir:      dir,
		storeDir: filepath.Join(dir, "store"),
		stateDir: filepath.Join(dir, "state"),
		clock:    &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		logs:     &logRing{},
	}
	l := logrus.New()
	l.SetOutput(e.logs)
	l.SetLevel(logrus.InfoLevel)
	if os.Getenv("MODEL_DEBUG") != "" {
		l.SetLevel(logrus.DebugLevel)
	}
	e.log = logrus.NewEntry(l)
	store, err := local.Open(e.storeDir, e.log.WithField("component", "store"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	e.store = store
	e.faults = remotetest.NewFaulty(store.As(coreUser))
	store.SetClock(e.clock.Now)
	if err := store.EnsureUser(context.Background(), coreUser); err != nil {
		e.close()
		return nil, err
	}
	if err := e.start(); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// options are the core's options over this environment's state.
// disk names the disk cache's directory (another daemon's is its own).
func (e *coreEnv) options(sched fs.Scheduler, disk string) (fs.Options, error) {
	dc, err := cache.NewDisk(filepath.Join(e.dir, disk), 1<<30)
	if err != nil {
		return fs.Options{}, err
	}
	return fs.Options{
		Client:        e.faults,
		Log:           e.log,
		StateDir:      e.stateDir,
		Backend:       "embedded " + e.storeDir,
		MetadataTTL:   coreTTL,
		CallTimeout:   30 * time.Second, // only fsync and getxattr wait, while the test steps uploads
		Content:       cache.NewContent(64 << 20),
		DiskCache:     dc,
		DiskThreshold: coreDiskThreshold,
		PrefetchBytes: 1 << 20,
		Clock:         e.clock.Now,
		Scheduler:     sched,
		ManualSaves:   true,
		RetryBackoff:  10 * time.Millisecond,
	}, nil
}

// start runs a core on the state directory and looks up the namespace.
func (e *coreEnv) start() error {
	sched := &stepScheduler{}
	o, err := e.options(sched, "diskcache")
	if err != nil {
		return err
	}
	f, err := fs.New(o)
	if err != nil {
		return err
	}
	ns, err := f.Category(remote.Owned).Lookup(context.Background(), coreUser)
	if err != nil {
		f.Close()
		return fmt.Errorf("looking up the namespace: %w", err)
	}
	e.fs, e.ns, e.sched = f, ns, sched
	return nil
}

// stop closes the core without draining: what is not uploaded stays in
// the journal, as after a crash.
func (e *coreEnv) stop() {
	if e.fs == nil {
		return
	}
	e.sched.close()
	e.fs.Close()
	e.fs, e.ns = nil, nil
}

func (e *coreEnv) close() {
	e.stop()
	if e.store != nil {
		e.store.Close()
	}
	os.RemoveAll(e.dir)
}

// client is the store as the user sees it from another client.
func (e *coreEnv) client() remote.Client { return e.store.As(coreUser) }

// modelTempRoot is where the model's stores and states go: a memory file
// system when there is one (the model checks the logic, not durability,
// and thousands of sequences of fsyncs on disk cost minutes), unless
// TMPDIR is set.
func modelTempRoot() string {
	if os.Getenv("TMPDIR") == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			return "/dev/shm"
		}
	}
	return ""
}

// coreDefaults sets flags to the test's defaults unless the command line
// or the environment (RAPID_CHECKS, ...) chose them.
func coreDefaults(t *testing.T, defaults map[string]string) {
	set := map[string]bool{}
	flagVisit(func(name string) { set[name] = true })
	for name, v := range defaults {
		env := strings.ToUpper(strings.ReplaceAll(name, ".", "_"))
		if set[name] || os.Getenv(env) != "" {
			continue
		}
		old, ok := flagSet(name, v)
		if !ok {
			t.Fatalf("no flag %s", name)
		}
		t.Cleanup(func() { flagSet(name, old) })
	}
}

func flagVisit(fn func(name string)) { flag.Visit(func(f *flag.Flag) { fn(f.Name) }) }

// flagSet sets a flag and returns its old value.
func flagSet(name, v string) (string, bool) {
	f := flag.Lookup(name)
	if f == nil {
		return "", false
	}
	old := f.Value.String()
	return old, f.Value.Set(v) == nil
}
