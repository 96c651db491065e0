//go:build linux

package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"notebookfs/config"
	"notebookfs/remote"
)

// statForced stats through the kernel's attribute cache: FUSE answers
// AT_STATX_FORCE_SYNC with a GETATTR of the daemon.
func statForced(t *testing.T, p string) (time.Time, int64) {
	t.Helper()
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_STATX_FORCE_SYNC, unix.STATX_MTIME|unix.STATX_SIZE, &st); err != nil {
		t.Fatalf("statx %s: %v", p, err)
	}
	return time.Unix(st.Mtime.Sec, int64(st.Mtime.Nsec)), int64(st.Size)
}

// The mtime a save shows never moves once its upload lands: editors
// (vim, Jupyter) compare it before they save and take a moved one for
// someone else's change.
func TestMtimeKeptAfterUpload(t *testing.T) { forBackends(t, testMtimeKeptAfterUpload) }

func testMtimeKeptAfterUpload(t *testing.T, o envOptions) {
	e := mount(t, o)
	p := e.ns("ed.ipynb")
	// A new notebook, then a save of the existing one.
	for i, content := range [][]byte{nb("first"), nb("second, a little longer")} {
		mustWrite(t, p, content)
		before, size := statForced(t, p)
		e.settle()
		after, size2 := statForced(t, p)
		if !after.Equal(before) || size2 != size {
			t.Errorf("save %d: mtime %s size %d after close, %s size %d once uploaded", i, before.Format(time.RFC3339Nano), size, after.Format(time.RFC3339Nano), size2)
		}
		if before.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("save %d: mtime %s is finer than the milliseconds a version keeps", i, before.Format(time.RFC3339Nano))
		}
	}
}

// vim checks the mtime before it writes: a save's upload landing while
// vim has the file open must not look like a change by someone else
// (vim -es answers "no" to "The file has been changed since reading it"
// and the save is silently dropped).
func TestVimSaveWhileUploadLands(t *testing.T) {
	needProgram(t, "vim")
	for _, backupcopy := range []string{"", "set backupcopy=no"} {
		t.Run(fmt.Sprintf("%q", backupcopy), func(t *testing.T) {
			// No kernel attribute cache: vim sees what the mount says.
			e := mount(t, envOptions{remote: true, ttl: time.Millisecond})
			p := e.ns("ed.ipynb")
			mustWrite(t, p, nb("Delayed"))
			e.settle()
			// Offline: the next save waits in the journal until we heal.
			e.faults.SetFailRate(1, errors.New("network is unreachable"), 1)
			mustWrite(t, p, nb("Delayed again"))
			flag := filepath.Join(t.TempDir(), "read")
			args := []string{"-u", "NONE", "-N", "-n", "-es"}
			if backupcopy != "" {
				args = append(args, "-c", backupcopy)
			}
			// vim reads the pending save, says so, waits while the upload
			// lands, then writes.
			args = append(args, "-c", "call writefile([], '"+flag+"')", "-c", "sleep 2", "-c", "%s/Delayed again/DELAYED1/", "-c", "wq", p)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "vim", args...)
			cmd.Dir = "/"
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "vim to read the file", func() bool { _, err := os.Stat(flag); return err == nil })
			e.faults.SetFailRate(0, nil, 0)
			e.settle()
			if err := cmd.Wait(); err != nil {
				t.Fatalf("vim: %v\n%s", err, out.String())
			}
			got := mustRead(t, p)
			if !bytes.Contains(got, []byte("DELAYED1")) {
				t.Fatalf("vim's save was dropped: the file holds %q\nvim said: %s", got, out.String())
			}
			if stored := e.storeBytes(e.notebook("ed").ID); !bytes.Equal(stored, got) {
				t.Fatalf("store holds %q, the mount %q", stored, got)
			}
		})
	}
}

// A shell redirect is one save: no empty version first, for a new
// notebook or an existing one; ": > x" alone still saves an empty one.
func TestRedirectIsOneVersion(t *testing.T) { forBackends(t, testRedirectIsOneVersion) }

