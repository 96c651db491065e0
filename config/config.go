// Package config holds notebookfs's settings: defaults, the places on disk,
// and validation. It is plain data and imports nothing of ours; cmd maps it
// onto each package's own options.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Config is everything a mount needs to start.
type Config struct {
	Mountpoint  string
	StoreDir    string        // embedded store (SQLite); default DataDir()
	CacheDir    string        // local state: scratch files, staged copies; default CacheDirDefault()
	CacheSize   int64         // content cache bound in bytes
	Prefetch    int64         // bytes of small notebooks fetched after a listing; 0 = off
	MetadataTTL time.Duration // listings and stats
	// PollInterval refreshes recently used listings in the background
	// that often, so that remote changes reach files kept open; 0: off.
	PollInterval time.Duration
	CallTimeout  time.Duration // deadline of one remote call
	ReadOnly     bool
	LogLevel     string
	FuseDebug    bool
	User         string // namespace of the embedded store's implicit user
}

// Default values, chosen for a laptop: 256 MiB of notebooks in memory and
// a 10 s metadata TTL as in TileDB's Jupyter contents manager (4 s) and
// rclone (dir-cache-time 5 min) middle ground.
const (
	DefaultCacheSize   = 256 << 20
	DefaultPrefetch    = 64 << 20
	DefaultMetadataTTL = 10 * time.Second
	DefaultCallTimeout = 60 * time.Second
)

// Default returns a Config with the defaults filled in.
func Default() Config {
	return Config{
		StoreDir:    DataDir(),
		CacheDir:    CacheDirDefault(),
		CacheSize:   DefaultCacheSize,
		Prefetch:    DefaultPrefetch,
		MetadataTTL: DefaultMetadataTTL,
		CallTimeout: DefaultCallTimeout,
		LogLevel:    "info",
		User:        LocalUser(),
	}
}

// DataDir is $XDG_DATA_HOME/notebookfs, or ~/.local/share/notebookfs.
func DataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "notebookfs")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "notebookfs")
}

// CacheDirDefault is $XDG_CACHE_HOME/notebookfs, or ~/.cache/notebookfs.
func CacheDirDefault() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "notebookfs")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "notebookfs")
}

var notNamespace = regexp.MustCompile(`[^\w.\-]`)

// LocalUser is the local user name made a valid namespace: the embedded
// store's single user.
func LocalUser() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	name = notNamespace.ReplaceAllString(name, "_")
	if name == "" || name == "public" {
		name = "me"
	}
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// StateDir is the per-mount directory under CacheDir: mounts of different
// mountpoints keep their scratch files apart.
func (c Config) StateDir() string {
	abs, err := filepath.Abs(c.Mountpoint)
	if err != nil {
		abs = c.Mountpoint
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(c.CacheDir, "mounts", hex.EncodeToString(sum[:8]))
}

// FuseFD reports whether mountpoint is /dev/fd/N: FUSE connection N,
// opened and mounted already by a privileged helper (a container runtime)
// that passed it on, as libfuse and go-fuse accept it.
func FuseFD(mountpoint string) (int, bool) {
	rest, ok := strings.CutPrefix(mountpoint, "/dev/fd/")
	if !ok {
		return 0, false
	}
	fd, err := strconv.Atoi(rest)
	if err != nil || fd <= 0 || strconv.Itoa(fd) != rest {
		return 0, false
	}
	return fd, true
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.Mountpoint == "" {
		return errors.New("no mountpoint given")
	}
	if fd, ok := FuseFD(c.Mountpoint); ok {
		// An inherited FUSE connection: the descriptor must be open.
		if fi, err := os.Stat(c.Mountpoint); err != nil {
			return fmt.Errorf("mountpoint %s: descriptor %d is not open (the helper that mounted it must pass it on): %w", c.Mountpoint, fd, err)
		} else if fi.Mode()&os.ModeCharDevice == 0 {
			return fmt.Errorf("mountpoint %s: descriptor %d is not /dev/fuse", c.Mountpoint, fd)
		}
	} else if fi, err := os.Stat(c.Mountpoint); err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("mountpoint %s is not a directory", c.Mountpoint)
	}
	if c.Prefetch < 0 {
		return fmt.Errorf("prefetch %d: must be 0 (off) or more bytes", c.Prefetch)
	}
	if c.CacheSize < 0 {
		return fmt.Errorf("cache size %d: must be 0 (off) or more bytes", c.CacheSize)
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("poll interval %v: must not be negative", c.PollInterval)
	}
	if c.MetadataTTL <= 0 {
		return fmt.Errorf("metadata TTL %v: must be positive", c.MetadataTTL)
	}
	if c.CallTimeout <= 0 {
		return fmt.Errorf("call timeout %v: must be positive", c.CallTimeout)
	}
	if _, err := logrus.ParseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	if !regexp.MustCompile(`^[\w.\-]{1,63}$`).MatchString(c.User) {
		return fmt.Errorf("user %q is not a valid namespace", c.User)
	}
	return nil
}
