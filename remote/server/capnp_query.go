package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
)

// submitQuery answers POST /v{1,2,3}/arrays/{ns}/{array}/query/submit
// ?type=READ|WRITE[&start_timestamp=&end_timestamp=|&open_at=][&read_all=].
func (s *Server) submitQuery(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	tr, err := arrayproto.ParseTimeRange(q)
	if err != nil {
		return badRequest("query/submit: %v", err)
	}
	readAll, err := boolParam(q, "read_all")
	if err != nil {
		return err
	}
	switch typ := strings.ToUpper(q.Get("type")); typ {
	case arrayproto.TypeRead:
		return s.submitRead(w, r, c, tr, readAll)
	case arrayproto.TypeWrite:
		return s.submitWrite(w, r, c, tr)
	case "":
		return badRequest("query/submit: parameter type (READ or WRITE) is required")
	default:
		return badRequest("query/submit: type=%q: only READ and WRITE are served", q.Get("type"))
	}
}

// submitWrite stores a WRITE query's contents as a new version of the
// notebook: cells [0, n-1], the whole notebook. The version's time is
// end_timestamp (or open_at) if given, else the server's now; the reply's
// writtenFragmentInfo gives it.
func (s *Server) submitWrite(w http.ResponseWriter, r *http.Request, c *call, tr arrayproto.TimeRange) error {
	at, err := s.writeTimestamp(tr)
	if err != nil {
		return err
	}
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	// Refused before the body is received.
	if !nb.Can(remote.ActionWrite) {
		return fmt.Errorf("write notebook %s/%s: %w", nb.Namespace, nb.ID, remote.ErrPermission)
	}
	if r.ContentLength > maxQueryMessage+MaxUpload {
		return tooLarge("WRITE: body of %d bytes; notebooks are limited to %d bytes", r.ContentLength, MaxUpload)
	}
	wq, data, cleanup, err := s.readWrite(w, r, c.user)
	if err != nil {
		return err
	}
	defer cleanup()
	ts, err := s.save(r.Context(), c, nb, at, data, int64(wq.Len()))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := arrayproto.WriteWriteReply(&buf, wq, ts, fragmentURI(nb, ts)); err != nil {
		return err
	}
	writeCapnp(w, buf.Bytes())
	return nil
}

// readWrite decodes a WRITE body and spools its contents. Only a write of
// the whole notebook, cells [0, n-1], is served.
func (s *Server) readWrite(w http.ResponseWriter, r *http.Request, user string) (arrayproto.WriteQuery, io.ReadSeeker, func(), error) {
	none := func() {}
	body := http.MaxBytesReader(w, r.Body, maxQueryMessage+MaxUpload)
	br := bufio.NewReaderSize(body, 64<<10)
	size, err := messageSize(br)
	if err != nil {
		return arrayproto.WriteQuery{}, nil, none, protoError("WRITE", err)
	}
	if size > maxQueryMessage {
		return arrayproto.WriteQuery{}, nil, none, tooLarge("WRITE: query message of %d bytes, limit %d", size, maxQueryMessage)
	}
	wq, err := arrayproto.DecodeWrite(br, maxQueryMessage+MaxUpload)
	if err != nil {
		return arrayproto.WriteQuery{}, nil, none, protoError("WRITE", err)
	}
	n := wq.Len()
	switch {
	case wq.Start != 0:
		return arrayproto.WriteQuery{}, nil, none, badRequest("WRITE of cells [%d, %d]: only a whole notebook, "+
			"cells [0, n-1], can be written (each write is a new version of the file)", wq.Start, wq.End)
	case n > MaxUpload:
		return arrayproto.WriteQuery{}, nil, none, tooLarge("WRITE of %d bytes; notebooks are limited to %d bytes", n, MaxUpload)
	case r.ContentLength >= 0 && r.ContentLength != wq.MessageSize+int64(n):
		return arrayproto.WriteQuery{}, nil, none, badRequest("WRITE: body of %d bytes, but a %d-byte query message and %d contents bytes",
			r.ContentLength, wq.MessageSize, n)
	}
	memory, received, release, err := s.limits.admit(user, int64(n))
	if err != nil {
		return arrayproto.WriteQuery{}, nil, none, err
	}
	data, spooled, err := spoolContents(wq.Data, int64(n), memory)
	if err != nil {
		release()
		return arrayproto.WriteQuery{}, nil, none, protoError("WRITE", err)
	}
	received()
	cleanup := func() { spooled(); release() }
	if r.ContentLength < 0 { // chunked: nothing may follow the contents
		var one [1]byte
		if m, _ := io.ReadFull(br, one[:]); m > 0 {
			cleanup()
			return arrayproto.WriteQuery{}, nil, none, badRequest("WRITE: bytes after the %d contents bytes", n)
		}
	}
	return wq, data, cleanup, nil
}

