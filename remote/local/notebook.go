package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// nbRow is a notebook with its latest version, as read from the database.
type nbRow struct {
	id, namespace, name string
	created             int64 // ms
	versionID           int64
	ts, size            int64 // latest version
}

// nbColumns selects an nbRow from notebooks n joined with versions v.
const nbColumns = `n.id, n.namespace, n.name, n.created, v.id, v.ts, v.size`

type scanner interface{ Scan(dest ...any) error }

func scanNB(sc scanner) (nbRow, error) {
	var r nbRow
	err := sc.Scan(&r.id, &r.namespace, &r.name, &r.created, &r.versionID, &r.ts, &r.size)
	return r, err
}

// msTime converts stored milliseconds to a UTC time.
func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func (r nbRow) notebook(a access) remote.Notebook {
	return remote.Notebook{
		ID:        r.id,
		Namespace: r.namespace,
		Name:      r.name,
		Size:      r.size,
		Version:   msTime(r.ts),
		Created:   msTime(r.created),
		Actions:   a.actions(),
	}
}

func notFound(ns, id string) error {
	return fmt.Errorf("notebook %s/%s: %w", ns, id, remote.ErrNotFound)
}

// canonicalID parses id; ok is false for a malformed one.
func canonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// load reads notebook id of ns with its latest version and the caller's
// rights on it. A notebook the caller cannot read, in another namespace, or
// with a malformed id is ErrNotFound.
func load(ctx context.Context, q querier, who caller, ns, id string) (nbRow, []shareGrant, access, error) {
	cid, ok := canonicalID(id)
	if !ok || remote.ValidNamespace(ns) != nil {
		return nbRow{}, nil, access{}, notFound(ns, id)
	}
	r, err := scanNB(q.QueryRowContext(ctx, `SELECT `+nbColumns+` FROM notebooks n
		JOIN versions v ON v.notebook = n.id WHERE n.id = ? ORDER BY v.ts DESC LIMIT 1`, cid))
	if errors.Is(err, sql.ErrNoRows) {
		return nbRow{}, nil, access{}, notFound(ns, id)
	}
	if err != nil {
		return nbRow{}, nil, access{}, ctxErr(ctx, fmt.Errorf("notebook %s/%s: %w", ns, id, err))
	}
	if r.namespace != ns {
		return nbRow{}, nil, access{}, notFound(ns, id)
	}
	grants, err := notebookGrants(ctx, q, cid)
	if err != nil {
		return nbRow{}, nil, access{}, fmt.Errorf("notebook %s/%s: %w", ns, id, err)
	}
	a := who.access(ns, grants)
	if !a.read {
		return nbRow{}, nil, access{}, notFound(ns, id)
	}
	return r, grants, a, nil
}

// notebookGrants reads every share of one notebook, sorted by namespace.
func notebookGrants(ctx context.Context, q querier, id string) ([]shareGrant, error) {
	rows, err := q.QueryContext(ctx, `SELECT namespace, can_read, can_write FROM shares
		WHERE notebook = ? ORDER BY namespace`, id)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("read shares: %w", err))
	}
	defer rows.Close()
	var out []shareGrant
	for rows.Next() {
		var g shareGrant
		if err := rows.Scan(&g.namespace, &g.read, &g.write); err != nil {
			return nil, fmt.Errorf("read shares: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("read shares: %w", err))
	}
	return out, nil
}

// need fails with ErrPermission unless ok.
func need(ok bool, what, ns, id string) error {
	if !ok {
		return fmt.Errorf("%s notebook %s/%s: %w", what, ns, id, remote.ErrPermission)
	}
	return nil
}

// Latest returns the time of a notebook's latest version (at or before at
// when at is not zero).
func (c *client) Latest(ctx context.Context, ns, id string, at time.Time) (time.Time, error) {
	content, err := c.Read(ctx, ns, id, at)
	if err != nil {
		return time.Time{}, fmt.Errorf("latest %s/%s: %w", ns, id, err)
	}
	content.Close() // nothing was read: the chunks stream lazily
	return content.Version, nil
}

// Stat returns one notebook with its latest version.
func (c *client) Stat(ctx context.Context, ns, id string) (remote.Notebook, error) {
	var nb remote.Notebook
	err := c.s.readTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		r, _, a, err := load(ctx, tx, who, ns, id)
		if err != nil {
			return err
		}
		nb = r.notebook(a)
		return nil
	})
	if err != nil {
		return remote.Notebook{}, fmt.Errorf("stat: %w", err)
	}
	return nb, nil
}

// Rename changes a notebook's name, keeping id, versions and shares.
// Duplicate names are allowed, as on TileDB Cloud.
func (c *client) Rename(ctx context.Context, ns, id, newName string) (remote.Notebook, error) {
	if err := remote.ValidName(newName); err != nil {
		return remote.Notebook{}, fmt.Errorf("rename %s/%s: %w", ns, id, err)
	}
	var nb remote.Notebook
	err := c.s.writeTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		r, _, a, err := load(ctx, tx, who, ns, id)
		if err != nil {
			return err
		}
		if err := need(a.manage, "rename", ns, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notebooks SET name = ? WHERE id = ?`, newName, r.id); err != nil {
			return ctxErr(ctx, fmt.Errorf("update name: %w", err))
		}
		r.name = newName
		nb = r.notebook(a)
		return nil
	})
	if err != nil {
		return remote.Notebook{}, fmt.Errorf("rename: %w", err)
	}
	return nb, nil
}

// Delete removes a notebook with its versions and shares.
func (c *client) Delete(ctx context.Context, ns, id string) error {
	err := c.s.writeTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		r, _, a, err := load(ctx, tx, who, ns, id)
		if err != nil {
			return err
		}
		if err := need(a.manage, "delete", ns, id); err != nil {
			return err
		}
		// Versions, chunks and shares go by ON DELETE CASCADE.
		if _, err := tx.ExecContext(ctx, `DELETE FROM notebooks WHERE id = ?`, r.id); err != nil {
			return ctxErr(ctx, fmt.Errorf("delete: %w", err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	c.s.log.WithFields(logrus.Fields{"user": c.user, "namespace": ns, "id": id}).Info("notebook deleted")
	return nil
}

// Versions lists a notebook's versions, oldest first.
func (c *client) Versions(ctx context.Context, ns, id string) ([]remote.Version, error) {
	out := []remote.Version{}
	err := c.s.readTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		r, _, _, err := load(ctx, tx, who, ns, id)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT ts, size FROM versions WHERE notebook = ? ORDER BY ts`, r.id)
		if err != nil {
			return ctxErr(ctx, err)
		}
		defer rows.Close()
		for rows.Next() {
			var ts, size int64
			if err := rows.Scan(&ts, &size); err != nil {
				return err
			}
			out = append(out, remote.Version{Time: msTime(ts), Size: size})
		}
		return ctxErr(ctx, rows.Err())
	})
	if err != nil {
		return nil, fmt.Errorf("versions: %w", err)
	}
	return out, nil
}