func testRedirectIsOneVersion(t *testing.T, o envOptions) {
	needProgram(t, "bash")
	e := mount(t, o)
	p := e.ns("draft.ipynb")
	for i := 1; i <= 3; i++ {
		run(t, "bash", "-c", fmt.Sprintf("printf '%%s' '%s' > %s", nb(fmt.Sprintf("draft %d", i)), p))
		e.settle() // saves queued together coalesce: one upload each here
	}
	nbk := e.notebook("draft")
	vs := e.versions(nbk.ID)
	if len(vs) != 3 {
		t.Errorf("%d versions for 3 redirects: %+v", len(vs), vs)
	}
	for _, v := range vs {
		if v.Size == 0 {
			t.Errorf("an empty version: %+v", vs)
		}
	}
	if got := e.storeBytes(nbk.ID); !bytes.Equal(got, nb("draft 3")) {
		t.Errorf("latest %q", got)
	}
	run(t, "bash", "-c", ": > "+p)
	e.settle()
	if got := e.storeBytes(nbk.ID); len(got) != 0 {
		t.Errorf(": > x left %q", got)
	}
	if vs := e.versions(nbk.ID); len(vs) != 4 {
		t.Errorf("%d versions after : >, want 4", len(vs))
	}
}

// One daemon per state directory: after a lazy unmount with a file still
// open, the first daemon lives on; a second mount of the same path waits
// for its lock and then says who holds it, instead of sharing the journal.
func TestSecondDaemonOnOneStateDir(t *testing.T) {
	needFuse(t)
	bin := buildBinary(t)
	home := t.TempDir()
	first, mnt, logs := startDaemon(t, bin, home, "--flush-timeout", "100ms")
	dir := filepath.Join(mnt, "owned", localUser())
	mustWrite(t, filepath.Join(dir, "kept.ipynb"), nb("kept"))
	held, err := os.Open(filepath.Join(dir, "kept.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("fusermount3", "-u", "-z", mnt).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -uz: %v %s", err, out)
	}
	second := exec.Command(bin, "mount", "--flush-timeout", "100ms", mnt)
	second.Env = daemonEnvOf(home)
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("pid %d", first.Process.Pid)) {
		exec.Command("fusermount3", "-u", "-z", mnt).Run()
		t.Fatalf("a second daemon on the same state: %v\n%s", err, out)
	}
	held.Close()
	waitExit(t, first, logs)
}

// A save journaled for one backend is never uploaded to another mounted
// later on the same state: it is kept aside and shown, and the right
// backend gets it when it is mounted again.
func TestJournalStaysWithItsBackend(t *testing.T) {
	first := mount(t, envOptions{})
	first.faults.FailNext("Create", 1000, errors.New("network is unreachable"))
	mustWrite(t, first.ns("private.ipynb"), nb("meant for the first store only"))
	first.crash()

	other := mount(t, envOptions{stateDir: first.stateDir})
	other.settle()
	if nbs, err := other.store.As(user).List(context.Background(), remote.Owned, user); err != nil || len(nbs) != 0 {
		t.Fatalf("the other store got %+v (%v)", nbs, err)
	}
	if st := other.status(); len(st.Uploads.Aside) != 1 || st.Uploads.Aside[0].Path != "owned/"+user+"/private.ipynb" || st.Uploads.Pending != 0 {
		t.Errorf("status: %+v", st.Uploads)
	}
	if _, err := os.Stat(other.ns("private.ipynb")); err == nil {
		t.Error("the other backend's pending notebook is shown")
	}
	other.unmount()

	first.mountFS()
	first.settle()
	if got := first.storeBytes(first.notebook("private").ID); !bytes.Equal(got, nb("meant for the first store only")) {
		t.Errorf("first store holds %q", got)
	}
}

// The cache directory must be ours: one another user could write to would
// let them plant journal entries that we upload with our token.
func TestStateDirMustBePrivate(t *testing.T) {
	needFuse(t)
	bin := buildBinary(t)
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, cache string)
	}{
		{"group-writable", func(t *testing.T, cache string) {
			os.MkdirAll(cache, 0o700)
			os.Chmod(cache, 0o777)
		}},
		{"someone else's", func(t *testing.T, cache string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a directory away")
			}
			os.MkdirAll(cache, 0o700)
			os.Chown(cache, 65534, 65534)
		}},
		{"a symlink", func(t *testing.T, cache string) {
			target := t.TempDir()
			os.MkdirAll(filepath.Dir(cache), 0o700)
			os.Symlink(target, cache)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			cache := filepath.Join(home, "cache", "notebookfs")
			c.setup(t, cache)
			mnt := filepath.Join(home, "mnt")
			os.Mkdir(mnt, 0o755)
			cmd := exec.Command(bin, "mount", mnt)
			cmd.Env = daemonEnvOf(home)
			out, err := cmd.CombinedOutput()
			if isMounted(mnt) {
				exec.Command("fusermount3", "-u", "-z", mnt).Run()
			}
			if err == nil || !strings.Contains(string(out), cache) {
				t.Fatalf("mount with %s cache dir: %v\n%s", c.name, err, out)
			}
		})
	}
}

