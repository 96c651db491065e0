package server

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJSClientQuery runs test/js/query.js: TileDB's own JS client saves a
// notebook with TileDBQuery.WriteQuery and reads it back with ReadQuery
// (UTF-8 with emoji, 20 MB, INCOMPLETE continuations, an old version by
// open_at and end_timestamp), posts and gets array metadata, and downloads
// it with downloadNotebookContents. The store must then hold every version
// under the same notebook, its share kept. Needs node and test/js's
// packages (cd test/js && npm ci).
func TestJSClientQuery(t *testing.T) {
	node := needJS(t)
	e := newEnv(t, Options{}, "alice", "bob")
	nb := e.create("alice", "alice", "js query", nbJSON)
	if err := e.store.As("alice").Share(e.ctx(), "alice", nb.ID, "bob", []string{"read"}); err != nil {
		t.Fatal(err)
	}

	small := []byte(`{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Café ☕ naïve 数据 😀🎉🚀\n", "Ünïcödé ✓"]}],` +
		` "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}` + "\n")
	var big bytes.Buffer
	big.WriteString(`{"cells": [`)
	for i := 0; big.Len() < 20_000_000; i++ {
		fmt.Fprintf(&big, `{"cell_type": "code", "execution_count": %d, "source": ["x = %d  # é ☕ 😀\n"], "outputs": []},`, i, i*i)
	}
	big.WriteString(`{"cell_type": "code", "source": []}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`)
	ascii := []byte("{\n \"cells\": [],\n \"metadata\": {},\n \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n")
	dir := t.TempDir()
	files := map[string][]byte{"SMALL_FILE": small, "BIG_FILE": big.Bytes(), "ASCII_FILE": ascii}
	u, err := url.Parse(e.ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"PORT="+u.Port(),
		"TOKEN="+e.tokens["alice"],
		"OTHER_TOKEN="+e.tokens["bob"],
		"NAMESPACE=alice",
		"NOTEBOOK=js query",
		// The client reads these at import; they must not point elsewhere.
		"TILEDB_REST_HOST=",
		"TILEDB_REST_TOKEN=",
	)
	for k, b := range files {
		p := filepath.Join(dir, strings.ToLower(k))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env, k+"="+p)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "query.js")
	cmd.Dir = jsDir
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node query.js: %v (after %v)\n%s", err, time.Since(start), out)
	}
	if !strings.Contains(string(out), "checks passed") {
		t.Fatalf("node query.js did not finish:\n%s", out)
	}
	t.Logf("JS client (%v):\n%s", time.Since(start).Round(time.Millisecond), out)

	// Three new versions of the same notebook, with its share.
	vs := versions(t, e, "alice", nb)
	if len(vs) != 4 {
		t.Fatalf("%d versions, want 4: %+v", len(vs), vs)
	}
	for i, want := range [][]byte{[]byte(nbJSON), small, big.Bytes(), ascii} {
		if got := storeBytes(t, e, nb, vs[i].Time); !bytes.Equal(got, want) {
			t.Errorf("version %d: %d bytes, want %d", i, len(got), len(want))
		}
	}
	after, err := e.store.As("alice").Stat(e.ctx(), "alice", nb.ID)
	if err != nil || after.Name != "js query" || !after.Created.Equal(nb.Created) {
		t.Errorf("notebook after the JS saves: %+v, %v", after, err)
	}
	if sh, err := e.store.As("alice").Shares(e.ctx(), "alice", nb.ID); err != nil || len(sh) != 1 || sh[0].Namespace != "bob" {
		t.Errorf("shares after the JS saves: %+v, %v", sh, err)
	}
	_, metrics := e.do("GET", "/metrics", "", nil)
	for _, l := range strings.Split(string(metrics), "\n") {
		if strings.Contains(l, "query/submit") || strings.Contains(l, "array_metadata") || strings.Contains(l, `{array}",`) {
			t.Log(l)
		}
	}
}
