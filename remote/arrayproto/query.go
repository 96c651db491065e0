package arrayproto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	capnp "capnproto.org/go/capnp/v3"

	"notebookfs/remote/arrayproto/rest"
)

// Values of Query.type, Query.status and the layouts, as TileDB spells them.
const (
	TypeRead  = "READ"
	TypeWrite = "WRITE"

	StatusUninitialized = "UNINITIALIZED"
	StatusInitialized   = "INITIALIZED"
	StatusIncomplete    = "INCOMPLETE"
	StatusCompleted     = "COMPLETED"
	StatusFailed        = "FAILED"

	LayoutRowMajor = "row-major"
)

// Decoder bounds on list lengths, far above what any TileDB client sends
// for this array, so that a hostile list of empty structs cannot make a
// decoder loop for long.
const (
	maxHeaders    = 64
	maxRanges     = 16
	maxFragments  = 64
	rangeBytes    = 16 // one UINT64 range: u64le start ‖ u64le end
	datatypeRange = "UINT64"
)

// An Option adjusts an encoded query.
type Option func(*options)

type options struct {
	timestamp    uint64
	hasTimestamp bool
}

// WithTimestamp sets the query's array.endTimestamp (milliseconds). By
// default it is the current time, as TileDB's JS client sends
// (Date.now()). It is informational: the timestamps in the URL govern.
func WithTimestamp(ms uint64) Option {
	return func(o *options) { o.timestamp, o.hasTimestamp = ms, true }
}

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if !o.hasTimestamp {
		o.timestamp = uint64(time.Now().UnixMilli())
	}
	return o
}

// errs keeps the first error of a sequence of builder calls.
type errs struct{ err error }

func (e *errs) do(err error) {
	if e.err == nil && err != nil {
		e.err = fmt.Errorf("arrayproto: build: %w", err)
	}
}

// WriteQuery is a decoded WRITE query/submit body. Data streams the
// contents bytes that follow the message; nothing else of the body is held.
type WriteQuery struct {
	// Start and End are the inclusive cell range written; the contents
	// carry End-Start+1 bytes.
	Start, End uint64
	// Status and Layout are as sent ("UNINITIALIZED" from JS, "INITIALIZED"
	// from libtiledb; "row-major"). Not interpreted.
	Status, Layout string
	// Timestamp and StartTimestamp are array.endTimestamp and
	// array.startTimestamp of the body: informational, the URL governs.
	Timestamp, StartTimestamp uint64
	// MessageSize is the length of the framed message before the data.
	MessageSize int64
	// Data yields exactly Len() bytes, then io.EOF; bytes after them are
	// left unread. If the body ends early Data fails with ErrMalformed.
	Data io.Reader
}

// Len returns the number of contents bytes the query writes.
func (q WriteQuery) Len() uint64 { return q.End - q.Start + 1 }

// ReadData reads all of q.Data into memory (instead of reading Data).
func (q WriteQuery) ReadData() ([]byte, error) {
	b, err := readN(q.Data, nil, int(q.Len()))
	if err != nil {
		return nil, truncated("contents", err)
	}
	return b, nil
}

// EncodeWrite writes a WRITE query/submit body that stores data in cells
// [0, len(data)-1] of the notebook array: the root Query message, then the
// bytes. See EncodeWriteFrom.
func EncodeWrite(w io.Writer, data []byte, opts ...Option) error {
	return EncodeWriteFrom(w, bytes.NewReader(data), uint64(len(data)), opts...)
}

// EncodeWriteFrom is EncodeWrite with the n contents bytes streamed from r.
// It fails if r has fewer than n bytes; n must be at least 1 (an empty
// notebook is only file_size = 0 in the metadata).
func EncodeWriteFrom(w io.Writer, r io.Reader, n uint64, opts ...Option) error {
	body, size, err := WriteBody(r, n, opts...)
	if err != nil {
		return err
	}
	m, err := io.Copy(w, body)
	if err != nil {
		return err
	}
	if m != size {
		return fmt.Errorf("arrayproto: contents source ended after %d of %d bytes", m-(size-int64(n)), n)
	}
	return nil
}

