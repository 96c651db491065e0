package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"notebookfs/cache"
	"notebookfs/config"
	"notebookfs/fs"
	"notebookfs/fs/fuse"
)

func mountCommand() *cobra.Command {
	cfg := config.Default()
	var mountOpts optsFlag
	cmd := &cobra.Command{
		Use:   "mount [flags] [SOURCE] MOUNTPOINT [-o OPT[,OPT...]]",
		Short: "mount and serve until unmounted (Ctrl-C unmounts; --daemon returns once mounted)",
		Long: `Mounts your notebooks at MOUNTPOINT and serves them until unmounted
(notebookfs unmount MOUNTPOINT, fusermount3 -u, or Ctrl-C). With TileDB
credentials (TILEDB_REST_TOKEN, or ~/.tiledb/cloud.json) it mounts TileDB
Cloud; without, the embedded local store.

--daemon runs it in the background (log in the cache directory) and
returns once the mount is ready. -o takes mount.fuse3-style options: ro,
rw, allow_other, cache_size=, metadata_ttl=, call_timeout=, cache_dir=,
remote=, store=, log_level=, log_format=, debug; mount(8)'s generic options
are ignored, unknown ones ignored with a warning. SOURCE (the first field of
an fstab line: notebookfs, none, or the remote URL) implies --daemon, since
mount(8) waits for the helper to exit; "notebookfs SOURCE MOUNTPOINT -o ..."
(as mount.fuse3 runs it) works too.

MOUNTPOINT /dev/fd/N serves a FUSE connection that a privileged helper
opened and mounted already (its /dev/fuse descriptor, inherited as N), so
this process needs no privilege: the way of containers. The helper
unmounts it; SIGTERM uploads pending saves and exits.`,
		Example: `  mkdir -p ~/notebooks && notebookfs mount ~/notebooks
  TILEDB_REST_TOKEN=... notebookfs mount --remote http://127.0.0.1:8080 ~/notebooks
  notebookfs mount --daemon -o ro,cache_size=64M ~/notebooks
  # /etc/fstab: notebookfs  /home/me/notebooks  fuse.notebookfs  noauto,user,metadata_ttl=30s  0 0`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeDirs,
	}
	set := cmd.Flags()
	metricsAddr := set.String("metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464 (off by default)")
	remoteURL := set.String("remote", "", "TileDB Cloud (or notebookfs serve) URL, e.g. https://api.tiledb.com; token from TILEDB_REST_TOKEN or ~/.tiledb/cloud.json")
	set.StringVar(&cfg.StoreDir, "store", cfg.StoreDir, "directory of the embedded notebook store (used when no TileDB credentials are configured)")
	set.StringVar(&cfg.CacheDir, "cache-dir", cfg.CacheDir, "directory for local state (scratch files, staged copies)")
	cacheSize := set.String("cache-size", fmt.Sprint(cfg.CacheSize), "memory cache of notebook contents, in bytes (suffixes K, M, G); 0 turns it off")
	diskCacheSize := set.String("disk-cache-size", "2G", "disk cache for notebooks over 8 MiB (a quarter of --cache-size at most), in the cache directory; 0 keeps them in memory")
	prefetch := set.String("prefetch-bytes", fmt.Sprint(cfg.Prefetch), "after listing a namespace, fetch its small notebooks in the background up to this many bytes; 0 turns it off")
	set.DurationVar(&cfg.MetadataTTL, "metadata-ttl", cfg.MetadataTTL, "how long listings and attributes are trusted")
	set.DurationVar(&cfg.PollInterval, "poll-interval", 0, "refresh the listings of recently used namespaces this often in the background, so remote changes reach files kept open (0: off)")
	set.DurationVar(&cfg.CallTimeout, "call-timeout", cfg.CallTimeout, "deadline of one remote call")
	set.BoolVar(&cfg.ReadOnly, "read-only", false, "mount read-only")
	set.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: trace, debug, info, warn, error")
	set.BoolVar(&cfg.FuseDebug, "fuse-debug", false, "log every FUSE request (very verbose)")
	logFormat := set.String("log-format", "text", "log format: text or json")
	allowOther := set.Bool("allow-other", false, "let other users reach the mount (needs user_allow_other in /etc/fuse.conf unless root); they get nothing unless --allow-others-read")
	othersRead := set.Bool("allow-others-read", false, "with --allow-other (implied), let other users read notebooks (never write, delete or share)")
	daemon := set.Bool("daemon", false, "run in the background, logging to a file in the cache directory; return once mounted")
	onConflict := set.String("on-conflict", "copy", "when someone else saved a notebook since your copy was read: copy (keep yours as name.conflict-USER-TIME.ipynb) or overwrite")
	flushTimeout := set.Duration("flush-timeout", 30*time.Second, "on unmount or SIGTERM, how long pending uploads may take before they are left in the journal for the next mount")
	set.VarP(&mountOpts, "options", "o", "mount options `OPT[,OPT...]` (see above; repeatable)")
	completeCommon(cmd)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		optDaemon, optForeground, err := applyMountOptions(set, mountOpts, os.Stderr)
		if err != nil {
			return err
		}
		switch {
		case len(pos) == 2 && isMountSource(pos[0]):
			// An fstab line's SOURCE: notebookfs, none, or the remote URL.
			if strings.Contains(pos[0], "://") && *remoteURL == "" {
				*remoteURL = pos[0]
			}
			if !optForeground {
				*daemon = true
			}
			pos = pos[1:]
		case len(pos) == 2:
			return usageError{fmt.Sprintf("SOURCE %q: want notebookfs, none or the remote URL (or give only MOUNTPOINT)", pos[0])}
		case len(pos) != 1:
			return usageError{"want exactly one MOUNTPOINT"}
		}
		if optDaemon {
			*daemon = true
		}
		cfg.Mountpoint = pos[0]
		if cfg.CacheSize, err = config.ParseSize(*cacheSize); err != nil {
			return usageError{err.Error()}
		}
		if cfg.Prefetch, err = config.ParseSize(*prefetch); err != nil {
			return usageError{err.Error()}
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		if *onConflict != "copy" && *onConflict != "overwrite" {
			return usageError{fmt.Sprintf("--on-conflict %q: want copy or overwrite", *onConflict)}
		}

		log, err := newLogger(cfg.LogLevel, *logFormat, os.Stderr)
		if err != nil {
			return err
		}
		_, inherited := config.FuseFD(cfg.Mountpoint)
		if inherited && *daemon {
			return usageError{cfg.Mountpoint + ": an inherited FUSE connection is served in the foreground (no --daemon, no SOURCE)"}
		}
		if *daemon && os.Getenv(daemonEnv) == "" {
			return daemonize(cfg.Mountpoint, filepath.Join(cfg.StateDir(), "notebookfs.log"))
		}

		be, err := openBackend(context.Background(), cfg, *remoteURL, log)
		if err != nil {
			return err
		}
		defer be.close()
		client := be.client
		var metrics *mountMetrics
		if *metricsAddr != "" {
			if metrics, client, err = newMountMetrics(client); err != nil {
				return err
			}
		}
		content := cache.NewContent(cfg.CacheSize)
		diskBytes, err := config.ParseSize(*diskCacheSize)
		if err != nil {
			return usageError{err.Error()}
		}
		var disk *cache.Disk
		if diskBytes > 0 {
			if disk, err = cache.NewDisk(filepath.Join(cfg.StateDir(), "diskcache"), diskBytes); err != nil {
				return err
			}
		}
		root, err := fs.New(fs.Options{
			Client:      client,
			Content:     content,
			DiskCache:   disk,
			Log:         log,
			StateDir:    cfg.StateDir(),
			PrivateFrom: cfg.CacheDir,
			Backend:     be.identity,
			// A daemon still uploading after its unmount holds the state
			// for at most its flush timeout.
			StateLockWait:       *flushTimeout + 5*time.Second,
			MetadataTTL:         cfg.MetadataTTL,
			PollInterval:        cfg.PollInterval,
			CallTimeout:         cfg.CallTimeout,
			ReadOnly:            cfg.ReadOnly,
			OnConflictOverwrite: *onConflict == "overwrite",
			// Prefetch fills the content cache: never more than half of it.
			PrefetchBytes: min(cfg.Prefetch, cfg.CacheSize/2),
		})
		if err != nil {
			return err
		}
		// Signals are caught from before the mount appears: a SIGTERM right
		// after it must unmount cleanly, not kill the daemon.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sigs)
		server, logw, err := fuse.Mount(cfg.Mountpoint, root, fuse.MountOptions{FsName: "notebookfs:" + be.name, Debug: cfg.FuseDebug,
			AllowOther: *allowOther || *othersRead, OthersRead: *othersRead, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())})
		if err != nil {
			root.Close()
			return err
		}
		defer logw.Close()
		if metrics != nil {
			if err := metrics.start(*metricsAddr, content, root, log); err != nil {
				server.Unmount()
				return err
			}
			defer metrics.stop()
		}
		if inherited {
			log.Infof("serving %s; the helper that mounted it unmounts it, SIGTERM stops serving", cfg.Mountpoint)
		} else {
			log.Infof("serving %s; Ctrl-C or 'notebookfs unmount %s' to stop", cfg.Mountpoint, cfg.Mountpoint)
		}

		// stopped is closed when a signal ends a mount this process cannot
		// unmount (an inherited connection: only the helper knows where it
		// is mounted). Exiting closes the connection.
		stopped := make(chan struct{})
		go func() {
			for sig := range sigs {
				// Pending uploads first, while the files can still be read.
				flushPending(root, *flushTimeout, log.WithField("signal", sig.String()))
				if inherited {
					log.WithField("signal", sig.String()).Info("stopping; the mount stays until its helper unmounts it")
					close(stopped)
					return
				}
				log.WithField("signal", sig.String()).Info("unmounting")
				if err := server.Unmount(); err != nil {
					log.WithError(err).Error("unmount failed (files still open?); close them and signal again")
				}
			}
		}()
		unmounted := make(chan struct{})
		go func() {
			server.Wait()
			close(unmounted)
		}()
		select {
		case <-unmounted:
			// Unmounted by fusermount -u or umount: the uploads still get
			// their bounded wait.
			flushPending(root, *flushTimeout, log)
		case <-stopped:
		}
		root.Close()
		signal.Stop(sigs)
		log.Info("unmounted")
		return nil
	}
	return cmd
}

