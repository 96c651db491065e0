//go:build linux

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
	"notebookfs/remote/cloud"
)

// The stress test: rounds of real editors saving new notebooks through a
// real mount ("notebookfs mount" as a process) over "notebookfs serve
// --latency 20ms --fault-rate 0.1", with probes at random moments while
// the creation's upload is still on its way. Each round creates a
// notebook with cp, probes it at a random 0-150 ms, saves it with a random
// editor, probes again and saves again with another random editor.
//
// Checked: every save reads back at once; once the mount has drained and
// is unmounted, every notebook's latest version is its last save, its
// versions are its saves in order (none empty, none twice, none that was
// not a save; a save may be missing only if the mount reports it
// coalesced with a newer one), and it kept the id getfattr showed.
//
// NOTEBOOKFS_STRESS_ROUNDS (default 20) sets the rounds and
// NOTEBOOKFS_STRESS_SEED the seed (default from the clock; a failure
// prints it). The seed fixes the choices and waits; the upload timing
// still varies, so a rerun mostly, not always, repeats a failure.
// NOTEBOOKFS_STRESS_LOGS=DIR keeps the mount's debug log there.
func TestStress(t *testing.T) {
	needFuse(t)
	rounds := 20
	if v := os.Getenv("NOTEBOOKFS_STRESS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("NOTEBOOKFS_STRESS_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("NOTEBOOKFS_STRESS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("NOTEBOOKFS_STRESS_SEED=%q: want a number", v)
		}
		seed = n
	}
	t.Logf("stress: seed %d, %d rounds (rerun: NOTEBOOKFS_STRESS_SEED=%d NOTEBOOKFS_STRESS_ROUNDS=%d)", seed, rounds, seed, rounds)
	for _, p := range []string{"vim", "emacs", "sed", "python3", "sh", "cp", "rsync", "getfattr", "stat", "ls", "cat", "jupyter-notebook"} {
		needProgram(t, p)
	}

	s := startStress(t, seed)
	for r := 0; r < rounds; r++ {
		s.round(r)
	}
	s.finish()
}

// stressEditors are the ways a round saves a notebook.
var stressEditors = []string{"vim", "vim backupcopy=no", "emacs", "sed -i", "python os.replace", "sh redirect", "cp", "rsync", "jupyter"}

// stressProbes are what a round does to a notebook between its saves.
var stressProbes = []string{"getfattr", "stat", "ls -l", "cat", "none"}

// stressMarker is the one place each save changes in a notebook.
var stressMarker = regexp.MustCompile(`STRESS-r[0-9]+-v[0-9]+`)

type stress struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand
	cli    *cliRunner // runs the binary with the token of alice
	data   string     // the store served
	url    string     // the faulty serve
	serve  *exec.Cmd
	serveL string // its log file
	mount  *exec.Cmd
	mountL string // the daemon's log file
	mnt    string
	ns     string // mnt/owned/alice
	home   string // the editors' HOME
	src    string // a local directory for the editors' input files
	jup    *jupyter

	notebooks []*stressNotebook
	saves     int // creations included
	probes    map[string]int
	editors   map[string]int
	lost      int // saves acknowledged (exit 0) but not there
	// failedSaves are saves whose editor failed (not acknowledged).
	failedSaves int
	failures    []string
	coalesced   []string // saves with no version of their own
}

// stressNotebook is one round's notebook and what was saved to it.
type stressNotebook struct {
	round int
	name  string // x.ipynb
	id    string // as getfattr showed it
	saves [][]byte
	log   []string // the round's steps, for failure messages
	start time.Time
}

func (n *stressNotebook) step(format string, a ...any) {
	n.log = append(n.log, fmt.Sprintf("+%dms ", time.Since(n.start).Milliseconds())+fmt.Sprintf(format, a...))
}

