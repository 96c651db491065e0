package cloud

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"notebookfs/remote"
)

// hostile is a fake TileDB Cloud whose replies the test writes: path ->
// JSON body (a path not listed is 404).
func hostile(t *testing.T, replies map[string]string) *recorder {
	return newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		key := r.URL.Path
		if q := r.URL.Query().Get("namespace"); q != "" {
			key += "?namespace=" + q
		}
		body, ok := replies[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"code":404,"message":"no"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
}

// hookedClient is a client of rec whose warnings the test reads.
func hookedClient(t *testing.T, rec *recorder) (*Client, *test.Hook) {
	l, hook := test.NewNullLogger()
	l.SetLevel(logrus.DebugLevel)
	return rec.client(t, Options{Log: logrus.NewEntry(l)}), hook
}

func warnings(hook *test.Hook) []string {
	var out []string
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			out = append(out, e.Message)
		}
	}
	return out
}

const (
	goodID  = "0b6f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	otherID = "1c7f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
)

const hostileUser = `{"username":"alice","organizations":[{"organization_name":"acme","role":"owner"},
	{"organization_name":"../evil","role":"owner"},{"organization_name":"a/b","role":"owner"}]}`

// A listing whose entries carry paths as ids, names holding a slash, C1
// controls or bidi overrides, namespaces that are no namespace, or sizes
// that are no byte count: those entries are left out with one warning,
// the valid ones are listed, and the same listing again warns no more.
func TestHostileListingEntriesLeftOut(t *testing.T) {
	entry := func(id, ns, name, size string) string {
		meta := ""
		if size != "" {
			meta = `,"metadata":[{"key":"file_size","value":` + size + `,"type":"INT64"}]`
		}
		return `{"id":"` + id + `","namespace":"` + ns + `","name":"` + name + `","file_type":"notebook",` +
			`"created_at":"2026-12-01T00:00:00Z","last_accessed":"2026-12-01T00:00:00Z","allowed_actions":["read"]` + meta + `}`
	}
	arrays := []string{
		entry(goodID, "alice", "good", `"12"`),
		entry("../../../../tmp/nbfs-escaped", "alice", "evil", `"20000000"`),
		entry("", "alice", "noid", `"1"`),
		entry("2d7f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "alice", `report\u009b2J\u009d0;owned\u009c`, `"1"`),
		entry("3e7f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "alice", `a/b`, `"1"`),
		entry("4f7f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "alice", `cod\u202eexe.bat`, `"1"`),
		entry("5a7f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "alice", `bell\u0007`, `"1"`),
		entry(otherID, "alice", "huge", ""),
	}
	rec := hostile(t, map[string]string{
		"/v1/user": hostileUser,
		"/v1/arrays/browser/owned?namespace=alice": `{"arrays":[` + strings.Join(arrays, ",") + `],` +
			`"pagination_metadata":{"page":1,"per_page":100,"total_pages":1,"total_items":8}}`,
		"/v1/arrays/alice/" + otherID + "/metadata_json": `{"file_size":"99999999999999999999"}`,
		"/v1/arrays/browser/shared/sidebar":              `{"namespaces":["x/y","bob","..","bob",".","ok.name-1","` + strings.Repeat("n", 64) + `"]}`,
	})
	c, hook := hookedClient(t, rec)
	ctx := t.Context()

	nbs, err := c.List(ctx, remote.Owned, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(nbs) != 1 || nbs[0].ID != goodID || nbs[0].Name != "good" || nbs[0].Size != 12 {
		t.Fatalf("listing: %+v", nbs)
	}
	w := warnings(hook)
	if len(w) != 3 { // the orgs of /v1/user, the listing, the sizes
		t.Fatalf("want 3 warnings (user, listing, sizes), got %d: %q", len(w), w)
	}
	for _, bad := range []string{"nbfs-escaped", "noid", "a/b", "bell", "huge", `\u202e`, `\u009b`, "../evil"} {
		if !strings.Contains(strings.Join(w, "\n"), bad) {
			t.Errorf("no warning names %q: %q", bad, w)
		}
	}
	for _, m := range w {
		if strings.ContainsAny(m, "\u009b\u202e\a") {
			t.Errorf("a warning holds a raw control character: %q", m)
		}
	}
	hook.Reset()
	if _, err := c.List(ctx, remote.Owned, "alice"); err != nil {
		t.Fatal(err)
	}
	if w := warnings(hook); len(w) != 0 {
		t.Errorf("the same listing warned again: %q", w)
	}

	nss, err := c.Namespaces(ctx, remote.Shared)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(nss, ",") != "bob,ok.name-1" {
		t.Errorf("shared namespaces: %q", nss)
	}
	if w := warnings(hook); len(w) != 1 || !strings.Contains(w[0], "x/y") {
		t.Errorf("sidebar warnings: %q", w)
	}
	u, err := c.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Organizations) != 1 || u.Organizations[0].Name != "acme" {
		t.Errorf("organizations: %+v", u.Organizations)
	}
	if _, err := c.List(ctx, remote.Owned, "../evil"); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("listing an invalid namespace: %v", err)
	}
}

// A user name that is no namespace is refused outright: everything else
// hangs below it.
func TestHostileUserName(t *testing.T) {
	rec := hostile(t, map[string]string{"/v1/user": `{"username":"../root","organizations":[]}`})
	c, _ := hookedClient(t, rec)
	if _, err := c.Whoami(t.Context()); err == nil || !strings.Contains(err.Error(), "not a valid namespace") {
		t.Fatalf("whoami: %v", err)
	}
}

// A metadata reply naming another notebook, an id that is a path, or a
// name that cannot be shown makes Stat fail as not found; the notebook a
// save created keeps the id the upload gave, not the one /metadata claims.
func TestHostileMetadataReply(t *testing.T) {
	for _, tc := range []struct{ name, meta string }{
		{"path id", `{"id":"../../../../tmp/nbfs-linked","namespace":"alice","name":"x","allowed_actions":["read"]}`},
		{"other id", `{"id":"` + otherID + `","namespace":"alice","name":"x","allowed_actions":["read"]}`},
		{"other namespace", `{"id":"` + goodID + `","namespace":"bob","name":"x","allowed_actions":["read"]}`},
		{"bad name", `{"id":"` + goodID + `","namespace":"alice","name":"x\u009d52;c;aGk=\u009c","allowed_actions":["read"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := hostile(t, map[string]string{
				"/v1/user": `{"username":"alice","organizations":[]}`,
				"/v1/arrays/alice/" + goodID + "/metadata":      tc.meta,
				"/v1/arrays/alice/" + goodID + "/metadata_json": `{"file_size":5}`,
			})
			c, hook := hookedClient(t, rec)
			_, err := c.Stat(t.Context(), "alice", goodID)
			if !errors.Is(err, remote.ErrNotFound) {
				t.Fatalf("stat: %v", err)
			}
			if w := warnings(hook); len(w) != 1 {
				t.Errorf("warnings: %q", w)
			}
		})
	}
	// The upload answers a valid id; its metadata claims a path.
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.URL.Path == "/v1/user":
			userJSON(w)
		case strings.HasSuffix(r.URL.Path, "/upload"):
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"`+goodID+`","name":"n","output_uri":"tiledb://alice/`+goodID+`"}`)
		case strings.HasSuffix(r.URL.Path, "/metadata"):
			io.WriteString(w, `{"id":"../../../../tmp/nbfs-linked","namespace":"alice","name":"n","allowed_actions":["read","write"]}`)
		case strings.HasSuffix(r.URL.Path, "/metadata_json"):
			io.WriteString(w, `{"file_size":5}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	c, _ := hookedClient(t, rec)
	nb, err := c.Create(t.Context(), "alice", "n", strings.NewReader("hello"), 5, remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nb.ID != goodID || nb.Namespace != "alice" {
		t.Fatalf("created: %+v", nb)
	}
}

// Shares naming a namespace that is none are left out.
func TestHostileShares(t *testing.T) {
	rec := hostile(t, map[string]string{
		"/v1/user": `{"username":"alice","organizations":[]}`,
		"/v1/arrays/alice/" + goodID + "/share": `[{"namespace":"bob","actions":["read"],"namespace_type":"user"},` +
			`{"namespace":"evil\nline","actions":["read"]},{"namespace":"public","actions":["read"]}]`,
	})
	c, hook := hookedClient(t, rec)
	shares, err := c.Shares(t.Context(), "alice", goodID)
	if err != nil {
		t.Fatal(err)
	}
	if len(shares) != 2 || shares[0].Namespace != "bob" || shares[1].Namespace != "public" {
		t.Fatalf("shares: %+v", shares)
	}
	if w := warnings(hook); len(w) != 1 {
		t.Errorf("warnings: %q", w)
	}
}

// Switching certificate verification off is said once, at the client's
// creation (the mount makes one client), and not otherwise.
func TestInsecureSkipVerifyWarnsOnce(t *testing.T) {
	for _, insecure := range []bool{true, false} {
		l, hook := test.NewNullLogger()
		c, err := New(Options{Host: "https://api.tiledb.test", Token: testToken, InsecureSkipVerify: insecure, Log: logrus.NewEntry(l)})
		if err != nil {
			t.Fatal(err)
		}
		_ = c
		w := warnings(hook)
		switch {
		case insecure && (len(w) != 1 || !strings.Contains(w[0], "verification is off")):
			t.Errorf("verification off: warnings %q", w)
		case !insecure && len(w) != 0:
			t.Errorf("verification on: warnings %q", w)
		}
		for _, e := range hook.AllEntries() {
			if strings.Contains(e.Message, testToken) {
				t.Errorf("the warning holds the token: %q", e.Message)
			}
		}
	}
}