// submitRead answers a READ query: contents of cells [start, end] of the
// version at end_timestamp (or open_at; latest = the server's now), at most
// the client's buffer (and maxReadChunk) per reply, INCOMPLETE until the
// range is done. Cells at or past the version's size read as the fill
// value 255. With read_all=true every chunk follows in one reply.
func (s *Server) submitRead(w http.ResponseWriter, r *http.Request, c *call, tr arrayproto.TimeRange, readAll bool) error {
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, maxQueryMessage+maxReadChunk)
	rq, err := arrayproto.DecodeRead(body, maxQueryMessage)
	if err != nil {
		return protoError("READ", err)
	}
	// A JS continuation is the previous reply posted back, its result bytes
	// included: read them, so the client is not cut off while sending.
	if _, err := io.Copy(io.Discard, body); err != nil {
		return protoError("READ", err)
	}
	if readAll && rq.Len() > maxReadAll {
		return badRequest("READ: read_all over %d cells; at most %d per request (read without read_all)", rq.Len(), uint64(maxReadAll))
	}
	// The read's time: a continuation keeps the one its first reply
	// resolved to (kept in the reply, posted back), so that a version
	// saved meanwhile does not mix in.
	at := tr.Resolve(s.nowMS())
	if rq.Continuation() && rq.Timestamp != 0 && tr.IsLatest() {
		at = rq.Timestamp
	}
	at = min(at, maxTimestamp)
	rq.Timestamp = at

	var size uint64
	src := io.Reader(fill{})
	if uint64(nb.Created.UnixMilli()) <= at { // else no version yet: all fill
		content, err := c.client.Read(r.Context(), nb.Namespace, nb.ID, protoTime(at))
		if err != nil {
			return err
		}
		defer content.Close()
		if timeMS(content.Version) >= tr.Start { // else outside the window: all fill
			size = uint64(content.Size)
			if rq.Start < size {
				if err := skip(content, int64(rq.Start)); err != nil {
					return err
				}
				src = io.MultiReader(io.LimitReader(content, int64(size-rq.Start)), fill{})
			}
		}
	}
	out := io.Writer(&lengthWriter{w: w})
	if readAll {
		w.Header().Set("Content-Type", mimeCapnp)
		out = w
	}
	for {
		n := min(rq.Len(), rq.Capacity, maxReadChunk)
		complete := n == rq.Len()
		if err := arrayproto.WriteReadReplyFrom(out, rq, src, n, complete); err != nil {
			return err
		}
		if complete || !readAll {
			return nil
		}
		rq.Start += n
	}
}

// skip moves content to offset: a seek when the store supports it, else
// reading and dropping the bytes.
func skip(content *remote.Content, offset int64) error {
	if offset == 0 {
		return nil
	}
	if sk, ok := content.ReadCloser.(io.Seeker); ok {
		_, err := sk.Seek(offset, io.SeekStart)
		return err
	}
	_, err := io.CopyN(io.Discard, content, offset)
	return err
}