func startStress(t *testing.T, seed uint64) *stress {
	bin := buildBinary(t)
	home := t.TempDir()
	s := &stress{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)),
		data: filepath.Join(home, "serve-data"), home: filepath.Join(home, "editor-home"),
		src: filepath.Join(home, "src"), probes: map[string]int{}, editors: map[string]int{}}
	for _, d := range []string{s.data, s.home, s.src} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cli := &cliRunner{t: t, bin: bin, home: filepath.Join(home, "cli-home")}
	token := strings.TrimSpace(cli.ok("user", "add", "--data", s.data, user))
	cli.env = []string{"TILEDB_REST_TOKEN=" + token}
	s.cli = cli
	s.url, s.serve, s.serveL = startServe(t, cli, s.data, "--latency", "20ms", "--fault-rate", "0.1", "--seed", fmt.Sprint(seed))

	s.mnt = filepath.Join(home, "mnt")
	if err := os.Mkdir(s.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	logs := os.Getenv("NOTEBOOKFS_STRESS_LOGS")
	if logs == "" {
		logs = home
	}
	s.mountL = filepath.Join(logs, "mount.log")
	logf, err := os.Create(s.mountL)
	if err != nil {
		t.Fatal(err)
	}
	s.mount = exec.Command(bin, "mount", "--remote", s.url, "--metadata-ttl", "1s", "--log-level", "debug", s.mnt)
	s.mount.Dir = "/"
	s.mount.Env = cli.environ()
	s.mount.Stdout, s.mount.Stderr = logf, logf
	if err := s.mount.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() {
		if s.mount.ProcessState == nil {
			s.mount.Process.Kill()
			s.mount.Wait()
			exec.Command("fusermount3", "-u", "-z", s.mnt).Run()
		}
	})
	waitFor(t, "the mount", func() bool { return isMounted(s.mnt) })
	s.ns = filepath.Join(s.mnt, "owned", user)
	// Registered after the mount's cleanup, so it stops first.
	s.jup = startJupyter(t, s.ns)
	return s
}

// startServe runs "notebookfs serve" on data with extra flags on a free
// port, stopped when the test ends; it returns its URL, process and log.
func startServe(t *testing.T, cli *cliRunner, data string, flags ...string) (string, *exec.Cmd, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cli.bin, append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn"}, flags...)...)
	cmd.Dir = "/"
	cmd.Env = cli.environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	listening := regexp.MustCompile(`(?m)^listening on (http://\S+)$`)
	var url string
	waitFor(t, "notebookfs serve to listen", func() bool {
		b, _ := os.ReadFile(logPath)
		if m := listening.FindSubmatch(b); m != nil {
			url = string(m[1])
			return true
		}
		return false
	})
	return url, cmd, logPath
}

// stopProcess ends a process with SIGTERM and waits up to a minute.
func stopProcess(t *testing.T, cmd *exec.Cmd, what, logPath string) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			b, _ := os.ReadFile(logPath)
			t.Errorf("%s exited with %v\n%s", what, err, b)
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s did not exit", what)
	}
}

func (s *stress) fail(n *stressNotebook, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if n != nil {
		msg = fmt.Sprintf("round %d (%s): %s\n    steps: %s", n.round, n.name, msg, strings.Join(n.log, "; "))
	}
	s.failures = append(s.failures, msg)
	s.t.Logf("FAILURE (seed %d): %s", s.seed, msg)
}

// tool runs a real program with a deadline, its working directory never
// on the mount (go-fuse's fork/exec deadlock) and HOME outside it.
func (s *stress) tool(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "HOME="+s.home, "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *stress) round(r int) {
	n := &stressNotebook{round: r, name: fmt.Sprintf("stress-%03d.ipynb", r), start: time.Now()}
	s.notebooks = append(s.notebooks, n)
	p := filepath.Join(s.ns, n.name)

	first := stressContent(s.rng, r, fmt.Sprintf("STRESS-r%03d-v0", r), 0)
	src := filepath.Join(s.src, "create.ipynb")
	mustWrite(s.t, src, first)
	n.start = time.Now()
	n.step("cp create (%d bytes)", len(first))
	if out, err := s.tool("cp", src, p); err != nil {
		s.fail(n, "cp: %v %s", err, out)
		return
	}
	s.saves++
	if !s.readBack(n, p, "cp create", first, "", true) {
		return
	}
	for k := 1; k <= 2; k++ {
		s.probe(n, p, time.Now())
		if !s.save(n, p, k) {
			return
		}
	}
	id, err := s.getfattrID(p)
	n.step("getfattr id: %q %v", id, err)
	switch {
	case err != nil || id == "":
		s.fail(n, "getfattr user.tiledb.id after the saves: %q %v", id, err)
	case n.id != "" && n.id != id:
		s.fail(n, "id changed from %s (probe) to %s after the saves", n.id, id)
	default:
		n.id = id
	}
}

