package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"notebookfs/remote"
)

// The JSON shapes of TileDB Cloud's v1/v2 REST API that the client reads,
// with the fields it needs, named as the API's definitions.

// arrayInfo is ArrayInfo.
type arrayInfo struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Namespace      string          `json:"namespace"`
	FileType       string          `json:"file_type"`
	LastAccessed   string          `json:"last_accessed"`
	CreatedAt      string          `json:"created_at"`
	AllowedActions []string        `json:"allowed_actions"`
	Metadata       []metadataEntry `json:"metadata"` // only with with_metadata=true
}

// metadataEntry is MetadataStringifiedEntry: every field a string by the
// spec; value is kept raw in case a server sends a number.
type metadataEntry struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	Type  string          `json:"type"`
}

// pagination is PaginationMetadata: JSON numbers.
type pagination struct {
	Page       float64 `json:"page"`
	PerPage    float64 `json:"per_page"`
	TotalPages float64 `json:"total_pages"`
	TotalItems float64 `json:"total_items"`
}

// arrayBrowserData is ArrayBrowserData; arrays may be absent or null.
type arrayBrowserData struct {
	Arrays     []arrayInfo `json:"arrays"`
	Pagination pagination  `json:"pagination_metadata"`
}

// browserSidebar is ArrayBrowserSidebar.
type browserSidebar struct {
	Namespaces []string `json:"namespaces"`
}

// endTimestamps is ArrayEndTimestampData.
type endTimestamps struct {
	EndTimestamps []json.Number `json:"end_timestamps"`
	Pagination    pagination    `json:"pagination_metadata"`
}

// userInfo is User with its OrganizationUser entries.
type userInfo struct {
	Username      string `json:"username"`
	Organizations []struct {
		OrganizationName string `json:"organization_name"`
		Role             string `json:"role"`
	} `json:"organizations"`
}

// arraySharing is ArraySharing. Actions is sent without omitempty:
// "actions": [] removes a share.
type arraySharing struct {
	Namespace     string   `json:"namespace"`
	Actions       []string `json:"actions"`
	NamespaceType string   `json:"namespace_type,omitempty"`
}

// notebookUploaded is NotebookUploaded.
type notebookUploaded struct {
	OutputURI string `json:"output_uri"`
	Name      string `json:"name"`
	ID        string `json:"id"`
}

// decode unmarshals a JSON reply, naming the call on failure.
func decode(cl *call, data []byte, out any) error {
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: reply is not the expected JSON: %v", cl.label(), err)
	}
	return nil
}

// exactVersionsHeader is the reply header with which a server states that
// the last_accessed of its listing's entries is each notebook's newest
// version exactly, paired with the entry's file_size: notebookfs serve
// sends it; TileDB Cloud does not (its last_accessed is approximate and may
// move on reads), and its listings are then only hints.
const exactVersionsHeader = "X-Notebookfs-Exact-Versions"

func exactVersions(h http.Header) bool { return h.Get(exactVersionsHeader) == "true" }

// getJSON sends a GET expecting JSON and decodes the reply into out.
func (c *Client) getJSON(ctx context.Context, path string, query url.Values, out any) error {
	_, err := c.getJSONHeader(ctx, path, query, out)
	return err
}

// getJSONHeader is getJSON that also returns the reply's header.
func (c *Client) getJSONHeader(ctx context.Context, path string, query url.Values, out any) (http.Header, error) {
	cl := &call{method: http.MethodGet, path: path, query: query}
	resp, data, err := c.send(ctx, cl, true)
	if err != nil {
		return nil, err
	}
	return resp.Header, decode(cl, data, out)
}

// sendJSON sends method with a JSON body and expects a 2xx (204 usually).
func (c *Client) sendJSON(ctx context.Context, method, path string, in any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	cl := &call{method: method, path: path, body: newBody(bytes.NewReader(data), int64(len(data))),
		header: http.Header{"Content-Type": {"application/json"}}}
	_, _, err = c.send(ctx, cl, true)
	return err
}

// seg escapes one path segment, as TileDB's clients do (quote(safe="")).
func seg(s string) string { return url.PathEscape(s) }

// arrayPath is /v1/arrays/{ns}/{id} plus rest.
func arrayPath(ns, id, rest string) string { return "/v1/arrays/" + seg(ns) + "/" + seg(id) + rest }

// notebookPath is /v1/notebooks/{ns}/{id} plus rest.
func notebookPath(ns, id, rest string) string {
	return "/v1/notebooks/" + seg(ns) + "/" + seg(id) + rest
}

// parseTime reads an RFC 3339 date-time as a millisecond UTC time; zero
// when absent or unreadable.
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Millisecond)
		}
	}
	return time.Time{}
}

