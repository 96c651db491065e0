package fs

import (
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// MountOptions are the kernel-facing settings of a mount.
type MountOptions struct {
	FsName     string // first column of df and mount
	AllowOther bool
	Debug      bool // log every FUSE request (very chatty)
	// PanicHandler, when set, turns a panic in a handler into this call
	// (tests fail on it); go-fuse's default logs and answers EIO.
	PanicHandler func(any) fuse.Status
}

// Mount mounts root at dir and returns once the kernel serves it. The
// caller unmounts with Server.Unmount and waits with Server.Wait.
func Mount(dir string, root *Root, mo MountOptions) (*fuse.Server, io.Closer, error) {
	// go-fuse logs through the standard logger; route it into logrus at
	// debug level. Both Options.Logger and MountOptions.Logger need it.
	w := root.log.Logger.WriterLevel(logrus.DebugLevel)
	stdlog := log.New(w, "go-fuse: ", 0)
	neg := root.opts.NegativeTTL
	ttl := root.opts.MetadataTTL
	opts := &gofs.Options{
		EntryTimeout:    &ttl,
		AttrTimeout:     &ttl,
		NegativeTimeout: &neg,
		UID:             root.opts.UID,
		GID:             root.opts.GID,
		Logger:          stdlog,
		MountOptions: fuse.MountOptions{
			FsName:     mo.FsName,
			Name:       "notebookfs",
			AllowOther: mo.AllowOther,
			Debug:      mo.Debug,
			Logger:     stdlog,
			MaxWrite:   1 << 20,
			// open(O_TRUNC) arrives as one OPEN, not SETATTR + OPEN, so an
			// overwrite is one upload and never an empty version first.
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
			// go-fuse's loopback files (our scratch files) would use kernel
			// passthrough, and the kernel refuses a passthrough open (EIO)
			// of an inode that has a non-passthrough open: a notebook
			// renamed to a backup name while still open is exactly that.
			DisabledCapabilities: fuse.CAP_PASSTHROUGH,
		},
	}
	if mo.PanicHandler != nil {
		opts.MountOptions.PanicHandler = mo.PanicHandler
	}
	if root.opts.ReadOnly {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "ro")
	}
	start := time.Now()
	// Who I am decides what owned/ shows and where notebooks may be
	// created: asked before the mount appears, so that the first listing
	// neither waits for it nor pays a request for it. Slow or unreachable:
	// the mount goes on and the first access asks again (or waits).
	// Refused credentials: a mount where every access fails helps nobody.
	select {
	case err := <-root.askUser():
		if errors.Is(err, remote.ErrUnauthenticated) {
			w.Close()
			return nil, nil, fmt.Errorf("mounting %s: the remote refused the credentials; log in again (notebookfs login, or set TILEDB_REST_TOKEN; notebookfs doctor checks them): %w", dir, err)
		}
	case <-time.After(mountUserWait):
	}
	server, err := gofs.Mount(dir, root, opts)
	if err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("mounting %s: %w", dir, err)
	}
	root.log.WithField("mountpoint", dir).WithField("took", time.Since(start).Round(time.Millisecond)).Info("mounted")
	return server, w, nil
}
