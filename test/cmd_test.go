//go:build linux

package test

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"notebookfs/config"
)

// buildBinary builds cmd/notebookfs once per test into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "notebookfs")
	out, err := exec.Command("go", "build", "-o", bin, "notebookfs/cmd/notebookfs").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func isMounted(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && fields[4] == dir {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startDaemon runs "notebookfs mount" on a fresh store and waits for the
// mount; the store and cache go where XDG says, as on a fresh machine.
func startDaemon(t *testing.T, bin string, home string, args ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	mnt := filepath.Join(home, "notebooks")
	os.MkdirAll(mnt, 0o755)
	cmd := exec.Command(bin, append([]string{"mount"}, append(args, mnt)...)...)
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
	return cmd, mnt, &logs
}

func waitExit(t *testing.T, cmd *exec.Cmd, logs *bytes.Buffer) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon exited with %v\n%s", err, logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not exit\n%s", logs)
	}
}

// The quick start: mount on the embedded store in the XDG data dir, save a
// notebook, SIGTERM unmounts cleanly, and a second mount finds it again;
// "notebookfs unmount" ends the daemon too.
func TestDaemonMountSignalUnmount(t *testing.T) {
	needFuse(t)
	bin := buildBinary(t)
	home := t.TempDir()

	cmd, mnt, logs := startDaemon(t, bin, home)
	nbPath := filepath.Join(mnt, "owned", config.LocalUser(), "hello.ipynb")
	mustWrite(t, nbPath, nb("hello"))
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, logs)
	if isMounted(mnt) {
		t.Fatalf("still mounted after SIGTERM\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(home, "data", "notebookfs", "store.db")); err != nil {
		t.Errorf("store not in $XDG_DATA_HOME/notebookfs: %v", err)
	}

	cmd, mnt, logs = startDaemon(t, bin, home, "--read-only")
	if b := mustRead(t, nbPath); !bytes.Equal(b, nb("hello")) {
		t.Errorf("after restart: %q", b)
	}
	err := os.WriteFile(nbPath, nb("no"), 0o644)
	wantErrno(t, "write on a read-only mount", err, syscall.EROFS)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "unmount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("notebookfs unmount: %v\n%s", err, out)
	}
	waitExit(t, cmd, logs)
}

// Bad command lines exit 2 with a message, never a panic.
func TestDaemonUsageErrors(t *testing.T) {
	bin := buildBinary(t)
	for _, args := range [][]string{{}, {"mount"}, {"mount", "a", "b"}, {"mount", "--cache-size", "lots", "/tmp"}, {"frobnicate"}} {
		cmd := exec.Command(bin, args...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err == nil || !errorsAs(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("notebookfs %v: %v, want exit 2\n%s", args, err, out)
		}
		if strings.Contains(string(out), "panic") {
			t.Errorf("notebookfs %v panicked:\n%s", args, out)
		}
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// freePort finds a free loopback port for a daemon to listen on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// --metrics-addr serves Prometheus metrics: remote calls by operation and
// outcome, latency, the content cache, prefetch and pending uploads.
func TestDaemonMetrics(t *testing.T) {
	needFuse(t)
	bin := buildBinary(t)
	home := t.TempDir()
	addr := freePort(t)
	cmd, mnt, logs := startDaemon(t, bin, home, "--metrics-addr", addr)
	p := filepath.Join(mnt, "owned", config.LocalUser(), "m.ipynb")
	mustWrite(t, p, nb("metrics"))
	// The upload follows the close in the background; fsync waits for it.
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync: %v", err)
	}
	f.Close()
	for i := 0; i < 3; i++ {
		mustRead(t, p)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v\n%s", err, logs)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`notebookfs_remote_requests_total{op="Create",status="ok"} 1`,
		`notebookfs_remote_request_seconds_count{op="Create"} 1`,
		`notebookfs_cache_bytes `,
		`notebookfs_cache_hits_total `,
		`notebookfs_cache_misses_total `,
		`notebookfs_cache_evictions_total 0`,
		`notebookfs_prefetch_bytes_total `,
		`notebookfs_pending_uploads 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, `op="Read"`) {
		t.Errorf("reading back our own save went to the remote:\n%s", text)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, logs)
}

// The release build of the README (one command) stamps the version;
// --version and the version verb print it with the Go version and the
// platform. The build is trimmed: no path of this machine, no symbols.
func TestCLIVersion(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(t.TempDir(), "notebookfs")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=1.2.3-test", "-o", rel, "./cmd/notebookfs")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("release build: %v\n%s", err, out)
	}
	want := "notebookfs 1.2.3-test " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	for _, args := range [][]string{{"--version"}, {"version"}, {"-v"}} {
		if out, err := exec.Command(rel, args...).Output(); err != nil || string(out) != want {
			t.Errorf("notebookfs %s: %q, %v; want %q", args[0], out, err, want)
		}
	}
	out, err := exec.Command(rel, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Version, Go, Platform string }
	if err := json.Unmarshal(out, &v); err != nil || v.Version != "1.2.3-test" || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version --json: %s (%v)", out, err)
	}
	b, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(root+"/")) {
		t.Errorf("the release binary holds the build path %s (no -trimpath?)", root)
	}
	f, err := elf.Open(rel)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Section(".symtab") != nil {
		t.Error("the release binary has a symbol table (no -s?)")
	}

	// A plain build says where it came from instead of a version.
	if out, err := exec.Command(buildBinary(t), "--version").Output(); err != nil || !strings.HasPrefix(string(out), "notebookfs dev") {
		t.Errorf("plain build --version: %q, %v", out, err)
	}
}

// waitKilled waits for a daemon sent SIGKILL. A process whose thread is
// stuck in a request on its own mount never dies (the kernel waits for an
// answer only that process can give): after a bound the test aborts the
// mount's FUSE connection, so the failure is reported instead of hanging
// the whole run.
func waitKilled(t *testing.T, cmd *exec.Cmd, mnt string) {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(30 * time.Second):
	}
	if dev := mountDevice(mnt); dev != "" {
		if _, minor, ok := strings.Cut(dev, ":"); ok {
			os.WriteFile("/sys/fs/fuse/connections/"+minor+"/abort", []byte("1"), 0o200)
		}
	}
	<-done
	t.Errorf("the daemon did not die within 30 s of SIGKILL: a thread of it was stuck in a request on its own mount")
}

// mountDevice is the major:minor of the file system mounted at dir.
func mountDevice(dir string) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return f[2]
		}
	}
	return ""
}
