package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/local"
)

const nbJSON = `{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`

func TestAuth(t *testing.T) {
	e := newEnv(t, Options{}, "alice", "bob")
	e.wantError("GET", "/v1/user", "", nil, http.StatusUnauthorized, CodeUnauthenticated)
	e.wantError("GET", "/v1/user", "", nil, http.StatusUnauthorized, CodeUnauthenticated, "X-TILEDB-REST-API-KEY", "not-a-token")

	var u userJSON
	e.getJSON("alice", "/v1/user", http.StatusOK, &u)
	if u.Username != "alice" {
		t.Errorf("username %q", u.Username)
	}

	basic := func(name, pass string) *http.Response {
		req, _ := http.NewRequest("GET", e.ts.URL+"/v1/user", nil)
		req.SetBasicAuth(name, pass)
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := basic("alice", e.tokens["alice"]); resp.StatusCode != http.StatusOK {
		t.Errorf("basic auth with alice's token: %d", resp.StatusCode)
	}
	if resp := basic("bob", e.tokens["alice"]); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("basic auth as bob with alice's token: %d, want 401", resp.StatusCode)
	}
	if resp := basic("alice", "wrong"); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("basic auth with a bad password: %d %v", resp.StatusCode, resp.Header)
	}

	// No credentials needed for these two.
	if resp, _ := e.do("GET", "/metrics", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics: %d", resp.StatusCode)
	}
	e.wantError("GET", "/v4/capabilities", "", nil, http.StatusNotFound, CodeNoRoute)
	// Bad credentials never reach a handler, even of an unknown notebook.
	e.wantError("DELETE", "/v1/arrays/alice/x", "", nil, http.StatusUnauthorized, CodeUnauthenticated)
}

func TestUserAndOrganizations(t *testing.T) {
	e := newEnv(t, Options{}, "alice", "bob")
	e.addOrg("acme", map[string]string{"alice": local.RoleAdmin, "bob": local.RoleReadOnly})
	e.addOrg("zeta", map[string]string{"bob": local.RoleReadWrite})
	e.create("alice", "acme", "report", nbJSON)

	var raw map[string]any
	e.getJSON("alice", "/v1/user", http.StatusOK, &raw)
	for _, k := range []string{"id", "username", "name", "email", "organizations", "allowed_actions", "enabled_features"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("User lacks %q: %v", k, raw)
		}
	}
	var u userJSON
	e.getJSON("alice", "/v1/user", http.StatusOK, &u)
	if !slices.Contains(u.EnabledFeatures, "notebook_sharing") || !slices.Contains(u.AllowedActions, "create") {
		t.Errorf("user %+v", u)
	}
	var orgs []string
	for _, o := range u.Organizations {
		orgs = append(orgs, o.OrganizationName+":"+o.Role)
		if o.Username != "alice" || len(o.AllowedActions) == 0 {
			t.Errorf("organization %+v", o)
		}
	}
	if want := []string{"acme:admin", "public:read_only"}; !slices.Equal(orgs, want) {
		t.Errorf("organizations %v, want %v", orgs, want)
	}

	var list []organizationJSON
	e.getJSON("bob", "/v1/organizations", http.StatusOK, &list)
	var got []string
	for _, o := range list {
		got = append(got, fmt.Sprintf("%s:%s:%d", o.Name, o.Role, o.NumOfArrays))
	}
	if want := []string{"acme:read_only:1", "zeta:read_write:0", "public:read_only:0"}; !slices.Equal(got, want) {
		t.Errorf("bob's organizations %v, want %v", got, want)
	}
	var one organizationJSON
	e.getJSON("bob", "/v1/organizations/acme", http.StatusOK, &one)
	if one.Name != "acme" || one.Role != "read_only" || slices.Contains(one.AllowedActions, "create") {
		t.Errorf("acme for bob: %+v", one)
	}
	e.wantError("GET", "/v1/organizations/zeta", "alice", nil, http.StatusNotFound, CodeNotFound)
	e.wantError("GET", "/v1/organizations/nobody", "alice", nil, http.StatusNotFound, CodeNotFound)
	e.wantError("GET", "/v1/organizations/bad%20name", "alice", nil, http.StatusBadRequest, CodeInvalid)
}

