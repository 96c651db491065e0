//go:build linux

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The acceptance test: every real editor saves a notebook 3 times,
// and the notebook keeps its id and shares, with 3 new versions.

// needProgram finds a real program: missing, the test is skipped locally
// and fails under CI (as runJS does).
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// sharedWithBob mounts with bob as a user, creates x.ipynb holding first
// and shares it with bob for reading; it returns the mount and the id.
func sharedWithBob(t *testing.T, o envOptions, first []byte) (*env, string) {
	t.Helper()
	o.setup = withUsers
	e := mount(t, o)
	mustWrite(t, e.ns("x.ipynb"), first)
	id := e.notebook("x").ID
	mustTool(t, "setfattr", "-n", "user.tiledb.share.bob", "-v", "read", e.ns("x.ipynb"))
	return e, id
}

// checkIdentity asserts the notebook kept its id and bob's share and has
// exactly versions versions, and that the store holds no other notebook.
func checkIdentity(t *testing.T, e *env, id string, versions int) {
	t.Helper()
	got := e.notebook("x")
	if got.ID != id {
		t.Errorf("id changed %s -> %s", id, got.ID)
	}
	if v := e.versions(id); len(v) != versions {
		t.Errorf("%d versions, want %d", len(v), versions)
	}
	if share := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.share.bob", e.ns("x.ipynb")); share != "read" {
		t.Errorf("share.bob = %q, want read", share)
	}
	if n := len(e.notebooks()); n != 1 {
		t.Errorf("store holds %d notebooks, want 1: %v", n, e.notebooks())
	}
	if d := e.count.Count("Delete"); d != 0 {
		t.Errorf("the saves deleted %d notebooks", d)
	}
}

// checkBobReads mounts as bob, who reads the shared notebook's last save.
func checkBobReads(t *testing.T, e *env, want []byte) {
	t.Helper()
	bob := e.mountAs("bob")
	if b := mustRead(t, bob.path("shared", e.user, "x.ipynb")); !bytes.Equal(b, want) {
		t.Errorf("bob reads %q, want %q", b, want)
	}
}

// Real emacs (batch, -Q), three saves, each by a new emacs process so each
// makes its first-save backup again. Observed syscalls on the mount:
//   - defaults: symlink .#x.ipynb (lock), rename x.ipynb -> x.ipynb~ (over
//     the previous backup from the second save on), open x.ipynb
//     O_WRONLY|O_CREAT|O_TRUNC, write, chmod, setxattr
//     system.posix_acl_access, unlink .#x.ipynb;
//   - backup-by-copying: x.ipynb~ written as a copy, x.ipynb rewritten in
//     place (O_TRUNC);
//   - file-precious-flag: backup by copying, then the buffer goes to a
//     temp file "tmpXXXXXX" renamed onto x.ipynb.
//
// backup-enable-predicate is set to always back up: its default refuses
// backups of files under temporary-file-directory (/tmp), where the
// tests' mounts are.
func TestEmacs(t *testing.T) { forBackends(t, testEmacs) }