// WriteBody returns the WRITE query/submit body for n bytes read from r, and
// its exact length for Content-Length. The message is built at once; the
// contents are read from r only as body is read. If r has fewer than n bytes
// body ends early (an HTTP client then fails on the length mismatch).
func WriteBody(r io.Reader, n uint64, opts ...Option) (body io.Reader, size int64, err error) {
	msg, err := writeMessage(n, collect(opts))
	if err != nil {
		return nil, 0, err
	}
	return io.MultiReader(bytes.NewReader(msg), io.LimitReader(r, int64(n))),
		int64(len(msg)) + int64(n), nil
}

// writeMessage builds the message of TileDB's JS client WriteQuery for
// cells [0, n-1], with array.queryType "WRITE" and
// totalFixedLengthBufferBytes n as libtiledb.
func writeMessage(n uint64, o options) ([]byte, error) {
	if n == 0 {
		return nil, fmt.Errorf("arrayproto: cannot write 0 bytes: store file_size 0 only")
	}
	if n-1 > DomainMax {
		return nil, fmt.Errorf("arrayproto: %d bytes exceed the array domain", n)
	}
	msg, seg := newMessage()
	var e errs
	q, err := rest.NewRootQuery(seg)
	e.do(err)
	e.do(setHeader(q, n, n))
	e.do(q.SetLayout(LayoutRowMajor))
	e.do(q.SetStatus(StatusUninitialized))
	e.do(q.SetType(TypeWrite))
	wr, err := q.NewWriter()
	e.do(err)
	if err == nil {
		da, err := wr.NewSubarray()
		e.do(err)
		e.do(setDomainArray(da, 0, n-1))
		sub, err := wr.NewSubarrayRanges()
		e.do(err)
		e.do(setSubarray(sub, 0, n-1))
	}
	e.do(setArray(q, TypeWrite, o.timestamp, 0))
	q.SetTotalFixedLengthBufferBytes(n)
	setVarOffsets(q, &e)
	if e.err != nil {
		return nil, e.err
	}
	return marshal(msg)
}

// setHeader sets the one attribute buffer header, for contents.
func setHeader(q rest.Query, fixed, original uint64) error {
	hs, err := q.NewAttributeBufferHeaders(1)
	if err != nil {
		return err
	}
	h := hs.At(0)
	if err := h.SetName(AttributeName); err != nil {
		return err
	}
	h.SetFixedLenBufferSizeInBytes(fixed)
	h.SetOriginalFixedLenBufferSizeInBytes(original)
	return nil
}

func setArray(q rest.Query, queryType string, end, start uint64) error {
	a, err := q.NewArray()
	if err != nil {
		return err
	}
	a.SetEndTimestamp(end)
	a.SetStartTimestamp(start)
	return a.SetQueryType(queryType)
}

func setVarOffsets(q rest.Query, e *errs) {
	e.do(q.SetVarOffsetsMode("bytes"))
	q.SetVarOffsetsAddExtraElement(false)
	q.SetVarOffsetsBitsize(64)
}

// setDomainArray fills the old-style subarray as the JS client does: the
// uint64 list holds [start, end], the nine others are empty lists.
func setDomainArray(da rest.DomainArray, start, end uint64) error {
	var e errs
	_, err := da.NewInt8(0)
	e.do(err)
	_, err = da.NewUint8(0)
	e.do(err)
	_, err = da.NewInt16(0)
	e.do(err)
	_, err = da.NewUint16(0)
	e.do(err)
	_, err = da.NewInt32(0)
	e.do(err)
	_, err = da.NewUint32(0)
	e.do(err)
	_, err = da.NewInt64(0)
	e.do(err)
	u, err := da.NewUint64(2)
	e.do(err)
	if err == nil {
		u.Set(0, start)
		u.Set(1, end)
	}
	_, err = da.NewFloat32(0)
	e.do(err)
	_, err = da.NewFloat64(0)
	e.do(err)
	return e.err
}

