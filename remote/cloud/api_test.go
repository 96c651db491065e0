package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"notebookfs/remote"
)

func TestWhoamiNamespaces(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Options{})
	ctx := t.Context()

	u, err := c.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantOrgs := []remote.Organization{{Name: "acme", Role: "owner"}, {Name: "zeta", Role: "read_only"}}
	if u.Username != testUser || !slices.Equal(u.Organizations, wantOrgs) {
		t.Fatalf("Whoami: %+v", u)
	}
	for cat, want := range map[remote.Category][]string{
		remote.Owned:  {"alice", "acme", "zeta"},
		remote.Shared: {"bob", "zed"}, // acme is the user's: under owned/
		remote.Public: {"bob", "carol"},
	} {
		got, err := c.Namespaces(ctx, cat)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Namespaces(%s) = %q, %v; want %q", cat, got, err, want)
		}
	}
	if _, err := c.Namespaces(ctx, "nope"); !errors.Is(err, remote.ErrInvalid) {
		t.Fatalf("Namespaces(nope): %v", err)
	}

}

func TestAPIWire(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Options{PerPage: 2})
	ctx := t.Context()
	data := []byte(`{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}` + "\n")

	f.resetReqs()
	nb, err := c.Create(ctx, "acme", "my nb ü?#%", bytes.NewReader(data), int64(len(data)),
		remote.CreateOptions{StorageCredential: "my-creds"})
	if err != nil {
		t.Fatal(err)
	}
	if nb.Name != "my nb ü?#%" || nb.Namespace != "acme" || nb.Size != int64(len(data)) || !uuidRE.MatchString(nb.ID) ||
		!slices.Equal(nb.Actions, []string{"read", "share", "write"}) || nb.Version.IsZero() || !nb.Version.Equal(nb.Created) {
		t.Fatalf("Create: %+v", nb)
	}
	rs := f.reqs()
	up := rs[0]
	if up.Method != "POST" || up.Path != "/v2/notebooks/acme/my%20nb%20%C3%BC%3F%23%25/upload" {
		t.Fatalf("upload request: %s %s", up.Method, up.Path)
	}
	q, _ := url.ParseQuery(up.RawQuery)
	if q.Get("filesize") != "59" || q.Get("name") != "my nb ü?#%" {
		t.Fatalf("upload query: %s", up.RawQuery)
	}
	if up.Header.Get("Content-Type") != "application/octet-stream" || up.Header.Get("X-Tiledb-Cloud-Access-Credentials-Name") != "my-creds" ||
		!bytes.Equal(up.Body, data) || up.Header.Get("Accept") != "application/json" {
		t.Fatalf("upload headers %v body %q", up.Header, up.Body)
	}
	if len(rs) != 4 { // upload, metadata, metadata_json, user (first use)
		t.Fatalf("Create made %d requests: %+v", len(rs), rs)
	}

	// Storage path: the {array} segment is the url-encoded storage URI.
	f.resetReqs()
	if _, err := c.Create(ctx, "alice", "Plan: Q3 / draft", bytes.NewReader(data), int64(len(data)),
		remote.CreateOptions{StoragePath: "s3://bucket/notebooks/"}); err == nil {
		t.Fatal("name with a slash accepted")
	}
	nb2, err := c.Create(ctx, "alice", "Plan: Q3 draft", bytes.NewReader(data), int64(len(data)),
		remote.CreateOptions{StoragePath: "s3://bucket/notebooks/"})
	if err != nil {
		t.Fatal(err)
	}
	up = f.reqs()[0]
	if !strings.HasPrefix(up.Path, "/v2/notebooks/alice/s3:%2F%2Fbucket%2Fnotebooks%2FPlan_Q3_draft_") && !strings.HasPrefix(up.Path, "/v2/notebooks/alice/s3%3A%2F%2Fbucket%2Fnotebooks%2FPlan_Q3_draft_") {
		t.Fatalf("upload with storage path: %s", up.Path)
	}
	if q, _ := url.ParseQuery(up.RawQuery); q.Get("name") != "Plan: Q3 draft" || nb2.Name != "Plan: Q3 draft" {
		t.Fatalf("storage-path upload name: %s, %+v", up.RawQuery, nb2)
	}

	// Stat: two requests, by id.
	f.resetReqs()
	st, err := c.Stat(ctx, "acme", nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != nb.ID || st.Name != nb.Name || st.Size != nb.Size || !st.Version.Equal(nb.Version) || !st.Created.Equal(nb.Created) {
		t.Fatalf("Stat %+v, want %+v", st, nb)
	}
	rs = f.reqs()
	paths := []string{}
	for _, r := range rs {
		paths = append(paths, r.Method+" "+r.Path)
	}
	slices.Sort(paths)
	if !slices.Equal(paths, []string{"GET /v1/arrays/acme/" + nb.ID + "/metadata", "GET /v1/arrays/acme/" + nb.ID + "/metadata_json"}) {
		t.Fatalf("Stat requests: %q", paths)
	}

	// Read.
	f.resetReqs()
	content, err := c.Read(ctx, "acme", nb.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(content)
	content.Close()
	if err != nil || !bytes.Equal(got, data) || content.Size != int64(len(data)) || !content.Version.Equal(nb.Version) {
		t.Fatalf("Read: %q %v size %d version %v", got, err, content.Size, content.Version)
	}
	// Read over the array protocol (array_test.go has the details).
	if got := arrayReqs(f.reqs()); !slices.Equal(got, []string{"GET fragment_end_timestamp", "GET array_metadata", "POST submit?READ"}) {
		t.Fatalf("Read requests: %q", got)
	}
	if content, err := c.Read(ctx, "acme", nb.ID, time.Now()); err != nil || !content.Version.Equal(nb.Version) {
		t.Fatalf("Read at now: %+v %v", content, err)
	} else {
		content.Close()
	}
	if w, err := c.Write(ctx, "acme", nb.ID, bytes.NewReader(data), int64(len(data))); err != nil || !w.Version.After(nb.Version) {
		t.Fatalf("Write: %+v %v", w, err)
	}
	f.mu.Lock()
	f.notebooks[nb.ID].versions = f.notebooks[nb.ID].versions[:1] // as before the Write, for the rest
	f.notebooks[nb.ID].meta = nil
	f.mu.Unlock()

	// Rename.
	f.resetReqs()
	rn, err := c.Rename(ctx, "acme", nb.ID, "renamed ✓")
	if err != nil || rn.Name != "renamed ✓" || rn.ID != nb.ID {
		t.Fatalf("Rename: %+v %v", rn, err)
	}
	rs = f.reqs()
	if rs[0].Method != "PATCH" || rs[0].Path != "/v1/notebooks/acme/"+nb.ID+"/rename" || string(rs[0].Body) != `{"name":"renamed ✓"}` ||
		rs[0].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("rename request: %+v", rs[0])
	}
	if _, err := c.Rename(ctx, "acme", nb.ID, ""); !errors.Is(err, remote.ErrInvalid) {
		t.Fatalf("Rename to empty: %v", err)
	}

	// Shares: set, list (sorted, actions filtered), remove with "actions": [].
	f.resetReqs()
	for _, s := range []struct {
		with string
		acts []string
	}{{"public", []string{"read"}}, {"bob", []string{" WRITE", "read"}}, {"acme", []string{"read"}}} {
		if err := c.Share(ctx, "acme", nb.ID, s.with, s.acts); err != nil {
			t.Fatal(err)
		}
	}
	if body := string(f.reqs()[1].Body); body != `{"namespace":"bob","actions":["read","write"]}` {
		t.Fatalf("share body %s", body)
	}
	shares, err := c.Shares(ctx, "acme", nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantShares := []remote.Share{
		{Namespace: "acme", Actions: []string{"read"}, Type: "organization"},
		{Namespace: "bob", Actions: []string{"read", "write"}, Type: "user"},
		{Namespace: "public", Actions: []string{"read"}, Type: "organization"},
	}
	if len(shares) != 3 {
		t.Fatalf("Shares: %+v", shares)
	}
	for i := range shares {
		if shares[i].Namespace != wantShares[i].Namespace || !slices.Equal(shares[i].Actions, wantShares[i].Actions) || shares[i].Type != wantShares[i].Type {
			t.Fatalf("Shares: %+v", shares)
		}
	}
	f.resetReqs()
	if err := c.Share(ctx, "acme", nb.ID, "bob", nil); err != nil {
		t.Fatal(err)
	}
	if body := string(f.reqs()[0].Body); body != `{"namespace":"bob","actions":[]}` {
		t.Fatalf("unshare body %s", body)
	}
	for _, bad := range []struct {
		with string
		acts []string
	}{{"public", []string{"read", "write"}}, {"a/b", []string{"read"}}, {"bob", []string{"delete"}}} {
		if err := c.Share(ctx, "acme", nb.ID, bad.with, bad.acts); !errors.Is(err, remote.ErrInvalid) {
			t.Fatalf("Share(%s, %v): %v", bad.with, bad.acts, err)
		}
	}

	// Versions: all pages (PerPage 2), sorted, sizes per version.
	f.mu.Lock()
	n := f.notebooks[nb.ID]
	for i := 1; i <= 4; i++ {
		n.versions = append(n.versions, fakeVersion{ms: n.latest().ms + int64(i*1000), data: bytes.Repeat([]byte("x"), i)})
	}
	f.mu.Unlock()
	vs, err := c.Versions(ctx, "acme", nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 5 || vs[0].Size != int64(len(data)) || vs[4].Size != 4 || !vs[0].Time.Equal(nb.Version) {
		t.Fatalf("Versions: %+v", vs)
	}
	for i := 1; i < len(vs); i++ {
		if !vs[i].Time.After(vs[i-1].Time) || vs[i].Size != int64(i) {
			t.Fatalf("Versions not ascending or sizes wrong: %+v", vs)
		}
	}

	// List: file_size from the listing, or metadata_json when missing.
	f.mu.Lock()
	f.notebooks[nb2.ID].noSizeInList = true
	f.mu.Unlock()
	l, err := c.List(ctx, remote.Owned, "alice")
	if err != nil || len(l) != 1 || l[0].ID != nb2.ID || l[0].Size != int64(len(data)) {
		t.Fatalf("List: %+v %v", l, err)
	}
	if _, err := c.List(ctx, remote.Owned, "bob"); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("List(owned, bob): %v", err)
	}
	if l, err := c.List(ctx, remote.Shared, "acme"); err != nil || len(l) != 0 {
		t.Fatalf("List(shared, acme): %+v %v", l, err)
	}

	// Delete: Content-Type, 204, then 404.
	f.resetReqs()
	if err := c.Delete(ctx, "acme", nb.ID); err != nil {
		t.Fatal(err)
	}
	if r := f.reqs()[0]; r.Method != "DELETE" || r.Path != "/v1/arrays/acme/"+nb.ID || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("delete request %+v", r)
	}
	if err := c.Delete(ctx, "acme", nb.ID); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Delete twice: %v", err)
	}
	if _, err := c.Stat(ctx, "acme", nb.ID); !errors.Is(err, remote.ErrNotFound) || !strings.Contains(err.Error(), "GET /v1/arrays/acme/"+nb.ID+"/metadata") {
		t.Fatalf("Stat after delete: %v", err)
	}
}

