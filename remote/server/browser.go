package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"notebookfs/remote"
)

// Page sizes of the listings: the JS client's default, also the cap.
const (
	defaultPerPage = 1000
	maxPerPage     = 1000
)

func (s *Server) browserRoutes() []route {
	var out []route
	for _, cat := range remote.Categories {
		out = append(out,
			route{pattern: "GET /v1/arrays/browser/" + string(cat), h: s.browse(cat)},
			route{pattern: "GET /v1/arrays/browser/" + string(cat) + "/sidebar", h: s.sidebar(cat)},
		)
	}
	return out
}

// browse answers GET /v1/arrays/browser/{owned,shared,public} with
// ArrayBrowserData, one page of it.
func (s *Server) browse(cat remote.Category) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		ctx := r.Context()
		q := r.URL.Query()
		page, perPage, err := paging(q)
		if err != nil {
			return err
		}
		withMeta, err := boolParam(q, "with_metadata")
		if err != nil {
			return err
		}
		nbs, err := collect(ctx, c.client, cat, q.Get("namespace"))
		if err != nil {
			return err
		}
		nbs = filterNotebooks(nbs, q)
		// shared_to keeps notebooks shared to one of the namespaces given.
		var shares map[string][]remote.Share
		if targets := multi(q, "shared_to"); cat == remote.Shared && len(targets) > 0 {
			shares = map[string][]remote.Share{}
			kept := nbs[:0]
			for _, nb := range nbs {
				sh, err := sharesOf(ctx, c.client, nb)
				if err != nil {
					return err
				}
				shares[nb.ID] = sh
				if sharedToAny(sh, targets) {
					kept = append(kept, nb)
				}
			}
			nbs = kept
		}
		lo, hi, meta := window(len(nbs), page, perPage)
		out := arrayBrowserData{Arrays: []arrayInfo{}, PaginationMetadata: meta}
		for _, nb := range nbs[lo:hi] {
			sh, ok := shares[nb.ID]
			if !ok {
				if sh, err = sharesOf(ctx, c.client, nb); err != nil {
					return err
				}
			}
			out.Arrays = append(out.Arrays, toArrayInfo(nb, sh, withMeta))
		}
		// Each entry's last_accessed is its newest version and file_size
		// that version's size, read together: clients may take them as
		// the latest without asking fragment_end_timestamp.
		w.Header().Set(exactVersionsHeader, "true")
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// exactVersionsHeader tells clients that listing entries name versions
// exactly (TileDB Cloud's last_accessed is approximate); remote/cloud
// reads it.
const exactVersionsHeader = "X-Notebookfs-Exact-Versions"

// sharesOf lists a listed notebook's shares; one deleted since it was
// listed has none.
func sharesOf(ctx context.Context, cl remote.Client, nb remote.Notebook) ([]remote.Share, error) {
	sh, err := cl.Shares(ctx, nb.Namespace, nb.ID)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, nil
	}
	return sh, err
}

func sharedToAny(shares []remote.Share, targets []string) bool {
	for _, sh := range shares {
		for _, t := range targets {
			if sh.Namespace == t && len(sh.Actions) > 0 {
				return true
			}
		}
	}
	return false
}

