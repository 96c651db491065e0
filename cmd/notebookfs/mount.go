package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"notebookfs/cache"
	"notebookfs/config"
	"notebookfs/fs"
)

// parseInterspersed lets flags come after the positional arguments too
// (notebookfs mount DIR --read-only), as users type them.
func parseInterspersed(set *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := set.Parse(args); err != nil {
			return nil, err
		}
		args = set.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func runMount(args []string) error {
	cfg := config.Default()
	set := flag.NewFlagSet("mount", flag.ContinueOnError)
	set.Usage = func() {
		fmt.Fprint(set.Output(), `Usage: notebookfs mount [flags] MOUNTPOINT

Mounts your notebooks at MOUNTPOINT and serves them until unmounted
(notebookfs unmount MOUNTPOINT, fusermount3 -u, or Ctrl-C). With TileDB
credentials (TILEDB_REST_TOKEN, or ~/.tiledb/cloud.json) it mounts TileDB
Cloud; without, the embedded local store.

Examples:
  mkdir -p ~/notebooks && notebookfs mount ~/notebooks
  TILEDB_REST_TOKEN=... notebookfs mount --remote http://127.0.0.1:8080 ~/notebooks

Flags:
`)
		set.PrintDefaults()
	}
	remoteURL := set.String("remote", "", "TileDB Cloud (or notebookfs serve) URL, e.g. https://api.tiledb.com; token from TILEDB_REST_TOKEN or ~/.tiledb/cloud.json")
	set.StringVar(&cfg.StoreDir, "store", cfg.StoreDir, "directory of the embedded notebook store (used when no TileDB credentials are configured)")
	set.StringVar(&cfg.CacheDir, "cache-dir", cfg.CacheDir, "directory for local state (scratch files, staged copies)")
	cacheSize := set.String("cache-size", fmt.Sprint(cfg.CacheSize), "content cache size in bytes (suffixes K, M, G); 0 turns it off")
	set.DurationVar(&cfg.MetadataTTL, "metadata-ttl", cfg.MetadataTTL, "how long listings and attributes are trusted")
	set.DurationVar(&cfg.CallTimeout, "call-timeout", cfg.CallTimeout, "deadline of one remote call")
	set.BoolVar(&cfg.ReadOnly, "read-only", false, "mount read-only")
	set.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: trace, debug, info, warn, error")
	set.BoolVar(&cfg.FuseDebug, "fuse-debug", false, "log every FUSE request (very verbose)")
	pos, err := parseInterspersed(set, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if len(pos) != 1 {
		set.Usage()
		return usageError{"want exactly one MOUNTPOINT"}
	}
	cfg.Mountpoint = pos[0]
	if cfg.CacheSize, err = config.ParseSize(*cacheSize); err != nil {
		return usageError{err.Error()}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	logger := logrus.New()
	logger.SetOutput(os.Stderr)
	level, _ := logrus.ParseLevel(cfg.LogLevel)
	logger.SetLevel(level)
	log := logrus.NewEntry(logger)

	be, err := openBackend(context.Background(), cfg, *remoteURL, log)
	if err != nil {
		return err
	}
	defer be.close()
	root, err := fs.NewRoot(fs.Options{
		Client:      be.client,
		Content:     cache.NewContent(cfg.CacheSize),
		Log:         log,
		StateDir:    cfg.StateDir(),
		MetadataTTL: cfg.MetadataTTL,
		CallTimeout: cfg.CallTimeout,
		ReadOnly:    cfg.ReadOnly,
		UID:         uint32(os.Getuid()),
		GID:         uint32(os.Getgid()),
	})
	if err != nil {
		return err
	}
	server, logw, err := fs.Mount(cfg.Mountpoint, root, fs.MountOptions{FsName: "notebookfs:" + be.name, Debug: cfg.FuseDebug})
	if err != nil {
		return err
	}
	defer logw.Close()
	log.Infof("serving %s; Ctrl-C or 'notebookfs unmount %s' to stop", cfg.Mountpoint, cfg.Mountpoint)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for sig := range sigs {
			log.WithField("signal", sig.String()).Info("unmounting")
			if err := server.Unmount(); err != nil {
				log.WithError(err).Error("unmount failed (files still open?); close them and signal again")
			}
		}
	}()
	server.Wait()
	signal.Stop(sigs)
	log.Info("unmounted")
	return nil
}

func runUnmount(args []string) error {
	set := flag.NewFlagSet("unmount", flag.ContinueOnError)
	set.Usage = func() {
		fmt.Fprint(set.Output(), "Usage: notebookfs unmount MOUNTPOINT\n\nUnmounts a notebookfs mount; the daemon then exits.\n")
	}
	pos, err := parseInterspersed(set, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if len(pos) != 1 {
		set.Usage()
		return usageError{"want exactly one MOUNTPOINT"}
	}
	return unmount(pos[0])
}

// unmount asks fusermount3 (or fusermount) to unmount, retrying briefly
// while the mount is busy.
func unmount(dir string) error {
	bin := "fusermount3"
	if _, err := exec.LookPath(bin); err != nil {
		bin = "fusermount"
	}
	var out []byte
	var err error
	for i := 0; i < 5; i++ {
		out, err = exec.Command(bin, "-u", dir).CombinedOutput()
		if err == nil {
			return nil
		}
		time.Sleep(time.Duration(i+1) * 100 * time.Millisecond)
	}
	return fmt.Errorf("%s -u %s: %v: %s", bin, dir, err, out)
}
