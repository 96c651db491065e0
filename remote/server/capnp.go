package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
)

// The capnp array protocol: the notebook array's schema, query/submit READ
// and WRITE, array metadata. See doc.go for the decisions where TileDB's
// protocol leaves a choice or where this server differs from TileDB Cloud.

const (
	mimeCapnp = "application/capnp"
	mimeJSON  = "application/json"

	// maxQueryMessage bounds the capnp message of a query/submit body (the
	// JS client's is under 1 KiB; libtiledb's v3 bodies carry more).
	maxQueryMessage = 8 << 20
	// maxReadChunk bounds the contents bytes of one READ reply chunk,
	// whatever the client's buffer: a larger read goes on in INCOMPLETE
	// replies. It also bounds what a JS continuation posts back.
	maxReadChunk = 64 << 20
	// maxMetadataBody bounds an array_metadata POST body.
	maxMetadataBody = 4 << 20
	// maxReadAll bounds the contents bytes of one read_all=true reply.
	maxReadAll = MaxUpload + maxReadChunk
	// maxClockSkew is how far ahead of the server clock a client-chosen
	// write timestamp may be (such a version stays invisible to latest
	// reads until the clock reaches it); further is 400.
	maxClockSkew = 10 * time.Minute
	// maxVisibleWait bounds the wait, after a save whose server-chosen time
	// was bumped past the clock (a save in the same millisecond as the
	// previous version), for the clock to reach it.
	maxVisibleWait = 100 * time.Millisecond
	// maxTimestamp clamps client timestamps (end of year 9999, in ms).
	maxTimestamp uint64 = 253402300799999
)

// capnpRoutes are the endpoints of the capnp array protocol.
func (s *Server) capnpRoutes() []route {
	const a = "/arrays/{namespace}/{array}"
	return []route{
		{pattern: "GET /v1" + a, h: s.getArraySchema},
		{pattern: "GET /v1" + a + "/array_metadata", h: s.getArrayMetadata},
		{pattern: "POST /v1" + a + "/array_metadata", h: s.postArrayMetadata},
		{pattern: "POST /v1" + a + "/query/submit", h: s.submitQuery},
		{pattern: "POST /v2" + a + "/query/submit", h: s.submitQuery},
		{pattern: "POST /v3" + a + "/query/submit", h: s.submitQuery},
	}
}

// mediaType returns the media type of a header value ("" if absent or
// unparsable), lower-case, without parameters.
func mediaType(v string) string {
	if v == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return ""
	}
	return mt
}

// accepts reports whether the Accept header lists mt (exactly, not */*).
func accepts(r *http.Request, mt string) bool {
	for _, h := range r.Header.Values("Accept") {
		for _, part := range strings.Split(h, ",") {
			if mediaType(strings.TrimSpace(part)) == mt {
				return true
			}
		}
	}
	return false
}

// asksCapnp: the request's Content-Type or Accept is application/capnp.
// TileDB picks the reply format from Content-Type (libtiledb sends it on
// GETs too); Accept is honoured as well.
func asksCapnp(r *http.Request) bool {
	return mediaType(r.Header.Get("Content-Type")) == mimeCapnp || accepts(r, mimeCapnp)
}

// asksJSON: the request asks for JSON and not for capnp.
func asksJSON(r *http.Request) bool {
	if asksCapnp(r) {
		return false
	}
	ct := mediaType(r.Header.Get("Content-Type"))
	return ct == mimeJSON || (ct == "" && accepts(r, mimeJSON))
}

// protoError maps an error decoding a capnp body to its reply: malformed
// or unsupported is 400, too large 413, a body cut short by the client 400.
func protoError(what string, err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge("%s: body exceeds %d bytes", what, mbe.Limit)
	case errors.Is(err, arrayproto.ErrTooLarge):
		return tooLarge("%s: %v", what, err)
	case errors.Is(err, arrayproto.ErrMalformed), errors.Is(err, arrayproto.ErrUnsupported):
		return badRequest("%s: %v", what, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, errSlowBody):
		return err
	}
	return badRequest("%s: reading the body: %v", what, err)
}

func tooLarge(format string, args ...any) error {
	return &httpError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge, msg: fmt.Sprintf(format, args...)}
}