func testEmacs(t *testing.T, o envOptions) {
	emacs := needProgram(t, "emacs")
	for _, tc := range []struct{ name, set string }{
		{"defaults", ""},
		{"backup-by-copying", "(setq backup-by-copying t)"},
		{"file-precious-flag", "(setq file-precious-flag t)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Sizes go up and down: a stale tail or a short read would show.
			content := func(i int) []byte {
				return nb(fmt.Sprintf("save %d", i) + strings.Repeat(".", []int{5, 40, 0, 12}[i]))
			}
			e, id := sharedWithBob(t, o, content(0))
			src := filepath.Join(t.TempDir(), "content")
			for i := 1; i <= 3; i++ {
				prev, want := content(i-1), content(i)
				mustWrite(t, src, want)
				elisp := fmt.Sprintf(`(progn
  (setq make-backup-files t backup-enable-predicate (lambda (_) t) vc-handled-backends nil)
  %s
  (find-file %q)
  (erase-buffer)
  (insert-file-contents-literally %q)
  (save-buffer))`, tc.set, e.ns("x.ipynb"), src)
				run(t, emacs, "--batch", "-Q", "--eval", elisp)
				e.settle()
				if b := mustRead(t, e.ns("x.ipynb~")); !bytes.Equal(b, prev) {
					t.Errorf("save %d: backup x.ipynb~ holds %q, want %q", i, b, prev)
				}
				checkIdentity(t, e, id, i+1)
				if b := e.storeBytes(id); !bytes.Equal(b, want) {
					t.Errorf("save %d: stored %q, want %q", i, b, want)
				}
				if b := mustRead(t, e.ns("x.ipynb")); !bytes.Equal(b, want) {
					t.Errorf("save %d: mount reads %q, want %q", i, b, want)
				}
			}
			// The backup stays as a local scratch file; the lock is gone.
			if got := strings.Join(readDir(t, e.ns()), ","); got != "x.ipynb,x.ipynb~" {
				t.Errorf("directory after the saves: %s", got)
			}
			// Removing the backup afterwards deletes nothing.
			if err := os.Remove(e.ns("x.ipynb~")); err != nil {
				t.Fatal(err)
			}
			checkIdentity(t, e, id, 4)
			checkBobReads(t, e, content(3))
		})
	}
}

// jupyter is a running "jupyter-notebook" server over a directory.
type jupyter struct {
	t     *testing.T
	base  string // http://127.0.0.1:port
	token string
	out   string // the server's log file
}

