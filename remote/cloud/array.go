package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
)

// The capnp array protocol: the requests Read and Write share, and what
// the client remembers between calls.

const (
	capnpType = "application/capnp"
	// defaultReadBuffer is the most contents bytes one READ reply chunk
	// carries (the query's buffer size): the client holds at most two
	// chunks at a time, whatever the notebook's size.
	defaultReadBuffer = 8 << 20
	// maxCapnpMessage bounds a capnp message the server sends (a reply
	// chunk's message, an ArrayMetadata). Ours are below 1 KiB; libtiledb's
	// servers may add the array schema. Decoders allocate as bytes arrive,
	// so a generous bound costs nothing.
	maxCapnpMessage = 16 << 20
	// bigBody is the request body size above which a call gets no
	// reply-header timeout (the timer would run during the upload).
	bigBody = 1 << 20
)

// fillByte is what an empty save writes in cell 0 (see Write): the
// array's fill value, what a cell no fragment covers reads as.
var fillByte = []byte{arrayproto.FillValue}

// submitPath is the v2 query endpoint.
func submitPath(ns, id string) string {
	return "/v2/arrays/" + seg(ns) + "/" + seg(id) + "/query/submit"
}

// openAt is the time window start_timestamp=0&end_timestamp=end, as
// libtiledb sends it on every array request.
func openAt(end uint64) url.Values {
	return arrayproto.TimeRange{Start: 0, End: end}.Values()
}

func capnpHeader() http.Header {
	return http.Header{"Content-Type": {capnpType}, "Accept": {capnpType}}
}

// msTime is a timestamp of the array protocol as a time.
func msTime(ms uint64) time.Time { return time.UnixMilli(int64(ms)).UTC() }

// fragmentEnd is GET /v1/arrays/{ns}/{id}/fragment_end_timestamp: the
// timestamp (ms) of the newest fragment, i.e. the newest version, at or
// before at when haveAt (TileDB: "the closest end_timestamp to the
// timestamp asked"; the notebookfs server: at or before, 404 when none).
// The reply is a bare JSON integer.
func (c *Client) fragmentEnd(ctx context.Context, ns, id string, at uint64, haveAt bool) (uint64, error) {
	var q url.Values
	if haveAt {
		q = url.Values{"end_timestamp": {strconv.FormatUint(at, 10)}}
	}
	path := arrayPath(ns, id, "/fragment_end_timestamp")
	var raw json.RawMessage
	if err := c.getJSON(ctx, path, q, &raw); err != nil {
		return 0, err
	}
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GET %s: reply %.40q is not a timestamp in ms", path, raw)
	}
	return v, nil
}

// arrayMetadata is GET /v1/arrays/{ns}/{id}/array_metadata
// ?start_timestamp=0&end_timestamp=end with Content-Type application/capnp:
// the metadata folded up to end, a bare capnp ArrayMetadata.
func (c *Client) arrayMetadata(ctx context.Context, ns, id string, end uint64) (arrayproto.Metadata, error) {
	cl := &call{method: http.MethodGet, path: arrayPath(ns, id, "/array_metadata"), query: openAt(end), header: capnpHeader()}
	_, data, err := c.send(ctx, cl, true)
	if err != nil {
		return nil, err
	}
	entries, err := arrayproto.DecodeArrayMetadata(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cl.label(), err)
	}
	m := arrayproto.Metadata{}
	m.Apply(entries)
	return m, nil
}

// postArrayMetadata is POST /v1/arrays/{ns}/{id}/array_metadata
// ?start_timestamp=0&end_timestamp=ts with a bare capnp ArrayMetadata: one
// metadata write at ts. The reply body is ignored. It is
// re-sent when a retry is needed: the same entries at the same timestamp
// fold to the same metadata.
func (c *Client) postArrayMetadata(ctx context.Context, ns, id string, ts uint64, entries []arrayproto.MetadataEntry) error {
	var b bytes.Buffer
	if err := arrayproto.EncodeArrayMetadata(&b, entries); err != nil {
		return err
	}
	cl := &call{method: http.MethodPost, path: arrayPath(ns, id, "/array_metadata"), query: openAt(ts),
		header: capnpHeader(), body: newBody(bytes.NewReader(b.Bytes()), int64(b.Len())), resend: true}
	_, _, err := c.send(ctx, cl, true)
	return err
}

