package cloud

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
)

// arrayReader streams the contents of one READ: it decodes reply chunks
// (u64le L ‖ message ‖ contents bytes) as the caller reads, so
// the client holds at most two chunks (the one being delivered and, for a
// continuation, the previous one), each at most the query's buffer size,
// whatever the notebook's size.
//
// Continuation: with read_all=true a server streams all chunks
// in one reply; one that sends a single chunk per reply (TileDB's JS client
// protocol) ends the reply after an INCOMPLETE chunk, and the client posts
// that chunk back, message and bytes, verbatim, to the same URL, as the JS
// client does. The read is pinned at a timestamp, so the pieces all come
// from one version.
//
// Resumption: a reply cut short (connection lost, body ended inside a
// chunk) is asked again from the last complete chunk: the query itself if
// none came yet, else the continuation of the last INCOMPLETE chunk. Bytes
// are delivered only from whole, decoded chunks, so nothing is delivered
// twice or spliced. At most MaxRetries resumptions per read.
type arrayReader struct {
	c     *Client
	ctx   context.Context
	path  string
	query url.Values
	first []byte // the READ query
	size  uint64 // cells to read: [start, start+size-1]
	limit int64  // the largest chunk accepted, prefix included

	body   io.ReadCloser
	br     *bufio.Reader
	chunks int // chunks decoded from the current reply

	next    uint64                // cells received
	data    []byte                // received, not yet delivered
	last    *arrayproto.ReadReply // the last INCOMPLETE chunk, to continue from
	resumes int
	err     error
}

// newArrayReader prepares the READ of contents [start, start+size-1] at
// end_timestamp ts; post sends it (or the first Read does).
func (c *Client) newArrayReader(ctx context.Context, ns, id string, start, size, ts uint64) (*arrayReader, error) {
	capacity := min(size, uint64(max(c.readBuffer, 1)))
	var q bytes.Buffer
	// array.endTimestamp is informational (the URL governs): the read's
	// timestamp, as the JS client sends its Date.now().
	if err := arrayproto.EncodeRead(&q, start, start+size-1, capacity, arrayproto.WithTimestamp(ts)); err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", ns, id, err)
	}
	query := openAt(ts)
	query.Set("type", arrayproto.TypeRead)
	query.Set("read_all", "true")
	return &arrayReader{
		c: c, ctx: ctx, path: submitPath(ns, id), query: query, first: q.Bytes(), size: size,
		limit: int64(capacity) + 8 + maxCapnpMessage,
	}, nil
}

func (r *arrayReader) label() string { return http.MethodPost + " " + r.path }

// post sends the query, or the continuation of the last INCOMPLETE chunk,
// and makes its reply the current one. 429 and 503 replies and lost
// connections are retried by send: a READ changes nothing.
func (r *arrayReader) post() error {
	r.closeBody()
	var src io.Reader = bytes.NewReader(r.first)
	n := int64(len(r.first))
	if r.last != nil {
		src = &pairReader{a: r.last.Message, b: r.last.Data}
		n = int64(len(r.last.Message) + len(r.last.Data))
	}
	cl := &call{method: http.MethodPost, path: r.path, query: r.query, header: capnpHeader(),
		body: newBody(src, n), resend: true, longWait: n > bigBody}
	resp, _, err := r.c.send(r.ctx, cl, false)
	if err != nil {
		return err
	}
	r.body = resp.Body
	if r.br == nil {
		r.br = bufio.NewReaderSize(r.body, 64<<10)
	} else {
		r.br.Reset(r.body)
	}
	r.chunks = 0
	return nil
}