// probe waits a random 0-150 ms from since, then looks at the notebook
// in one random way. The wait is the user's timing, drawn at random so
// that probes land before, during and after the upload; nothing waits on
// it.
func (s *stress) probe(n *stressNotebook, p string, since time.Time) {
	kind := stressProbes[s.rng.IntN(len(stressProbes))]
	delay := time.Duration(s.rng.IntN(151)) * time.Millisecond
	time.Sleep(time.Until(since.Add(delay)))
	s.probes[kind]++
	n.step("probe %s", kind)
	cur := n.saves[len(n.saves)-1]
	switch kind {
	case "getfattr":
		id, err := s.getfattrID(p)
		if err != nil || id == "" {
			s.fail(n, "getfattr user.tiledb.id: %q %v", id, err)
		} else if n.id != "" && id != n.id {
			s.fail(n, "getfattr user.tiledb.id: %s, before %s", id, n.id)
		} else {
			n.id = id
		}
	case "stat":
		out, err := s.tool("stat", "-c", "%s", p)
		if err != nil || strings.TrimSpace(out) != strconv.Itoa(len(cur)) {
			s.fail(n, "stat -c %%s: %q %v, want %d", out, err, len(cur))
		}
	case "ls -l":
		out, err := s.tool("ls", "-l", s.ns)
		if err != nil || !strings.Contains(out, " "+n.name+"\n") {
			s.fail(n, "ls -l does not list %s: %v\n%s", n.name, err, out)
		}
	case "cat":
		out, err := s.tool("cat", p)
		if err != nil || out != string(cur) {
			s.fail(n, "cat: %v, %d bytes, want the last save's %d bytes", err, len(out), len(cur))
		}
	}
}

func (s *stress) getfattrID(p string) (string, error) {
	out, err := s.tool("getfattr", "--absolute-names", "--only-values", "-n", "user.tiledb.id", p)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, out)
	}
	return out, nil
}

// save saves the k-th version of n with a random editor and reads it back.
func (s *stress) save(n *stressNotebook, p string, k int) bool {
	editor := stressEditors[s.rng.IntN(len(stressEditors))]
	s.editors[editor]++
	cur := n.saves[len(n.saves)-1]
	old := string(stressMarker.Find(cur))
	next := fmt.Sprintf("STRESS-r%03d-v%d", n.round, k)
	var want []byte // nil: Jupyter's own serialization, checked by marker
	var out string
	var err error
	n.step("save %d: %s", k, editor)
	switch editor {
	case "vim", "vim backupcopy=no", "emacs", "sed -i":
		want = bytes.ReplaceAll(cur, []byte(old), []byte(next))
		sub := "s/" + old + "/" + next + "/g"
		switch editor {
		case "vim":
			out, err = s.tool("vim", "-es", "-c", "%"+sub, "-c", "wq", p)
		case "vim backupcopy=no":
			out, err = s.tool("vim", "-es", "-c", "set backupcopy=no", "-c", "%"+sub, "-c", "wq", p)
		case "sed -i":
			out, err = s.tool("sed", "-i", sub, p)
		case "emacs":
			// Backups always (their default skips /tmp, where the mount is):
			// the first save renames the notebook away and writes it anew.
			elisp := fmt.Sprintf(`(progn
  (setq make-backup-files t backup-enable-predicate (lambda (_) t) vc-handled-backends nil)
  (find-file %q)
  (goto-char (point-min))
  (while (search-forward %q nil t) (replace-match %q t t))
  (save-buffer))`, p, old, next)
			out, err = s.tool("emacs", "--batch", "-Q", "--eval", elisp)
		}
	case "python os.replace", "sh redirect", "cp", "rsync":
		want = stressContent(s.rng, n.round, next, len(cur))
		src := filepath.Join(s.src, fmt.Sprintf("save-%d.ipynb", k))
		mustWrite(s.t, src, want)
		switch editor {
		case "python os.replace":
			out, err = s.tool("python3", "-c", pythonAtomicReplace, src, p)
		case "sh redirect":
			out, err = s.tool("sh", "-c", `cat "$0" > "$1"`, src, p)
		case "cp":
			out, err = s.tool("cp", src, p)
		case "rsync":
			out, err = s.tool("rsync", src, p)
		}
	case "jupyter":
		err = s.jupyterSave(n.name, old, next)
	}
	s.saves++
	if err != nil {
		// Not acknowledged, so not lost; but no save may fail here.
		s.failedSaves++
		s.fail(n, "%s failed: %v\n%s", editor, err, out)
	}
	return s.readBack(n, p, editor, want, next, err == nil)
}