// startJupyter runs Jupyter Notebook (6.x, NotebookApp options) serving
// dir, with its home, config, data and runtime outside the mount and its
// working directory "/" (never on the mount: go-fuse's fork/exec
// deadlock). extra are more options. The server is stopped when the test
// ends.
func startJupyter(t *testing.T, dir string, extra ...string) *jupyter {
	t.Helper()
	bin := needProgram(t, "jupyter-notebook")
	home := t.TempDir()
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	j := &jupyter{t: t, base: "http://" + addr, token: "notebookfs-test-token", out: filepath.Join(home, "jupyter.log")}
	args := []string{"--no-browser", "--ip=127.0.0.1", "--port=" + port, "--NotebookApp.port_retries=0",
		"--NotebookApp.token=" + j.token, "--NotebookApp.password=", "--notebook-dir=" + dir}
	if os.Getuid() == 0 {
		args = append(args, "--allow-root")
	}
	args = append(args, extra...)
	logf, err := os.Create(j.out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "HOME="+home,
		"JUPYTER_CONFIG_DIR="+filepath.Join(home, "config"),
		"JUPYTER_DATA_DIR="+filepath.Join(home, "data"),
		"JUPYTER_RUNTIME_DIR="+filepath.Join(home, "runtime"),
		"IPYTHONDIR="+filepath.Join(home, "ipython"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	// Registered after mount's cleanup, so it runs first: the server is
	// gone before the file system is unmounted.
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("jupyter-notebook exited: %v\n%s", err, j.log())
		default:
		}
		if resp, err := j.do("GET", "/api/contents", nil); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jupyter-notebook did not answer on %s\n%s", j.base, j.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (j *jupyter) log() string {
	b, _ := os.ReadFile(j.out)
	return string(b)
}

func (j *jupyter) do(method, path string, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	req, err := http.NewRequestWithContext(ctx, method, j.base+path, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", "token "+j.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { err := c.ReadCloser.Close(); c.cancel(); return err }

// call makes one API call and decodes its JSON answer into out (if given);
// any status but want fails the test.
func (j *jupyter) call(method, path string, body any, want int, out any) {
	j.t.Helper()
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			j.t.Fatal(err)
		}
	}
	resp, err := j.do(method, path, data)
	if err != nil {
		j.t.Fatalf("%s %s: %v\n%s", method, path, err, j.log())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		j.t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		j.t.Fatalf("%s %s: %s, want %d: %s\n%s", method, path, resp.Status, want, b, j.log())
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			j.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// nbV4 is the part of an nbformat 4 notebook the test looks at.
type nbV4 struct {
	Cells []struct {
		CellType string `json:"cell_type"`
		Source   any    `json:"source"` // a string, or a list of lines on disk
	} `json:"cells"`
	NBFormat      int `json:"nbformat"`
	NBFormatMinor int `json:"nbformat_minor"`
}

func (n nbV4) sources() []string {
	var out []string
	for _, c := range n.Cells {
		switch s := c.Source.(type) {
		case string:
			out = append(out, s)
		case []any:
			var b strings.Builder
			for _, l := range s {
				b.WriteString(fmt.Sprint(l))
			}
			out = append(out, b.String())
		}
	}
	return out
}

// Real Jupyter Notebook saving through its contents API, three times.
// Each save is Jupyter's atomic_writing, as observed on the mount: copy
// x.ipynb to .~x.ipynb (shutil.copy2: utimensat, then listxattr/getxattr
// of x.ipynb's user.tiledb.* and setxattr of each on the scratch copy,
// where they stay local, then chmod), open x.ipynb O_WRONLY|O_CREAT|O_TRUNC,
// one write, fsync, close, unlink .~x.ipynb; the first save also makes the
// checkpoint .ipynb_checkpoints/x-checkpoint.ipynb (mkdir + copy2).
func TestJupyter(t *testing.T) { forBackends(t, testJupyter) }

func testJupyter(t *testing.T, o envOptions) {
	needProgram(t, "jupyter-notebook")
	e, id := sharedWithBob(t, o, []byte(`{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}`+"\n"))
	j := startJupyter(t, e.ns())
	for i := 1; i <= 3; i++ {
		var model struct {
			Content map[string]any `json:"content"`
		}
		j.call("GET", "/api/contents/x.ipynb?content=1&type=notebook", nil, http.StatusOK, &model)
		cells, _ := model.Content["cells"].([]any)
		if len(cells) != i-1 {
			t.Fatalf("save %d: Jupyter reads %d cells, want %d: %v", i, len(cells), i-1, model.Content)
		}
		model.Content["cells"] = append(cells, map[string]any{
			"cell_type": "markdown", "id": fmt.Sprintf("save-%d", i), "metadata": map[string]any{},
			"source": fmt.Sprintf("save %d", i),
		})
		j.call("PUT", "/api/contents/x.ipynb", map[string]any{"type": "notebook", "format": "json", "content": model.Content}, http.StatusOK, nil)
		e.settle()
		checkIdentity(t, e, id, i+1)
	}

	stored := e.storeBytes(id)
	var got nbV4
	if err := json.Unmarshal(stored, &got); err != nil {
		t.Fatalf("stored notebook is not JSON: %v\n%s", err, stored)
	}
	if got.NBFormat != 4 {
		t.Errorf("stored nbformat %d, want 4", got.NBFormat)
	}
	if s := strings.Join(got.sources(), "|"); s != "save 1|save 2|save 3" {
		t.Errorf("stored cells %q, want save 1|save 2|save 3\n%s", s, stored)
	}
	if b := mustRead(t, e.ns("x.ipynb")); !bytes.Equal(b, stored) {
		t.Errorf("mount reads %q, store holds %q", b, stored)
	}
	// What Jupyter left: its checkpoint directory, as local scratch.
	if got := strings.Join(readDir(t, e.ns()), ","); got != ".ipynb_checkpoints,x.ipynb" {
		t.Errorf("directory after the saves: %s", got)
	}
	if got := strings.Join(readDir(t, e.ns(".ipynb_checkpoints")), ","); got != "x-checkpoint.ipynb" {
		t.Errorf(".ipynb_checkpoints holds %s", got)
	}
	checkBobReads(t, e, stored)
}
