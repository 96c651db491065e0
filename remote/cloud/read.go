package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
)

// Read opens a notebook's bytes over TileDB's capnp array protocol
// (readArray): the latest version when at is zero, else the newest version
// at or before at. Content streams under the call's deadline (CallTimeout
// from the call to Read): it must be read and closed within it.
func (c *Client) Read(ctx context.Context, ns, id string, at time.Time) (*remote.Content, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("read", ns, id); err != nil {
		return nil, err
	}
	if !at.IsZero() && at.UnixMilli() < 0 {
		return nil, fmt.Errorf("read %s/%s at %s: no version that early: %w", ns, id, at.UTC().Format(time.RFC3339Nano), remote.ErrNotFound)
	}
	ctx, cancel := c.callCtx(ctx)
	content, err := c.readArray(ctx, ns, id, at)
	if err != nil {
		cancel()
		return nil, err
	}
	content.ReadCloser = &closeCancel{ReadCloser: content.ReadCloser, cancel: cancel}
	return content, nil
}

type closeCancel struct {
	io.ReadCloser
	cancel context.CancelFunc
	once   sync.Once
}

func (c *closeCancel) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.cancel)
	return err
}

// recentRead is how far back a read at a time is still read as the latest
// is (version first, then everything at it), in case a save stamped at or
// before that time is still to land (clocks differ between machines).
const recentRead = time.Minute

