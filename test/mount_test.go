//go:build linux

package test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"notebookfs/cache"
	"notebookfs/fs"
	nbfuse "notebookfs/fs/fuse"
	"notebookfs/remote"
	"notebookfs/remote/cloud"
	"notebookfs/remote/local"
	"notebookfs/remote/remotetest"
	"notebookfs/remote/server"
)

// user is the mounting user of the tests' embedded store.
const user = "alice"

// env is one mounted notebookfs over a fresh store.
type env struct {
	t        testing.TB
	user     string // the mounting user
	dir      string // mountpoint
	storeDir string
	stateDir string
	store    *local.Store
	count    *remotetest.Counting // every remote call of the mount
	faults   *remotetest.Faulty   // injects remote failures (none unless asked)
	server   *fuse.Server
	logw     interface{ Close() error }
	opts     envOptions
	url      string // remote: the server's base URL
	// mountToken is the token the mount's client presents (remote).
	mountToken string
	root       *fs.FS
	logs       *test.Hook // every log entry of the mount
	group      *[]*env    // every mount of this store: settle drains them all
}

type envOptions struct {
	ttl       time.Duration
	cacheSize int64
	readOnly  bool
	// setup runs on the store before the first mount (users, orgs, shares).
	setup func(t testing.TB, s *local.Store)
	// remote mounts through the TileDB Cloud client and an in-process
	// "notebookfs serve" over the store, instead of the store directly.
	remote    bool
	faultRate float64
	latency   time.Duration
	token     string // remote only: use this token instead of a fresh one
	prefetch  int64  // fs.Options.PrefetchBytes (0: off, the tests' default)
	overwrite bool   // --on-conflict=overwrite
	// callTimeout is fs.Options.CallTimeout (0: its default).
	callTimeout time.Duration
	// offline makes every remote call fail from the start of the mount
	// (heal with e.faults.SetFailRate(0, nil, 0)).
	offline bool
	// failWhoami fails the first Whoami calls with a connection error.
	failWhoami int
	// stateDir is another mount's state directory, taken over (after it
	// is unmounted): "" gives a fresh one.
	stateDir string
}

// needFuse skips when the machine cannot mount.
func needFuse(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		if _, err := exec.LookPath("fusermount"); err != nil {
			t.Skip("no fusermount3 or fusermount on PATH (apt-get install fuse3)")
		}
	}
}