// nowMS is the store's clock in ms: the time of a save without timestamp
// and what "latest" resolves to.
func (s *Server) nowMS() uint64 { return uint64(max(s.store.Now().UnixMilli(), 0)) }

// protoTime converts a (clamped) protocol timestamp to a time.
func protoTime(ms uint64) time.Time { return time.UnixMilli(int64(min(ms, maxTimestamp))) }

func timeMS(t time.Time) uint64 { return uint64(max(t.UnixMilli(), 0)) }

// writeTimestamp returns the time a WRITE (or a metadata POST that saves)
// asks for: 0 for "the server's now" (no timestamp, or end_timestamp MAX).
// A timestamp further ahead of the clock than maxClockSkew is 400.
func (s *Server) writeTimestamp(tr arrayproto.TimeRange) (uint64, error) {
	if tr.IsLatest() {
		return 0, nil
	}
	if now := s.nowMS(); tr.End > now+uint64(maxClockSkew.Milliseconds()) {
		return 0, badRequest("end_timestamp %d is more than %v ahead of the server clock (%d): "+
			"synchronise the clocks, or send no timestamp and use the one the reply gives", tr.End, maxClockSkew, now)
	}
	if tr.End == 0 {
		return 0, badRequest("end_timestamp 0 cannot be written at")
	}
	return tr.End, nil
}

// save stores size bytes of data as a new version of nb: at the server's
// now when at is 0, else at exactly at (ms). It returns the version's
// time. A write at a time that already has a version with the very same
// bytes succeeds without storing anything (a retried request); any other
// write at or before the latest version is 409 (remote.ErrConflict).
func (s *Server) save(ctx context.Context, c *call, nb remote.Notebook, at uint64, data io.ReadSeeker, size int64) (uint64, error) {
	if at == 0 {
		out, err := c.client.Write(ctx, nb.Namespace, nb.ID, data, size)
		if err != nil {
			return 0, err
		}
		s.waitVisible(ctx, out.Version)
		return timeMS(out.Version), nil
	}
	out, err := s.store.WriteAt(ctx, c.user, nb.Namespace, nb.ID, protoTime(at), data, size)
	if errors.Is(err, remote.ErrConflict) {
		if same, cerr := s.sameVersion(ctx, c, nb, at, data, size); cerr == nil && same {
			return at, nil
		}
	}
	if err != nil {
		return 0, err
	}
	return timeMS(out.Version), nil
}

// sameVersion reports whether nb has a version at exactly at holding the
// size bytes of data.
func (s *Server) sameVersion(ctx context.Context, c *call, nb remote.Notebook, at uint64, data io.ReadSeeker, size int64) (bool, error) {
	content, err := c.client.Read(ctx, nb.Namespace, nb.ID, protoTime(at))
	if err != nil {
		return false, err
	}
	defer content.Close()
	if timeMS(content.Version) != at || content.Size != size {
		return false, nil
	}
	if _, err := data.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	return sameBytes(content, data)
}

