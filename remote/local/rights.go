package local

import (
	"context"
	"fmt"
	"sort"

	"notebookfs/remote"
)

// access is what one user may do with one notebook.
type access struct {
	read, write, share bool
	manage             bool // rename and delete
}

func (a access) or(b access) access {
	return access{a.read || b.read, a.write || b.write, a.share || b.share, a.manage || b.manage}
}

// actions lists the remote actions, sorted.
func (a access) actions() []string {
	out := []string{}
	if a.read {
		out = append(out, remote.ActionRead)
	}
	if a.share {
		out = append(out, remote.ActionShare)
	}
	if a.write {
		out = append(out, remote.ActionWrite)
	}
	return out
}

// roleAccess is what an organization role grants on the organization's
// notebooks.
func roleAccess(role string) access {
	switch role {
	case RoleOwner, RoleAdmin:
		return access{read: true, write: true, share: true, manage: true}
	case RoleReadWriteDelete:
		return access{read: true, write: true, manage: true}
	case RoleReadWrite:
		return access{read: true, write: true}
	case RoleReadOnly:
		return access{read: true}
	}
	return access{}
}

// shareGrant is one row of shares relevant to the caller.
type shareGrant struct {
	namespace   string
	read, write bool
}

// caller is a user with their organization roles, loaded once per call.
type caller struct {
	name string
	orgs map[string]string // org -> role
}

// loadCaller reads user's memberships; ErrUnauthenticated if user is not a
// user (any more).
func loadCaller(ctx context.Context, q querier, user string) (caller, error) {
	k, err := namespaceKind(ctx, q, user)
	if err != nil {
		return caller{}, err
	}
	if k != kindUser {
		return caller{}, fmt.Errorf("user %q: %w", user, remote.ErrUnauthenticated)
	}
	rows, err := q.QueryContext(ctx, `SELECT org, role FROM members WHERE user = ?`, user)
	if err != nil {
		return caller{}, ctxErr(ctx, fmt.Errorf("memberships of %q: %w", user, err))
	}
	defer rows.Close()
	c := caller{name: user, orgs: map[string]string{}}
	for rows.Next() {
		var org, role string
		if err := rows.Scan(&org, &role); err != nil {
			return caller{}, fmt.Errorf("memberships of %q: %w", user, err)
		}
		c.orgs[org] = role
	}
	if err := rows.Err(); err != nil {
		return caller{}, ctxErr(ctx, fmt.Errorf("memberships of %q: %w", user, err))
	}
	return c, nil
}

// owns reports whether ns is one of the caller's namespaces (owned/).
func (c caller) owns(ns string) bool {
	_, member := c.orgs[ns]
	return ns == c.name || member
}

// sortedOrgs is the caller's organizations by name.
func (c caller) sortedOrgs() []string {
	out := make([]string, 0, len(c.orgs))
	for o := range c.orgs {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

// namespaceAccess is what the caller may do with every notebook of ns.
func (c caller) namespaceAccess(ns string) access {
	if ns == c.name {
		return access{read: true, write: true, share: true, manage: true}
	}
	if role, ok := c.orgs[ns]; ok {
		return roleAccess(role)
	}
	return access{}
}

// grantAccess is what one share gives the caller, if it is for them.
func (c caller) grantAccess(g shareGrant) access {
	switch {
	case g.namespace == remote.PublicNamespace:
		return access{read: g.read}
	case g.namespace == c.name:
		return access{read: g.read, write: g.write}
	}
	if _, ok := c.orgs[g.namespace]; ok {
		return access{read: g.read, write: g.write}
	}
	return access{}
}

// access is the union of everything granting the caller rights on a
// notebook of ns with the given shares.
func (c caller) access(ns string, grants []shareGrant) access {
	a := c.namespaceAccess(ns)
	for _, g := range grants {
		a = a.or(c.grantAccess(g))
	}
	return a
}

// canCreateIn reports whether the caller may create notebooks in ns.
func (c caller) canCreateIn(ns string) bool {
	if ns == c.name {
		return true
	}
	role, ok := c.orgs[ns]
	return ok && role != RoleReadOnly
}
