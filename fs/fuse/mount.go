package fuse

import (
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"notebookfs/fs"
	"notebookfs/remote"
)

// MountOptions are the kernel-facing settings of a mount.
type MountOptions struct {
	FsName string // first column of df and mount
	// AllowOther lets other local users reach the mount at all; even then
	// only the owner (and root) may use it, unless OthersRead lets the
	// others read (no writes, no share changes).
	AllowOther bool
	OthersRead bool
	Debug      bool   // log every FUSE request (very chatty)
	UID, GID   uint32 // owner shown for every file
	// PanicHandler, when set, turns a panic in a handler into this call
	// (tests fail on it); go-fuse's default logs and answers EIO.
	PanicHandler func(any) gofuse.Status
}

// mountUserWait bounds how long a mount waits for the remote to say who I
// am before it is served (the answer still arrives in the background).
const mountUserWait = 2 * time.Second

// Mount mounts f at dir and returns once the kernel serves it. The caller
// unmounts with Server.Unmount, waits with Server.Wait, then closes the
// io.Closer (go-fuse's log writer).
func Mount(dir string, f *fs.FS, mo MountOptions) (*gofuse.Server, io.Closer, error) {
	// go-fuse logs through the standard logger; route it into logrus at
	// debug level. Both Options.Logger and MountOptions.Logger need it.
	w := f.Log().Logger.WriterLevel(logrus.DebugLevel)
	stdlog := log.New(w, "go-fuse: ", 0)
	neg := f.NegativeTTL()
	ttl := f.MetadataTTL()
	root := &rootNode{fs: f, opts: mo}
	root.scratch = &gofs.LoopbackRoot{Path: f.ScratchRoot(), RootNode: root}
	if err := root.scratchDev(); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("mounting %s: %w", dir, err)
	}
	opts := &gofs.Options{
		EntryTimeout:    &ttl,
		AttrTimeout:     &ttl,
		NegativeTimeout: &neg,
		UID:             mo.UID,
		GID:             mo.GID,
		Logger:          stdlog,
		MountOptions: gofuse.MountOptions{
			FsName:     mo.FsName,
			Name:       "notebookfs",
			AllowOther: mo.AllowOther,
			Debug:      mo.Debug,
			Logger:     stdlog,
			MaxWrite:   1 << 20,
			// open(O_TRUNC) arrives as one OPEN, not SETATTR + OPEN, so an
			// overwrite is one upload and never an empty version first.
			ExtraCapabilities: gofuse.CAP_ATOMIC_O_TRUNC,
			// go-fuse's loopback files (our scratch files) would use kernel
			// passthrough, and the kernel refuses a passthrough open (EIO)
			// of an inode that has a non-passthrough open: a notebook
			// renamed to a backup name while still open is exactly that.
			DisabledCapabilities: gofuse.CAP_PASSTHROUGH,
		},
	}
	opts.MountOptions.Options = append(opts.MountOptions.Options, platformMountOptions...)
	if mo.PanicHandler != nil {
		opts.MountOptions.PanicHandler = mo.PanicHandler
	}
	if f.ReadOnly() {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "ro")
	}
	if mo.AllowOther {
		// The kernel checks the mode bits we show before it asks us; guard
		// checks the caller of whatever it lets through.
		opts.MountOptions.Options = append(opts.MountOptions.Options, "default_permissions")
	}
	start := time.Now()
	// Who I am decides what owned/ shows and where notebooks may be
	// created: asked before the mount appears, so that the first listing
	// neither waits for it nor pays a request for it. Slow or unreachable:
	// the mount goes on and the first access asks again (or waits).
	// Refused credentials: a mount where every access fails helps nobody.
	select {
	case err := <-f.AskUser():
		if errors.Is(err, remote.ErrUnauthenticated) {
			w.Close()
			return nil, nil, fmt.Errorf("mounting %s: the remote refused the credentials; log in again (notebookfs login, or set TILEDB_REST_TOKEN; notebookfs doctor checks them): %w", dir, err)
		}
	case <-time.After(mountUserWait):
	}
	var raw gofuse.RawFileSystem = gofs.NewNodeFS(root, opts)
	if mo.AllowOther {
		raw = &guard{RawFileSystem: raw, owner: mo.UID, othersRead: mo.OthersRead}
	}
	server, err := gofuse.NewServer(raw, dir, &opts.MountOptions)
	if err == nil {
		go server.Serve()
		if err = server.WaitMount(); err != nil {
			server.Unmount()
		}
	}
	if err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("mounting %s: %w", dir, err)
	}
	go root.invalidate()
	f.Log().WithField("mountpoint", dir).WithField("took", time.Since(start).Round(time.Millisecond)).Info("mounted")
	return server, w, nil
}