// sameBytes compares two streams to their ends, 64 KiB at a time.
func sameBytes(a, b io.Reader) (bool, error) {
	const block = 64 << 10
	ba, bb := make([]byte, block), make([]byte, block)
	for {
		na, erra := io.ReadFull(a, ba)
		nb, errb := io.ReadFull(b, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		endA := erra == io.EOF || erra == io.ErrUnexpectedEOF
		endB := errb == io.EOF || errb == io.ErrUnexpectedEOF
		switch {
		case erra != nil && !endA:
			return false, erra
		case errb != nil && !endB:
			return false, errb
		case endA || endB:
			return endA == endB, nil
		}
	}
}

// waitVisible waits (at most maxVisibleWait) for the store's clock to
// reach v, so that a version whose time was bumped past the clock is seen
// by the latest reads that follow its acknowledgement.
func (s *Server) waitVisible(ctx context.Context, v time.Time) {
	deadline := time.Now().Add(maxVisibleWait)
	for s.store.Now().UnixMilli() < v.UnixMilli() && time.Now().Before(deadline) {
		t := time.NewTimer(time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fragmentURI names the fragment of nb's version at ts: stable, so that a
// retried write gets the same name.
func fragmentURI(nb remote.Notebook, ts uint64) string {
	h := sha256.Sum256([]byte(nb.ID + "/" + strconv.FormatUint(ts, 10)))
	var id [16]byte
	copy(id[:], h[:])
	return arrayproto.FragmentName(ts, id)
}

// messageSize returns the length of the framed capnp message at the start
// of br (segment table, then segments), reading nothing, so that an
// oversized message is refused before it is received.
func messageSize(br *bufio.Reader) (int64, error) {
	b, err := br.Peek(4)
	if err != nil {
		return 0, truncatedBody(err)
	}
	segs := uint64(binary.LittleEndian.Uint32(b)) + 1
	if segs > 512 { // go-capnp's and arrayproto's segment limit
		return 0, fmt.Errorf("%w: message declares %d segments", arrayproto.ErrMalformed, segs)
	}
	hdr := int((4*(segs+1) + 7) &^ 7)
	b, err = br.Peek(hdr)
	if err != nil {
		return 0, truncatedBody(err)
	}
	total := int64(hdr)
	for i := 0; i < int(segs); i++ {
		total += 8 * int64(binary.LittleEndian.Uint32(b[4+4*i:]))
	}
	return total, nil
}

func truncatedBody(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: message header truncated", arrayproto.ErrMalformed)
	}
	return err
}

// spoolContents reads exactly n bytes of r into memory (when memory is
// set) or a temporary file, so that the store, which holds its write lock
// while it reads, is not fed at the client's pace. The result can be
// re-read (Seek) and must be released with cleanup. Memory grows with the
// bytes received, never from n, which the client sent.
func spoolContents(r io.Reader, n int64, memory bool) (data io.ReadSeeker, cleanup func(), err error) {
	if memory {
		var buf bytes.Buffer
		m, err := buf.ReadFrom(io.LimitReader(r, n))
		if err != nil {
			return nil, nil, err
		}
		if m != n {
			return nil, nil, io.ErrUnexpectedEOF
		}
		return bytes.NewReader(buf.Bytes()), func() {}, nil
	}
	f, err := os.CreateTemp("", "notebookfs-write-*")
	if err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	cleanup = func() {
		f.Close()
		os.Remove(f.Name())
	}
	src := &readErr{r: r}
	m, err := io.Copy(f, io.LimitReader(src, n))
	switch {
	case src.err != nil:
		cleanup()
		return nil, nil, src.err
	case err != nil:
		cleanup()
		return nil, nil, fmt.Errorf("spool: %w", err)
	case m != n:
		cleanup()
		return nil, nil, fmt.Errorf("%w: contents end after %d of %d bytes", arrayproto.ErrMalformed, m, n)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	return f, cleanup, nil
}

// lengthWriter sends a reply chunk with its exact Content-Length: it holds
// the u64le length prefix L of the first chunk written through it, then
// sets Content-Length 8+L, the status and passes everything on. Until then
// nothing is sent, so an error before the prefix still gets an Error reply.
type lengthWriter struct {
	w      http.ResponseWriter
	prefix []byte
	sent   bool
}

func (lw *lengthWriter) Write(p []byte) (int, error) {
	if lw.sent {
		return lw.w.Write(p)
	}
	take := min(8-len(lw.prefix), len(p))
	lw.prefix = append(lw.prefix, p[:take]...)
	if len(lw.prefix) < 8 {
		return len(p), nil
	}
	l := binary.LittleEndian.Uint64(lw.prefix)
	h := lw.w.Header()
	h.Set("Content-Type", mimeCapnp)
	if l <= uint64(1<<62) {
		h.Set("Content-Length", strconv.FormatUint(8+l, 10))
	}
	lw.w.WriteHeader(http.StatusOK)
	lw.sent = true
	if _, err := lw.w.Write(lw.prefix); err != nil {
		return 0, err
	}
	if _, err := lw.w.Write(p[take:]); err != nil {
		return take, err
	}
	return len(p), nil
}

// writeCapnp sends a small capnp body built in memory.
func writeCapnp(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", mimeCapnp)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// fill yields the fill value forever: cells no version covers.
type fill struct{}

func (fill) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = arrayproto.FillValue
	}
	return len(p), nil
}
