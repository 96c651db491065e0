package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"notebookfs/remote"
)

// maxJSONBody bounds the JSON request bodies (share, rename).
const maxJSONBody = 1 << 20

func (s *Server) arrayRoutes() []route {
	const a = "/v1/arrays/{namespace}/{array}"
	return []route{
		{pattern: "GET " + a + "/metadata", h: s.getArrayInfo},
		{pattern: "GET " + a + "/metadata_json", h: s.getMetadataJSON},
		{pattern: "GET " + a + "/fragment_end_timestamp", h: s.getFragmentEndTimestamp},
		{pattern: "GET " + a + "/end_timestamps", h: s.getEndTimestamps},
		{pattern: "GET " + a + "/share", h: s.getShares},
		{pattern: "PATCH " + a + "/share", h: s.patchShare},
		{pattern: "GET " + a + "/query/get_file", h: s.getFile},
		{pattern: "DELETE " + a, h: s.deleteArray},
		// Deregister keeps the storage on TileDB Cloud; here there is no
		// storage apart from the catalog, so it deletes like DELETE above.
		{pattern: "DELETE " + a + "/deregister", h: s.deleteArray},
	}
}

func (s *Server) notebookRoutes() []route {
	return []route{
		{pattern: "GET /v1/notebooks/{namespace}/{array}/end_timestamps", h: s.getEndTimestamps},
		{pattern: "PATCH /v1/notebooks/{namespace}/{array}/rename", h: s.renameNotebook},
		{pattern: "POST /v2/notebooks/{namespace}/{array}/upload", h: s.uploadNotebook},
	}
}

// resolve finds the notebook a request's {namespace} and {array} name.
func resolve(r *http.Request, c *call) (remote.Notebook, error) {
	return lookup(r.Context(), c.client, r.PathValue("namespace"), r.PathValue("array"))
}

// lookup finds notebook arr of namespace ns. arr is the notebook's id, our
// storage URI (local://ns/id) or its name. An id is tried first; a name
// picks the first notebook of that name in creation order among those the
// caller sees in ns (owned, else shared or public).
func lookup(ctx context.Context, cl remote.Client, ns, arr string) (remote.Notebook, error) {
	if err := remote.ValidNamespace(ns); err != nil {
		return remote.Notebook{}, err
	}
	if rest, ok := strings.CutPrefix(arr, "local://"+ns+"/"); ok {
		arr = rest
	}
	if len(arr) == 36 {
		if _, err := uuid.Parse(arr); err == nil {
			nb, err := cl.Stat(ctx, ns, arr)
			if !errors.Is(err, remote.ErrNotFound) {
				return nb, err
			}
		}
	}
	if err := remote.ValidName(arr); err != nil {
		return remote.Notebook{}, err
	}
	list, err := cl.List(ctx, remote.Owned, ns)
	if errors.Is(err, remote.ErrNotFound) { // not the caller's namespace
		shared, err := cl.List(ctx, remote.Shared, ns)
		if err != nil {
			return remote.Notebook{}, err
		}
		public, err := cl.List(ctx, remote.Public, ns)
		if err != nil {
			return remote.Notebook{}, err
		}
		list = append(shared, public...)
		sort.SliceStable(list, func(i, j int) bool { return list[i].Created.Before(list[j].Created) })
	} else if err != nil {
		return remote.Notebook{}, err
	}
	for _, nb := range list {
		if nb.Name == arr {
			return nb, nil
		}
	}
	return remote.Notebook{}, fmt.Errorf("notebook %s/%s: %w", ns, arr, remote.ErrNotFound)
}

// getArrayInfo answers GET /v1/arrays/{ns}/{array}/metadata with ArrayInfo.
func (s *Server) getArrayInfo(w http.ResponseWriter, r *http.Request, c *call) error {
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	shares, err := c.client.Shares(r.Context(), nb.Namespace, nb.ID)
	if err != nil {
		return err
	}
	withMeta, err := boolParam(r.URL.Query(), "with_metadata")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toArrayInfo(nb, shares, withMeta))
	return nil
}

// versionAt returns the latest version at or before ms, or ErrNotFound.
func versionAt(ctx context.Context, cl remote.Client, nb remote.Notebook, ms int64) (remote.Version, error) {
	vs, err := cl.Versions(ctx, nb.Namespace, nb.ID)
	if err != nil {
		return remote.Version{}, err
	}
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Time.UnixMilli() <= ms {
			return vs[i], nil
		}
	}
	return remote.Version{}, fmt.Errorf("notebook %s/%s has no version at or before %d ms: %w", nb.Namespace, nb.ID, ms, remote.ErrNotFound)
}

