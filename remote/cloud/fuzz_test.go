package cloud

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// The replies of a hostile or broken server, as the client parses them:
// whatever they hold, what comes out may be used as a path, a file name, a
// URL segment and a size.

// checkShown fails unless nb is fit to be shown: a UUID id, the namespace
// asked, a valid file name, a believable size.
func checkShown(t *testing.T, nb remote.Notebook, ns string) {
	t.Helper()
	switch {
	case !uuidRE.MatchString(nb.ID):
		t.Fatalf("id %q is not a UUID", nb.ID)
	case nb.Namespace != ns:
		t.Fatalf("namespace %q, asked %q", nb.Namespace, ns)
	case remote.ValidName(nb.Name) != nil || !utf8.ValidString(nb.Name) || strings.ContainsAny(nb.Name, "/\x00"):
		t.Fatalf("name %q cannot be shown", nb.Name)
	case nb.Size < 0 || nb.Size > maxFileSize:
		t.Fatalf("size %d", nb.Size)
	}
}

const fuzzListing = `{"arrays":[{"id":"0b6f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b","namespace":"alice","name":"a","file_type":"notebook",` +
	`"created_at":"2026-12-01T00:00:00Z","last_accessed":"2026-12-01T00:00:01Z","allowed_actions":["read","write"],` +
	`"metadata":[{"key":"file_size","value":"[12]","type":"INT64"}]},` +
	`{"id":"../../x","namespace":"alice","name":"b\u009b","metadata":[{"key":"file_size","value":1e300}]}],` +
	`"pagination_metadata":{"page":1,"per_page":100,"total_pages":1,"total_items":2}}`

// FuzzListingReply: a page of GET /v1/arrays/browser/{cat}, decoded and
// filtered as List does.
func FuzzListingReply(f *testing.F) {
	f.Add([]byte(fuzzListing))
	f.Add([]byte(`{"arrays":null}`))
	f.Add([]byte(`{"arrays":[{"id":"0B6F3A4E-1C2D-4E5F-8A9B-0C1D2E3F4A5B","namespace":"alice","name":"x"},` +
		`{"id":"0b6f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b","namespace":"alice","name":"x"}]}`))
	u := remote.User{Username: "alice", Organizations: []remote.Organization{{Name: "acme", Role: "owner"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var page arrayBrowserData
		if json.Unmarshal(data, &page) != nil {
			return
		}
		out, unsized, sized, _, _ := listingEntries([][]arrayInfo{page.Arrays, page.Arrays}, nil, "alice", u)
		ids := map[string]bool{}
		for _, nb := range out {
			checkShown(t, nb, "alice")
			if k := strings.ToLower(nb.ID); ids[k] {
				t.Fatalf("notebook %s listed twice", nb.ID)
			} else {
				ids[k] = true
			}
			if !nb.Version.IsZero() && nb.Version.Before(nb.Created) {
				t.Fatalf("version %v before creation %v", nb.Version, nb.Created)
			}
		}
		for _, i := range unsized {
			if i < 0 || i >= len(out) || sized[out[i].ID] {
				t.Fatalf("unsized index %d of %d", i, len(out))
			}
		}
	})
}

// stubTransport answers by path from the map (404 otherwise).
type stubTransport map[string][]byte

func (s stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	body, ok := s[r.URL.Path]
	code := http.StatusOK
	if !ok {
		code, body = http.StatusNotFound, []byte(`{"code":404,"message":"no"}`)
	}
	return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

// FuzzMetadataReply: the two replies of a Stat, GET .../metadata (names,
// ids, rights) and GET .../metadata_json (file_size), through the client.
func FuzzMetadataReply(f *testing.F) {
	f.Add([]byte(`{"id":"`+goodID+`","namespace":"alice","name":"n","allowed_actions":["read"],"created_at":"2026-12-01T00:00:00Z"}`), []byte(`{"file_size":5}`))
	f.Add([]byte(`{"id":"../../../../tmp/nbfs-linked","namespace":"alice","name":"n"}`), []byte(`{"file_size":"[5]"}`))
	f.Add([]byte(`{"name":"x\u202e"}`), []byte(`{"file_size":-1}`))
	f.Add([]byte(`{}`), []byte(`{"file_size":"99999999999999999999"}`))
	l := logrus.New()
	l.SetOutput(io.Discard)
	f.Fuzz(func(t *testing.T, meta, metaJSON []byte) {
		c, err := New(Options{Host: "https://api.tiledb.test", Token: testToken, Log: logrus.NewEntry(l), MaxRetries: -1,
			Transport: stubTransport{
				"/v1/user": []byte(`{"username":"alice","organizations":[]}`),
				"/v1/arrays/alice/" + goodID + "/metadata":      meta,
				"/v1/arrays/alice/" + goodID + "/metadata_json": metaJSON,
			}})
		if err != nil {
			t.Fatal(err)
		}
		nb, err := c.Stat(t.Context(), "alice", goodID)
		if err != nil {
			return
		}
		checkShown(t, nb, "alice")
		if nb.ID != goodID {
			t.Fatalf("stat of %s answered %s", goodID, nb.ID)
		}
	})
}

// FuzzFileSize: a file_size value in any of the forms servers send.
func FuzzFileSize(f *testing.F) {
	for _, s := range []string{`5`, `"5"`, `[5]`, `"[5]"`, `5.0`, `1e300`, `-1`, `"99999999999999999999"`, `[[5]]`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, ok := sizeValue(json.RawMessage(raw))
		if ok && (n < 0 || n > maxFileSize) {
			t.Fatalf("sizeValue(%q) = %d", raw, n)
		}
		a := arrayInfo{Metadata: []metadataEntry{{Key: "file_size", Value: raw}}}
		if m, ok2 := fileSizeFromInfo(&a); ok2 != ok || m != n {
			t.Fatalf("fileSizeFromInfo(%q) = %d %v, sizeValue %d %v", raw, m, ok2, n, ok)
		}
	})
}