// pythonAtomicReplace is how Python's atomic writers save: a temp file in
// the same directory, fsynced, renamed over the target.
const pythonAtomicReplace = `import os, sys, tempfile
src, dst = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dst), prefix="." + os.path.basename(dst) + ".", suffix=".tmp")
with os.fdopen(fd, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, dst)
`

// jupyterSave saves through Jupyter's contents API what its front end
// would after an edit: the notebook as read, with the marker changed.
func (s *stress) jupyterSave(name, old, next string) error {
	resp, err := s.jup.do("GET", "/api/contents/"+name+"?content=1&type=notebook", nil)
	if err != nil {
		return err
	}
	var model struct {
		Content map[string]any `json:"content"`
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", name, resp.Status, body)
	}
	if err := json.Unmarshal(body, &model); err != nil {
		return fmt.Errorf("GET %s: %w", name, err)
	}
	cells, _ := model.Content["cells"].([]any)
	for _, c := range cells {
		if cell, ok := c.(map[string]any); ok {
			if src, ok := cell["source"].(string); ok {
				cell["source"] = strings.ReplaceAll(src, old, next)
			}
		}
	}
	put, err := json.Marshal(map[string]any{"type": "notebook", "format": "json", "content": model.Content})
	if err != nil {
		return err
	}
	resp, err = s.jup.do("PUT", "/api/contents/"+name, put)
	if err != nil {
		return err
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %s: %s", name, resp.Status, body)
	}
	return nil
}

// readBack reads the notebook right after a save: it must be the save
// (want, or for Jupyter a notebook with marker). An acknowledged save
// that does not read back is lost; the round goes on from what the file
// holds.
func (s *stress) readBack(n *stressNotebook, p, editor string, want []byte, marker string, acknowledged bool) bool {
	got, err := os.ReadFile(p)
	if err != nil {
		s.fail(n, "read back after %s: %v", editor, err)
		return false
	}
	ok := bytes.Equal(got, want)
	if want == nil {
		var v nbV4
		ok = json.Unmarshal(got, &v) == nil && v.NBFormat == 4 && string(stressMarker.Find(got)) == marker
	}
	if !ok {
		if acknowledged {
			s.lost++
		}
		s.fail(n, "save by %s is not what reads back at once: %d bytes holding %q, want %d bytes holding %q",
			editor, len(got), stressMarker.Find(got), len(want), marker)
		if stressMarker.Find(got) == nil {
			return false
		}
		if len(n.saves) > 0 && bytes.Equal(got, n.saves[len(n.saves)-1]) {
			return true // dropped: the round goes on from the previous save
		}
	}
	n.saves = append(n.saves, got)
	return true
}

// stressContent makes a notebook with real-looking cells, outputs and
// UTF-8 text, holding marker once, of a size other than avoid: rsync's
// quick check skips a file whose size and mtime are unchanged.
func stressContent(r *rand.Rand, round int, marker string, avoid int) []byte {
	words := strings.Fields(`array tiledb dense sparse query schema domain dimension attribute
tile fragment consolidate vacuum cloud notebook dataframe numpy pandas matrix
naïve café Größe données 数据 配列 résumé ±σ² →`)
	sentence := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = words[r.IntN(len(words))]
		}
		return strings.Join(w, " ")
	}
	for {
		type cell map[string]any
		cells := []cell{{"cell_type": "markdown", "id": "title", "metadata": map[string]any{},
			"source": []string{fmt.Sprintf("# Stress round %d\n", round), "\n", marker + " " + sentence(8) + "\n"}}}
		for i, n := 0, 1+r.IntN(12); i < n; i++ {
			var src []string
			for j, m := 0, 1+r.IntN(10); j < m; j++ {
				src = append(src, fmt.Sprintf("x%d = %q  # %s\n", j, sentence(3), sentence(4)))
			}
			src = append(src, "print(x0)")
			out := []any{map[string]any{"name": "stdout", "output_type": "stream", "text": []string{sentence(6) + "\n"}}}
			if r.IntN(2) == 0 {
				out = append(out, map[string]any{"output_type": "execute_result", "execution_count": i + 1, "metadata": map[string]any{},
					"data": map[string]any{"text/plain": []string{strings.Repeat(sentence(5)+"\n", 1+r.IntN(20))}}})
			}
			cells = append(cells, cell{"cell_type": "code", "id": fmt.Sprintf("c%d", i), "execution_count": i + 1,
				"metadata": map[string]any{}, "outputs": out, "source": src})
		}
		b, err := json.MarshalIndent(map[string]any{
			"cells": cells,
			"metadata": map[string]any{
				"kernelspec":    map[string]any{"display_name": "Python 3", "language": "python", "name": "python3"},
				"language_info": map[string]any{"name": "python", "version": "3.11.4"},
			},
			"nbformat": 4, "nbformat_minor": 5,
		}, "", " ")
		if err != nil {
			panic(err)
		}
		b = append(b, '\n')
		if len(b) != avoid {
			return b
		}
	}
}