// getMetadataJSON answers GET .../metadata_json[?end_timestamp=ms]: the
// notebook's array metadata as one JSON object. length is ignored (the
// values are short).
func (s *Server) getMetadataJSON(w http.ResponseWriter, r *http.Request, c *call) error {
	end, haveEnd, err := int64Param(r.URL.Query(), "end_timestamp")
	if err != nil {
		return err
	}
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	size := nb.Size
	if haveEnd {
		v, err := versionAt(r.Context(), c.client, nb, end)
		if err != nil {
			return err
		}
		size = v.Size
	}
	writeJSON(w, http.StatusOK, map[string]any{"file_size": size, "type": "notebook", "format": "json"})
	return nil
}

// getFragmentEndTimestamp answers GET .../fragment_end_timestamp with a
// bare JSON integer: the latest version's time in ms, at or before
// end_timestamp when given (404 when there is none that early).
func (s *Server) getFragmentEndTimestamp(w http.ResponseWriter, r *http.Request, c *call) error {
	end, haveEnd, err := int64Param(r.URL.Query(), "end_timestamp")
	if err != nil {
		return err
	}
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	ts := nb.Version.UnixMilli()
	if haveEnd {
		v, err := versionAt(r.Context(), c.client, nb, end)
		if err != nil {
			return err
		}
		ts = v.Time.UnixMilli()
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

// getEndTimestamps answers GET /v1/{arrays,notebooks}/{ns}/{array}/end_timestamps
// with ArrayEndTimestampData: version times in ms, ascending, paginated.
func (s *Server) getEndTimestamps(w http.ResponseWriter, r *http.Request, c *call) error {
	page, perPage, err := paging(r.URL.Query())
	if err != nil {
		return err
	}
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	vs, err := c.client.Versions(r.Context(), nb.Namespace, nb.ID)
	if err != nil {
		return err
	}
	lo, hi, meta := window(len(vs), page, perPage)
	out := arrayEndTimestampData{EndTimestamps: []int64{}, PaginationMetadata: meta}
	for _, v := range vs[lo:hi] {
		out.EndTimestamps = append(out.EndTimestamps, v.Time.UnixMilli())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getShares answers GET .../share with [ArraySharing].
func (s *Server) getShares(w http.ResponseWriter, r *http.Request, c *call) error {
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	shares, err := c.client.Shares(r.Context(), nb.Namespace, nb.ID)
	if err != nil {
		return err
	}
	out := []arraySharing{}
	for _, sh := range shares {
		out = append(out, arraySharing{Namespace: sh.Namespace, Actions: sh.Actions, NamespaceType: sh.Type})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// patchShare answers PATCH .../share {namespace, actions}: grant exactly
// actions; [] (or no actions) removes the share; "public" makes it public.
func (s *Server) patchShare(w http.ResponseWriter, r *http.Request, c *call) error {
	var body arraySharing
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Namespace == "" {
		return badRequest("share: namespace is required")
	}
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	if err := c.client.Share(r.Context(), nb.Namespace, nb.ID, body.Namespace, body.Actions); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteArray answers DELETE /v1/arrays/{ns}/{array}[/deregister].
func (s *Server) deleteArray(w http.ResponseWriter, r *http.Request, c *call) error {
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	if err := c.client.Delete(r.Context(), nb.Namespace, nb.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// renameNotebook answers PATCH /v1/notebooks/{ns}/{array}/rename with an
// ArrayInfoUpdate body; only name is used.
func (s *Server) renameNotebook(w http.ResponseWriter, r *http.Request, c *call) error {
	var body arrayInfoUpdate
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Name == "" {
		return badRequest("rename: name is required")
	}
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	if _, err := c.client.Rename(r.Context(), nb.Namespace, nb.ID, body.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getFile answers GET .../query/get_file with the latest version's bytes,
// streamed from the store.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request, c *call) error {
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	content, err := c.client.Read(r.Context(), nb.Namespace, nb.ID, time.Time{})
	if err != nil {
		return err
	}
	defer content.Close()
	h := w.Header()
	h.Set("Content-Type", "application/x-ipynb+json")
	h.Set("Content-Length", strconv.FormatInt(content.Size, 10))
	h.Set("X-TILEDB-CLOUD-TASK-ID", uuid.NewString())
	h.Set("Last-Modified", content.Version.UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	n, err := io.Copy(w, content)
	if err == nil && n != content.Size {
		err = fmt.Errorf("content of %s/%s: %d bytes, want %d", nb.Namespace, nb.ID, n, content.Size)
	}
	return err // after the header: wrap aborts the connection
}

// decodeJSON reads a bounded JSON body into v; unknown fields are
// ignored, as TileDB's clients send more than a handler reads.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("request body: %v", err)
	}
	return nil
}
