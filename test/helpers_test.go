//go:build linux

package test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"notebookfs/remote"
	"notebookfs/test/corpus"
)

// corpusEnv names an extra directory of notebooks (for example a folder of
// real ones) that the tests which iterate a corpus run over as well.
const corpusEnv = "NOTEBOOKFS_CORPUS"

// generatedCorpus writes the tests' generated notebooks into a temp dir
// and returns their paths, sorted.
func generatedCorpus(t *testing.T) []string {
	t.Helper()
	files, err := corpus.Write(t.TempDir(), corpus.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// corpusFiles lists the notebooks (*.ipynb) of dir, sorted.
func corpusFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.ipynb"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no notebooks in %s: %v", dir, err)
	}
	sort.Strings(m)
	return m
}

// forCorpora runs f over the generated corpus, then over the notebooks of
// $NOTEBOOKFS_CORPUS when it is set.
func forCorpora(t *testing.T, f func(t *testing.T, files []string)) {
	t.Run("generated", func(t *testing.T) { f(t, generatedCorpus(t)) })
	if dir := os.Getenv(corpusEnv); dir != "" {
		t.Run("extra", func(t *testing.T) { f(t, corpusFiles(t, dir)) })
	}
}

// corpusNotebook writes one generated notebook of about size bytes into a
// temp dir and returns its path.
func corpusNotebook(t *testing.T, seed uint64, size int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "generated.ipynb")
	if err := os.WriteFile(p, corpus.Make(seed, size), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// notebooks lists the user's notebooks straight from the store.
func (e *env) notebooks() map[string]remote.Notebook {
	e.t.Helper()
	nbs, err := e.client().List(context.Background(), remote.Owned, e.user)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]remote.Notebook{}
	for _, nb := range nbs {
		if prev, dup := out[nb.Name]; dup {
			e.t.Fatalf("test expects unique names, %q is %s and %s", nb.Name, prev.ID, nb.ID)
		}
		out[nb.Name] = nb
	}
	return out
}

func (e *env) notebook(name string) remote.Notebook {
	e.t.Helper()
	nb, ok := e.notebooks()[name]
	if !ok {
		e.t.Fatalf("notebook %q not in the store", name)
	}
	return nb
}

// storeBytes reads a notebook's latest content straight from the store.
func (e *env) storeBytes(id string) []byte {
	e.t.Helper()
	c, err := e.client().Read(context.Background(), e.user, id, time.Time{})
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) versions(id string) []remote.Version {
	e.t.Helper()
	v, err := e.client().Versions(context.Background(), e.user, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// put creates a notebook directly in the store (as another client would).
func (e *env) put(name string, data []byte) remote.Notebook {
	e.t.Helper()
	nb, err := e.client().Create(context.Background(), e.user, name, bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return nb
}

// readDir lists a directory's names.
func readDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWrite(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantErrno checks that err carries the errno want.
func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	var got syscall.Errno
	if !errors.As(err, &got) || got != want {
		t.Errorf("%s: got %v, want %v (%d)", what, err, want, int(want))
	}
}

// run runs a real program with absolute paths and fails the test on a
// non-zero exit. Its working directory is never on the mount: the forked
// child would chdir into FUSE before exec while the parent's forking thread
// is suspended, which is go-fuse's documented fork/exec deadlock. It never
// runs a program from the mount either, and it has a deadline.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nb makes a small valid notebook whose one cell holds text.
func nb(text string) []byte {
	return []byte(`{"cells":[{"cell_type":"markdown","metadata":{},"source":["` + text + `"]}],"metadata":{},"nbformat":4,"nbformat_minor":5}` + "\n")
}

// forBackends runs a mounted test on the embedded store and again through
// the TileDB Cloud client against an in-process notebookfs serve.
func forBackends(t *testing.T, f func(t *testing.T, o envOptions)) {
	t.Run("embedded", func(t *testing.T) { f(t, envOptions{}) })
	t.Run("remote", func(t *testing.T) { f(t, envOptions{remote: true}) })
}