// An editor's backup holds the notebook's content durably before the
// record that hides the notebook behind it: fsync of the backup comes
// before the record is written (checked by tracing the daemon's calls).
func TestBackupDurableBeforeItsRecord(t *testing.T) {
	needFuse(t)
	needProgram(t, "strace")
	bin := buildBinary(t)
	home := t.TempDir()
	trace := filepath.Join(home, "trace")
	mnt := filepath.Join(home, "notebooks")
	os.MkdirAll(mnt, 0o755)
	cmd := exec.Command("strace", "-f", "-qq", "-y", "-o", trace, "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", bin, "mount", mnt)
	cmd.Env = daemonEnvOf(home)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
			exec.Command("fusermount3", "-u", "-z", mnt).Run()
		}
	})
	waitFor(t, "the mount", func() bool { return isMounted(mnt) })
	dir := filepath.Join(mnt, "owned", localUser())
	mustWrite(t, filepath.Join(dir, "x.ipynb"), nb("x"))
	// Its id is known once the create has landed; a notebook still being
	// created that is moved away is just cancelled, with no record.
	if _, err := unix.Getxattr(filepath.Join(dir, "x.ipynb"), "user.tiledb.id", make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "x.ipynb"), filepath.Join(dir, "x.ipynb~")); err != nil {
		t.Fatal(err)
	}
	// strace's own SIGTERM would only detach it: signal the daemon, its child.
	child, err := exec.Command("pgrep", "-P", strconv.Itoa(cmd.Process.Pid)).Output()
	if err != nil {
		t.Fatalf("the daemon under strace: %v", err)
	}
	pid, _ := strconv.Atoi(strings.Fields(string(child))[0])
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, &logs)
	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	backup, record := -1, -1
	for i, l := range lines {
		if strings.Contains(l, "rename") && strings.Contains(l, "x.ipynb~\"") && backup < 0 {
			backup = i
		}
		if strings.Contains(l, "rename") && strings.Contains(l, "moved.json\"") && record < 0 {
			record = i
		}
	}
	if backup < 0 || record < 0 || record < backup {
		t.Fatalf("backup renamed at line %d, record at %d:\n%s", backup, record, data)
	}
	// The temporary file renamed onto the backup was fsynced before the
	// rename (strace -y names each descriptor's path).
	m := regexp.MustCompile(`rename\w*\([^"]*"([^"]+)"`).FindStringSubmatch(lines[backup])
	if m == nil {
		t.Fatalf("no source path in %q", lines[backup])
	}
	synced := false
	for _, l := range lines[:backup] {
		if (strings.Contains(l, "fsync(") || strings.Contains(l, "fdatasync(")) && strings.Contains(l, "<"+m[1]+">") {
			synced = true
		}
	}
	if !synced {
		t.Fatalf("the backup's content %s was not fsynced before its rename:\n%s", m[1], strings.Join(lines[max(0, backup-10):record+1], "\n"))
	}
}

// Names that come from the remote are notebooks, whatever they look
// like: ".x" and "#x" are listed, and rm deletes them.
func TestRemoteNamesLikeScratch(t *testing.T) { forBackends(t, testRemoteNamesLikeScratch) }

func testRemoteNamesLikeScratch(t *testing.T, o envOptions) {
	e := mount(t, o)
	for _, name := range []string{".hidden", "#draft"} {
		e.put(name, nb(name))
	}
	for _, name := range []string{".hidden", "#draft"} {
		p := e.ns(name + ".ipynb")
		if got := mustRead(t, p); !bytes.Equal(got, nb(name)) {
			t.Errorf("%s reads %q", name, got)
		}
		if err := os.Remove(p); err != nil {
			t.Errorf("rm %s: %v", p, err)
		}
	}
	if nbs := e.notebooks(); len(nbs) != 0 {
		t.Errorf("left in the store: %+v", nbs)
	}
}

func localUser() string { return config.LocalUser() }

// daemonEnvOf is the environment startDaemon gives a daemon of home.
func daemonEnvOf(home string) []string {
	return append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
}
