package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// This file holds what the HTTP server's capnp array protocol needs beyond
// remote.Client (remote/server/capnp*.go): the store's clock, a save at a
// timestamp the client chose, and seeking in a version's content.

// Now returns the store's clock: the time a save without a timestamp gets
// (time.Now unless SetClock replaced it).
func (s *Store) Now() time.Time { return (*s.clock.Load())() }

// WriteAt is Write for user with the new version's timestamp chosen by the
// caller: at, in milliseconds, instead of the store's clock (a zero at is
// Write). at may be ahead of the clock. It must be after the notebook's
// latest version: versions are whole files in strictly increasing time, so
// a version cannot be put before an existing one (ErrConflict). Rights are
// those of Write.
func (s *Store) WriteAt(ctx context.Context, user, ns, id string, at time.Time, r io.Reader, size int64) (remote.Notebook, error) {
	if at.IsZero() {
		return s.As(user).Write(ctx, ns, id, r, size)
	}
	if size < 0 {
		return remote.Notebook{}, fmt.Errorf("write %s/%s: size %d: %w", ns, id, size, remote.ErrInvalid)
	}
	ts := at.UnixMilli()
	var nb remote.Notebook
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		who, err := loadCaller(ctx, tx, user)
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
		if ts <= row.ts {
			return fmt.Errorf("notebook %s/%s has a version at %s, not before %s: %w", ns, id,
				msTime(row.ts).Format(time.RFC3339Nano), msTime(ts).Format(time.RFC3339Nano), remote.ErrConflict)
		}
		row.ts = ts
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
	s.log.WithFields(logrus.Fields{"user": user, "namespace": ns, "id": id, "size": size, "ts": ts}).Debug("notebook saved at a given time")
	return nb, nil
}

// Seek makes content returned by Read an io.Seeker (assert
// Content.ReadCloser): it moves to an offset without reading the chunks
// before it, fetching at most the chunk it lands in. Seeking past the end
// is allowed; Read then returns io.EOF. A closed or failed content stays
// failed.
func (cr *chunkReader) Seek(offset int64, whence int) (int64, error) {
	if cr.err != nil && !errors.Is(cr.err, io.EOF) {
		return 0, cr.err
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = cr.read + offset
	case io.SeekEnd:
		abs = cr.size + offset
	default:
		return 0, fmt.Errorf("seek %s: whence %d: %w", cr.name, whence, remote.ErrInvalid)
	}
	if abs < 0 {
		return 0, fmt.Errorf("seek %s: negative offset %d: %w", cr.name, abs, remote.ErrInvalid)
	}
	cr.err = nil
	if abs >= cr.size {
		cr.buf, cr.off, cr.read = cr.buf[:0], 0, cr.size
		return abs, nil
	}
	seq, within := int(abs/chunkSize), int(abs%chunkSize)
	// The chunk in buf is seq cr.seq-1 (fetch advances seq), starting at
	// cr.read-cr.off.
	if len(cr.buf) > 0 && cr.seq-1 == seq {
		cr.off, cr.read = within, abs
		return abs, nil
	}
	cr.seq, cr.buf, cr.off, cr.read = seq, cr.buf[:0], 0, abs-int64(within)
	if within == 0 {
		return abs, nil // the next Read fetches chunk seq
	}
	if err := cr.fetch(); err != nil {
		cr.err = err
		return 0, err
	}
	if within >= len(cr.buf) {
		cr.err = fmt.Errorf("read %s chunk %d: %d bytes, offset %d in it: corrupt store", cr.name, seq, len(cr.buf), within)
		return 0, cr.err
	}
	cr.off, cr.read = within, abs
	return abs, nil
}