// sizeValue reads a file_size value in any of the forms a server may use:
// 1234, "1234", [1234], "[1234]".
func sizeValue(raw json.RawMessage) (int64, bool) {
	s := strings.TrimSpace(string(raw))
	for range 3 {
		switch {
		case strings.HasPrefix(s, `"`):
			var u string
			if json.Unmarshal([]byte(s), &u) != nil {
				return 0, false
			}
			s = strings.TrimSpace(u)
			continue
		case strings.HasPrefix(s, "["):
			var a []json.RawMessage
			if json.Unmarshal([]byte(s), &a) != nil || len(a) != 1 {
				return 0, false
			}
			s = strings.TrimSpace(string(a[0]))
			continue
		}
		break
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n <= maxFileSize {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f == math.Trunc(f) && f <= maxFileSize {
		return int64(f), true
	}
	return 0, false
}

// fileSizeFromInfo finds file_size among a listing entry's metadata.
func fileSizeFromInfo(a *arrayInfo) (int64, bool) {
	for _, m := range a.Metadata {
		if m.Key == "file_size" {
			return sizeValue(m.Value)
		}
	}
	return 0, false
}

// fileSize reads file_size from GET .../metadata_json (at end_timestamp T
// when at is non-zero).
func (c *Client) fileSize(ctx context.Context, ns, id string, at time.Time) (int64, error) {
	var q url.Values
	if !at.IsZero() {
		q = url.Values{"end_timestamp": {strconv.FormatInt(at.UnixMilli(), 10)}}
	}
	path := arrayPath(ns, id, "/metadata_json")
	var meta map[string]json.RawMessage
	if err := c.getJSON(ctx, path, q, &meta); err != nil {
		return 0, err
	}
	v, ok := meta["file_size"]
	if !ok {
		// A notebook array without file_size cannot be read by any TileDB
		// client; report it as empty rather than fail the listing.
		c.log.WithField("notebook", ns+"/"+id).Warn("notebook has no file_size metadata; shown as empty")
		return 0, nil
	}
	n, ok := sizeValue(v)
	if !ok {
		return 0, fmt.Errorf("GET %s: file_size %.40s: %w", path, v, errNotByteCount)
	}
	return n, nil
}

// errNotByteCount: a file_size that is not a byte count of at most maxFileSize.
var errNotByteCount = errors.New("not a byte count")

// notebookOf maps an ArrayInfo to a Notebook (Size left to the caller).
//
// Version is last_accessed. The notebookfs server defines it as the time
// of the latest version; on TileDB Cloud it is "last accessed" and may also
// move on reads, so there it is only an approximation of the last save
// (fragment_end_timestamp would be exact, at one more request per
// notebook).
func notebookOf(a *arrayInfo, u remote.User) remote.Notebook {
	nb := remote.Notebook{
		ID:        a.ID,
		Namespace: a.Namespace,
		Name:      a.Name,
		Version:   parseTime(a.LastAccessed),
		Created:   parseTime(a.CreatedAt),
		Actions:   actionsOf(a.AllowedActions, canShare(u, a.Namespace)),
	}
	if nb.Version.Before(nb.Created) {
		nb.Version = nb.Created
	}
	return nb
}

// actionsOf keeps read and write of TileDB's ArrayActions and adds share
// when the caller may share; sorted.
func actionsOf(allowed []string, share bool) []string {
	out := []string{}
	for _, a := range allowed {
		switch a = strings.ToLower(a); a {
		case remote.ActionRead, remote.ActionWrite:
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	if share {
		out = append(out, remote.ActionShare)
	}
	slices.Sort(out)
	return out
}

// canShare: sharing is the right of the namespace's owner, i.e. the user in
// their own namespace, or an owner or admin of the organization.
func canShare(u remote.User, ns string) bool {
	if ns == "" {
		return false
	}
	if ns == u.Username {
		return true
	}
	for _, o := range u.Organizations {
		if o.Name == ns && (o.Role == "owner" || o.Role == "admin") {
			return true
		}
	}
	return false
}

// owns reports whether ns is one of the user's namespaces (owned/).
func owns(u remote.User, ns string) bool { return slices.Contains(u.Namespaces(), ns) }

// uuidRE is the form of a notebook id. TileDB Cloud's {array} path segment
// also takes a name, so a non-UUID id could address some other notebook by
// name: it is refused as not found instead.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkNotebook validates the address of one notebook: a malformed
// namespace or id cannot exist.
func checkNotebook(op, ns, id string) error {
	if remote.ValidNamespace(ns) != nil || !uuidRE.MatchString(id) {
		return fmt.Errorf("%s %s/%s: %w", op, ns, id, remote.ErrNotFound)
	}
	return nil
}

// forEach runs fn(ctx, i) for i in [0, n), at most limit at a time, and
// returns the first error; the first error cancels the others' ctx.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		sem   = make(chan struct{}, max(limit, 1))
	)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