func TestBrowsePaging(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	const n = 250
	var ids []string
	for i := range n {
		ids = append(ids, e.create("alice", "alice", fmt.Sprintf("nb%03d", i), nbJSON).ID)
	}
	var got []string
	for page := 1; page <= 3; page++ {
		var d arrayBrowserData
		e.getJSON("alice", fmt.Sprintf("/v1/arrays/browser/owned?page=%d&per_page=100&file_type=notebook", page), http.StatusOK, &d)
		want := paginationMetadata{Page: page, PerPage: 100, TotalPages: 3, TotalItems: n}
		if d.PaginationMetadata != want {
			t.Errorf("page %d: %+v, want %+v", page, d.PaginationMetadata, want)
		}
		if wantLen := min(100, n-(page-1)*100); len(d.Arrays) != wantLen {
			t.Errorf("page %d: %d arrays, want %d", page, len(d.Arrays), wantLen)
		}
		for _, a := range d.Arrays {
			got = append(got, a.ID)
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("pages do not list the notebooks once each in creation order")
	}
	// Past the end: an empty list, not null.
	resp, body := e.do("GET", "/v1/arrays/browser/owned?page=4&per_page=100", "alice", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"arrays":[]`)) {
		t.Errorf("page 4: %d %s", resp.StatusCode, body)
	}
	// Default page size is 1000; larger is capped.
	var d arrayBrowserData
	e.getJSON("alice", "/v1/arrays/browser/owned", http.StatusOK, &d)
	if d.PaginationMetadata.PerPage != 1000 || len(d.Arrays) != n || d.PaginationMetadata.TotalPages != 1 {
		t.Errorf("default page: %+v, %d arrays", d.PaginationMetadata, len(d.Arrays))
	}
	e.getJSON("alice", "/v1/arrays/browser/owned?per_page=5000", http.StatusOK, &d)
	if d.PaginationMetadata.PerPage != 1000 {
		t.Errorf("per_page=5000 gives %d", d.PaginationMetadata.PerPage)
	}
	e.wantError("GET", "/v1/arrays/browser/owned?page=-1", "alice", nil, http.StatusBadRequest, CodeInvalid)
	e.wantError("GET", "/v1/arrays/browser/owned?per_page=x", "alice", nil, http.StatusBadRequest, CodeInvalid)
	e.getJSON("alice", "/v1/arrays/browser/owned?page=9223372036854775807&per_page=1000", http.StatusOK, &d)
	if len(d.Arrays) != 0 {
		t.Errorf("huge page: %d arrays", len(d.Arrays))
	}
}

func TestBrowseShapeAndFilters(t *testing.T) {
	e := newEnv(t, Options{}, "alice", "bob")
	e.create("alice", "alice", "Quickstart", nbJSON)
	e.create("alice", "alice", "other", "{}")

	var raw map[string]any
	e.getJSON("alice", "/v1/arrays/browser/owned?with_metadata=true", http.StatusOK, &raw)
	arrays := raw["arrays"].([]any)
	a0 := arrays[0].(map[string]any)
	for _, k := range []string{"id", "name", "namespace", "file_type", "tiledb_uri", "uri", "allowed_actions",
		"created_at", "last_accessed", "size", "public_share", "share_count", "metadata"} {
		if _, ok := a0[k]; !ok {
			t.Errorf("ArrayInfo lacks %q: %v", k, a0)
		}
	}
	var d arrayBrowserData
	e.getJSON("alice", "/v1/arrays/browser/owned?with_metadata=true", http.StatusOK, &d)
	a := d.Arrays[0]
	if a.Name != "Quickstart" || a.Namespace != "alice" || a.FileType != "notebook" || a.TileDBURI != "tiledb://alice/Quickstart" ||
		a.URI != "local://alice/"+a.ID || a.Size != int64(len(nbJSON)) || a.PublicShare || a.ShareCount != 0 {
		t.Errorf("ArrayInfo %+v", a)
	}
	if want := []string{"read", "write", "edit"}; !slices.Equal(a.AllowedActions, want) {
		t.Errorf("owner's actions %v, want %v", a.AllowedActions, want)
	}
	if !slices.Contains(a.Metadata, metadataEntry{Key: "file_size", Value: strconv.Itoa(len(nbJSON)), Type: "INT64"}) {
		t.Errorf("metadata %+v", a.Metadata)
	}
	for _, ts := range []string{a.CreatedAt, a.LastAccessed} {
		if _, err := time.Parse(time.RFC3339, ts); err != nil || !strings.Contains(ts, ".") {
			t.Errorf("timestamp %q: %v", ts, err)
		}
	}
	var plain arrayBrowserData
	e.getJSON("alice", "/v1/arrays/browser/owned", http.StatusOK, &plain)
	if plain.Arrays[0].Metadata != nil {
		t.Errorf("metadata without with_metadata: %+v", plain.Arrays[0].Metadata)
	}

	count := func(query string) int {
		t.Helper()
		var d arrayBrowserData
		e.getJSON("alice", "/v1/arrays/browser/owned?"+query, http.StatusOK, &d)
		return len(d.Arrays)
	}
	for query, want := range map[string]int{
		"file_type=notebook":                         2,
		"file_type=file":                             0,
		"file_type=file&file_type=notebook":          2,
		"exclude_file_type=notebook":                 0,
		"exclude_file_type=file&exclude_file_type=x": 2,
		"search=quick":                               1,
		"search=nothing":                             0,
		"namespace=alice":                            2,
		"namespace=bob":                              0,
		"tag=x":                                      0,
		"orderby=name&permissions=read":              2,
	} {
		if got := count(query); got != want {
			t.Errorf("owned?%s: %d notebooks, want %d", query, got, want)
		}
	}
	e.wantError("GET", "/v1/arrays/browser/owned?namespace=bad%20ns", "alice", nil, http.StatusBadRequest, CodeInvalid)

	var sb arrayBrowserSidebar
	e.getJSON("alice", "/v1/arrays/browser/owned/sidebar", http.StatusOK, &sb)
	if !slices.Equal(sb.Namespaces, []string{"alice"}) || sb.ResultCountForAll != 2 || sb.ResultCountByNamespace["alice"] != 2 {
		t.Errorf("owned sidebar %+v", sb)
	}
	resp, body := e.do("GET", "/v1/arrays/browser/shared/sidebar", "bob", nil)
	if resp.StatusCode != http.StatusOK || string(body) != `{"namespaces":[],"result_count_for_all":0,"result_count_by_namespace":{}}`+"\n" {
		t.Errorf("empty shared sidebar: %d %s", resp.StatusCode, body)
	}
}

func TestSharingVisibility(t *testing.T) {
	e := newEnv(t, Options{}, "alice", "bob", "carol")
	nb := e.create("alice", "alice", "analysis", nbJSON)
	path := "/v1/arrays/alice/" + nb.ID

	// Not shared: bob sees nothing.
	e.wantError("GET", path+"/metadata", "bob", nil, http.StatusNotFound, CodeNotFound)
	e.wantError("GET", "/v1/arrays/alice/analysis/metadata", "bob", nil, http.StatusNotFound, CodeNotFound)
	var d arrayBrowserData
	e.getJSON("bob", "/v1/arrays/browser/shared", http.StatusOK, &d)
	if len(d.Arrays) != 0 {
		t.Fatalf("bob's shared before sharing: %v", names(d.Arrays))
	}

	e.call("PATCH", path+"/share", "alice", map[string]any{"namespace": "bob", "actions": []string{"read"}}, http.StatusNoContent, nil)
	var shares []arraySharing
	e.getJSON("alice", path+"/share", http.StatusOK, &shares)
	if len(shares) != 1 || shares[0].Namespace != "bob" || !slices.Equal(shares[0].Actions, []string{"read"}) || shares[0].NamespaceType != "user" {
		t.Errorf("shares %+v", shares)
	}
	e.getJSON("bob", "/v1/arrays/browser/shared?namespace=alice", http.StatusOK, &d)
	if len(d.Arrays) != 1 || d.Arrays[0].ID != nb.ID || !slices.Equal(d.Arrays[0].AllowedActions, []string{"read"}) || d.Arrays[0].ShareCount != 1 {
		t.Errorf("bob's shared: %+v", d.Arrays)
	}
	e.getJSON("bob", "/v1/arrays/browser/shared?shared_to=bob", http.StatusOK, &d)
	if len(d.Arrays) != 1 {
		t.Errorf("shared_to=bob: %v", names(d.Arrays))
	}
	e.getJSON("bob", "/v1/arrays/browser/shared?shared_to=acme", http.StatusOK, &d)
	if len(d.Arrays) != 0 {
		t.Errorf("shared_to=acme: %v", names(d.Arrays))
	}
	var sb arrayBrowserSidebar
	e.getJSON("bob", "/v1/arrays/browser/shared/sidebar", http.StatusOK, &sb)
	if !slices.Equal(sb.Namespaces, []string{"alice"}) || sb.ResultCountByNamespace["alice"] != 1 {
		t.Errorf("bob's shared sidebar %+v", sb)
	}
	// Bob reads by name too, but may not write, rename, delete or share.
	resp, body := e.do("GET", "/v1/arrays/alice/analysis/query/get_file", "bob", nil)
	if resp.StatusCode != http.StatusOK || string(body) != nbJSON {
		t.Errorf("bob's get_file: %d %s", resp.StatusCode, body)
	}
	e.wantError("PATCH", "/v1/notebooks/alice/analysis/rename", "bob", []byte(`{"name":"x"}`), http.StatusForbidden, CodePermission)
	e.wantError("DELETE", path, "bob", nil, http.StatusForbidden, CodePermission)
	e.wantError("PATCH", path+"/share", "bob", []byte(`{"namespace":"carol","actions":["read"]}`), http.StatusForbidden, CodePermission)
	e.wantError("GET", path+"/metadata", "carol", nil, http.StatusNotFound, CodeNotFound)

	// Public: everyone sees it under public.
	e.call("PATCH", path+"/share", "alice", map[string]any{"namespace": "public", "actions": []string{"read"}}, http.StatusNoContent, nil)
	e.getJSON("carol", "/v1/arrays/browser/public", http.StatusOK, &d)
	if len(d.Arrays) != 1 || !d.Arrays[0].PublicShare || d.Arrays[0].ShareCount != 2 {
		t.Errorf("carol's public: %+v", d.Arrays)
	}
	e.getJSON("carol", "/v1/arrays/browser/public/sidebar", http.StatusOK, &sb)
	if !slices.Equal(sb.Namespaces, []string{"alice"}) {
		t.Errorf("public sidebar %+v", sb)
	}
	e.wantError("PATCH", path+"/share", "alice", []byte(`{"namespace":"public","actions":["write"]}`), http.StatusBadRequest, CodeInvalid)
	e.wantError("PATCH", path+"/share", "alice", []byte(`{"namespace":"nobody","actions":["read"]}`), http.StatusBadRequest, CodeInvalid)
	e.wantError("PATCH", path+"/share", "alice", []byte(`{"actions":["read"]}`), http.StatusBadRequest, CodeInvalid)
	e.wantError("PATCH", path+"/share", "alice", []byte(`{"namespace":"bob","actions":["admin"]}`), http.StatusBadRequest, CodeInvalid)
	e.wantError("PATCH", path+"/share", "alice", []byte(`not json`), http.StatusBadRequest, CodeInvalid)

	// Unshare: "actions": [] and a missing actions both remove.
	e.call("PATCH", path+"/share", "alice", map[string]any{"namespace": "public", "actions": []string{}}, http.StatusNoContent, nil)
	e.call("PATCH", path+"/share", "alice", map[string]any{"namespace": "bob"}, http.StatusNoContent, nil)
	e.getJSON("alice", path+"/share", http.StatusOK, &shares)
	if len(shares) != 0 {
		t.Errorf("shares after unsharing: %+v", shares)
	}
	e.wantError("GET", path+"/metadata", "bob", nil, http.StatusNotFound, CodeNotFound)
}

func TestOrganizationAccess(t *testing.T) {
	e := newEnv(t, Options{}, "alice", "bob", "carol", "dave")
	e.addOrg("acme", map[string]string{"alice": local.RoleOwner, "bob": local.RoleReadOnly, "carol": local.RoleReadWrite})
	up := e.upload("alice", "acme", "plan", nbJSON)

	var d arrayBrowserData
	e.getJSON("bob", "/v1/arrays/browser/owned?namespace=acme", http.StatusOK, &d)
	if len(d.Arrays) != 1 || d.Arrays[0].ID != up.ID || !slices.Equal(d.Arrays[0].AllowedActions, []string{"read"}) {
		t.Errorf("bob's acme listing: %+v", d.Arrays)
	}
	e.getJSON("bob", "/v1/arrays/browser/owned", http.StatusOK, &d)
	if len(d.Arrays) != 1 {
		t.Errorf("bob's owned: %v", names(d.Arrays))
	}
	e.getJSON("carol", "/v1/arrays/browser/owned?namespace=acme", http.StatusOK, &d)
	if len(d.Arrays) != 1 || !slices.Equal(d.Arrays[0].AllowedActions, []string{"read", "write"}) {
		t.Errorf("carol's acme listing: %+v", d.Arrays)
	}
	e.getJSON("alice", "/v1/arrays/acme/plan/metadata", http.StatusOK, &d.Arrays[0])
	if !slices.Equal(d.Arrays[0].AllowedActions, []string{"read", "write", "edit"}) {
		t.Errorf("alice (owner) on acme/plan: %v", d.Arrays[0].AllowedActions)
	}
	// Creating: read_only may not, read_write may, outsiders do not see it.
	e.wantError("POST", "/v2/notebooks/acme/x/upload?filesize=2", "bob", []byte("{}"), http.StatusForbidden, CodePermission)
	e.upload("carol", "acme", "carols", "{}")
	e.wantError("POST", "/v2/notebooks/acme/x/upload?filesize=2", "dave", []byte("{}"), http.StatusForbidden, CodePermission)
	e.wantError("GET", "/v1/arrays/acme/plan/metadata", "dave", nil, http.StatusNotFound, CodeNotFound)
	e.getJSON("dave", "/v1/arrays/browser/owned?namespace=acme", http.StatusOK, &d)
	if len(d.Arrays) != 0 {
		t.Errorf("dave's acme listing: %v", names(d.Arrays))
	}
	// Sharing with the organization reaches its members.
	mine := e.create("dave", "dave", "daves", nbJSON)
	e.call("PATCH", "/v1/arrays/dave/daves/share", "dave", map[string]any{"namespace": "acme", "actions": []string{"read", "write"}}, http.StatusNoContent, nil)
	var shares []arraySharing
	e.getJSON("dave", "/v1/arrays/dave/daves/share", http.StatusOK, &shares)
	if len(shares) != 1 || shares[0].NamespaceType != "organization" || !slices.Equal(shares[0].Actions, []string{"read", "write"}) {
		t.Errorf("shares %+v", shares)
	}
	e.getJSON("bob", "/v1/arrays/browser/shared", http.StatusOK, &d)
	if len(d.Arrays) != 1 || d.Arrays[0].ID != mine.ID || !slices.Equal(d.Arrays[0].AllowedActions, []string{"read", "write"}) {
		t.Errorf("bob's shared via acme: %+v", d.Arrays)
	}
}

func TestAddressing(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	first := e.create("alice", "alice", "dup", "first")
	second := e.create("alice", "alice", "dup", "second")
	spaced := e.create("alice", "alice", "my nb", "spaced")
	e.create("alice", "alice", "50% sure?", "odd")

	get := func(array string) string {
		t.Helper()
		resp, body := e.do("GET", "/v1/arrays/alice/"+array+"/query/get_file", "alice", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("get_file %s: %d %s", array, resp.StatusCode, body)
		}
		return string(body)
	}
	if got := get("dup"); got != "first" {
		t.Errorf("by name: %q, want the first created", got)
	}
	if got := get(second.ID); got != "second" {
		t.Errorf("by id: %q", got)
	}
	if got := get(strings.ToUpper(first.ID)); got != "first" {
		t.Errorf("by upper-case id: %q", got)
	}
	if got := get(url.PathEscape("local://alice/" + second.ID)); got != "second" {
		t.Errorf("by storage uri: %q", got)
	}
	if got := get(url.PathEscape("50% sure?")); got != "odd" {
		t.Errorf("by escaped name with %% and ?: %q", got)
	}
	if got := get("my%20nb"); got != "spaced" {
		t.Errorf("by escaped name: %q", got)
	}
	var ai arrayInfo
	e.getJSON("alice", "/v1/arrays/alice/"+spaced.ID+"/metadata", http.StatusOK, &ai)
	if ai.Name != "my nb" {
		t.Errorf("metadata by id: %+v", ai)
	}
	// A notebook named like an id that is not one is found by name.
	fake := "00000000-0000-0000-0000-000000000000"
	e.create("alice", "alice", fake, "named like an id")
	if got := get(fake); got != "named like an id" {
		t.Errorf("uuid-shaped name: %q", got)
	}
	e.wantError("GET", "/v1/arrays/alice/nothing/metadata", "alice", nil, http.StatusNotFound, CodeNotFound)
	e.wantError("GET", "/v1/arrays/alice/"+strings.Repeat("x", 300)+"/metadata", "alice", nil, http.StatusBadRequest, CodeNameTooLong)
	e.wantError("GET", "/v1/arrays/bad%20ns/dup/metadata", "alice", nil, http.StatusBadRequest, CodeInvalid)
	e.wantError("GET", "/v1/arrays/alice/a%2Fb/metadata", "alice", nil, http.StatusBadRequest, CodeInvalid)
}

func TestUploadAndGetFile(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	up := e.upload("alice", "alice", "new", nbJSON)
	if up.Name != "new" || up.ID == "" || up.OutputURI != "tiledb://alice/"+up.ID {
		t.Errorf("NotebookUploaded %+v", up)
	}
	resp, body := e.do("GET", "/v1/arrays/alice/"+up.ID+"/query/get_file", "alice", nil, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusOK || string(body) != nbJSON {
		t.Fatalf("get_file: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Type") != "application/x-ipynb+json" || resp.Header.Get("Content-Length") != strconv.Itoa(len(nbJSON)) ||
		resp.Header.Get("X-TILEDB-CLOUD-TASK-ID") == "" {
		t.Errorf("get_file headers %v", resp.Header)
	}
	// A second upload of the same name is a second notebook; ?name= wins
	// over {array}.
	again := e.upload("alice", "alice", "new", "{}")
	if again.ID == up.ID {
		t.Error("second upload reused the id")
	}
	resp, body = e.do("POST", "/v2/notebooks/alice/ignored/upload?filesize=2&name=named", "alice", []byte("{}"),
		"X-TILEDB-CLOUD-ACCESS-CREDENTIALS-NAME", "creds")
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"name":"named"`) {
		t.Errorf("upload with name: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("POST", "/v2/notebooks/alice/"+url.PathEscape("s3://bucket/dir/fromuri")+"/upload?filesize=2", "alice", []byte("{}"))
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"name":"fromuri"`) {
		t.Errorf("upload to a storage uri: %d %s", resp.StatusCode, body)
	}
	// Larger than the in-memory spool: goes through a temporary file.
	big := bytes.Repeat([]byte("x"), spoolInMemory+12345)
	resp, body = e.do("POST", "/v2/notebooks/alice/big/upload?filesize="+strconv.Itoa(len(big)), "alice", big)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("big upload: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/v1/arrays/alice/big/query/get_file", "alice", nil)
	if !bytes.Equal(body, big) {
		t.Errorf("big get_file: %d, %d bytes", resp.StatusCode, len(body))
	}

	var d arrayBrowserData
	e.getJSON("alice", "/v1/arrays/browser/owned", http.StatusOK, &d)
	before := len(d.Arrays)
	// Size mismatches, missing or bad filesize, too large: nothing created.
	e.wantError("POST", "/v2/notebooks/alice/x/upload?filesize=10", "alice", []byte("{}"), http.StatusBadRequest, CodeInvalid)
	e.wantError("POST", "/v2/notebooks/alice/x/upload?filesize=1", "alice", []byte("{}"), http.StatusBadRequest, CodeInvalid)
	e.wantError("POST", "/v2/notebooks/alice/x/upload", "alice", []byte("{}"), http.StatusBadRequest, CodeInvalid)
	e.wantError("POST", "/v2/notebooks/alice/x/upload?filesize=-2", "alice", []byte("{}"), http.StatusBadRequest, CodeInvalid)
	e.wantError("POST", "/v2/notebooks/alice/x/upload?filesize=2147483648", "alice", []byte("{}"), http.StatusRequestEntityTooLarge, CodeTooLarge)
	e.wantError("POST", "/v2/notebooks/alice/x/upload?filesize=99999999999999999999", "alice", []byte("{}"), http.StatusRequestEntityTooLarge, CodeTooLarge)
	e.wantError("POST", "/v2/notebooks/alice/"+strings.Repeat("n", 300)+"/upload?filesize=2", "alice", []byte("{}"), http.StatusBadRequest, CodeNameTooLong)
	e.wantError("POST", "/v2/notebooks/bob/x/upload?filesize=2", "alice", []byte("{}"), http.StatusNotFound, CodeNotFound)
	// Chunked bodies (no Content-Length) are counted as they come.
	for _, body := range []string{"{", "{}}"} {
		// An io.Reader of unknown length: the transport sends it chunked.
		req, _ := http.NewRequest("POST", e.ts.URL+"/v2/notebooks/alice/x/upload?filesize=2", struct{ *strings.Reader }{strings.NewReader(body)})
		req.Header.Set("X-TILEDB-REST-API-KEY", e.tokens["alice"])
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("chunked %q: status %d", body, resp.StatusCode)
		}
	}
	e.getJSON("alice", "/v1/arrays/browser/owned", http.StatusOK, &d)
	if len(d.Arrays) != before {
		t.Errorf("failed uploads created notebooks: %d -> %d", before, len(d.Arrays))
	}
}

func TestVersions(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	var now atomicTime
	now.set(time.UnixMilli(1_700_000_000_000))
	e.store.SetClock(now.get)
	nb := e.create("alice", "alice", "v", "one")
	cl := e.store.As("alice")
	for i, content := range []string{"two!", "three"} {
		now.set(time.UnixMilli(1_700_000_000_000 + int64(i+1)*1000))
		if _, err := cl.Write(e.ctx(), "alice", nb.ID, strings.NewReader(content), int64(len(content))); err != nil {
			t.Fatal(err)
		}
	}
	want := []int64{1_700_000_000_000, 1_700_000_001_000, 1_700_000_002_000}
	for _, base := range []string{"/v1/notebooks/alice/v/end_timestamps", "/v1/arrays/alice/" + nb.ID + "/end_timestamps"} {
		var d arrayEndTimestampData
		e.getJSON("alice", base, http.StatusOK, &d)
		if !slices.Equal(d.EndTimestamps, want) || d.PaginationMetadata.TotalItems != 3 {
			t.Errorf("%s: %+v", base, d)
		}
		e.getJSON("alice", base+"?page=2&per_page=2", http.StatusOK, &d)
		if !slices.Equal(d.EndTimestamps, want[2:]) || d.PaginationMetadata != (paginationMetadata{Page: 2, PerPage: 2, TotalPages: 2, TotalItems: 3}) {
			t.Errorf("%s page 2: %+v", base, d)
		}
	}
	getInt := func(path string) int64 {
		t.Helper()
		resp, body := e.do("GET", path, "alice", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
		if err != nil {
			t.Fatalf("%s: %q is not a bare integer", path, body)
		}
		return n
	}
	if got := getInt("/v1/arrays/alice/v/fragment_end_timestamp"); got != want[2] {
		t.Errorf("fragment_end_timestamp %d", got)
	}
	if got := getInt("/v1/arrays/alice/v/fragment_end_timestamp?end_timestamp=1700000001500"); got != want[1] {
		t.Errorf("fragment_end_timestamp at 1.5 s %d", got)
	}
	e.wantError("GET", "/v1/arrays/alice/v/fragment_end_timestamp?end_timestamp=5", "alice", nil, http.StatusNotFound, CodeNotFound)
	e.wantError("GET", "/v1/arrays/alice/v/fragment_end_timestamp?end_timestamp=x", "alice", nil, http.StatusBadRequest, CodeInvalid)

	var meta map[string]any
	e.getJSON("alice", "/v1/arrays/alice/v/metadata_json", http.StatusOK, &meta)
	if meta["file_size"] != float64(5) || meta["type"] != "notebook" || meta["format"] != "json" {
		t.Errorf("metadata_json %v", meta)
	}
	e.getJSON("alice", "/v1/arrays/alice/v/metadata_json?end_timestamp=1700000001999", http.StatusOK, &meta)
	if meta["file_size"] != float64(4) {
		t.Errorf("metadata_json at the second version %v", meta)
	}
	e.wantError("GET", "/v1/arrays/alice/v/metadata_json?end_timestamp=1", "alice", nil, http.StatusNotFound, CodeNotFound)

	// last_accessed is the latest version's time; created_at the first's.
	var ai arrayInfo
	e.getJSON("alice", "/v1/arrays/alice/v/metadata", http.StatusOK, &ai)
	if ai.LastAccessed != "2023-11-14T22:13:22.000Z" || ai.CreatedAt != "2023-11-14T22:13:20.000Z" || ai.Size != 5 {
		t.Errorf("ArrayInfo times %q %q size %d", ai.CreatedAt, ai.LastAccessed, ai.Size)
	}
}

func TestRenameAndDelete(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	nb := e.create("alice", "alice", "old", nbJSON)
	e.call("PATCH", "/v1/notebooks/alice/old/rename", "alice", map[string]any{"name": "new name", "uri": "tiledb://alice/old"}, http.StatusNoContent, nil)
	var ai arrayInfo
	e.getJSON("alice", "/v1/arrays/alice/new%20name/metadata", http.StatusOK, &ai)
	if ai.ID != nb.ID || ai.TileDBURI != "tiledb://alice/new name" {
		t.Errorf("after rename %+v", ai)
	}
	e.wantError("GET", "/v1/arrays/alice/old/metadata", "alice", nil, http.StatusNotFound, CodeNotFound)
	e.wantError("PATCH", "/v1/notebooks/alice/new%20name/rename", "alice", []byte(`{}`), http.StatusBadRequest, CodeInvalid)
	e.wantError("PATCH", "/v1/notebooks/alice/new%20name/rename", "alice", []byte(`{"name":"a/b"}`), http.StatusBadRequest, CodeInvalid)
	e.wantError("PATCH", "/v1/notebooks/alice/new%20name/rename", "alice", []byte(`{"name":"`+strings.Repeat("n", 300)+`"}`), http.StatusBadRequest, CodeNameTooLong)

	e.call("DELETE", "/v1/arrays/alice/new%20name", "alice", nil, http.StatusNoContent, nil)
	e.wantError("GET", "/v1/arrays/alice/"+nb.ID+"/metadata", "alice", nil, http.StatusNotFound, CodeNotFound)
	e.wantError("DELETE", "/v1/arrays/alice/"+nb.ID, "alice", nil, http.StatusNotFound, CodeNotFound)

	other := e.create("alice", "alice", "other", nbJSON)
	e.call("DELETE", "/v1/arrays/alice/"+other.ID+"/deregister", "alice", nil, http.StatusNoContent, nil)
	e.wantError("GET", "/v1/arrays/alice/other/metadata", "alice", nil, http.StatusNotFound, CodeNotFound)
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	e.wantError("GET", "/v1/nothing/here", "alice", nil, http.StatusNotFound, CodeNoRoute)
	e.wantError("GET", "/v1/nothing/here", "", nil, http.StatusNotFound, CodeNoRoute)
	resp, _ := e.do("PUT", "/v1/user", "alice", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Errorf("PUT /v1/user: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	e.wantError("POST", "/v1/arrays/alice/x/share", "alice", nil, http.StatusMethodNotAllowed, CodeMethod)
	// Every reply has its own request id.
	r1, _ := e.do("GET", "/v1/user", "alice", nil)
	r2, _ := e.do("GET", "/v1/user", "alice", nil)
	if id1, id2 := r1.Header.Get("X-Request-Id"), r2.Header.Get("X-Request-Id"); id1 == "" || id1 == id2 {
		t.Errorf("request ids %q %q", id1, id2)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err          error
		status, code int
	}{
		{remote.ErrNotFound, 404, CodeNotFound},
		{remote.ErrPermission, 403, CodePermission},
		{remote.ErrUnauthenticated, 401, CodeUnauthenticated},
		{remote.ErrInvalid, 400, CodeInvalid},
		{remote.ErrNameTooLong, 400, CodeNameTooLong},
		{remote.ErrExist, 409, CodeExist},
		{remote.ErrConflict, 409, CodeConflict},
		{remote.ErrUnsupported, 501, CodeUnsupported},
		{fmt.Errorf("wrapped: %w", remote.ErrExist), 409, CodeExist},
		{context.Canceled, 503, CodeUnavailable},
		{fmt.Errorf("disk on fire"), 500, CodeInternal},
	} {
		if s, code := classify(c.err); s != c.status || code != c.code {
			t.Errorf("classify(%v) = %d %d, want %d %d", c.err, s, code, c.status, c.code)
		}
	}
	// An internal error's text stays in the log.
	e := newEnv(t, Options{}, "alice")
	rec := &recorderForTest{header: http.Header{}}
	writeError(rec, e.srv.log, "rid", fmt.Errorf("secret detail"))
	var eb errorBody
	json.Unmarshal(rec.body.Bytes(), &eb)
	if rec.status != 500 || strings.Contains(eb.Message, "secret") || eb.RequestID != "rid" || eb.Code != CodeInternal {
		t.Errorf("internal error reply %d %+v", rec.status, eb)
	}
}

type recorderForTest struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorderForTest) Header() http.Header         { return r.header }
func (r *recorderForTest) WriteHeader(s int)           { r.status = s }
func (r *recorderForTest) Write(p []byte) (int, error) { return r.body.Write(p) }

// Listing replies say their versions are exact: last_accessed is each
// notebook's newest version, its file_size that version's, so a client may
// read it without asking which version is the newest.
func TestBrowseSaysVersionsAreExact(t *testing.T) {
	e := newEnv(t, Options{}, "alice")
	nb := e.create("alice", "alice", "x", nbJSON)
	resp, body := e.do("GET", "/v1/arrays/browser/owned?file_type=notebook&with_metadata=true&namespace=alice", "alice", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(exactVersionsHeader) != "true" {
		t.Fatalf("%d, %s: %q", resp.StatusCode, exactVersionsHeader, resp.Header.Get(exactVersionsHeader))
	}
	if want := msTime(nb.Version); !bytes.Contains(body, []byte(`"last_accessed":"`+want+`"`)) {
		t.Errorf("listing %s lacks last_accessed %s", body, want)
	}
}
