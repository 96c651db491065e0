// Package remotetest is what every remote.Client backend is tested with: the
// contract suite (Run), a call-counting wrapper (Counting) and a
// fault-injecting one (Faulty).
package remotetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"notebookfs/remote"
)

// Cast is the set of clients one contract subtest plays with, all on one
// fresh, empty store. The factory given to Run must set it up so that:
//
//   - user alice owns namespace "alice" and has role "owner" in organization
//     "acme";
//   - user bob owns "bob" and has role "read_only" in "acme";
//   - user carol owns "carol" and belongs to no organization;
//   - user dave exists (a share target; no client is needed for him);
//   - no notebooks exist.
//
// Alice, Bob and Carol are the store as seen by each of them.
type Cast struct {
	Alice, Bob, Carol remote.Client
}

// Run runs the contract suite: each subtest gets its own Cast from newCast.
func Run(t *testing.T, newCast func(t *testing.T) Cast) {
	t.Helper()
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newCast(t)) })
	}
}

type testCase struct {
	name string
	fn   func(t *testing.T, c Cast)
}

func cases() []testCase {
	return slices.Concat(contentCases(), accessCases(), errorCases())
}

// Names of the cast, as the factory must create them.
const (
	alice = "alice"
	bob   = "bob"
	carol = "carol"
	dave  = "dave"
	acme  = "acme"
)

// Action sets as Notebook.Actions reports them (sorted).
func readOnly() []string  { return []string{remote.ActionRead} }
func readWrite() []string { return []string{remote.ActionRead, remote.ActionWrite} }
func allRights() []string { return []string{remote.ActionRead, remote.ActionShare, remote.ActionWrite} }

func create(t *testing.T, c remote.Client, ns, name string, data []byte) remote.Notebook {
	t.Helper()
	nb, err := c.Create(t.Context(), ns, name, bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	if err != nil {
		t.Fatalf("Create(%s, %q): %v", ns, name, err)
	}
	return nb
}

func write(t *testing.T, c remote.Client, nb remote.Notebook, data []byte) remote.Notebook {
	t.Helper()
	out, err := c.Write(t.Context(), nb.Namespace, nb.ID, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Write(%s/%s): %v", nb.Namespace, nb.ID, err)
	}
	return out
}

// readAt reads a version whole and checks Content.Size against the bytes.
func readAt(t *testing.T, c remote.Client, nb remote.Notebook, at time.Time) ([]byte, *remote.Content) {
	t.Helper()
	content, err := c.Read(t.Context(), nb.Namespace, nb.ID, at)
	if err != nil {
		t.Fatalf("Read(%s/%s, %v): %v", nb.Namespace, nb.ID, at, err)
	}
	defer content.Close()
	data, err := io.ReadAll(content)
	if err != nil {
		t.Fatalf("read content of %s/%s: %v", nb.Namespace, nb.ID, err)
	}
	if int64(len(data)) != content.Size {
		t.Fatalf("content of %s/%s: read %d bytes, Content.Size %d", nb.Namespace, nb.ID, len(data), content.Size)
	}
	return data, content
}

func read(t *testing.T, c remote.Client, nb remote.Notebook) []byte {
	t.Helper()
	data, _ := readAt(t, c, nb, time.Time{})
	return data
}

func wantBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes %.40q, want %d bytes %.40q", what, len(got), got, len(want), want)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func wantOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// sameNotebook compares everything but Actions, which depend on the caller.
func sameNotebook(t *testing.T, what string, got, want remote.Notebook) {
	t.Helper()
	if got.ID != want.ID || got.Namespace != want.Namespace || got.Name != want.Name || got.Size != want.Size ||
		!got.Version.Equal(want.Version) || !got.Created.Equal(want.Created) {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

// find returns the notebook with id in list.
func find(list []remote.Notebook, id string) (remote.Notebook, bool) {
	for _, nb := range list {
		if nb.ID == id {
			return nb, true
		}
	}
	return remote.Notebook{}, false
}

func list(t *testing.T, c remote.Client, cat remote.Category, ns string) []remote.Notebook {
	t.Helper()
	l, err := c.List(t.Context(), cat, ns)
	if err != nil {
		t.Fatalf("List(%s, %s): %v", cat, ns, err)
	}
	return l
}

func namespaces(t *testing.T, c remote.Client, cat remote.Category) []string {
	t.Helper()
	ns, err := c.Namespaces(t.Context(), cat)
	if err != nil {
		t.Fatalf("Namespaces(%s): %v", cat, err)
	}
	return ns
}

// sampleNotebook is a small .ipynb with non-ASCII text and an emoji.
func sampleNotebook(text string) []byte {
	return []byte(`{"cells":[{"cell_type":"markdown","metadata":{},"source":["` + text +
		` — naïve café, 日本語, 😀🚀"]}],"metadata":{},"nbformat":4,"nbformat_minor":5}` + "\n")
}

// ctxCanceled is a context that is already canceled.
func ctxCanceled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}