// knownNotebook is what the client remembers of a notebook: the last
// Notebook it reported (from Stat, List, Create, Rename or Write), so that
// Write can return Name, Created and Actions without asking; the last
// timestamp it wrote, so that its writes to one notebook are strictly
// increasing; and a file_size known to be that of one version (see
// sizeAt), and whether that version was, when and as far as the client
// knows, the newest (see listedLatest).
type knownNotebook struct {
	nb      remote.Notebook
	hasInfo bool
	lastTS  uint64 // ms

	pairV   uint64 // a version (ms) ...
	pairN   int64  // ... and its file_size
	hasPair bool
	// newest: a listing of exact versions named pairV the newest at
	// newestAt (client clock). Cleared when the client sees another
	// version named the newest (a Stat, fragment_end_timestamp, a save).
	newest   bool
	newestAt time.Time
}

// maxKnown bounds the remembered notebooks; beyond it, arbitrary ones are
// forgotten (Write then asks again: one request more).
const maxKnown = 10000

func knownKey(ns, id string) string { return ns + "/" + id }

// knownLocked returns the entry of ns/id, made if needed (knownMu held).
func (c *Client) knownLocked(ns, id string) *knownNotebook {
	k := knownKey(ns, id)
	e := c.known[k]
	if e == nil {
		for victim := range c.known {
			if len(c.known) < maxKnown {
				break
			}
			delete(c.known, victim)
		}
		e = &knownNotebook{}
		c.known[k] = e
	}
	return e
}

// remember records nb as the client last saw it.
func (c *Client) remember(nb remote.Notebook) {
	if nb.ID == "" || nb.Namespace == "" {
		return
	}
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	e := c.knownLocked(nb.Namespace, nb.ID)
	e.nb, e.hasInfo = nb, true
	if e.hasPair && e.pairV != uint64(max(nb.Version.UnixMilli(), 0)) {
		e.newest = false
	}
}

// rememberSize records that version v (ms) of ns/id has file_size n, and
// with newest that a listing of exact versions just named v the newest.
// Only pairs from one source are recorded: a listing entry (its
// last_accessed and its file_size), this client's own save, a read's
// array_metadata at v. A Stat's pair is not: its two requests run
// concurrently, and a save between them would pair a version with
// another's size.
func (c *Client) rememberSize(ns, id string, v uint64, n int64, newest bool) {
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	e := c.knownLocked(ns, id)
	e.pairV, e.pairN, e.hasPair = v, n, true
	e.newest, e.newestAt = newest, c.now()
}

// sawNewest records that fragment_end_timestamp named v the newest
// version of ns/id: a remembered pair of another version is no longer
// the newest.
func (c *Client) sawNewest(ns, id string, v uint64) {
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	if e := c.known[knownKey(ns, id)]; e != nil && e.pairV != v {
		e.newest = false
	}
}

// listedLatest returns the version (ms) of ns/id and its file_size when
// the client may read it as the latest without asking: a listing of exact
// versions named it the newest less than ListingTTL ago, and nothing since
// named another version. Within that time the file system shows that
// version anyway; reading it, rather than whatever is newest by now, keeps
// the bytes matching the size the file system announced.
func (c *Client) listedLatest(ns, id string) (v uint64, n int64, ok bool) {
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	e := c.known[knownKey(ns, id)]
	if e == nil || !e.hasPair || !e.newest || c.now().Sub(e.newestAt) >= c.listingTTL {
		return 0, 0, false
	}
	return e.pairV, e.pairN, true
}

// sizeAt returns the file_size of version v of ns/id if the client knows
// it (rememberSize).
func (c *Client) sizeAt(ns, id string, v uint64) (int64, bool) {
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	e := c.known[knownKey(ns, id)]
	if e == nil || !e.hasPair || e.pairV != v {
		return 0, false
	}
	return e.pairN, true
}

// recall returns what the client knows of ns/id.
func (c *Client) recall(ns, id string) (remote.Notebook, bool) {
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	e := c.known[knownKey(ns, id)]
	if e == nil || !e.hasInfo {
		return remote.Notebook{}, false
	}
	return e.nb, true
}

// forget drops ns/id (deleted).
func (c *Client) forget(ns, id string) {
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	delete(c.known, knownKey(ns, id))
}

// writeTimestamp picks the timestamp of a new version of ns/id: the
// client's now in ms, but always after the last one this client wrote for
// the notebook and after the version it last saw (floor), so that two
// saves within a millisecond, or a clock behind the server's, still make
// a newer version.
func (c *Client) writeTimestamp(ns, id string, floor time.Time) uint64 {
	now := c.now().UnixMilli()
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	e := c.knownLocked(ns, id)
	ts := uint64(max(now, 1))
	last := e.lastTS
	if e.hasInfo && !e.nb.Version.IsZero() && e.nb.Version.UnixMilli() > 0 {
		last = max(last, uint64(e.nb.Version.UnixMilli()))
	}
	if !floor.IsZero() && floor.UnixMilli() > 0 {
		last = max(last, uint64(floor.UnixMilli()))
	}
	if ts <= last {
		ts = last + 1
	}
	e.lastTS = ts
	return ts
}