func TestAddressingChecks(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Options{})
	ctx := t.Context()
	f.resetReqs()
	for _, tc := range []struct{ ns, id string }{
		{"alice", ""}, {"alice", "not-a-uuid"}, {"alice", "../../v1/user"}, {"a/b", "00000000-0000-4000-8000-000000000000"}, {"", newID()},
	} {
		if _, err := c.Stat(ctx, tc.ns, tc.id); !errors.Is(err, remote.ErrNotFound) {
			t.Errorf("Stat(%q, %q): %v", tc.ns, tc.id, err)
		}
		if err := c.Delete(ctx, tc.ns, tc.id); !errors.Is(err, remote.ErrNotFound) {
			t.Errorf("Delete(%q, %q): %v", tc.ns, tc.id, err)
		}
		if _, err := c.Read(ctx, tc.ns, tc.id, time.Time{}); !errors.Is(err, remote.ErrNotFound) {
			t.Errorf("Read(%q, %q): %v", tc.ns, tc.id, err)
		}
	}
	for _, name := range []string{"", ".", "a/b", "nul\x00", strings.Repeat("n", 300)} {
		if _, err := c.Create(ctx, "alice", name, strings.NewReader("x"), 1, remote.CreateOptions{}); err == nil {
			t.Errorf("Create(%q): no error", name)
		}
	}
	if rs := f.reqs(); len(rs) != 0 {
		t.Fatalf("malformed arguments reached the server: %+v", rs)
	}
}

