//go:build linux

package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/local"
	"notebookfs/remote/server"
)

// As a container runtime (or a Kubernetes CSI driver) does it: a privileged
// helper opens /dev/fuse, mounts it itself, and hands the descriptor to an
// unprivileged notebookfs, which serves /dev/fd/3 with no fusermount and no
// capability. Tree, read and save through the real mountpoint; the helper's
// unmount ends the daemon after its uploads, and so does SIGTERM.
func TestMountInheritedFuseFD(t *testing.T) {
	needFuse(t)
	if os.Geteuid() != 0 {
		t.Skip("the privileged helper's mount(2) needs root")
	}
	store, err := local.Open(filepath.Join(t.TempDir(), "store"), testLog(t).WithField("component", "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if err := store.EnsureUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	alice := store.As(user)
	hello, err := alice.Create(ctx, user, "hello", bytes.NewReader(nb("hello")), int64(len(nb("hello"))), remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := serveStore(t, store, server.Options{})
	token, err := store.NewToken(ctx, user)
	if err != nil {
		t.Fatal(err)
	}

	// Everything the unprivileged daemon touches: the binary in a
	// directory others may enter, and a private HOME of its own.
	top, err := os.MkdirTemp("", "notebookfs-fd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	home := filepath.Join(top, "home")
	mnt := filepath.Join(top, "mnt")
	for _, d := range []string{home, mnt} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "notebookfs")
	copyFile(t, buildBinary(t), bin, 0o755)

	d := startFDDaemon(t, bin, mnt, home, url, token)
	if uid := procUID(t, d.cmd.Process.Pid); uid != fmt.Sprint(nobody) {
		t.Errorf("the daemon runs as uid %s, want %d", uid, nobody)
	}
	if got := strings.Join(readDir(t, mnt), " "); got != "owned public shared" {
		t.Errorf("root lists %q", got)
	}
	dir := filepath.Join(mnt, "owned", user)
	if got := strings.Join(readDir(t, dir), " "); got != "hello.ipynb" {
		t.Errorf("owned/%s lists %q", user, got)
	}
	if got := mustRead(t, filepath.Join(dir, "hello.ipynb")); !bytes.Equal(got, nb("hello")) {
		t.Errorf("read hello.ipynb: %q", got)
	}
	// A new notebook, uploaded before fsync returns; an overwrite, left
	// pending for the unmount.
	newPath := filepath.Join(dir, "new.ipynb")
	mustWrite(t, newPath, nb("new"))
	syncFile(t, newPath)
	if got := notebookBytes(t, alice, "new"); !bytes.Equal(got, nb("new")) {
		t.Errorf("new.ipynb in the store after fsync: %q", got)
	}
	mustWrite(t, filepath.Join(dir, "hello.ipynb"), nb("hello 2"))

	// The helper unmounts: the daemon uploads what is pending and exits.
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatalf("umount %s: %v", mnt, err)
	}
	d.wait(t)
	if got := notebookBytes(t, alice, "hello"); !bytes.Equal(got, nb("hello 2")) {
		t.Errorf("hello after the helper's unmount: %q\n%s", got, d.logs)
	}
	if _, err := os.Stat(filepath.Join(home, "cache", "notebookfs", "mounts")); err != nil {
		t.Errorf("no state in the daemon's own cache dir: %v", err)
	}

	// Mounted again; SIGTERM (docker stop) uploads the pending save and
	// exits, and the dead mount is the helper's to remove.
	d = startFDDaemon(t, bin, mnt, home, url, token)
	mustWrite(t, filepath.Join(dir, "hello.ipynb"), nb("hello 3"))
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	if got := notebookBytes(t, alice, "hello"); !bytes.Equal(got, nb("hello 3")) {
		t.Errorf("hello after SIGTERM: %q\n%s", got, d.logs)
	}
	if vs, err := alice.Versions(ctx, user, hello.ID); err != nil || len(vs) != 3 {
		t.Errorf("hello has %d versions (%v), want 3", len(vs), err)
	}
	if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
		t.Errorf("umount of the served-out mount: %v", err)
	}
}

// fdDaemon is a notebookfs serving an inherited FUSE descriptor.
type fdDaemon struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

// startFDDaemon opens /dev/fuse, mounts it at mnt as a privileged helper
// would, and starts notebookfs as nobody on /dev/fd/3; it returns once the
// daemon serves.
func startFDDaemon(t *testing.T, bin, mnt, home, url, token string) *fdDaemon {
	t.Helper()
	fd, err := syscall.Open("/dev/fuse", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	dev := os.NewFile(uintptr(fd), "/dev/fuse")
	defer dev.Close() // the daemon holds its own copy
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0", fd)
	if err := syscall.Mount("notebookfs", mnt, "fuse.notebookfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		t.Fatalf("mount -t fuse.notebookfs -o %s: %v", opts, err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	cmd := exec.Command(bin, "mount", "--remote", url, "--log-level", "info", "/dev/fd/3")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"XDG_DATA_HOME=" + filepath.Join(home, "data"), "TILEDB_REST_TOKEN=" + token}
	cmd.ExtraFiles = []*os.File{dev}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	d := &fdDaemon{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-d.done
		}
	})
	deadline := time.After(20 * time.Second)
	for !strings.Contains(d.logs.String(), "serving /dev/fd/3") {
		select {
		case err := <-d.done:
			t.Fatalf("notebookfs exited (%v) before serving:\n%s", err, d.logs)
		case <-deadline:
			t.Fatalf("notebookfs does not serve /dev/fd/3:\n%s", d.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return d
}

// wait waits for the daemon to exit 0.
func (d *fdDaemon) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("notebookfs exited with %v:\n%s", err, d.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("notebookfs did not exit:\n%s", d.logs)
	}
}

// syncBuffer is a bytes.Buffer a child process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// syncFile fsyncs a file (on a notebook: waits for its upload).
func syncFile(t *testing.T, p string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync %s: %v", p, err)
	}
}

// notebookBytes is the latest content of the user's notebook name.
func notebookBytes(t *testing.T, c remote.Client, name string) []byte {
	t.Helper()
	ctx := context.Background()
	nbs, err := c.List(ctx, remote.Owned, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nbs {
		if n.Name == name {
			r, err := c.Read(ctx, user, n.ID, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	return nil
}

// procUID is the real uid of a process.
func procUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}