// stressStatus is the part of "notebookfs status --json" the test reads.
type stressStatus struct {
	Uploads struct {
		Pending       int   `json:"pending"`
		Uploaded      int64 `json:"uploaded"`
		Coalesced     int64 `json:"coalesced"`
		Retries       int64 `json:"retries"`
		ConflictCount int64 `json:"conflict_count"`
		Failed        []any `json:"failed"`
	} `json:"uploads"`
}

func (s *stress) status() stressStatus {
	var st stressStatus
	decodeJSON(s.t, s.cli.ok("status", "--json", s.mnt), &st)
	return st
}

// finish drains and unmounts, then checks every notebook in the store
// through a fault-free serve of the same data.
func (s *stress) finish() {
	t := s.t
	for _, n := range s.notebooks {
		if n.id == "" {
			continue
		}
		if id, err := s.getfattrID(filepath.Join(s.ns, n.name)); err != nil || id != n.id {
			s.fail(n, "getfattr user.tiledb.id at the end: %q %v, want %s", id, err, n.id)
		}
	}
	var st stressStatus
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st = s.status()
		if st.Uploads.Pending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Uploads.Pending != 0 || len(st.Uploads.Failed) != 0 {
		s.fail(nil, "the mount did not drain: %+v", st.Uploads)
	}
	s.cli.ok("unmount", s.mnt)
	done := make(chan error, 1)
	go func() { done <- s.mount.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			b, _ := os.ReadFile(s.mountL)
			t.Errorf("the daemon exited with %v\n%s", err, b)
		}
	case <-time.After(time.Minute):
		t.Fatal("the daemon did not exit after unmount")
	}

	faults := s.faultsInjected()
	stopProcess(t, s.serve, "notebookfs serve", s.serveL)
	url, clean, cleanL := startServe(t, s.cli, s.data)
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	client, err := cloud.New(cloud.Options{Host: url, Token: strings.TrimPrefix(s.cli.env[0], "TILEDB_REST_TOKEN="),
		Log: logrus.NewEntry(quiet), CallTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	listed, err := client.List(ctx, remote.Owned, user)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]remote.Notebook{}
	conflicts := 0
	for _, nb := range listed {
		byName[nb.Name] = append(byName[nb.Name], nb)
		if strings.Contains(nb.Name, ".conflict-") {
			conflicts++
			s.fail(nil, "a conflict copy: %s", nb.Name)
		}
	}
	versions, empty, missing := 0, 0, 0
	for _, n := range s.notebooks {
		name := strings.TrimSuffix(n.name, ".ipynb")
		nbs := byName[name]
		if len(nbs) != 1 {
			s.lost++
			s.fail(n, "%d notebooks named %s in the store", len(nbs), name)
			continue
		}
		nb := nbs[0]
		if n.id != "" && nb.ID != n.id {
			s.fail(n, "store id %s, getfattr showed %s", nb.ID, n.id)
		}
		vs, err := client.Versions(ctx, user, nb.ID)
		if err != nil {
			t.Fatal(err)
		}
		versions += len(vs)
		// The versions are the saves in order; a save may be missing
		// (coalesced with the next while it waited), the last never.
		next := 0
		var contents [][]byte
		for _, v := range vs {
			c, err := client.Read(ctx, user, nb.ID, v.Time)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(c)
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			contents = append(contents, b)
			if len(b) == 0 || v.Size == 0 {
				empty++
				s.fail(n, "an empty version at %s", v.Time.Format(time.RFC3339Nano))
				continue
			}
			j := next
			for j < len(n.saves) && !bytes.Equal(n.saves[j], b) {
				j++
			}
			if j == len(n.saves) {
				s.fail(n, "version at %s (%d bytes, %q) is not a save, or comes twice or out of order",
					v.Time.Format(time.RFC3339Nano), len(b), stressMarker.Find(b))
				continue
			}
			for k := next; k < j; k++ {
				s.coalesced = append(s.coalesced, fmt.Sprintf("round %d save %d (%s)", n.round, k, strings.Join(n.log, "; ")))
			}
			missing += j - next
			next = j + 1
		}
		if len(contents) == 0 || !bytes.Equal(contents[len(contents)-1], n.saves[len(n.saves)-1]) {
			s.lost++
			var latest []byte
			if len(contents) > 0 {
				latest = stressMarker.Find(contents[len(contents)-1])
			}
			s.fail(n, "latest version holds %q, the last save %q", latest, stressMarker.Find(n.saves[len(n.saves)-1]))
		} else {
			missing += len(n.saves) - next
		}
	}
	if int64(missing) > st.Uploads.Coalesced {
		s.fail(nil, "%d saves have no version but the mount coalesced only %d:\n    %s", missing, st.Uploads.Coalesced, strings.Join(s.coalesced, "\n    "))
	}
	stopProcess(t, clean, "notebookfs serve (fault-free)", cleanL)

	t.Logf("stress figures (seed %d): rounds %d, saves %d (creations included), versions %d, saves coalesced %d (mount's count %d), "+
		"faults injected %d, upload retries %d, conflict copies %d, failed saves %d, lost %d, empty versions %d",
		s.seed, len(s.notebooks), s.saves, versions, missing, st.Uploads.Coalesced, faults, st.Uploads.Retries, conflicts, s.failedSaves, s.lost, empty)
	t.Logf("stress editors %v; probes %v", s.editors, s.probes)
	if len(s.failures) > 0 {
		s.logFailedRounds()
		t.Errorf("stress seed %d: %d failures (rerun with NOTEBOOKFS_STRESS_SEED=%d NOTEBOOKFS_STRESS_ROUNDS=%d):\n%s",
			s.seed, len(s.failures), s.seed, len(s.notebooks), strings.Join(s.failures, "\n"))
	}
}

