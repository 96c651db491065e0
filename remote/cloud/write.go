package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
)

// maxWriteReply bounds the reply to a WRITE (one chunk, no data).
const maxWriteReply = 8 + maxCapnpMessage

// Write saves size bytes of r as a new version of an existing notebook, as
// TileDB's clients do: a capnp WRITE of cells [0, size-1],
// then the notebook's metadata, both at one timestamp T:
//
//  1. POST /v2/arrays/{ns}/{id}/query/submit?type=WRITE&read_all=true
//     &start_timestamp=0&end_timestamp=T, Content-Type application/capnp,
//     Content-Length = message + size: the Query message (arrayproto's,
//     that of TileDB's JS client, array.endTimestamp T), then the bytes
//     streamed from r. The server stores fragment [T, T]: one version.
//  2. POST /v1/arrays/{ns}/{id}/array_metadata?start_timestamp=0
//     &end_timestamp=T: file_size (INT64), format "json", type "notebook"
//     (224 bytes).
//
// Two requests when the client knows the notebook (it was listed, stat'ed,
// created, renamed or written by this client): Name, Created and Actions
// come from there. Otherwise GET /v1/arrays/{ns}/{id}/metadata comes first
// (three requests), which also refuses a missing notebook before any byte
// is uploaded.
//
// T is the client's now in ms, raised above the last version this client
// wrote or saw of the notebook, so versions strictly increase. If the
// WRITE reply's writtenFragmentInfo says the server stored the fragment at
// another timestamp, that one is used for the metadata and the Version
// returned. A server refusing T because it already holds a newer version
// (409, as the notebookfs server does; TileDB would store a fragment hidden
// behind the newer one, losing the save) gets one more try above its
// newest version (fragment_end_timestamp) when r can be read again; then
// the error wraps remote.ErrConflict.
//
// Empty notebooks: TileDB cannot write an empty range. The
// metadata POST with file_size 0 comes first; a server that makes it a
// version (the notebookfs server) answers fragment_end_timestamp = T and
// that is all (2 requests); one that keeps metadata apart from fragments
// (TileDB) then gets a WRITE of one cell, cell 0 = 255 (the fill value) at
// T, so that the empty version is a fragment, seen by reads pinned at the
// newest fragment and listed among the versions (3 requests). Readers stop
// at file_size, so the cell is never read.
//
// Retries: every POST of a save carries T, so sending it again stores the
// same cells (or entries) at the same T: the same version, even if the
// first attempt was stored and only its reply lost (a second fragment
// [T, T] with the same bytes changes no read). They are retried like
// idempotent requests (429, 502, 503, 504, lost connections) whenever the
// body can be sent again: always for the metadata, for the WRITE when r is
// an io.Seeker or nothing of it was read yet.
//
// r must hold exactly size bytes (ErrInvalid otherwise): a Seeker is
// measured before sending; a stream is checked as it is sent, and the
// request is aborted before its last byte, so that no version is stored.
// If the WRITE succeeds but the metadata POST fails, the error says so:
// that version's file_size is the previous one until a later save.
func (c *Client) Write(ctx context.Context, ns, id string, r io.Reader, size int64) (remote.Notebook, error) {
	if err := ctx.Err(); err != nil {
		return remote.Notebook{}, fmt.Errorf("write %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("write", ns, id); err != nil {
		return remote.Notebook{}, err
	}
	if size < 0 {
		return remote.Notebook{}, fmt.Errorf("write %s/%s: size %d: %w", ns, id, size, remote.ErrInvalid)
	}
	if size == 0 {
		var one [1]byte
		if n, err := io.ReadFull(r, one[:]); n > 0 {
			return remote.Notebook{}, fmt.Errorf("write %s/%s: reader holds more than the 0 bytes announced: %w", ns, id, remote.ErrInvalid)
		} else if err != io.EOF && err != io.ErrUnexpectedEOF {
			return remote.Notebook{}, fmt.Errorf("write %s/%s: reading the contents: %w", ns, id, err)
		}
	}
	// Where r starts, to send it again after a conflict.
	rewind := func() bool { return size == 0 }
	if s, ok := r.(io.Seeker); ok && size > 0 {
		if pos, err := s.Seek(0, io.SeekCurrent); err == nil {
			rewind = func() bool { _, err := s.Seek(pos, io.SeekStart); return err == nil }
		}
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()

	nb, known := c.recall(ns, id)
	if !known {
		var err error
		if nb, err = c.notebookInfo(ctx, ns, id); err != nil {
			return remote.Notebook{}, err
		}
		c.remember(nb)
	}
	floor := nb.Version
	var ts uint64
	for attempt := 0; ; attempt++ {
		ts = c.writeTimestamp(ns, id, floor)
		var err error
		if size == 0 {
			err = c.postArrayMetadata(ctx, ns, id, ts, arrayproto.NotebookMetadata(0))
		} else {
			ts, err = c.writeContents(ctx, ns, id, r, uint64(size), ts)
		}
		if err == nil {
			break
		}
		if !isConflict(err) {
			return remote.Notebook{}, err
		}
		if attempt == 0 {
			if v, ferr := c.fragmentEnd(ctx, ns, id, 0, false); ferr == nil && v >= ts && rewind() {
				c.log.WithField("notebook", ns+"/"+id).Infof("a version at %d is newer than %d: saving after it", v, ts)
				floor = msTime(v)
				continue
			}
		}
		return remote.Notebook{}, fmt.Errorf("write %s/%s at %d: refused, a newer version exists: %s: %w", ns, id, ts, err.Error(), remote.ErrConflict)
	}
	c.wrote(ns, id, ts)

	if size == 0 {
		v, err := c.fragmentEnd(ctx, ns, id, 0, false)
		if err != nil {
			return remote.Notebook{}, fmt.Errorf("write %s/%s: file_size 0 stored at %d, then: %w", ns, id, ts, err)
		}
		if v < ts {
			// Metadata alone is no version here: make the fragment.
			if _, err := c.writeContents(ctx, ns, id, bytes.NewReader(fillByte), 1, ts); err != nil {
				return remote.Notebook{}, fmt.Errorf("write %s/%s: file_size 0 stored at %d, but not its fragment: %w", ns, id, ts, err)
			}
		}
	} else if err := c.postArrayMetadata(ctx, ns, id, ts, arrayproto.NotebookMetadata(size)); err != nil {
		return remote.Notebook{}, fmt.Errorf("write %s/%s: the contents were stored as version %d but not its file_size: %w", ns, id, ts, err)
	}
	nb.ID, nb.Namespace = id, ns
	nb.Version, nb.Size = msTime(ts), size
	c.remember(nb)
	c.rememberSize(ns, id, ts, size, false)
	return nb, nil
}

// isConflict reports whether err is a 409 reply.
func isConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusConflict
}

// writeContents is the WRITE of cells [0, cells-1] from contents at ts. It
// returns the timestamp the server reports having written at (ts unless
// its writtenFragmentInfo says otherwise).
func (c *Client) writeContents(ctx context.Context, ns, id string, contents io.Reader, cells, ts uint64) (uint64, error) {
	// The message alone: WriteBody reads nothing of its source before the
	// message is consumed.
	whole, total, err := arrayproto.WriteBody(strings.NewReader(""), cells, arrayproto.WithTimestamp(ts))
	if err != nil {
		return 0, fmt.Errorf("write %s/%s: %w", ns, id, err)
	}
	msg := make([]byte, total-int64(cells))
	if _, err := io.ReadFull(whole, msg); err != nil {
		return 0, fmt.Errorf("write %s/%s: %w", ns, id, err)
	}
	src, err := newWriteSource(msg, contents)
	if err != nil {
		return 0, err
	}
	b := newBody(src, total)
	if n := b.remaining(); n >= 0 && n != total {
		return 0, fmt.Errorf("write %s/%s: reader holds %d bytes, not %d: %w", ns, id, n-int64(len(msg)), cells, remote.ErrInvalid)
	}
	query := openAt(ts)
	query.Set("type", arrayproto.TypeWrite)
	query.Set("read_all", "true")
	cl := &call{method: http.MethodPost, path: submitPath(ns, id), query: query, header: capnpHeader(),
		body: b, resend: true, longWait: true}
	_, data, err := c.send(ctx, cl, true)
	if err != nil {
		return 0, err
	}
	if len(data) == 0 {
		return ts, nil
	}
	rep, err := arrayproto.DecodeWriteReply(bytes.NewReader(data), maxWriteReply)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", cl.label(), err)
	}
	if rep.HasFragment && rep.Timestamp != ts {
		c.log.WithField("notebook", ns+"/"+id).Warnf("asked to write at %d, the server wrote %s at %d: using its timestamp", ts, rep.FragmentURI, rep.Timestamp)
		return rep.Timestamp, nil
	}
	return ts, nil
}