// readArray reads one version pinned at a timestamp, so that the bytes,
// their length and the Version reported always belong together:
//
//   - latest, right after a listing of exact versions (notebookfs serve's;
//     within ListingTTL, unless the client has since seen another version
//     named the newest): the READ alone, at the listed version V with the
//     listed size. One request: what the file system shows, byte for byte.
//   - latest (at zero) otherwise: GET .../fragment_end_timestamp gives V, the newest
//     version; then GET .../array_metadata?start_timestamp=0&end_timestamp=V
//     (file_size as of V), then the READ at end_timestamp=V. Three
//     requests, in that order: a save landing meanwhile is a newer
//     fragment, invisible at V. Two when the client already knows V's
//     file_size (rememberSize: V and its size came together in a listing
//     entry, from this client's save of V, or from an earlier read of V):
//     no array_metadata then.
//   - at a time A more than recentRead ago: fragment_end_timestamp
//     ?end_timestamp=A gives V, the version in force at A (404: none that
//     early), concurrently with the metadata at A; then the READ at A.
//     Three requests, two round trips. (Only a writer whose clock is
//     behind by more than recentRead could still add a fragment at or
//     before A.) A later A is read as latest is, with
//     fragment_end_timestamp?end_timestamp=A.
//   - A server answering a V after A ("closest" rather than "at or
//     before") is not believed: the read is then labelled A, the time the
//     bytes are as of.
//
// The READ is POST /v2/arrays/{ns}/{id}/query/submit?type=READ&read_all=true
// &start_timestamp=0&end_timestamp=T of contents [0, file_size-1], whose
// reply streams (arrayReader); over 1 MiB, several READs of consecutive
// ranges at T, at once (readRanged). file_size 0 makes no READ.
//
// Fallback: when the array protocol is missing on the server (501 from
// fragment_end_timestamp; 404 or 501 from array_metadata or query/submit
// once V proved the notebook exists), a latest read takes get_file
// instead (see readLatestJSON and readFileAt); an old version has no such
// way and fails.
func (c *Client) readArray(ctx context.Context, ns, id string, at time.Time) (*remote.Content, error) {
	var (
		version, readTS uint64
		meta            arrayproto.Metadata
		metaErr         error
	)
	latest := at.IsZero()
	if latest {
		if v, n, ok := c.listedLatest(ns, id); ok {
			// A fresh listing of exact versions named it the newest:
			// the READ alone.
			return c.readPinned(ctx, ns, id, n, v, v, true)
		}
	}
	if latest || !at.Before(c.now().Add(-recentRead)) {
		// Latest, or a time so recent that a save may still land at or
		// before it: V first, then everything at V.
		var atMs uint64
		if !latest {
			atMs = uint64(at.UnixMilli())
		}
		v, err := c.fragmentEnd(ctx, ns, id, atMs, !latest)
		if err == nil && latest {
			c.sawNewest(ns, id, v)
		}
		if err != nil {
			if latest && errors.Is(err, remote.ErrUnsupported) {
				c.log.WithField("notebook", ns+"/"+id).Debugf("no fragment_end_timestamp, reading with get_file: %v", err)
				return c.readLatestJSON(ctx, ns, id)
			}
			return nil, err
		}
		if !latest && v > atMs {
			c.log.WithField("notebook", ns+"/"+id).Warnf("fragment_end_timestamp at %d answered %d, after it; reading and labelling at %d", atMs, v, atMs)
			v = atMs
		}
		version, readTS = v, v
		if n, ok := c.sizeAt(ns, id, v); ok {
			// The file_size of V is known (from a listing, this
			// client's save or an earlier read): no array_metadata.
			return c.readPinned(ctx, ns, id, n, v, v, latest)
		}
		meta, metaErr = c.arrayMetadata(ctx, ns, id, readTS)
	} else {
		// An old version: the fragments up to A are settled, so the
		// version and the metadata at A can be asked at once.
		readTS = uint64(at.UnixMilli())
		// Each function sets its own variables; forEach's wait orders
		// them before the reads below.
		var v uint64
		err := forEach(ctx, 2, 2, func(ctx context.Context, i int) error {
			if i == 0 {
				var err error
				v, err = c.fragmentEnd(ctx, ns, id, readTS, true)
				return err
			}
			meta, metaErr = c.arrayMetadata(ctx, ns, id, readTS)
			return nil // reported below, after the version's error
		})
		if err != nil {
			return nil, err
		}
		version = v
		if version > readTS {
			c.log.WithField("notebook", ns+"/"+id).Warnf("fragment_end_timestamp at %d answered %d, after it; labelling the read %d", readTS, version, readTS)
			version = readTS
		}
	}
	if metaErr != nil {
		if latest && arrayProtoMissing(metaErr) {
			return c.readFileAt(ctx, ns, id, version, metaErr)
		}
		return nil, metaErr
	}
	size, ok, err := meta.FileSize()
	if err == nil && size > maxFileSize {
		err = fmt.Errorf("file_size %d is not believable", size)
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", arrayPath(ns, id, "/array_metadata"), err)
	}
	if !ok {
		// A notebook array without file_size cannot be read by any TileDB
		// client; shown as empty, as Stat and List do.
		c.log.WithField("notebook", ns+"/"+id).Warn("notebook has no file_size metadata; read as empty")
	} else if readTS == version {
		c.rememberSize(ns, id, version, size, false)
	}
	return c.readPinned(ctx, ns, id, size, version, readTS, latest)
}

// readPinned reads contents [0, size-1] as of readTS, labelled version.
func (c *Client) readPinned(ctx context.Context, ns, id string, size int64, version, readTS uint64, latest bool) (*remote.Content, error) {
	if size == 0 {
		return &remote.Content{ReadCloser: io.NopCloser(bytes.NewReader(nil)), Size: 0, Version: msTime(version)}, nil
	}
	if size > rangedAbove {
		return c.readRanged(ctx, ns, id, size, version, readTS, latest)
	}
	r, err := c.newArrayReader(ctx, ns, id, 0, uint64(size), readTS)
	if err != nil {
		return nil, err
	}
	if err := r.post(); err != nil {
		if latest && arrayProtoMissing(err) {
			return c.readFileAt(ctx, ns, id, version, err)
		}
		return nil, err
	}
	return &remote.Content{ReadCloser: r, Size: size, Version: msTime(version)}, nil
}