// faultsInjected sums the faulty serve's count of injected faults.
func (s *stress) faultsInjected() int {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		s.t.Fatalf("metrics: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	total := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "notebookfs_server_faults_injected_total{") {
			f := strings.Fields(l)
			n, _ := strconv.Atoi(f[len(f)-1])
			total += n
		}
	}
	return total
}

// logFailedRounds shows the mount's log lines about the notebooks of the
// failed rounds: those naming the notebook, and those naming an id that
// the first kind mentions.
func (s *stress) logFailedRounds() {
	b, err := os.ReadFile(s.mountL)
	if err != nil {
		s.t.Logf("mount log: %v", err)
		return
	}
	lines := strings.Split(string(b), "\n")
	uuid := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	for _, n := range s.notebooks {
		failed := false
		for _, f := range s.failures {
			failed = failed || strings.Contains(f, "("+n.name+")") || strings.Contains(f, fmt.Sprintf("round %d save", n.round))
		}
		if !failed {
			continue
		}
		name := strings.TrimSuffix(n.name, ".ipynb")
		ids := map[string]bool{}
		if n.id != "" {
			ids[n.id] = true
		}
		for _, l := range lines {
			if strings.Contains(l, name) {
				for _, id := range uuid.FindAllString(l, -1) {
					ids[id] = true
				}
			}
		}
		var out []string
		for _, l := range lines {
			keep := strings.Contains(l, name)
			for id := range ids {
				keep = keep || strings.Contains(l, id)
			}
			if keep {
				out = append(out, l)
			}
		}
		s.t.Logf("mount log of round %d (%s, ids %v):\n%s", n.round, n.name, ids, strings.Join(out, "\n"))
	}
}
