package local

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// Shares lists who a notebook is shared with, sorted by namespace. It needs
// read: TileDB shows the policies to anyone who can see the array.
func (c *client) Shares(ctx context.Context, ns, id string) ([]remote.Share, error) {
	out := []remote.Share{}
	err := c.s.readTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		_, grants, _, err := load(ctx, tx, who, ns, id)
		if err != nil {
			return err
		}
		for _, g := range grants {
			typ := kindOrg // "public" is an organization
			if g.namespace != remote.PublicNamespace {
				k, err := namespaceKind(ctx, tx, g.namespace)
				if err != nil {
					return err
				}
				if k != "" {
					typ = k
				}
			}
			a := access{read: g.read, write: g.write}
			out = append(out, remote.Share{Namespace: g.namespace, Actions: a.actions(), Type: typ})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shares: %w", err)
	}
	return out, nil
}

// Share grants exactly actions on a notebook to namespace with; empty
// actions removes the share (a missing one is no error).
func (c *client) Share(ctx context.Context, ns, id, with string, actions []string) error {
	acts, err := checkShareArgs(ns, with, actions)
	if err != nil {
		return fmt.Errorf("share %s/%s with %s: %w", ns, id, with, err)
	}
	err = c.s.writeTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		r, _, a, err := load(ctx, tx, who, ns, id)
		if err != nil {
			return err
		}
		if err := need(a.share, "share", ns, id); err != nil {
			return err
		}
		if len(acts) == 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM shares WHERE notebook = ? AND namespace = ?`, r.id, with)
			return ctxErr(ctx, err)
		}
		if with != remote.PublicNamespace {
			k, err := namespaceKind(ctx, tx, with)
			if err != nil {
				return err
			}
			if k == "" {
				return fmt.Errorf("no such user or organization %q: %w", with, remote.ErrInvalid)
			}
		}
		g := access{}
		for _, act := range acts {
			g.read = g.read || act == remote.ActionRead
			g.write = g.write || act == remote.ActionWrite
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO shares (notebook, namespace, can_read, can_write) VALUES (?, ?, ?, ?)
			ON CONFLICT (notebook, namespace) DO UPDATE SET can_read = excluded.can_read, can_write = excluded.can_write`,
			r.id, with, g.read, g.write)
		return ctxErr(ctx, err)
	})
	if err != nil {
		return fmt.Errorf("share %s/%s with %s: %w", ns, id, with, err)
	}
	c.s.log.WithFields(logrus.Fields{"user": c.user, "namespace": ns, "id": id, "with": with, "actions": acts}).Info("notebook shared")
	return nil
}

// checkShareArgs validates what needs no database: the actions (normalised),
// the target's spelling, and the rules for public and for the owner.
func checkShareArgs(ns, with string, actions []string) ([]string, error) {
	acts, err := remote.NormalizeActions(actions)
	if err != nil {
		return nil, err
	}
	if err := remote.ValidNamespace(with); err != nil {
		return nil, err
	}
	if with == ns {
		return nil, fmt.Errorf("cannot share with the owning namespace: %w", remote.ErrInvalid)
	}
	if with == remote.PublicNamespace && len(acts) > 0 && (len(acts) != 1 || acts[0] != remote.ActionRead) {
		return nil, fmt.Errorf("public shares are read-only, not %v: %w", acts, remote.ErrInvalid)
	}
	return acts, nil
}
