package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// Read opens a notebook's content: the latest version when at is zero, else
// the latest at or before at (millisecond precision). The content streams
// chunk by chunk under ctx.
func (c *client) Read(ctx context.Context, ns, id string, at time.Time) (*remote.Content, error) {
	var vid, ts, size int64
	err := c.s.readTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		r, _, _, err := load(ctx, tx, who, ns, id)
		if err != nil {
			return err
		}
		vid, ts, size = r.versionID, r.ts, r.size
		if at.IsZero() {
			return nil
		}
		err = tx.QueryRowContext(ctx, `SELECT id, ts, size FROM versions WHERE notebook = ? AND ts <= ?
			ORDER BY ts DESC LIMIT 1`, r.id, at.UnixMilli()).Scan(&vid, &ts, &size)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("notebook %s/%s has no version at or before %s: %w",
				ns, id, at.UTC().Format(time.RFC3339Nano), remote.ErrNotFound)
		}
		return ctxErr(ctx, err)
	})
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	cr := &chunkReader{ctx: ctx, db: c.s.db, name: ns + "/" + id, version: vid, size: size}
	return &remote.Content{ReadCloser: cr, Size: size, Version: msTime(ts)}, nil
}

// Create stores a new notebook from exactly size bytes of r, in one
// transaction. Names need not be unique.
func (c *client) Create(ctx context.Context, ns, name string, r io.Reader, size int64, opts remote.CreateOptions) (remote.Notebook, error) {
	if err := remote.ValidName(name); err != nil {
		return remote.Notebook{}, fmt.Errorf("create %s/%s: %w", ns, name, err)
	}
	if size < 0 {
		return remote.Notebook{}, fmt.Errorf("create %s/%s: size %d: %w", ns, name, size, remote.ErrInvalid)
	}
	u, err := uuid.NewRandom()
	if err != nil {
		return remote.Notebook{}, fmt.Errorf("create %s/%s: new id: %w", ns, name, err)
	}
	var nb remote.Notebook
	err = c.s.writeTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		if !who.canCreateIn(ns) {
			k, err := namespaceKind(ctx, tx, ns)
			if err != nil {
				return err
			}
			if k == "" {
				return fmt.Errorf("namespace %q: %w", ns, remote.ErrNotFound)
			}
			return fmt.Errorf("create in namespace %q: %w", ns, remote.ErrPermission)
		}
		row := nbRow{id: u.String(), namespace: ns, name: name, ts: c.s.nowMS(), size: size}
		row.created = row.ts
		if _, err := tx.ExecContext(ctx, `INSERT INTO notebooks (id, namespace, name, created, storage_path, storage_credential)
			VALUES (?, ?, ?, ?, ?, ?)`, row.id, ns, name, row.created, opts.StoragePath, opts.StorageCredential); err != nil {
			return ctxErr(ctx, fmt.Errorf("insert notebook: %w", err))
		}
		if err := insertVersion(ctx, tx, row.id, row.ts, r, size); err != nil {
			return err
		}
		nb = row.notebook(who.access(ns, nil))
		return nil
	})
	if err != nil {
		return remote.Notebook{}, fmt.Errorf("create %s/%s: %w", ns, name, err)
	}
	c.s.log.WithFields(logrus.Fields{"user": c.user, "namespace": ns, "id": nb.ID, "size": size}).Debug("notebook created")
	return nb, nil
}

// Write stores exactly size bytes of r as a new version of a notebook, in
// one transaction. Its timestamp is now, or one past the previous version's
// if the clock has not moved past it.
func (c *client) Write(ctx context.Context, ns, id string, r io.Reader, size int64) (remote.Notebook, error) {
	if size < 0 {
		return remote.Notebook{}, fmt.Errorf("write %s/%s: size %d: %w", ns, id, size, remote.ErrInvalid)
	}
	var nb remote.Notebook
	err := c.s.writeTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, c.user)
		if err != nil {
			return err
		}
		row, _, a, err := load(ctx, tx, who, ns, id)
		if err != nil {
			return err
		}
		if err := need(a.write, "write", ns, id); err != nil {
			return err
		}
		row.ts = max(c.s.nowMS(), row.ts+1)
		row.size = size
		if err := insertVersion(ctx, tx, row.id, row.ts, r, size); err != nil {
			return err
		}
		nb = row.notebook(a)
		return nil
	})
	if err != nil {
		return remote.Notebook{}, fmt.Errorf("write: %w", err)
	}
	c.s.log.WithFields(logrus.Fields{"user": c.user, "namespace": ns, "id": id, "size": size}).Debug("notebook saved")
	return nb, nil
}