func (r *arrayReader) Read(p []byte) (int, error) {
	for len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next == r.size {
			r.closeBody()
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			r.err = err
			r.closeBody()
			return 0, err
		}
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// readAll reads the whole range: the one reply chunk's bytes as decoded
// when one chunk carries it all (no copy), else the chunks joined.
func (r *arrayReader) readAll() ([]byte, error) {
	var out []byte
	for r.next < r.size {
		if err := r.fill(); err != nil {
			return nil, err
		}
		if out == nil && r.next == r.size {
			out, r.data = r.data, nil
			break
		}
		if out == nil {
			out = make([]byte, 0, r.size)
		}
		out = append(out, r.data...)
		r.data = nil
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// fill decodes the next chunk into r.data, posting a continuation or
// resuming as needed.
func (r *arrayReader) fill() error {
	for {
		if err := r.ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", r.label(), err)
		}
		if r.body == nil {
			if err := r.post(); err != nil {
				return err
			}
		}
		if _, err := r.br.Peek(1); err != nil {
			if err == io.EOF && r.chunks > 0 {
				// The reply ended after an INCOMPLETE chunk: the server
				// sends one chunk per request. Continue.
				r.closeBody()
				continue
			}
			if err == io.EOF {
				err = errors.New("reply without a chunk")
			}
			if rerr := r.resume(err); rerr != nil {
				return rerr
			}
			continue
		}
		in := &trackReader{r: r.br}
		rep, err := arrayproto.DecodeReadReply(in, r.limit)
		if err != nil {
			if ctxErr := r.ctx.Err(); ctxErr != nil {
				return fmt.Errorf("%s: %w", r.label(), ctxErr)
			}
			if cutShort(err, in) {
				if rerr := r.resume(err); rerr != nil {
					return rerr
				}
				continue
			}
			return fmt.Errorf("%s: reply chunk %d: %w", r.label(), r.chunks+1, err)
		}
		r.chunks++
		got := uint64(len(rep.Data))
		if got > r.size-r.next {
			return fmt.Errorf("%s: reply carries %d bytes, %d were left to read: %w", r.label(), got, r.size-r.next, arrayproto.ErrMalformed)
		}
		r.next += got
		r.data = rep.Data
		switch {
		case r.next == r.size:
			// Done, whatever the status says. The reply ends here: read
			// its end before closing, or net/http drops the connection
			// instead of keeping it for the next request.
			r.last = nil
			io.CopyN(io.Discard, r.br, 64<<10)
			r.closeBody()
		case rep.Complete():
			return fmt.Errorf("%s: read COMPLETED after %d of %d bytes: %w", r.label(), r.next, r.size, arrayproto.ErrMalformed)
		default:
			r.last = &rep
		}
		return nil
	}
}

// cutShort reports whether a decoding error comes from the reply ending
// or breaking inside a chunk (a lost connection, a server gone), rather
// than from a malformed chunk: such a reply is asked again. The decoder
// reads exactly the bytes a chunk declares, so it sees the end of the body
// or a read error only when the chunk was cut.
func cutShort(err error, in *trackReader) bool {
	return in.err != nil && !errors.Is(err, arrayproto.ErrTooLarge)
}

// resume drops the current reply after cause and arranges for the read to
// be asked again from the last complete chunk.
func (r *arrayReader) resume(cause error) error {
	r.closeBody()
	if ctxErr := r.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", r.label(), ctxErr)
	}
	if r.resumes >= r.c.maxRetries {
		return fmt.Errorf("%s: reply cut short after %d of %d bytes: %w", r.label(), r.next, r.size, cause)
	}
	r.resumes++
	r.c.log.WithField("op", r.label()).Warnf("reply cut short after %d of %d bytes, asking again: %v", r.next, r.size, cause)
	return nil
}

func (r *arrayReader) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

// Close ends the read; later Reads fail.
func (r *arrayReader) Close() error {
	r.closeBody()
	if r.err == nil {
		r.err = fmt.Errorf("%s: read after close: %w", r.label(), remote.ErrInvalid)
	}
	r.data, r.last = nil, nil
	return nil
}

// trackReader remembers the first error (io.EOF included) its source
// returned.
type trackReader struct {
	r   io.Reader
	err error
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}