// arrayProtoMissing reports whether err says the server lacks an array
// protocol endpoint: 501, or 404 for a notebook known to exist.
func arrayProtoMissing(err error) bool {
	return errors.Is(err, remote.ErrUnsupported) || errors.Is(err, remote.ErrNotFound)
}

// readFileAt is the fallback of a latest read whose version V is known but
// whose server does not speak the array protocol: GET .../query/get_file
// (which has no timestamp), labelled V, and once its last byte is read,
// GET .../fragment_end_timestamp again: a different answer means a save
// landed meanwhile and the bytes may be newer than V, which fails the read
// (ErrConflict) rather than mislabel them.
func (c *Client) readFileAt(ctx context.Context, ns, id string, v uint64, cause error) (*remote.Content, error) {
	c.log.WithField("notebook", ns+"/"+id).Debugf("array protocol unavailable, reading with get_file: %v", cause)
	content, err := c.getFile(ctx, ns, id, msTime(v))
	if err != nil {
		return nil, err
	}
	content.ReadCloser = &verifyAtEOF{ReadCloser: content.ReadCloser, check: func() error {
		now, err := c.fragmentEnd(ctx, ns, id, 0, false)
		if err != nil {
			return err
		}
		if now != v {
			return fmt.Errorf("read %s/%s: a new version (%d) was saved while version %d was read: %w", ns, id, now, v, remote.ErrConflict)
		}
		return nil
	}}
	return content, nil
}

// verifyAtEOF runs check when the body ends; its error replaces io.EOF.
type verifyAtEOF struct {
	io.ReadCloser
	check func() error
	done  bool
	err   error
}

func (v *verifyAtEOF) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.ReadCloser.Read(p)
	if err == io.EOF && !v.done {
		v.done = true
		if cerr := v.check(); cerr != nil {
			v.err = cerr
			return n, cerr
		}
	}
	return n, err
}

// readLatestJSON is the fallback of a server without
// fragment_end_timestamp: GET /v1/arrays/{ns}/{id}/metadata for the
// version's time (ArrayInfo.last_accessed), then getFile: two requests, in
// that order, so that the Version reported is never newer than the bytes.
func (c *Client) readLatestJSON(ctx context.Context, ns, id string) (*remote.Content, error) {
	var info arrayInfo
	if err := c.getJSON(ctx, arrayPath(ns, id, "/metadata"), nil, &info); err != nil {
		return nil, err
	}
	version := parseTime(info.LastAccessed)
	if created := parseTime(info.CreatedAt); version.Before(created) {
		version = created
	}
	return c.getFile(ctx, ns, id, version)
}

// getFile is GET .../query/get_file (with the Content-Type:
// application/json the spec requires on it): the latest bytes, without a
// timestamp, labelled version.
//
// Size is the reply's Content-Length; a reply without one (chunked) is read
// whole into memory first, so that Size is exact. A body cut short is
// resumed by asking again (see resumingBody).
func (c *Client) getFile(ctx context.Context, ns, id string, version time.Time) (*remote.Content, error) {
	cl := &call{method: http.MethodGet, path: arrayPath(ns, id, "/query/get_file"), header: http.Header{
		"Content-Type": {"application/json"},
		"Accept":       {"application/x-ipynb+json, application/json;q=0.9, */*;q=0.5"},
	}}
	resp, _, err := c.send(ctx, cl, false)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength < 0 {
		data, err := c.readWhole(ctx, cl, resp)
		if err != nil {
			return nil, err
		}
		return &remote.Content{ReadCloser: io.NopCloser(bytes.NewReader(data)), Size: int64(len(data)), Version: version}, nil
	}
	rb := &resumingBody{c: c, ctx: ctx, cl: cl, body: resp.Body, size: resp.ContentLength,
		etag: resp.Header.Get("ETag"), sum: crc64.New(crcTable)}
	return &remote.Content{ReadCloser: rb, Size: resp.ContentLength, Version: version}, nil
}