// setSubarray sets one row-major UINT64 range [start, end].
func setSubarray(sub rest.Subarray, start, end uint64) error {
	var e errs
	e.do(sub.SetLayout(LayoutRowMajor))
	rs, err := sub.NewRanges(1)
	if err != nil {
		return err
	}
	r := rs.At(0)
	e.do(r.SetType(datatypeRange))
	r.SetHasDefaultRange(false)
	var buf [rangeBytes]byte
	binary.LittleEndian.PutUint64(buf[:8], start)
	binary.LittleEndian.PutUint64(buf[8:], end)
	e.do(r.SetBuffer(buf[:]))
	sizes, err := r.NewBufferSizes(1)
	e.do(err)
	if err == nil {
		sizes.Set(0, rangeBytes)
	}
	starts, err := r.NewBufferStartSizes(1)
	e.do(err)
	if err == nil {
		starts.Set(0, 0)
	}
	return e.err
}

// DecodeWrite reads a WRITE query/submit body from r: the root Query (as
// sent by TileDB's JS client, by libtiledb or by EncodeWrite), then the
// contents bytes, which it does not read: they stream from the returned
// WriteQuery.Data. limit bounds the whole body (message and contents).
//
// It accepts the range in writer.subarrayRanges, in writer.subarray or in
// both (then they must agree); exactly one attribute buffer, `contents`,
// whose fixed size must equal the range length; any status; layouts
// row-major, col-major, global-order or none (all the same for one range of
// a 1-D array).
func DecodeWrite(r io.Reader, limit int64) (q WriteQuery, err error) {
	defer guard(&err)
	raw, msg, err := readMessage(r, limit)
	if err != nil {
		return WriteQuery{}, err
	}
	root, err := rootStruct(msg)
	if err != nil {
		return WriteQuery{}, err
	}
	rq := rest.Query(root)
	if err := checkKind(rq, TypeWrite); err != nil {
		return WriteQuery{}, err
	}
	q.Layout, q.Status, err = layoutStatus(rq)
	if err != nil {
		return WriteQuery{}, err
	}
	h, err := contentsHeader(rq)
	if err != nil {
		return WriteQuery{}, err
	}
	if !rq.HasWriter() {
		return WriteQuery{}, malformed("WRITE query without writer")
	}
	wr, err := rq.Writer()
	if err != nil {
		return WriteQuery{}, malformed("writer: %v", err)
	}
	start, end, ok, err := writerRange(wr)
	if err != nil {
		return WriteQuery{}, err
	}
	if !ok {
		return WriteQuery{}, unsupported("WRITE without a subarray (whole domain)")
	}
	n := end - start + 1
	if got := h.FixedLenBufferSizeInBytes(); got != n {
		return WriteQuery{}, malformed("contents buffer of %d bytes for %d cells [%d, %d]", got, n, start, end)
	}
	if n > uint64(limit)-uint64(len(raw)) {
		return WriteQuery{}, tooLarge("body of %d + %d bytes, limit %d", len(raw), n, limit)
	}
	q.Start, q.End = start, end
	q.Timestamp, q.StartTimestamp, err = arrayTimestamps(rq)
	if err != nil {
		return WriteQuery{}, err
	}
	q.MessageSize = int64(len(raw))
	q.Data = &exactReader{r: r, n: n}
	return q, nil
}