// wrote records that the server stored a version of ns/id at ts.
func (c *Client) wrote(ns, id string, ts uint64) {
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	e := c.knownLocked(ns, id)
	e.lastTS = max(e.lastTS, ts)
}

// notebookInfo is GET /v1/arrays/{ns}/{id}/metadata (ArrayInfo), with the
// user when the client has not fetched it yet (concurrently): the Notebook
// without Size.
func (c *Client) notebookInfo(ctx context.Context, ns, id string) (remote.Notebook, error) {
	var (
		info arrayInfo
		u    remote.User
	)
	err := forEach(ctx, 2, 2, func(ctx context.Context, i int) error {
		if i == 0 {
			return c.getJSON(ctx, arrayPath(ns, id, "/metadata"), nil, &info)
		}
		var err error
		u, err = c.cachedUser(ctx)
		return err
	})
	if err != nil {
		return remote.Notebook{}, err
	}
	if err := c.checkReply(&info, ns, id); err != nil {
		return remote.Notebook{}, err
	}
	return notebookOf(&info, u), nil
}

// writeSource is a WRITE body: the capnp message, then the contents read
// from r. When r is an io.Seeker, seekWriteSource lets the body be rewound
// (a retry sends it again) and measured (a wrong size is refused before
// sending).
type writeSource struct {
	msg []byte
	off int // read position in msg
	r   io.Reader
}

func (w *writeSource) Read(p []byte) (int, error) {
	if w.off < len(w.msg) {
		n := copy(p, w.msg[w.off:])
		w.off += n
		return n, nil
	}
	return w.r.Read(p)
}

type seekWriteSource struct {
	writeSource
	s     io.Seeker
	start int64 // r's position when the write began
}

func newWriteSource(msg []byte, r io.Reader) (io.Reader, error) {
	w := writeSource{msg: msg, r: r}
	s, ok := r.(io.Seeker)
	if !ok {
		return &w, nil
	}
	start, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return &w, nil // not really seekable: a stream
	}
	return &seekWriteSource{writeSource: w, s: s, start: start}, nil
}

func (w *seekWriteSource) Seek(offset int64, whence int) (int64, error) {
	m := int64(len(w.msg))
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		cur := int64(w.off)
		if w.off >= len(w.msg) {
			rp, err := w.s.Seek(0, io.SeekCurrent)
			if err != nil {
				return 0, err
			}
			cur = m + rp - w.start
		}
		pos = cur + offset
	case io.SeekEnd:
		end, err := w.s.Seek(0, io.SeekEnd)
		if err != nil {
			return 0, err
		}
		pos = m + end - w.start + offset
	default:
		return 0, fmt.Errorf("seek: bad whence %d", whence)
	}
	if pos < 0 {
		return 0, fmt.Errorf("seek: negative position %d", pos)
	}
	if pos <= m {
		w.off = int(pos)
		if _, err := w.s.Seek(w.start, io.SeekStart); err != nil {
			return 0, err
		}
		return pos, nil
	}
	w.off = len(w.msg)
	if _, err := w.s.Seek(w.start+pos-m, io.SeekStart); err != nil {
		return 0, err
	}
	return pos, nil
}

// pairReader reads a then b and can be rewound: the body of a READ
// continuation (the previous reply's message, then its contents bytes),
// sent without copying the bytes into one buffer.
type pairReader struct {
	a, b []byte
	off  int64
}

func (p *pairReader) Read(dst []byte) (int, error) {
	la := int64(len(p.a))
	switch {
	case p.off < la:
		n := copy(dst, p.a[p.off:])
		p.off += int64(n)
		return n, nil
	case p.off < la+int64(len(p.b)):
		n := copy(dst, p.b[p.off-la:])
		p.off += int64(n)
		return n, nil
	}
	return 0, io.EOF
}

func (p *pairReader) Seek(offset int64, whence int) (int64, error) {
	size := int64(len(p.a) + len(p.b))
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += p.off
	case io.SeekEnd:
		offset += size
	default:
		return 0, fmt.Errorf("seek: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek: negative position %d", offset)
	}
	p.off = offset
	return offset, nil
}
