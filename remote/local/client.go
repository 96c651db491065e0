package local

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"notebookfs/remote"
)

// client is the store seen by one user.
type client struct {
	s    *Store
	user string
}

var _ remote.Client = (*client)(nil)

// As returns the store seen by user: every right is checked against them.
// An unknown user gets ErrUnauthenticated from every call.
func (s *Store) As(user string) remote.Client { return &client{s: s, user: user} }

// Whoami returns the user and their organizations, sorted by name.
func (c *client) Whoami(ctx context.Context) (remote.User, error) {
	var u remote.User
	err := c.s.readTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		u.Username = who.name
		u.Organizations = []remote.Organization{}
		for _, o := range who.sortedOrgs() {
			u.Organizations = append(u.Organizations, remote.Organization{Name: o, Role: who.orgs[o]})
		}
		return nil
	})
	if err != nil {
		return remote.User{}, fmt.Errorf("whoami: %w", err)
	}
	return u, nil
}

// Namespaces lists the namespaces of cat: for Owned the user's own then
// their organizations' (sorted), even empty; for Shared and Public those
// holding notebooks visible there, sorted.
func (c *client) Namespaces(ctx context.Context, cat remote.Category) ([]string, error) {
	if !cat.Valid() {
		return nil, fmt.Errorf("namespaces: category %q: %w", cat, remote.ErrInvalid)
	}
	var out []string
	err := c.s.readTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		switch cat {
		case remote.Owned:
			out = append([]string{who.name}, who.sortedOrgs()...)
			return nil
		case remote.Shared:
			out, err = queryStrings(ctx, tx, `SELECT DISTINCT n.namespace FROM shares s JOIN notebooks n ON n.id = s.notebook
				WHERE s.can_read = 1 AND (s.namespace = ? OR s.namespace IN (SELECT org FROM members WHERE user = ?))
				ORDER BY n.namespace`, who.name, who.name)
			if err != nil {
				return err
			}
			kept := out[:0]
			for _, ns := range out {
				if !who.owns(ns) { // owned notebooks show under owned/ only
					kept = append(kept, ns)
				}
			}
			out = kept
			return nil
		default:
			out, err = queryStrings(ctx, tx, `SELECT DISTINCT n.namespace FROM shares s JOIN notebooks n ON n.id = s.notebook
				WHERE s.namespace = ? AND s.can_read = 1 ORDER BY n.namespace`, remote.PublicNamespace)
			return err
		}
	})
	if err != nil {
		return nil, fmt.Errorf("namespaces %s: %w", cat, err)
	}
	return out, nil
}

// List returns the notebooks of ns visible in cat, oldest first (then by
// id). Owned needs ns to be one of the user's namespaces (else
// ErrNotFound); Shared and Public return an empty list when nothing is
// visible.
func (c *client) List(ctx context.Context, cat remote.Category, ns string) ([]remote.Notebook, error) {
	if !cat.Valid() {
		return nil, fmt.Errorf("list: category %q: %w", cat, remote.ErrInvalid)
	}
	out := []remote.Notebook{}
	err := c.s.readTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		switch {
		case cat == remote.Owned && !who.owns(ns):
			return fmt.Errorf("namespace %q: %w", ns, remote.ErrNotFound)
		case cat == remote.Shared && who.owns(ns):
			return nil // shown under owned/
		}
		rows, err := listRows(ctx, tx, ns)
		if err != nil {
			return err
		}
		grants, err := namespaceGrants(ctx, tx, who, ns)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !visibleIn(cat, who, grants[r.id]) {
				continue
			}
			out = append(out, r.notebook(who.access(ns, grants[r.id])))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", cat, ns, err)
	}
	return out, nil
}

// visibleIn reports whether a notebook with grants shows in cat (for Owned
// the namespace check is done already: every notebook of it shows).
func visibleIn(cat remote.Category, who caller, grants []shareGrant) bool {
	if cat == remote.Owned {
		return true
	}
	for _, g := range grants {
		switch {
		case cat == remote.Public && g.namespace == remote.PublicNamespace && g.read:
			return true
		case cat == remote.Shared && g.namespace != remote.PublicNamespace && who.grantAccess(g).read:
			return true
		}
	}
	return false
}

// listRows reads every notebook of ns with its latest version.
func listRows(ctx context.Context, q querier, ns string) ([]nbRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+nbColumns+` FROM notebooks n
		JOIN versions v ON v.notebook = n.id AND v.ts = (SELECT MAX(ts) FROM versions WHERE notebook = n.id)
		WHERE n.namespace = ? ORDER BY n.created, n.rowid`, ns)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("list notebooks: %w", err))
	}
	defer rows.Close()
	var out []nbRow
	for rows.Next() {
		r, err := scanNB(rows)
		if err != nil {
			return nil, fmt.Errorf("list notebooks: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("list notebooks: %w", err))
	}
	return out, nil
}

// namespaceGrants reads the shares of ns's notebooks that concern the
// caller (to them, their organizations or public), by notebook id.
func namespaceGrants(ctx context.Context, q querier, who caller, ns string) (map[string][]shareGrant, error) {
	rows, err := q.QueryContext(ctx, `SELECT s.notebook, s.namespace, s.can_read, s.can_write
		FROM shares s JOIN notebooks n ON n.id = s.notebook
		WHERE n.namespace = ? AND (s.namespace = ? OR s.namespace = ? OR s.namespace IN (SELECT org FROM members WHERE user = ?))`,
		ns, remote.PublicNamespace, who.name, who.name)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("list shares: %w", err))
	}
	defer rows.Close()
	out := map[string][]shareGrant{}
	for rows.Next() {
		var id string
		var g shareGrant
		if err := rows.Scan(&id, &g.namespace, &g.read, &g.write); err != nil {
			return nil, fmt.Errorf("list shares: %w", err)
		}
		out[id] = append(out[id], g)
	}
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("list shares: %w", err))
	}
	return out, nil
}

// queryStrings runs a one-column query.
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, err)
	}
	sort.Strings(out)
	return out, nil
}