// writerRange returns the range of a Writer from subarrayRanges and/or the
// old-style subarray. ok is false when neither holds a range.
func writerRange(wr rest.Writer) (start, end uint64, ok bool, err error) {
	if wr.HasSubarrayRanges() {
		sub, err := wr.SubarrayRanges()
		if err != nil {
			return 0, 0, false, malformed("writer.subarrayRanges: %v", err)
		}
		start, end, ok, err = subarrayRange(sub)
		if err != nil {
			return 0, 0, false, err
		}
	}
	if wr.HasSubarray() {
		da, err := wr.Subarray()
		if err != nil {
			return 0, 0, false, malformed("writer.subarray: %v", err)
		}
		s, e, ok2, err := domainArrayRange(da)
		if err != nil {
			return 0, 0, false, err
		}
		switch {
		case ok2 && !ok:
			start, end, ok = s, e, true
		case ok2 && (s != start || e != end):
			return 0, 0, false, malformed("writer.subarray [%d, %d] differs from writer.subarrayRanges [%d, %d]", s, e, start, end)
		}
	}
	return start, end, ok, nil
}

// subarrayRange returns the one UINT64 range of sub; ok is false when sub
// has no range at all.
func subarrayRange(sub rest.Subarray) (start, end uint64, ok bool, err error) {
	if !sub.HasRanges() {
		return 0, 0, false, nil
	}
	rs, err := sub.Ranges()
	if err != nil {
		return 0, 0, false, malformed("subarray ranges: %v", err)
	}
	switch {
	case rs.Len() == 0:
		return 0, 0, false, nil
	case rs.Len() > maxRanges:
		return 0, 0, false, malformed("subarray with %d dimensions", rs.Len())
	case rs.Len() != 1:
		return 0, 0, false, unsupported("subarray with %d dimensions, the array has 1", rs.Len())
	}
	r := rs.At(0)
	typ, err := r.Type()
	if err != nil {
		return 0, 0, false, malformed("range type: %v", err)
	}
	if typ != datatypeRange {
		return 0, 0, false, unsupported("range of type %q, want %s", typ, datatypeRange)
	}
	buf, err := r.Buffer()
	if err != nil {
		return 0, 0, false, malformed("range buffer: %v", err)
	}
	switch {
	case len(buf) == 0 && r.HasDefaultRange():
		return 0, 0, false, nil
	case len(buf) > rangeBytes && len(buf)%rangeBytes == 0:
		return 0, 0, false, unsupported("%d ranges on one dimension", len(buf)/rangeBytes)
	case len(buf) != rangeBytes:
		return 0, 0, false, malformed("range buffer of %d bytes", len(buf))
	}
	start = binary.LittleEndian.Uint64(buf[:8])
	end = binary.LittleEndian.Uint64(buf[8:])
	if err := checkRange(start, end); err != nil {
		return 0, 0, false, err
	}
	return start, end, true, nil
}

// domainArrayRange returns the range of an old-style subarray; ok is false
// when it holds none.
func domainArrayRange(da rest.DomainArray) (start, end uint64, ok bool, err error) {
	s := capnp.Struct(da)
	for i := uint16(0); i < 10; i++ {
		if i == 7 || !s.HasPtr(i) {
			continue
		}
		p, err := s.Ptr(i)
		if err != nil {
			return 0, 0, false, malformed("writer.subarray: %v", err)
		}
		if l := p.List(); p.IsValid() && l.Len() > 0 {
			return 0, 0, false, unsupported("writer.subarray of a non-UINT64 type")
		}
	}
	if !da.HasUint64() {
		return 0, 0, false, nil
	}
	u, err := da.Uint64()
	if err != nil {
		return 0, 0, false, malformed("writer.subarray.uint64: %v", err)
	}
	switch u.Len() {
	case 0:
		return 0, 0, false, nil
	case 2:
	default:
		return 0, 0, false, malformed("writer.subarray.uint64 of %d values", u.Len())
	}
	start, end = u.At(0), u.At(1)
	if err := checkRange(start, end); err != nil {
		return 0, 0, false, err
	}
	return start, end, true, nil
}