// insertVersion streams exactly size bytes of r into a new version, one
// chunk in memory at a time. Fewer or more bytes are ErrInvalid; the caller's
// transaction then rolls back, leaving nothing.
func insertVersion(ctx context.Context, tx *sql.Tx, notebook string, ts int64, r io.Reader, size int64) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO versions (notebook, ts, size) VALUES (?, ?, ?)`, notebook, ts, size)
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("insert version: %w", err))
	}
	vid, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert version: %w", err)
	}
	buf := make([]byte, min(size, chunkSize))
	var done int64
	for seq := 0; done < size; seq++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(size-done, chunkSize)
		got, err := io.ReadFull(r, buf[:n])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("content ended after %d of %d bytes: %w", done+int64(got), size, remote.ErrInvalid)
		}
		if err != nil {
			return fmt.Errorf("read content: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO chunks (version, seq, data) VALUES (?, ?, ?)`, vid, seq, buf[:n]); err != nil {
			return ctxErr(ctx, fmt.Errorf("insert chunk %d: %w", seq, err))
		}
		done += n
	}
	// One byte more means the reader held more than size.
	var extra [1]byte
	got, err := io.ReadFull(r, extra[:])
	if got > 0 {
		return fmt.Errorf("content longer than %d bytes: %w", size, remote.ErrInvalid)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read content: %w", err)
	}
	return nil
}

// chunkReader streams one version, fetching one chunk per query so that
// memory stays at one chunk and no connection or snapshot is held between
// Reads. Chunks are committed with their version, so they are all there;
// only a delete meanwhile can take them away (ErrNotFound).
type chunkReader struct {
	ctx     context.Context
	db      *sql.DB
	name    string // ns/id, for errors
	version int64
	size    int64

	seq  int
	read int64  // bytes delivered so far
	buf  []byte // current chunk; buf[off:] not yet delivered
	off  int
	err  error // sticky
}

func (cr *chunkReader) Read(p []byte) (int, error) {
	if cr.err != nil {
		return 0, cr.err
	}
	if cr.off == len(cr.buf) {
		if cr.read == cr.size {
			cr.err = io.EOF
			return 0, io.EOF
		}
		if err := cr.fetch(); err != nil {
			cr.err = err
			return 0, err
		}
	}
	n := copy(p, cr.buf[cr.off:])
	cr.off += n
	cr.read += int64(n)
	return n, nil
}

// fetch loads the next chunk into buf, reusing its memory.
func (cr *chunkReader) fetch() error {
	rows, err := cr.db.QueryContext(cr.ctx, `SELECT data FROM chunks WHERE version = ? AND seq = ?`, cr.version, cr.seq)
	if err != nil {
		return ctxErr(cr.ctx, fmt.Errorf("read %s chunk %d: %w", cr.name, cr.seq, err))
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return ctxErr(cr.ctx, fmt.Errorf("read %s chunk %d: %w", cr.name, cr.seq, err))
		}
		return fmt.Errorf("read %s chunk %d: deleted while reading: %w", cr.name, cr.seq, remote.ErrNotFound)
	}
	var data sql.RawBytes // valid until rows.Close: copied below
	if err := rows.Scan(&data); err != nil {
		return fmt.Errorf("read %s chunk %d: %w", cr.name, cr.seq, err)
	}
	if len(data) == 0 || int64(len(data)) > cr.size-cr.read {
		return fmt.Errorf("read %s chunk %d: %d bytes with %d left: corrupt store", cr.name, cr.seq, len(data), cr.size-cr.read)
	}
	cr.buf = append(cr.buf[:0], data...)
	cr.off = 0
	cr.seq++
	return nil
}

// Close releases the chunk buffer; later Reads fail.
func (cr *chunkReader) Close() error {
	cr.buf = nil
	cr.off = 0
	cr.err = fmt.Errorf("content of %s: %w", cr.name, fs.ErrClosed)
	return nil
}
