package main

// Daily operation of mount: -o options as mount.fuse3 passes them, the
// SOURCE argument of an fstab line, and --daemon.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// daemonEnv marks the re-executed child of --daemon, which then runs in
// the foreground.
const daemonEnv = "NOTEBOOKFS_DAEMON_CHILD"

// daemonReadyTimeout bounds how long --daemon waits for the mount.
const daemonReadyTimeout = 60 * time.Second

// isMountSource reports whether s can be the SOURCE of an fstab line (the
// first field, which mount.fuse3 passes first): notebookfs, none, or a
// remote URL.
func isMountSource(s string) bool {
	return s == "notebookfs" || s == "none" || strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// optsFlag collects -o opt[,opt...] (repeatable).
type optsFlag []string

func (o *optsFlag) String() string { return strings.Join(*o, ",") }

func (o *optsFlag) Type() string { return "options" }

func (o *optsFlag) Set(v string) error {
	for _, opt := range strings.Split(v, ",") {
		if opt = strings.TrimSpace(opt); opt != "" {
			*o = append(*o, opt)
		}
	}
	return nil
}

// mountOptionFlags maps -o NAME[=VALUE] to a flag of mount; a value in
// the map is the flag's value for an option without one.
var mountOptionFlags = map[string]struct{ flag, value string }{
	"ro":                {"read-only", "true"},
	"rw":                {"read-only", "false"},
	"allow_other":       {"allow-other", "true"},
	"allow_others_read": {"allow-others-read", "true"},
	"cache_size":        {"cache-size", ""},
	"metadata_ttl":      {"metadata-ttl", ""},
	"poll_interval":     {"poll-interval", ""},
	"call_timeout":      {"call-timeout", ""},
	"cache_dir":         {"cache-dir", ""},
	"remote":            {"remote", ""},
	"store":             {"store", ""},
	"log_level":         {"log-level", ""},
	"log_format":        {"log-format", ""},
	"debug":             {"fuse-debug", "true"},
	"on_conflict":       {"on-conflict", ""},
	"disk_cache_size":   {"disk-cache-size", ""},
	"flush_timeout":     {"flush-timeout", ""},
}

// genericMountOptions are mount(8)'s own options, which a FUSE daemon
// receives and has nothing to do with: ignored without a warning.
var genericMountOptions = map[string]bool{
	"defaults": true, "auto": true, "noauto": true, "user": true, "users": true, "nouser": true, "owner": true,
	"nofail": true, "_netdev": true, "dev": true, "nodev": true, "suid": true, "nosuid": true, "exec": true,
	"noexec": true, "atime": true, "noatime": true, "relatime": true, "norelatime": true, "strictatime": true,
	"nodiratime": true, "diratime": true, "sync": true, "async": true, "lazytime": true, "silent": true, "loud": true,
	"daemon": true, "foreground": true,
}

// applyMountOptions sets the flags the -o options name. Unknown options
// are ignored with a warning on warn, so fstab lines with other options
// still mount. It reports whether -o daemon or -o foreground was given.
func applyMountOptions(set *pflag.FlagSet, opts []string, warn io.Writer) (daemon, foreground bool, err error) {
	for _, opt := range opts {
		name, value, hasValue := strings.Cut(opt, "=")
		switch {
		case name == "daemon":
			daemon = true
			continue
		case name == "foreground":
			foreground = true
			continue
		case genericMountOptions[name], strings.HasPrefix(name, "x-"), name == "comment":
			continue
		}
		m, ok := mountOptionFlags[name]
		if !ok {
			fmt.Fprintf(warn, "notebookfs: ignoring unknown mount option %q\n", opt)
			continue
		}
		if !hasValue {
			if m.value == "" {
				return false, false, usageError{fmt.Sprintf("-o %s needs a value (%s=...)", name, name)}
			}
			value = m.value
		}
		if err := set.Set(m.flag, value); err != nil {
			return false, false, usageError{fmt.Sprintf("-o %s: %v", opt, err)}
		}
	}
	return daemon, foreground, nil
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// daemonize re-executes this command detached (new session, stdin from
// /dev/null, stdout and stderr to logPath) and returns once mountpoint is
// mounted; if the child exits first, the error holds its log's tail.
func daemonize(mountpoint, logPath string) error {
	abs, err := filepath.Abs(mountpoint)
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	if isMountpoint(abs) {
		return fmt.Errorf("%s is already a mount point (notebookfs unmount %s first)", abs, abs)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("daemon log: %w", err)
	}
	defer logf.Close()
	start, _ := logf.Seek(0, io.SeekEnd)
	fmt.Fprintf(logf, "--- notebookfs mount %s, %s\n", abs, time.Now().Format(time.RFC3339))
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(daemonReadyTimeout)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the mount daemon exited (%v) before mounting %s; log %s:\n%s", err, abs, logPath, logTail(logPath, start, 20))
		case <-deadline:
			return fmt.Errorf("%s not mounted after %v (daemon pid %d still running); log %s:\n%s",
				abs, daemonReadyTimeout, cmd.Process.Pid, logPath, logTail(logPath, start, 20))
		case <-tick.C:
			if isMountpoint(abs) {
				fmt.Fprintf(os.Stderr, "notebookfs: mounted %s (daemon pid %d, log %s)\n", abs, cmd.Process.Pid, logPath)
				return nil
			}
		}
	}
}

// logTail is the last n lines of the log written from offset on.
func logTail(path string, offset int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b[offset:]), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
