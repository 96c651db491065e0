//go:build linux

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/local"
	"notebookfs/remote/server"
)

// saveLog is what a writer knows of one notebook: the last save whose
// close returned 0, and every save tried after it (a save whose close
// failed may still have been journaled just before the crash).
type saveLog struct {
	acked []byte
	later [][]byte
}

// allowed reports whether content is a state the notebook may be in: the
// last acknowledged save or one tried after it, never anything older.
func (l *saveLog) allowed(content []byte) bool {
	if bytes.Equal(content, l.acked) {
		return true
	}
	for _, c := range l.later {
		if bytes.Equal(content, c) {
			return true
		}
	}
	return false
}

// daemonBackend is a store with the test user, served over HTTP for daemons
// started by the test, whose token goes to them in TILEDB_REST_TOKEN.
func daemonBackend(t *testing.T, o server.Options) (*local.Store, string) {
	t.Helper()
	ctx := context.Background()
	store, err := local.Open(filepath.Join(t.TempDir(), "store"), testLog(t).WithField("component", "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.EnsureUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	url := serveStore(t, store, o)
	token, err := store.NewToken(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TILEDB_REST_TOKEN", token)
	return store, url
}

// history lists a notebook's newest versions, one line each: time, size
// and the save the content is (what a failure needs to be understood).
func history(t *testing.T, c remote.Client, id string, newest int) string {
	t.Helper()
	ctx := context.Background()
	vs, err := c.Versions(ctx, user, id)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, v := range vs[max(0, len(vs)-newest):] {
		label := "?"
		if r, err := c.Read(ctx, user, id, v.Time); err == nil {
			var buf bytes.Buffer
			buf.ReadFrom(r)
			r.Close()
			label = saveLabel(buf.Bytes())
		}
		fmt.Fprintf(&b, "  %s %7d %s\n", v.Time.UTC().Format("15:04:05.000"), v.Size, label)
	}
	return b.String()
}

// saveLabel is the "cXY burst B save S" text a save's content carries.
func saveLabel(content []byte) string {
	s := string(content)
	if i := strings.Index(s, `"source":["`); i >= 0 {
		s = s[i+len(`"source":["`):]
		if j := strings.IndexByte(s, '"'); j >= 0 {
			return s[:j]
		}
	}
	return fmt.Sprintf("%d bytes", len(content))
}

// The crash test: the daemon is killed with SIGKILL at a
// random point of each of 50 bursts of saves, and mounted again; at the
// end no save whose close returned 0 is lost: every notebook holds its
// last acknowledged save (or a later one whose close the kill cut off),
// and no conflict copy appeared.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	needFuse(t)
	bin := buildBinary(t)
	home := t.TempDir()
	ctx := context.Background()
	// Some latency, so that kills land in the middle of uploads too.
	store, url := daemonBackend(t, server.Options{Latency: 5 * time.Millisecond})

	const writers, perWriter, bursts = 2, 2, 50
	logs := map[string]*saveLog{}
	ids := map[string]string{}
	for w := 0; w < writers; w++ {
		for i := 0; i < perWriter; i++ {
			name := fmt.Sprintf("c%d%d", w, i)
			data := nb(name + " initial")
			created, err := store.As(user).Create(ctx, user, name, bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ids[name], logs[name] = created.ID, &saveLog{acked: data}
		}
	}
	rng := rand.New(rand.NewPCG(42, 9))
	acked, tried := 0, 0
	for b := 0; b < bursts; b++ {
		cmd, mnt, dlogs := startDaemon(t, bin, home, "--remote", url, "--log-level", "warn")
		dir := filepath.Join(mnt, "owned", user)
		// Not in the first instants of the mount: go-fuse's mount ends by
		// opening a file on the mount itself (its poll probe), and a
		// daemon killed right then hangs in exit, flushing that file to
		// itself. That window is go-fuse's, not a save's.
		time.Sleep(50 * time.Millisecond)
		killAfter := time.Duration(rng.IntN(150)) * time.Millisecond
		var mu sync.Mutex
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var killed atomic.Bool
		for w := 0; w < writers; w++ {
			wg.Add(1)
			seed := rng.Uint64()
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, uint64(w)))
				for s := 0; ; s++ {
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("c%d%d", w, r.IntN(perWriter))
					data := bytes.Repeat(nb(fmt.Sprintf("%s burst %d save %d", name, b, s)), 1+r.IntN(30))
					mu.Lock()
					logs[name].later = append(logs[name].later, data)
					tried++
					mu.Unlock()
					if err := os.WriteFile(filepath.Join(dir, name+".ipynb"), data, 0o644); err != nil {
						// A request in flight when the daemon dies may end in
						// EIO too; before the kill, nothing may fail.
						if !killed.Load() {
							t.Errorf("burst %d: save of %s failed before the kill: %v", b, name, err)
						}
						return
					}
					mu.Lock()
					logs[name].acked, logs[name].later = data, nil
					acked++
					mu.Unlock()
				}
			}()
		}
		time.Sleep(killAfter)
		killed.Store(true)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		waitKilled(t, cmd, mnt)
		close(stop)
		wg.Wait()
		if out, err := exec.Command("fusermount3", "-u", "-z", mnt).CombinedOutput(); err != nil {
			t.Fatalf("burst %d: fusermount3 -u -z: %v %s\n%s", b, err, out, dlogs)
		}
		waitFor(t, "the unmount", func() bool { return !isMounted(mnt) })
		// Kept for a failure's report: a conflict, or a save the remote
		// refused (nothing here should be refused; a refused save that a
		// newer one replaced loses nothing, the checks below decide).
		if l := dlogs.String(); strings.Contains(l, "conflict") || strings.Contains(l, "the remote refused") {
			t.Logf("burst %d daemon log:\n%s", b, l)
		}
		if t.Failed() {
			t.Fatalf("daemon log:\n%s", dlogs)
		}
	}

	// A last mount uploads what the kills left, and SIGTERM flushes it.
	cmd, _, dlogs := startDaemon(t, bin, home, "--remote", url, "--log-level", "info")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, dlogs)
	nbs, err := store.As(user).List(ctx, remote.Owned, user)
	if err != nil {
		t.Fatal(err)
	}
	if len(nbs) != len(ids) {
		var names []string
		for _, n := range nbs {
			names = append(names, n.Name)
		}
		t.Errorf("store holds %v, want only the %d notebooks (a conflict copy or duplicate appeared)", names, len(ids))
	}
	lost := 0
	for name, id := range ids {
		c, err := store.As(user).Read(ctx, user, id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		got.ReadFrom(c)
		c.Close()
		if !logs[name].allowed(got.Bytes()) {
			lost++
			t.Errorf("%s: holds %q, not its last acknowledged save %q nor a later one", name, saveLabel(got.Bytes()), saveLabel(logs[name].acked))
		}
	}
	if t.Failed() {
		for name, id := range ids {
			t.Logf("%s history (newest last):\n%s", name, history(t, store.As(user), id, 12))
		}
		t.Logf("last mount's log:\n%s", dlogs)
	}
	if strings.Contains(dlogs.String(), "corrupt") {
		t.Errorf("the journal reported corrupt entries:\n%s", dlogs)
	}
	t.Logf("crash test: %d bursts killed with SIGKILL, %d saves tried, %d acknowledged, %d lost", bursts, tried, acked, lost)
}

