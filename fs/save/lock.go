package save

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is a state directory held by another daemon.
var ErrLocked = errors.New("the state directory is in use by another notebookfs daemon")

// Lock is a state directory's lock, held for a daemon's life: two daemons
// on one journal would reuse its sequence numbers and upload each other's
// entries. The kernel drops it when the process dies, so a crash never
// leaves a stale lock.
type Lock struct{ f *os.File }

// LockState takes dir's lock, waiting up to wait for a daemon that holds
// it (one still uploading after an unmount); the error names its pid.
func LockState(dir string, wait time.Duration) (*Lock, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("state lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			pid := holder(path)
			f.Close()
			return nil, fmt.Errorf("%s (pid %s) waited %v: %w; unmount it first, or give this mount its own --cache-dir", dir, pid, wait, ErrLocked)
		}
		time.Sleep(delay)
	}
	// Who holds it, for the next one's message.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

func holder(path string) string {
	b, err := os.ReadFile(path)
	if pid := strings.TrimSpace(string(b)); err == nil && pid != "" {
		return pid
	}
	return "unknown"
}

// Release drops the lock.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