func TestCanceledContext(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	id := newID()
	errs := map[string]error{}
	_, errs["Whoami"] = c.Whoami(ctx)
	_, errs["Namespaces"] = c.Namespaces(ctx, remote.Owned)
	_, errs["List"] = c.List(ctx, remote.Owned, "alice")
	_, errs["Stat"] = c.Stat(ctx, "alice", id)
	_, errs["Read"] = c.Read(ctx, "alice", id, time.Time{})
	_, errs["Create"] = c.Create(ctx, "alice", "x", strings.NewReader("x"), 1, remote.CreateOptions{})
	_, errs["Write"] = c.Write(ctx, "alice", id, strings.NewReader("x"), 1)
	_, errs["Rename"] = c.Rename(ctx, "alice", id, "y")
	errs["Delete"] = c.Delete(ctx, "alice", id)
	_, errs["Versions"] = c.Versions(ctx, "alice", id)
	_, errs["Shares"] = c.Shares(ctx, "alice", id)
	errs["Share"] = c.Share(ctx, "alice", id, "bob", []string{"read"})
	for op, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", op, err)
		}
	}
	if rs := f.reqs(); len(rs) != 0 {
		t.Fatalf("canceled calls reached the server: %d", len(rs))
	}
}

func TestSizeValueForms(t *testing.T) {
	for in, want := range map[string]int64{`1234`: 1234, `"1234"`: 1234, `[1234]`: 1234, `"[1234]"`: 1234, `1234.0`: 1234, `[ 7 ]`: 7} {
		if got, ok := sizeValue(json.RawMessage(in)); !ok || got != want {
			t.Errorf("sizeValue(%s) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{`-1`, `"x"`, `[1,2]`, `null`, `{}`, `1.5`} {
		if _, ok := sizeValue(json.RawMessage(in)); ok {
			t.Errorf("sizeValue(%s) accepted", in)
		}
	}
}