func mount(t testing.TB, o envOptions) *env {
	t.Helper()
	needFuse(t)
	if o.ttl == 0 {
		o.ttl = time.Minute // tests advance state explicitly, not by waiting
	}
	if o.cacheSize == 0 {
		o.cacheSize = 64 << 20
	}
	base := t.TempDir()
	e := &env{
		t:        t,
		user:     user,
		dir:      filepath.Join(base, "mnt"),
		storeDir: filepath.Join(base, "store"),
		stateDir: filepath.Join(base, "state"),
		opts:     o,
	}
	if o.stateDir != "" {
		e.stateDir = o.stateDir
	}
	e.group = &[]*env{e}
	if err := os.Mkdir(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	store, err := local.Open(e.storeDir, testLog(t).WithField("component", "store"))
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	ctx := context.Background()
	if err := store.EnsureUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	if o.setup != nil {
		o.setup(t, store)
	}
	if o.remote {
		e.url = serveStore(t, store, server.Options{FaultRate: o.faultRate, Latency: o.latency, Seed: 1})
	}
	e.mountFS()
	t.Cleanup(func() {
		e.unmount()
		store.Close()
	})
	return e
}

func (e *env) mountFS() {
	t := e.t
	t.Helper()
	var client remote.Client = e.store.As(e.user)
	if e.url != "" {
		e.mountToken = e.opts.token
		if e.mountToken == "" {
			var err error
			if e.mountToken, err = e.store.NewToken(context.Background(), e.user); err != nil {
				t.Fatal(err)
			}
		}
		client = cloudClient(t, e.store, e.url, e.user, e.mountToken)
	}
	e.faults = remotetest.NewFaulty(client)
	if e.opts.offline {
		e.faults.SetFailRate(1, errors.New("network is unreachable"), 1)
	}
	if e.opts.failWhoami > 0 {
		e.faults.FailNext("Whoami", e.opts.failWhoami, errors.New("connection refused"))
	}
	e.count = remotetest.NewCounting(e.faults)
	log := testLog(t)
	e.logs = test.NewLocal(log.Logger)
	disk, err := cache.NewDisk(filepath.Join(e.stateDir, "diskcache"), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	backend := "embedded " + e.storeDir
	if e.url != "" {
		backend = "tiledb " + e.url
	}
	root, err := fs.New(fs.Options{
		Backend:       backend,
		Client:        e.count,
		Content:       cache.NewContent(e.opts.cacheSize),
		DiskCache:     disk,
		Log:           log,
		StateDir:      e.stateDir,
		MetadataTTL:   e.opts.ttl,
		CallTimeout:   e.opts.callTimeout,
		ReadOnly:      e.opts.readOnly,
		PrefetchBytes: e.opts.prefetch,
		// Retries come quickly, so a test that ends an outage does not
		// wait out a long backoff.
		RetryBackoff:        10 * time.Millisecond,
		MaxRetryBackoff:     200 * time.Millisecond,
		OnConflictOverwrite: e.opts.overwrite,
	})
	if err != nil {
		t.Fatal(err)
	}
	server, logw, err := nbfuse.Mount(e.dir, root, nbfuse.MountOptions{
		FsName: "notebookfs-test",
		UID:    uint32(os.Getuid()),
		GID:    uint32(os.Getgid()),
		Debug:  testing.Verbose() && os.Getenv("FUSE_DEBUG") != "",
		PanicHandler: func(p any) fuse.Status {
			t.Errorf("panic in a FUSE handler: %v\n%s", p, debug.Stack())
			return fuse.EIO
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.server, e.logw, e.root = server, logw, root
}

func (e *env) unmount() {
	if e.server == nil {
		return
	}
	if err := e.server.Unmount(); err != nil {
		e.t.Errorf("unmount: %v", err)
	}
	e.server.Wait()
	// As the daemon does: pending uploads get a bounded wait, then stay in
	// the journal for the next mount.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.root.Drain(ctx)
	cancel()
	e.root.Close() // background work ends before the test does
	e.logw.Close()
	e.server = nil
}

// crash unmounts without waiting for uploads, as a killed daemon would
// leave things (the journal keeps them).
func (e *env) crash() {
	e.t.Helper()
	if err := e.server.Unmount(); err != nil {
		e.t.Fatal(err)
	}
	e.server.Wait()
	e.root.Close()
	e.logw.Close()
	e.server = nil
}

// remount unmounts and mounts again over the same store and state.
func (e *env) remount() {
	e.t.Helper()
	e.unmount()
	e.mountFS()
}

// ns is the path of the user's own namespace directory.
func (e *env) ns(parts ...string) string {
	return filepath.Join(append([]string{e.dir, "owned", e.user}, parts...)...)
}

// client is the store seen by the user, without counting. Saves made
// through the mount are uploaded first: tests look at the store after them.
func (e *env) client() remote.Client {
	e.settle()
	return e.store.As(e.user)
}

// settle waits until the journaled saves of every mount of the store are
// uploaded.
func (e *env) settle() {
	e.t.Helper()
	for _, m := range *e.group {
		if m.root == nil || m.server == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := m.root.Drain(ctx)
		cancel()
		if err != nil {
			e.t.Fatalf("uploads of %s's mount did not finish: %v", m.user, err)
		}
	}
}

// mountAs mounts the same store a second time as another user (who must
// exist), with its own mountpoint and state.
func (e *env) mountAs(name string) *env {
	t := e.t
	t.Helper()
	base := t.TempDir()
	o := &env{t: t, user: name, store: e.store, opts: e.opts, url: e.url,
		dir: filepath.Join(base, "mnt"), stateDir: filepath.Join(base, "state"), group: e.group}
	*e.group = append(*e.group, o)
	if err := os.Mkdir(o.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o.mountFS()
	t.Cleanup(o.unmount)
	return o
}

// path is a path under the mountpoint.
func (e *env) path(parts ...string) string {
	return filepath.Join(append([]string{e.dir}, parts...)...)
}

// serveStore serves a store over HTTP the way "notebookfs serve" does.
func serveStore(t testing.TB, store *local.Store, o server.Options) string {
	t.Helper()
	if o.Log == nil {
		o.Log = testLog(t).WithField("component", "server")
	}
	srv := httptest.NewServer(server.New(store, o))
	t.Cleanup(srv.Close)
	return srv.URL
}

// cloudClient is the TileDB Cloud client of one user of a served store,
// with a fresh token unless one is given.
func cloudClient(t testing.TB, store *local.Store, url, user, token string) remote.Client {
	t.Helper()
	if token == "" {
		var err error
		if token, err = store.NewToken(context.Background(), user); err != nil {
			t.Fatal(err)
		}
	}
	c, err := cloud.New(cloud.Options{Host: url, Token: token, Log: testLog(t).WithField("component", "cloud"), CallTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testLog(t testing.TB) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	l.SetLevel(logrus.InfoLevel)
	if testing.Verbose() {
		l.SetLevel(logrus.DebugLevel)
	}
	return logrus.NewEntry(l)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