// readWhole reads a reply of unknown length, asking again from the start
// when it is cut short (a GET may be re-sent).
func (c *Client) readWhole(ctx context.Context, cl *call, resp *http.Response) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			return data, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", cl.label(), ctx.Err())
		}
		if attempt >= c.maxRetries {
			return nil, fmt.Errorf("%s: reply cut short: %w", cl.label(), err)
		}
		c.log.WithField("op", cl.label()).Warnf("reply cut short, asking again: %v", err)
		if resp, _, err = c.send(ctx, cl, false); err != nil {
			return nil, err
		}
	}
}

var crcTable = crc64.MakeTable(crc64.ECMA)

// resumingBody is a get_file reply of known length that survives a
// connection cut: it asks again and continues where it stopped. With an
// ETag it asks for the rest only (Range with If-Range); otherwise it reads
// the new reply from the start and checks that the bytes already delivered
// are the same (CRC-64), so that two versions are never spliced: if the
// notebook changed meanwhile, reading fails instead.
type resumingBody struct {
	c    *Client
	ctx  context.Context
	cl   *call
	body io.ReadCloser
	size int64
	etag string

	done    int64 // bytes delivered
	sum     hash.Hash64
	resumes int
	err     error
}

func (r *resumingBody) Read(p []byte) (int, error) {
	for {
		if r.err != nil {
			return 0, r.err
		}
		n, err := r.body.Read(p)
		if n > 0 {
			r.sum.Write(p[:n])
			r.done += int64(n)
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && r.done == r.size:
			return n, io.EOF
		case err == io.EOF:
			err = io.ErrUnexpectedEOF
		}
		if r.done > r.size {
			r.err = fmt.Errorf("%s: reply longer than its Content-Length", r.cl.label())
			return n, r.err
		}
		if rerr := r.resume(err); rerr != nil {
			r.err = rerr
			return n, rerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

// resume replaces a body that failed with cause by a new reply positioned
// at r.done.
func (r *resumingBody) resume(cause error) error {
	r.body.Close()
	if ctxErr := r.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", r.cl.label(), ctxErr)
	}
	var p permanent
	if errors.As(cause, &p) || r.resumes >= r.c.maxRetries {
		return fmt.Errorf("%s: reply cut short after %d of %d bytes: %w", r.cl.label(), r.done, r.size, cause)
	}
	r.resumes++
	r.c.log.WithField("op", r.cl.label()).Warnf("reply cut short after %d of %d bytes, resuming: %v", r.done, r.size, cause)
	cl := *r.cl
	cl.header = r.cl.header.Clone()
	if r.etag != "" && r.done > 0 {
		cl.header.Set("Range", "bytes="+strconv.FormatInt(r.done, 10)+"-")
		cl.header.Set("If-Range", r.etag)
	}
	resp, _, err := r.c.send(r.ctx, &cl, false)
	if err != nil {
		return err
	}
	changed := fmt.Errorf("%s: the notebook changed while it was read: %w", r.cl.label(), remote.ErrConflict)
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		if resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", r.done, r.size-1, r.size) {
			drain(resp.Body)
			return changed
		}
		r.body = resp.Body
		return nil
	case resp.ContentLength != r.size || (r.etag != "" && resp.Header.Get("ETag") != r.etag):
		drain(resp.Body)
		return changed
	}
	// A whole reply again: skip what was delivered, checking it matches.
	sum := crc64.New(crcTable)
	if _, err := io.CopyN(sum, resp.Body, r.done); err != nil {
		resp.Body.Close()
		return r.resume(err)
	}
	if sum.Sum64() != r.sum.Sum64() {
		resp.Body.Close()
		return changed
	}
	r.body = resp.Body
	return nil
}

func (r *resumingBody) Close() error { return r.body.Close() }