// sidebar answers GET /v1/arrays/browser/{cat}/sidebar: the namespaces
// holding notebooks in cat, with counts. For owned these are only the
// user's namespaces that have notebooks; clients list the owned namespaces
// (even empty ones) from GET /v1/user instead.
func (s *Server) sidebar(cat remote.Category) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		q := r.URL.Query()
		nbs, err := collect(r.Context(), c.client, cat, "")
		if err != nil {
			return err
		}
		nbs = filterNotebooks(nbs, q)
		out := arrayBrowserSidebar{Namespaces: []string{}, ResultCountByNamespace: map[string]int{}}
		for _, nb := range nbs {
			if out.ResultCountByNamespace[nb.Namespace] == 0 {
				out.Namespaces = append(out.Namespaces, nb.Namespace)
			}
			out.ResultCountByNamespace[nb.Namespace]++
		}
		sort.Strings(out.Namespaces)
		out.ResultCountForAll = len(nbs)
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// collect lists the notebooks of cat visible to the caller: of namespace
// ns, or of every namespace of cat when ns is empty. Across namespaces the
// order is creation time (then namespace); within one, the store's order
// (creation, the first of a duplicate name first).
func collect(ctx context.Context, cl remote.Client, cat remote.Category, ns string) ([]remote.Notebook, error) {
	var nss []string
	if ns != "" {
		if err := remote.ValidNamespace(ns); err != nil {
			return nil, err
		}
		nss = []string{ns}
	} else {
		var err error
		if nss, err = cl.Namespaces(ctx, cat); err != nil {
			return nil, err
		}
	}
	out := []remote.Notebook{}
	for _, n := range nss {
		list, err := cl.List(ctx, cat, n)
		if errors.Is(err, remote.ErrNotFound) {
			continue // owned, and not one of the caller's namespaces: nothing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	if len(nss) > 1 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	}
	return out, nil
}

// filterNotebooks applies the filters that can exclude notebooks: file_type
// and exclude_file_type (everything here is a notebook), tag (notebooks
// here have no tags, so any tag matches nothing), file_property (none
// either) and search (case-insensitive substring of the name). orderby and
// permissions are accepted and ignored.
func filterNotebooks(nbs []remote.Notebook, q url.Values) []remote.Notebook {
	if ft := multi(q, "file_type"); len(ft) > 0 && !contains(ft, "notebook") {
		return nil
	}
	if contains(multi(q, "exclude_file_type"), "notebook") || len(multi(q, "tag")) > 0 || len(multi(q, "file_property")) > 0 {
		return nil
	}
	search := strings.ToLower(q.Get("search"))
	if search == "" {
		return nbs
	}
	var out []remote.Notebook
	for _, nb := range nbs {
		if strings.Contains(strings.ToLower(nb.Name), search) {
			out = append(out, nb)
		}
	}
	return out
}

// multi reads a repeated query parameter (tag=a&tag=b), also accepting
// comma-separated values (tag=a,b).
func multi(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// paging reads page (1-based, default 1) and per_page (default and cap
// 1000). 0 means the default; negative or non-numeric values are 400.
func paging(q url.Values) (page, perPage int, err error) {
	page, err = intParam(q, "page", 1)
	if err != nil {
		return 0, 0, err
	}
	perPage, err = intParam(q, "per_page", defaultPerPage)
	if err != nil {
		return 0, 0, err
	}
	return page, min(perPage, maxPerPage), nil
}

// intParam reads a non-negative integer parameter; missing or 0 is def.
func intParam(q url.Values, key string, def int) (int, error) {
	v := q.Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badRequest("parameter %s=%q: want a non-negative integer", key, v)
	}
	if n == 0 {
		return def, nil
	}
	return n, nil
}

// int64Param reads an optional non-negative integer (a timestamp in ms).
func int64Param(q url.Values, key string) (n int64, ok bool, err error) {
	v := q.Get(key)
	if v == "" {
		return 0, false, nil
	}
	n, err = strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, badRequest("parameter %s=%q: want a non-negative integer", key, v)
	}
	return n, true, nil
}

// boolParam reads an optional boolean (true, false, 1, 0).
func boolParam(q url.Values, key string) (bool, error) {
	v := q.Get(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("parameter %s=%q: want true or false", key, v)
	}
	return b, nil
}

// window returns the slice bounds of page (1-based) of total items and
// the PaginationMetadata; a page past the end is empty.
func window(total, page, perPage int) (lo, hi int, meta paginationMetadata) {
	pages := (total + perPage - 1) / perPage
	meta = paginationMetadata{Page: page, PerPage: perPage, TotalItems: total, TotalPages: pages}
	lo = total
	if page-1 < pages { // checked first: (page-1)*perPage cannot overflow then
		lo = (page - 1) * perPage
	}
	hi = min(lo+perPage, total)
	return lo, hi, meta
}