// SIGTERM uploads pending saves before the daemon exits; when the remote
// stays unreachable, it waits --flush-timeout and leaves them in the
// journal, and the next mount uploads them.
func TestDaemonSigtermFlushesPending(t *testing.T) {
	needFuse(t)
	bin := buildBinary(t)
	home := t.TempDir()
	ctx := context.Background()
	store, slow := daemonBackend(t, server.Options{Latency: 200 * time.Millisecond})
	// A switchable way to the server: down answers 503 to everything.
	target, _ := neturl.Parse(slow)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var isDown atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isDown.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	stored := func(name string) []byte {
		nbs, err := store.As(user).List(ctx, remote.Owned, user)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nbs {
			if n.Name == name {
				c, err := store.As(user).Read(ctx, user, n.ID, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				var b bytes.Buffer
				b.ReadFrom(c)
				return b.Bytes()
			}
		}
		return nil
	}

	// Slow remote: the saves are still uploading when SIGTERM comes.
	cmd, mnt, dlogs := startDaemon(t, bin, home, "--remote", slow)
	dir := filepath.Join(mnt, "owned", user)
	for i := 0; i < 3; i++ {
		mustWrite(t, filepath.Join(dir, fmt.Sprintf("s%d.ipynb", i)), nb(fmt.Sprintf("slow %d", i)))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, dlogs)
	for i := 0; i < 3; i++ {
		if got := stored(fmt.Sprintf("s%d", i)); !bytes.Equal(got, nb(fmt.Sprintf("slow %d", i))) {
			t.Errorf("s%d after SIGTERM: %q\n%s", i, got, dlogs)
		}
	}

	// Unreachable remote: a bounded wait, then the journal keeps them.
	cmd, mnt, dlogs = startDaemon(t, bin, home, "--remote", front.URL, "--flush-timeout", "500ms")
	readDir(t, filepath.Join(mnt, "owned", user))
	isDown.Store(true)
	mustWrite(t, filepath.Join(mnt, "owned", user, "s0.ipynb"), nb("offline"))
	// notebookfs status tells what is pending and why.
	waitFor(t, "a failed upload in the status", func() bool {
		out, _ := exec.Command(bin, "status", "--json", mnt).Output()
		return strings.Contains(string(out), `"last_errors"`)
	})
	out, err := exec.Command(bin, "status", "--json", mnt).Output()
	if err != nil {
		t.Fatalf("status --json: %v", err)
	}
	var st struct {
		Uploads struct {
			Pending      int `json:"pending"`
			PendingFiles []struct {
				Path string `json:"path"`
			} `json:"pending_files"`
		} `json:"uploads"`
	}
	if err := json.Unmarshal(out, &st); err != nil || st.Uploads.Pending != 1 || st.Uploads.PendingFiles[0].Path != "owned/"+user+"/s0.ipynb" {
		t.Errorf("status --json while down: %v %s", err, out)
	}
	text, err := exec.Command(bin, "status", mnt).CombinedOutput()
	if err != nil || !strings.Contains(string(text), "uploads: 1 pending") || !strings.Contains(string(text), "pending  owned/"+user+"/s0.ipynb") {
		t.Errorf("status while down: %v\n%s", err, text)
	}
	if out, err := exec.Command(bin, "status", home).CombinedOutput(); err == nil || !strings.Contains(string(out), "not a notebookfs mount") {
		t.Errorf("status of a plain folder: %v %s", err, out)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, dlogs)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("SIGTERM with the remote down took %v", took)
	}
	if !strings.Contains(dlogs.String(), "stay in the journal") {
		t.Errorf("no word of the pending save in the log:\n%s", dlogs)
	}
	if got := stored("s0"); !bytes.Equal(got, nb("slow 0")) {
		t.Errorf("s0 changed while the remote was down: %q", got)
	}
	// The same backend again (pending saves never go to another one).
	isDown.Store(false)
	cmd, _, dlogs = startDaemon(t, bin, home, "--remote", front.URL)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, dlogs)
	if got := stored("s0"); !bytes.Equal(got, nb("offline")) {
		t.Errorf("the journaled save was not uploaded by the next mount: %q\n%s", got, dlogs)
	}
}
