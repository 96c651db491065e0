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
)

// Read opens a notebook's bytes. The latest version (at zero) goes over
// plain JSON REST (readLatestJSON); an older one needs TileDB's array
// protocol (readAt). Content streams under the call's deadline
// (CallTimeout from the call to Read): it must be read and closed within it.
func (c *Client) Read(ctx context.Context, ns, id string, at time.Time) (*remote.Content, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("read", ns, id); err != nil {
		return nil, err
	}
	ctx, cancel := c.callCtx(ctx)
	var (
		content *remote.Content
		err     error
	)
	if at.IsZero() {
		content, err = c.readLatestJSON(ctx, ns, id)
	} else {
		content, err = c.readAt(ctx, ns, id, at)
	}
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

// readAt reads the version in force at at. Plain REST has no way to do it
// (get_file has no timestamp): it needs the capnp array protocol, which a
// later piece adds here.
func (c *Client) readAt(ctx context.Context, ns, id string, at time.Time) (*remote.Content, error) {
	return nil, fmt.Errorf("read %s/%s at %s: reading an old version needs the array protocol: %w",
		ns, id, at.UTC().Format(time.RFC3339Nano), remote.ErrUnsupported)
}

// readLatestJSON is GET /v1/arrays/{ns}/{id}/metadata for the version's
// time, then GET .../query/get_file (with the Content-Type: application/json
// the spec requires on it) for the bytes: two requests, in that order, so
// that the Version reported is never newer than the bytes (a save landing
// in between makes the bytes newer, which a later revalidation notices; the
// other way round would cache old bytes under the new version).
//
// Size is the reply's Content-Length; a reply without one (chunked) is read
// whole into memory first, so that Size is exact. A body cut short is
// resumed by asking again (see resumingBody).
func (c *Client) readLatestJSON(ctx context.Context, ns, id string) (*remote.Content, error) {
	var info arrayInfo
	if err := c.getJSON(ctx, arrayPath(ns, id, "/metadata"), nil, &info); err != nil {
		return nil, err
	}
	version := parseTime(info.LastAccessed)
	if created := parseTime(info.CreatedAt); version.Before(created) {
		version = created
	}
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