// flushPending waits up to timeout for the journal's uploads; what is left
// stays in the journal and is uploaded at the next mount.
func flushPending(root *fs.FS, timeout time.Duration, log *logrus.Entry) {
	st := root.Status().Uploads
	if st.Pending == 0 {
		return
	}
	log.WithField("pending", st.Pending).WithField("bytes", st.PendingBytes).WithField("timeout", timeout).Info("uploading pending saves before stopping")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := root.Drain(ctx); err != nil {
		st = root.Status().Uploads
		log.WithField("pending", st.Pending).WithField("bytes", st.PendingBytes).
			Warn("pending saves did not upload in time; they stay in the journal and are uploaded at the next mount")
	}
}

func unmountCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "unmount MOUNTPOINT",
		Aliases: []string{"umount"},
		Short:   "unmount a running mount",
		Long:    "Unmounts a notebookfs mount; its daemon then uploads what is pending and exits.",
		Example: "  notebookfs unmount ~/notebooks",
		Args: func(_ *cobra.Command, pos []string) error {
			if len(pos) != 1 {
				return usageError{"want exactly one MOUNTPOINT"}
			}
			return nil
		},
		ValidArgsFunction: completeDirs,
		RunE:              func(_ *cobra.Command, pos []string) error { return unmount(pos[0]) },
	}
}