func checkRange(start, end uint64) error {
	if start > end {
		return malformed("range [%d, %d] is empty", start, end)
	}
	if end > DomainMax {
		return malformed("range [%d, %d] exceeds the domain [0, %d]", start, end, DomainMax)
	}
	return nil
}

// checkKind checks Query.type.
func checkKind(q rest.Query, want string) error {
	typ, err := q.Type()
	if err != nil {
		return malformed("query type: %v", err)
	}
	if typ != want {
		return malformed("query type %q, want %s", typ, want)
	}
	return nil
}

func layoutStatus(q rest.Query) (layout, status string, err error) {
	layout, err = q.Layout()
	if err != nil {
		return "", "", malformed("layout: %v", err)
	}
	switch layout {
	case "", LayoutRowMajor, "col-major", "global-order":
	default:
		return "", "", unsupported("layout %q", layout)
	}
	status, err = q.Status()
	if err != nil {
		return "", "", malformed("status: %v", err)
	}
	return layout, status, nil
}

// contentsHeader returns the attribute buffer header of contents. Other
// headers are tolerated only when all their sizes are 0.
func contentsHeader(q rest.Query) (rest.AttributeBufferHeader, error) {
	var none rest.AttributeBufferHeader
	if !q.HasAttributeBufferHeaders() {
		return none, malformed("no attribute buffer headers")
	}
	hs, err := q.AttributeBufferHeaders()
	if err != nil {
		return none, malformed("attribute buffer headers: %v", err)
	}
	if hs.Len() > maxHeaders {
		return none, malformed("%d attribute buffer headers", hs.Len())
	}
	found := -1
	for i := 0; i < hs.Len(); i++ {
		h := hs.At(i)
		name, err := h.Name()
		if err != nil {
			return none, malformed("attribute buffer header name: %v", err)
		}
		if name == AttributeName {
			if found >= 0 {
				return none, malformed("two %s buffer headers", AttributeName)
			}
			found = i
			continue
		}
		if headerBytes(h) != 0 || h.OriginalFixedLenBufferSizeInBytes() != 0 ||
			h.OriginalVarLenBufferSizeInBytes() != 0 || h.OriginalValidityLenBufferSizeInBytes() != 0 {
			return none, unsupported("buffer for %q: only %s is served", name, AttributeName)
		}
	}
	if found < 0 {
		return none, unsupported("no %s buffer", AttributeName)
	}
	h := hs.At(found)
	if h.VarLenBufferSizeInBytes() != 0 || h.ValidityLenBufferSizeInBytes() != 0 ||
		h.OriginalVarLenBufferSizeInBytes() != 0 || h.OriginalValidityLenBufferSizeInBytes() != 0 {
		return none, malformed("%s has var-length or validity buffers; it is fixed-size, not nullable", AttributeName)
	}
	return h, nil
}

// headerBytes is the number of bytes a header announces after the message.
// Each size is bounded by the checks of its caller; the sum saturates.
func headerBytes(h rest.AttributeBufferHeader) uint64 {
	a, b, c := h.FixedLenBufferSizeInBytes(), h.VarLenBufferSizeInBytes(), h.ValidityLenBufferSizeInBytes()
	s := a + b
	if s < a {
		return ^uint64(0)
	}
	if s+c < s {
		return ^uint64(0)
	}
	return s + c
}

func arrayTimestamps(q rest.Query) (end, start uint64, err error) {
	if !q.HasArray() {
		return 0, 0, nil
	}
	a, err := q.Array()
	if err != nil {
		return 0, 0, malformed("array: %v", err)
	}
	return a.EndTimestamp(), a.StartTimestamp(), nil
}

// errPanic marks an error made from a recovered panic (see guard).
var errPanic = fmt.Errorf("%w: decoder panic", ErrMalformed)

// guard turns a panic while traversing untrusted capnp data into an error.
// The decoders check pointers and sizes before use, and fuzzing found no
// panic; this is a last line of defence against the capnp library.
func guard(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%w: %v", errPanic, p)
	}
}
