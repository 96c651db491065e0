//go:build linux

package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// browser is test/js/jupyter_browser.js: Debian's Chromium driven by
// puppeteer-core, one JSON command and answer per line.
type browser struct {
	t       *testing.T
	stdin   io.WriteCloser
	answers chan []byte
	stderr  *bytes.Buffer
	cmd     *exec.Cmd
}

// browserAnswer is every field a command may answer with.
type browserAnswer struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Title   string `json:"title"`
	Cells   int    `json:"cells"`
	Dirty   bool   `json:"dirty"`
	Source  string `json:"source"`
	Saved   bool   `json:"saved"`
	Failed  string `json:"failed"`
	Timeout bool   `json:"timeout"`
	Dialog  *struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	} `json:"dialog"`
}

// needBrowser finds node, Chromium and test/js's puppeteer-core: missing,
// the test is skipped locally and fails under CI (which installs them).
func needBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	node = needProgram(t, "node")
	chromium = needProgram(t, "chromium")
	if _, err := os.Stat("js/node_modules/puppeteer-core"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("test/js/node_modules/puppeteer-core missing: %v", err)
		}
		t.Skipf("test/js/node_modules/puppeteer-core missing (cd test/js && npm ci): %v", err)
	}
	return node, chromium
}

// startBrowser runs the browser script, closed when the test ends (before
// the Jupyter server and the mount, registered earlier, stop).
func startBrowser(t *testing.T) *browser {
	t.Helper()
	node, chromium := needBrowser(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "jupyter_browser.js")
	cmd.Dir = "js"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "USER_DATA_DIR="+t.TempDir(), "PUPPETEER_SKIP_DOWNLOAD=1")
	b := &browser{t: t, answers: make(chan []byte, 1), stderr: &bytes.Buffer{}, cmd: cmd}
	cmd.Stderr = &lockedWriter{w: b.stderr}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			b.answers <- append([]byte(nil), sc.Bytes()...)
		}
		close(b.answers)
	}()
	t.Cleanup(func() {
		stdin.Close() // the script closes the browser at the end of its input
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	return b
}

// do sends one command and waits for its answer; a failed command fails
// the test with the browser's log.
func (b *browser) do(cmd map[string]any) browserAnswer {
	b.t.Helper()
	line, err := json.Marshal(cmd)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.stdin.Write(append(line, '\n')); err != nil {
		b.t.Fatalf("browser %s: %v\n%s", cmd["cmd"], err, b.log())
	}
	var ans browserAnswer
	select {
	case raw, ok := <-b.answers:
		if !ok {
			b.t.Fatalf("browser %s: the script exited\n%s", cmd["cmd"], b.log())
		}
		if err := json.Unmarshal(raw, &ans); err != nil {
			b.t.Fatalf("browser %s: %v: %s", cmd["cmd"], err, raw)
		}
	case <-time.After(time.Minute):
		b.t.Fatalf("browser %s: no answer in a minute\n%s", cmd["cmd"], b.log())
	}
	if !ans.OK {
		b.t.Fatalf("browser %s: %s\n%s", cmd["cmd"], ans.Error, b.log())
	}
	return ans
}

func (b *browser) log() string {
	w := b.cmd.Stderr.(*lockedWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return b.stderr.String()
}

// Jupyter Notebook in a real browser on a mount over notebookfs serve:
// three Ctrl-S make three new versions of the same notebook with no
// dialog; after another client saves a new version, the next Ctrl-S
// shows Jupyter's own "Notebook changed" dialog instead of overwriting
// it, because the mount shows the other client's version (its mtime)
// once the metadata TTL has passed.
func TestJupyterBrowser(t *testing.T) {
	needProgram(t, "jupyter-notebook")
	needBrowser(t)
	const ttl = time.Second
	e := mount(t, envOptions{remote: true, ttl: ttl, setup: withUsers})
	first := []byte(`{"cells":[{"cell_type":"code","execution_count":null,"id":"c0","metadata":{},"outputs":[],"source":["print(\"hello\")"]}],` +
		`"metadata":{"kernelspec":{"display_name":"Python 3","language":"python","name":"python3"}},"nbformat":4,"nbformat_minor":5}` + "\n")
	mustWrite(t, e.ns("x.ipynb"), first)
	id := e.notebook("x").ID
	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read,write", e.ns("x.ipynb"))

	// Kernels start in a directory off the mount.
	j := startJupyter(t, e.ns(), "--MappingKernelManager.root_dir="+t.TempDir())
	b := startBrowser(t)
	opened := b.do(map[string]any{"cmd": "open", "url": j.base + "/notebooks/x.ipynb?token=" + j.token})
	if opened.Cells != 1 {
		t.Fatalf("Jupyter shows %d cells, want 1 (%+v)", opened.Cells, opened)
	}

	for i := 1; i <= 3; i++ {
		text := fmt.Sprintf(" # edit %d", i)
		if typed := b.do(map[string]any{"cmd": "type", "text": text}); !typed.Dirty || !strings.HasSuffix(typed.Source, text) {
			t.Fatalf("save %d: after typing the cell holds %q (dirty %v)", i, typed.Source, typed.Dirty)
		}
		saved := b.do(map[string]any{"cmd": "save", "timeout_ms": 20000})
		if !saved.Saved {
			shot := filepath.Join(t.TempDir(), fmt.Sprintf("save-%d.png", i))
			b.do(map[string]any{"cmd": "screenshot", "path": shot})
			t.Fatalf("Ctrl-S %d: %+v (dialog %+v; screenshot %s)\n%s\n%s", i, saved, saved.Dialog, shot, b.log(), j.log())
		}
		if got := e.notebook("x"); got.ID != id {
			t.Fatalf("save %d: the notebook's id changed %s -> %s", i, id, got.ID)
		}
		if vs := e.versions(id); len(vs) != i+1 {
			t.Fatalf("save %d: %d versions, want %d", i, len(vs), i+1)
		}
		if stored := e.storeBytes(id); !bytes.Contains(stored, []byte(strings.TrimSpace(text))) {
			t.Fatalf("save %d: the store holds %s", i, stored)
		}
	}
	if n := len(e.notebooks()); n != 1 {
		t.Fatalf("the store holds %d notebooks after three saves: %v", n, e.notebooks())
	}

	// Jupyter complains only when the file is more than 0.5 s newer than
	// its last save: bob saves after that much time has passed.
	vs := e.versions(id)
	time.Sleep(time.Until(vs[len(vs)-1].Time.Add(700 * time.Millisecond)))
	theirs := []byte(`{"cells":[{"cell_type":"markdown","id":"bob","metadata":{},"source":["bob's version"]}],"metadata":{},"nbformat":4,"nbformat_minor":5}` + "\n")
	bob := cloudClient(t, e.store, e.url, "bob", "")
	if _, err := bob.Write(context.Background(), user, id, bytes.NewReader(theirs), int64(len(theirs))); err != nil {
		t.Fatalf("bob's save: %v", err)
	}
	// The mount may show the old version for up to the TTL: wait it out,
	// without touching the mount meanwhile.
	time.Sleep(ttl + 500*time.Millisecond)

	b.do(map[string]any{"cmd": "type", "text": " # edit 4"})
	ans := b.do(map[string]any{"cmd": "save", "timeout_ms": 10000})
	shot := filepath.Join(t.TempDir(), "notebook-changed.png")
	b.do(map[string]any{"cmd": "screenshot", "path": shot})
	if ans.Dialog == nil {
		e.settle()
		st, _ := json.Marshal(e.status().Uploads)
		t.Fatalf("Ctrl-S after bob's save answered %+v, not Jupyter's \"Notebook changed\" dialog (screenshot %s): "+
			"the store's latest version holds %q; the mount's uploads: %s", ans, shot, e.storeBytes(id), st)
	}
	t.Logf("dialog: %q: %q (screenshot %s)", ans.Dialog.Title, ans.Dialog.Body, shot)
	if ans.Dialog.Title != "Notebook changed" || !strings.Contains(ans.Dialog.Body, "The notebook file has changed on disk since the last time we opened or saved it") {
		t.Errorf("dialog %q: %q, want Jupyter's \"Notebook changed\"", ans.Dialog.Title, ans.Dialog.Body)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
	// The dialog waits for an answer: nothing was saved over bob's version.
	if got := e.storeBytes(id); !bytes.Equal(got, theirs) {
		t.Errorf("the store's latest version is %q, want bob's", got)
	}
	if vs := e.versions(id); len(vs) != 5 {
		t.Errorf("%d versions, want 5 (the first, three saves, bob's)", len(vs))
	}
}

// lockedWriter lets the test read what a process writes while it runs.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
