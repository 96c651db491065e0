// Package fs is the kernel-facing layer of notebookfs: go-fuse nodes and
// handles that show a remote.Client as a tree of .ipynb files, the only
// package that speaks FUSE.
//
//	MOUNT/{owned,shared,public}/<namespace>/<name>.ipynb
//
// Lock order: fileNode.mu < nsDir.mu < categoryDir.mu. No lock is held
// across a remote call except a fileNode's own (which serialises saves of one
// notebook), and no Notify* call is made under any lock.
package fs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"notebookfs/cache"
	"notebookfs/fs/save"
	"notebookfs/remote"
)

// Options configure a Root. Zero durations take the defaults below.
type Options struct {
	Client  remote.Client
	Content *cache.Content // may be nil: no content caching
	Log     *logrus.Entry

	// StateDir holds local state: scratch/ (editor files), staging/
	// (dirty copies being written) and journal/ (saves not uploaded yet).
	// It must be on local disk.
	StateDir string

	MetadataTTL time.Duration // listings and stats; default 10 s
	NegativeTTL time.Duration // kernel negative lookups; default 5 s
	CallTimeout time.Duration // deadline of one remote call; default 60 s
	ReadOnly    bool
	UID, GID    uint32 // owner shown for every file
	// JournalDir holds the write-back journal (default StateDir/journal);
	// it must be on local disk and survive a restart.
	JournalDir string
	// OnConflictOverwrite makes every save the latest version, even when
	// someone else saved since (no conflict copies).
	OnConflictOverwrite bool
	// UploadParallel bounds concurrent background uploads (default 4).
	UploadParallel int
	// RetryBackoff is the first delay before an upload is retried, and
	// MaxRetryBackoff the longest (defaults 250 ms and 30 s).
	RetryBackoff, MaxRetryBackoff time.Duration
	// DiskCache holds notebooks larger than DiskThreshold (default 8 MiB)
	// on local disk instead of in Content; reads stream as bytes arrive.
	// Nil: every notebook goes through Content.
	DiskCache     *cache.Disk
	DiskThreshold int64
	// PrefetchBytes is the budget of small notebooks fetched in the
	// background after each fresh listing; 0 turns prefetch off.
	PrefetchBytes int64
}

const (
	defaultMetadataTTL = 10 * time.Second
	defaultNegativeTTL = 5 * time.Second
	defaultCallTimeout = 60 * time.Second
)

// Root is the mount's root directory and the state every node shares.
type Root struct {
	gofs.Inode

	opts         Options
	client       remote.Client
	content      *cache.Content
	disk         *cache.Disk
	log          *logrus.Entry
	lists        *cache.Meta[string, []remote.Notebook]
	nsLists      *cache.Meta[remote.Category, []string]
	shareLists   *cache.Meta[string, []remote.Share]   // by notebook id
	versionLists *cache.Meta[string, []remote.Version] // by notebook id
	storage      *storageSettings
	moved        *movedStore
	last         *lastKnown
	nodes        *nodeRegistry
	bg           *background
	prefetched   atomic.Int64 // bytes downloaded by prefetch
	unsaved      atomic.Int64 // nodes holding changes not journaled or refused
	journal      *save.Journal
	wb           *save.Uploader
	wbn          *wbNodes
	corrupt      int // journal entries found corrupt at the start
	scratch      *gofs.LoopbackRoot
	staging      string
	started      time.Time
	userMu       sync.Mutex
	user         *remote.User // GUARDED_BY(userMu): nil until a Whoami succeeds

	cats map[remote.Category]*categoryDir
}

var _ = (gofs.NodeOnAdder)((*Root)(nil))
var _ = (gofs.NodeGetattrer)((*Root)(nil))
var _ = (gofs.NodeMkdirer)((*Root)(nil))
var _ = (gofs.NodeCreater)((*Root)(nil))
var _ = (gofs.NodeGetxattrer)((*Root)(nil))

