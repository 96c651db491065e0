package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"notebookfs/remote"
)

// maxPages bounds a listing: a server reporting more pages is not believed.
const maxPages = 100000

// Whoami is GET /v1/user. The implicit "public" organization is left out;
// organizations are sorted by name. The result also refreshes the cached
// user that Namespaces, List and the share right use.
func (c *Client) Whoami(ctx context.Context) (remote.User, error) {
	if err := ctx.Err(); err != nil {
		return remote.User{}, fmt.Errorf("whoami: %w", err)
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	return c.fetchUser(ctx)
}

func (c *Client) fetchUser(ctx context.Context) (remote.User, error) {
	var ui userInfo
	if err := c.getJSON(ctx, "/v1/user", nil, &ui); err != nil {
		return remote.User{}, err
	}
	if ui.Username == "" {
		return remote.User{}, fmt.Errorf("GET /v1/user: reply without a username")
	}
	if remote.ValidNamespace(ui.Username) != nil {
		return remote.User{}, fmt.Errorf("GET /v1/user: user name %.80q is not a valid namespace", ui.Username)
	}
	u := remote.User{Username: ui.Username, Organizations: []remote.Organization{}}
	var bad []string
	for _, o := range ui.Organizations {
		switch {
		case o.OrganizationName == "" || o.OrganizationName == remote.PublicNamespace:
		case remote.ValidNamespace(o.OrganizationName) != nil || o.OrganizationName == u.Username ||
			slices.ContainsFunc(u.Organizations, func(x remote.Organization) bool { return x.Name == o.OrganizationName }):
			bad = append(bad, fmt.Sprintf("organization %.80q", o.OrganizationName))
		default:
			u.Organizations = append(u.Organizations, remote.Organization{Name: o.OrganizationName, Role: o.Role})
		}
	}
	c.warnInvalid("GET /v1/user", bad)
	slices.SortStableFunc(u.Organizations, func(a, b remote.Organization) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	c.mu.Lock()
	c.user, c.haveUser = u, true
	c.mu.Unlock()
	return u, nil
}

// cachedUser is the user fetched once per client (organization membership
// rarely changes during a mount; Whoami refreshes it).
func (c *Client) cachedUser(ctx context.Context) (remote.User, error) {
	c.mu.Lock()
	u, ok := c.user, c.haveUser
	c.mu.Unlock()
	if ok {
		return u, nil
	}
	return c.fetchUser(ctx)
}

// ownsFresh reports whether ns is the user's, asking the server again
// when the cached user says no (the user may have joined an organization).
func (c *Client) ownsFresh(ctx context.Context, ns string) (remote.User, bool, error) {
	u, err := c.cachedUser(ctx)
	if err != nil {
		return u, false, err
	}
	if owns(u, ns) {
		return u, true, nil
	}
	if u, err = c.fetchUser(ctx); err != nil {
		return u, false, err
	}
	return u, owns(u, ns), nil
}

// Namespaces lists the namespaces of cat. Owned: the user's own then their
// organizations' (User.Namespaces, from the cached user: no request after
// the first). Shared and Public: GET /v1/arrays/browser/{cat}/sidebar
// ?file_type=notebook, sorted; the user's own namespaces are left out of
// Shared, whose notebooks show under owned/.
func (c *Client) Namespaces(ctx context.Context, cat remote.Category) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("namespaces %s: %w", cat, err)
	}
	if !cat.Valid() {
		return nil, fmt.Errorf("namespaces: category %q: %w", cat, remote.ErrInvalid)
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	u, err := c.cachedUser(ctx)
	if err != nil {
		return nil, err
	}
	if cat == remote.Owned {
		return u.Namespaces(), nil
	}
	var sb browserSidebar
	if err := c.getJSON(ctx, "/v1/arrays/browser/"+string(cat)+"/sidebar", url.Values{"file_type": {"notebook"}}, &sb); err != nil {
		return nil, err
	}
	valid, bad := validNamespaces(sb.Namespaces)
	c.warnInvalid("GET /v1/arrays/browser/"+string(cat)+"/sidebar", bad)
	out := []string{}
	for _, ns := range valid {
		if !(cat == remote.Shared && owns(u, ns)) {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return out, nil
}

// List returns the notebooks of ns in cat: GET /v1/arrays/browser/{cat}
// ?file_type=notebook&namespace=ns&with_metadata=true&per_page=P&page=1,
// then pages 2..total_pages concurrently (at most Parallel at once), then
// GET .../metadata_json for the notebooks whose listing lacks file_size
// (also concurrently). Listing N notebooks thus costs ceil(N/P) requests
// when the listing carries file_size, plus one per notebook without it.
// The server's order is kept (creation order), then stably sorted by
// Created; a notebook seen on two pages (the listing moved while paging)
// is kept once.
//
// Owned needs ns to be one of the user's namespaces (else ErrNotFound, no
// request); Shared of one of the user's own namespaces is empty (those show
// under owned/).
func (c *Client) List(ctx context.Context, cat remote.Category, ns string) ([]remote.Notebook, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", cat, ns, err)
	}
	if !cat.Valid() {
		return nil, fmt.Errorf("list: category %q: %w", cat, remote.ErrInvalid)
	}
	if remote.ValidNamespace(ns) != nil {
		return nil, fmt.Errorf("list %s/%s: %w", cat, ns, remote.ErrNotFound)
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	var (
		u    remote.User
		mine bool
		err  error
	)
	if cat == remote.Owned {
		u, mine, err = c.ownsFresh(ctx, ns)
	} else {
		u, err = c.cachedUser(ctx)
		mine = owns(u, ns)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case cat == remote.Owned && !mine:
		return nil, fmt.Errorf("list %s/%s: not one of your namespaces: %w", cat, ns, remote.ErrNotFound)
	case cat == remote.Shared && mine:
		return []remote.Notebook{}, nil
	}

	path := "/v1/arrays/browser/" + string(cat)
	query := func(page int) url.Values {
		return url.Values{
			"file_type": {"notebook"}, "namespace": {ns}, "with_metadata": {"true"},
			"per_page": {strconv.Itoa(c.perPage)}, "page": {strconv.Itoa(page)},
		}
	}
	var first arrayBrowserData
	h, err := c.getJSONHeader(ctx, path, query(1), &first)
	if err != nil {
		return nil, err
	}
	total := int(first.Pagination.TotalPages)
	if first.Pagination.TotalPages > maxPages {
		return nil, fmt.Errorf("GET %s: %v pages reported", path, first.Pagination.TotalPages)
	}
	pages := make([][]arrayInfo, max(total, 1))
	exact := make([]bool, len(pages)) // the page's versions are exact
	pages[0], exact[0] = first.Arrays, exactVersions(h)
	if total > 1 {
		err := forEach(ctx, total-1, c.parallel, func(ctx context.Context, i int) error {
			var d arrayBrowserData
			h, err := c.getJSONHeader(ctx, path, query(i+2), &d)
			if err != nil {
				return err
			}
			pages[i+1], exact[i+1] = d.Arrays, exactVersions(h)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	out, unsized, sized, newest, bad := listingEntries(pages, exact, ns, u)
	c.warnInvalid("GET "+path+" "+ns, bad)
	badSize := make([]bool, len(out))
	err = forEach(ctx, len(unsized), c.parallel, func(ctx context.Context, i int) error {
		nb := &out[unsized[i]]
		n, err := c.fileSize(ctx, nb.Namespace, nb.ID, time.Time{})
		if errors.Is(err, errNotByteCount) {
			badSize[unsized[i]] = true
			return nil
		}
		if err != nil {
			return err
		}
		nb.Size = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	if slices.Contains(badSize, true) {
		kept := out[:0]
		bad = bad[:0]
		for i, nb := range out {
			if badSize[i] {
				bad = append(bad, fmt.Sprintf("file_size is not a byte count (id %s, name %.80q)", nb.ID, nb.Name))
				continue
			}
			kept = append(kept, nb)
		}
		out = kept
		c.warnInvalid("GET "+arrayPath(ns, "*", "/metadata_json"), bad)
	}
	slices.SortStableFunc(out, func(a, b remote.Notebook) int { return a.Created.Compare(b.Created) })
	for _, nb := range out {
		c.remember(nb)
		if sized[nb.ID] && nb.Version.UnixMilli() > 0 {
			// One entry gave both: Read may skip array_metadata when
			// this is still the newest version, and when the server
			// says its versions are exact, skip asking which is.
			c.rememberSize(nb.Namespace, nb.ID, uint64(nb.Version.UnixMilli()), nb.Size, newest[nb.ID])
		}
	}
	return out, nil
}

// Stat is GET /v1/arrays/{ns}/{id}/metadata (ArrayInfo: name, times,
// rights) and GET .../metadata_json (file_size), sent concurrently: two
// requests (plus GET /v1/user the first time the client needs the user).
func (c *Client) Stat(ctx context.Context, ns, id string) (remote.Notebook, error) {
	if err := ctx.Err(); err != nil {
		return remote.Notebook{}, fmt.Errorf("stat %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("stat", ns, id); err != nil {
		return remote.Notebook{}, err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	return c.stat(ctx, ns, id)
}

// Latest is one GET of fragment_end_timestamp: the newest version's time
// (at or before at when at is not zero).
func (c *Client) Latest(ctx context.Context, ns, id string, at time.Time) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, fmt.Errorf("latest %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("latest", ns, id); err != nil {
		return time.Time{}, err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	var atMS uint64
	if !at.IsZero() {
		atMS = uint64(max(at.UnixMilli(), 0))
	}
	ms, err := c.fragmentEnd(ctx, ns, id, atMS, !at.IsZero())
	if err != nil {
		return time.Time{}, err
	}
	if at.IsZero() {
		c.sawNewest(ns, id, ms)
	}
	return msTime(ms), nil
}

func (c *Client) stat(ctx context.Context, ns, id string) (remote.Notebook, error) {
	var (
		info arrayInfo
		size int64
		u    remote.User
	)
	err := forEach(ctx, 3, 3, func(ctx context.Context, i int) error {
		var err error
		switch i {
		case 0:
			err = c.getJSON(ctx, arrayPath(ns, id, "/metadata"), nil, &info)
		case 1:
			size, err = c.fileSize(ctx, ns, id, time.Time{})
		case 2:
			u, err = c.cachedUser(ctx)
		}
		return err
	})
	if err != nil {
		return remote.Notebook{}, err
	}
	if err := c.checkReply(&info, ns, id); err != nil {
		return remote.Notebook{}, err
	}
	nb := notebookOf(&info, u)
	nb.Size = size
	c.remember(nb)
	return nb, nil
}

// Rename is PATCH /v1/notebooks/{ns}/{id}/rename {"name": newName} (204),
// then a Stat for the updated notebook: three requests, two of them
// concurrent. If that Stat fails the error is returned; renaming again is
// harmless.
func (c *Client) Rename(ctx context.Context, ns, id, newName string) (remote.Notebook, error) {
	if err := ctx.Err(); err != nil {
		return remote.Notebook{}, fmt.Errorf("rename %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("rename", ns, id); err != nil {
		return remote.Notebook{}, err
	}
	if err := remote.ValidName(newName); err != nil {
		return remote.Notebook{}, fmt.Errorf("rename %s/%s: %w", ns, id, err)
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if err := c.sendJSON(ctx, http.MethodPatch, notebookPath(ns, id, "/rename"), map[string]string{"name": newName}); err != nil {
		return remote.Notebook{}, err
	}
	return c.stat(ctx, ns, id)
}

// Delete is DELETE /v1/arrays/{ns}/{id} with Content-Type application/json
// (204): the catalog entry and the stored data. One request. If the
// connection broke after the request was sent and the retry finds the
// notebook gone, that is a success.
func (c *Client) Delete(ctx context.Context, ns, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("delete", ns, id); err != nil {
		return err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	cl := &call{method: http.MethodDelete, path: arrayPath(ns, id, ""), goneOK: true,
		header: http.Header{"Content-Type": {"application/json"}}}
	_, _, err := c.send(ctx, cl, true)
	if err == nil {
		c.forget(ns, id)
	}
	return err
}

// Versions is GET /v1/notebooks/{ns}/{id}/end_timestamps, all pages (the
// first, then the rest concurrently), sorted ascending without duplicates;
// each Version.Size is GET .../metadata_json?end_timestamp=T, concurrently
// (at most Parallel at once): pages + N requests for N versions.
func (c *Client) Versions(ctx context.Context, ns, id string) ([]remote.Version, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("versions %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("versions", ns, id); err != nil {
		return nil, err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	path := notebookPath(ns, id, "/end_timestamps")
	query := func(page int) url.Values {
		return url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(c.perPage)}}
	}
	var first endTimestamps
	if err := c.getJSON(ctx, path, query(1), &first); err != nil {
		return nil, err
	}
	total := int(first.Pagination.TotalPages)
	if first.Pagination.TotalPages > maxPages {
		return nil, fmt.Errorf("GET %s: %v pages reported", path, first.Pagination.TotalPages)
	}
	pages := make([][]string, max(total, 1))
	for _, ts := range first.EndTimestamps {
		pages[0] = append(pages[0], ts.String())
	}
	if total > 1 {
		err := forEach(ctx, total-1, c.parallel, func(ctx context.Context, i int) error {
			var d endTimestamps
			if err := c.getJSON(ctx, path, query(i+2), &d); err != nil {
				return err
			}
			for _, ts := range d.EndTimestamps {
				pages[i+1] = append(pages[i+1], ts.String())
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var ms []int64
	for _, page := range pages {
		for _, s := range page {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("GET %s: timestamp %q is not milliseconds", path, s)
			}
			ms = append(ms, n)
		}
	}
	slices.Sort(ms)
	ms = slices.Compact(ms)
	out := make([]remote.Version, len(ms))
	for i, t := range ms {
		out[i].Time = time.UnixMilli(t).UTC()
	}
	err := forEach(ctx, len(out), c.parallel, func(ctx context.Context, i int) error {
		n, err := c.fileSize(ctx, ns, id, out[i].Time)
		out[i].Size = n
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
