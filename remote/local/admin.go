package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"notebookfs/remote"
)

// Organization roles, as TileDB Cloud spells them.
const (
	RoleOwner           = "owner"
	RoleAdmin           = "admin"
	RoleReadWriteDelete = "read_write_delete"
	RoleReadWrite       = "read_write"
	RoleReadOnly        = "read_only"
)

// Namespace kinds, as remote.Share.Type spells them.
const (
	kindUser = "user"
	kindOrg  = "organization"
)

func validRole(role string) bool {
	switch role {
	case RoleOwner, RoleAdmin, RoleReadWriteDelete, RoleReadWrite, RoleReadOnly:
		return true
	}
	return false
}

// checkNewNamespace validates a user or organization name to create.
// "public" is the implicit organization everyone belongs to: it exists, so
// taking it is ErrExist.
func checkNewNamespace(name string) error {
	if err := remote.ValidNamespace(name); err != nil {
		return err
	}
	if name == remote.PublicNamespace {
		return fmt.Errorf("namespace %q is reserved: %w", name, remote.ErrExist)
	}
	return nil
}

// AddUser creates user name. ErrExist if a user or organization has it.
func (s *Store) AddUser(ctx context.Context, name string) error {
	return s.addNamespace(ctx, name, kindUser)
}

// AddOrg creates organization name. ErrExist if a user or organization has it.
func (s *Store) AddOrg(ctx context.Context, name string) error {
	return s.addNamespace(ctx, name, kindOrg)
}

func (s *Store) addNamespace(ctx context.Context, name, kind string) error {
	if err := checkNewNamespace(name); err != nil {
		return fmt.Errorf("add %s: %w", kind, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if k, err := namespaceKind(ctx, tx, name); err != nil {
			return err
		} else if k != "" {
			return fmt.Errorf("%s %q: %w", k, name, remote.ErrExist)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO namespaces (name, kind, created) VALUES (?, ?, ?)`, name, kind, s.nowMS())
		return err
	})
	if err != nil {
		return fmt.Errorf("add %s %q: %w", kind, name, err)
	}
	s.log.WithField(kind, name).Info("namespace added")
	return nil
}

// EnsureUser creates user name unless it exists: the mount calls it for the
// local user at every start. ErrExist if an organization has the name.
func (s *Store) EnsureUser(ctx context.Context, name string) error {
	err := s.AddUser(ctx, name)
	if errors.Is(err, remote.ErrExist) {
		k, kerr := namespaceKind(ctx, s.db, name)
		if kerr != nil {
			return fmt.Errorf("ensure user %q: %w", name, kerr)
		}
		if k == kindUser {
			return nil
		}
	}
	return err
}

// AddMember makes user a member of org with role, or changes their role.
func (s *Store) AddMember(ctx context.Context, org, user, role string) error {
	if !validRole(role) {
		return fmt.Errorf("add member: role %q: %w", role, remote.ErrInvalid)
	}
	if org == remote.PublicNamespace {
		return fmt.Errorf("add member: everyone is a member of %q: %w", org, remote.ErrInvalid)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := wantKind(ctx, tx, org, kindOrg); err != nil {
			return err
		}
		if err := wantKind(ctx, tx, user, kindUser); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO members (org, user, role) VALUES (?, ?, ?)
			ON CONFLICT (org, user) DO UPDATE SET role = excluded.role`, org, user, role)
		return err
	})
	if err != nil {
		return fmt.Errorf("add member %q to %q: %w", user, org, err)
	}
	return nil
}

// wantKind fails with ErrNotFound unless name is a namespace of kind.
func wantKind(ctx context.Context, q querier, name, kind string) error {
	k, err := namespaceKind(ctx, q, name)
	if err != nil {
		return err
	}
	if k != kind {
		return fmt.Errorf("%s %q: %w", kind, name, remote.ErrNotFound)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// namespaceKind returns kindUser, kindOrg, or "" when name is unknown.
func namespaceKind(ctx context.Context, q querier, name string) (string, error) {
	var kind string
	err := q.QueryRowContext(ctx, `SELECT kind FROM namespaces WHERE name = ?`, name).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", ctxErr(ctx, fmt.Errorf("look up namespace %q: %w", name, err))
	}
	return kind, nil
}

// RemoveMember takes user out of org: from the next request on, user sees
// and changes nothing of org's (except what is shared with user directly).
// ErrNotFound if user is not a member.
func (s *Store) RemoveMember(ctx context.Context, org, user string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := wantKind(ctx, tx, org, kindOrg); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM members WHERE org = ? AND user = ?`, org, user)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("%q is not a member: %w", user, remote.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove %q from %q: %w", user, org, err)
	}
	s.log.WithFields(map[string]any{"org": org, "user": user}).Info("member removed")
	return nil
}

// RemoveUser deletes user with their tokens, memberships and the shares
// naming them. Their own notebooks are deleted with them when
// deleteNotebooks is set; otherwise a user who still owns notebooks is
// ErrExist (nothing is removed). It returns how many notebooks were
// deleted.
func (s *Store) RemoveUser(ctx context.Context, user string, deleteNotebooks bool) (int, error) {
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := wantKind(ctx, tx, user, kindUser); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM notebooks WHERE namespace = ?`, user).Scan(&n); err != nil {
			return err
		}
		if n > 0 && !deleteNotebooks {
			return fmt.Errorf("%q owns %d notebook(s); delete them too or move them first: %w", user, n, remote.ErrExist)
		}
		for _, q := range []string{
			`DELETE FROM notebooks WHERE namespace = ?`, // versions, chunks and shares of them cascade
			`DELETE FROM shares WHERE namespace = ?`,
			`DELETE FROM namespaces WHERE name = ?`, // tokens and memberships cascade
		} {
			if _, err := tx.ExecContext(ctx, q, user); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("remove user %q: %w", user, err)
	}
	s.log.WithField("user", user).WithField("notebooks_deleted", n).Info("user removed")
	return n, nil
}