// NewRoot checks the options and prepares the local state directories.
func NewRoot(opts Options) (*Root, error) {
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
	if opts.StateDir == "" {
		return nil, fmt.Errorf("fs: no state directory")
	}
	scratch := filepath.Join(opts.StateDir, "scratch")
	staging := filepath.Join(opts.StateDir, "staging")
	for _, d := range []string{scratch, staging} {
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
	storage, err := loadStorageSettings(filepath.Join(opts.StateDir, "storage.json"))
	if err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	moved, err := loadMovedStore(filepath.Join(opts.StateDir, "moved.json"))
	if err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(scratch, &st); err != nil {
		return nil, fmt.Errorf("fs: scratch directory: %w", err)
	}
	r := &Root{
		opts:         opts,
		client:       opts.Client,
		content:      opts.Content,
		disk:         opts.DiskCache,
		log:          opts.Log.WithField("component", "fs"),
		lists:        cache.NewMeta[string, []remote.Notebook](opts.MetadataTTL, opts.NegativeTTL, 4096, nil),
		nsLists:      cache.NewMeta[remote.Category, []string](opts.MetadataTTL, opts.NegativeTTL, 16, nil),
		shareLists:   cache.NewMeta[string, []remote.Share](opts.MetadataTTL, opts.NegativeTTL, 4096, nil),
		versionLists: cache.NewMeta[string, []remote.Version](opts.MetadataTTL, opts.NegativeTTL, 4096, nil),
		staging:      staging,
		storage:      storage,
		moved:        moved,
		last:         &lastKnown{dir: filepath.Join(opts.StateDir, "lastknown"), log: opts.Log.WithField("component", "fs")},
		nodes:        newNodeRegistry(),
		bg:           newBackground(),
		started:      time.Now(),
		cats:         map[remote.Category]*categoryDir{},
		wbn:          &wbNodes{m: map[string]*fileNode{}},
	}
	// Made here, not in OnAdd: uploads replayed from the journal start
	// before the mount and look namespace directories up.
	for _, c := range remote.Categories {
		r.cats[c] = &categoryDir{root: r, cat: c, children: map[string]*nsDir{}}
	}
	if r.opts.JournalDir == "" {
		r.opts.JournalDir = filepath.Join(opts.StateDir, "journal")
	}
	if err := r.openJournal(); err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	// Scratch nodes are go-fuse loopback nodes rooted at our root, so their
	// tree path "owned/alice/.x.swp" maps to scratch/owned/alice/.x.swp.
	r.scratch = &gofs.LoopbackRoot{Path: scratch, Dev: uint64(st.Dev), RootNode: r}
	return r, nil
}

// defaultDiskThreshold: notebooks above it are read through the disk cache.
const defaultDiskThreshold = 8 << 20

// diskThreshold is the size above which a notebook goes to the disk cache;
// never more than a quarter of the memory cache, which must hold several.
func (r *Root) diskThreshold() int64 {
	t := r.opts.DiskThreshold
	if t <= 0 {
		t = defaultDiskThreshold
	}
	if r.content != nil {
		t = min(t, r.content.Stats().MaxBytes/4)
	}
	return t
}

// OnAdd builds the fixed top of the tree.
func (r *Root) OnAdd(ctx context.Context) {
	for _, c := range remote.Categories {
		d := r.cats[c]
		ch := r.NewPersistentInode(ctx, d, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: stableIno("category/" + string(c))})
		r.AddChild(string(c), ch, false)
	}
}

// Getattr reports the root directory.
func (r *Root) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	r.dirAttr(&out.Attr, 0o555)
	return 0
}

// Mkdir at the root is refused: the top level is fixed.
func (r *Root) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Create at the root is refused: the top level is fixed.
func (r *Root) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}

// StatusXattr on the mount root is the daemon's status as JSON (pending
// uploads, conflicts, errors, cache figures): `notebookfs status` reads it.
// It is not listed, so copying the root copies nothing of it.
const StatusXattr = "user.notebookfs.status"

// Getxattr answers the status; every other name is ENODATA, with no
// remote call.
func (r *Root) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr != StatusXattr {
		return 0, gofs.ENOATTR
	}
	b, err := json.Marshal(r.Status())
	if err != nil {
		return 0, toErrno(r.log, "getxattr", "/", err)
	}
	return xattrReply(dest, string(b))
}

// whoami is asked once per mount: the user and their organizations decide
// what owned/ shows and where notebooks may be created. Only an answer is
// kept; a failure (offline, interrupted) is retried at the next access.
func (r *Root) whoami(ctx context.Context) (remote.User, error) {
	r.userMu.Lock()
	defer r.userMu.Unlock()
	if r.user != nil {
		return *r.user, nil
	}
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	u, err := r.client.Whoami(cctx)
	if err != nil {
		// Offline at the start: who I was last time (not kept, so the
		// next access asks again). Refused credentials are no outage.
		var last remote.User
		if !errors.Is(err, remote.ErrUnauthenticated) && r.last.load("user", &last) && last.Username != "" {
			r.log.WithError(err).Warn("the remote is unreachable; using the user of the last session")
			return last, nil
		}
		return remote.User{}, err
	}
	r.user = &u
	r.last.save("user", u)
	return u, nil
}

// mountUserWait bounds how long a mount waits for the remote to say who I
// am before it is served (the answer still arrives in the background).
const mountUserWait = 2 * time.Second

// askUser asks the remote who I am in the background, once at the start;
// the channel gets the outcome. A failure is not kept: the first access
// asks again.
func (r *Root) askUser() <-chan error {
	done := make(chan error, 1)
	if !r.background(func(ctx context.Context) {
		_, err := r.whoami(ctx)
		if err != nil && !errors.Is(err, remote.ErrUnauthenticated) {
			r.log.WithError(err).Warn("could not ask the remote who I am; asked again at the first access")
		}
		done <- err
	}) {
		done <- errors.New("closed")
	}
	return done
}

// callCtx gives a remote call its deadline. Reads and listings keep the
// caller's cancellation (an interrupted ls stops waiting).
func (r *Root) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.opts.CallTimeout)
}

// saveCtx is for mutations: an interrupt must not leave a save half done,
// so only the deadline applies (gcsfuse's interruptless context).
func (r *Root) saveCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.opts.CallTimeout)
}

func (r *Root) dirAttr(a *fuse.Attr, perm uint32) {
	a.Mode = syscall.S_IFDIR | perm
	a.Nlink = 2
	a.Uid, a.Gid = r.opts.UID, r.opts.GID
	t := uint64(r.started.Unix())
	a.Mtime, a.Ctime, a.Atime = t, t, t
}

func (r *Root) entryTimeouts(out *fuse.EntryOut) {
	out.SetEntryTimeout(r.opts.MetadataTTL)
	out.SetAttrTimeout(r.opts.MetadataTTL)
}
