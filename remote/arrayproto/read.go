package arrayproto

import (
	"fmt"
	"io"

	"notebookfs/remote/arrayproto/rest"
)

// ReadQuery is a decoded READ query/submit body.
type ReadQuery struct {
	// Start and End are the inclusive cell range to read. On a
	// continuation of a reply made by WriteReadReply they are the range
	// that remains.
	Start, End uint64
	// Capacity is the most contents bytes the client takes in one reply:
	// originalFixedLenBufferSizeInBytes if > 0, else fixedLenBufferSizeInBytes.
	Capacity uint64
	// Status is "UNINITIALIZED" (JS), "INITIALIZED" (libtiledb) or, on a
	// continuation, "INCOMPLETE".
	Status, Layout string
	// Timestamp and StartTimestamp are array.endTimestamp and
	// array.startTimestamp. On a continuation of a WriteReadReply reply,
	// Timestamp is the read timestamp the first reply resolved to.
	Timestamp, StartTimestamp uint64
	// DenseReader is set when the range came in Query.denseReader
	// (libtiledb) rather than Query.reader (TileDB's JS client).
	DenseReader bool
	// MessageSize is the length of the framed message.
	MessageSize int64
}

// Len returns the number of cells (= bytes) in [Start, End].
func (q ReadQuery) Len() uint64 { return q.End - q.Start + 1 }

// Continuation reports whether q continues an INCOMPLETE read.
func (q ReadQuery) Continuation() bool { return q.Status == StatusIncomplete }

// EncodeRead writes a READ query/submit body for cells [start, end] of
// contents, taking at most bufferBytes bytes per reply: the message of
// TileDB's JS client ReadQuery with array.queryType "READ". Nothing follows
// the message.
func EncodeRead(w io.Writer, start, end, bufferBytes uint64, opts ...Option) error {
	if err := checkRange(start, end); err != nil {
		return fmt.Errorf("arrayproto: EncodeRead: %w", err)
	}
	if bufferBytes == 0 {
		return fmt.Errorf("arrayproto: EncodeRead: bufferBytes is 0")
	}
	o := collect(opts)
	msg, seg := newMessage()
	var e errs
	q, err := rest.NewRootQuery(seg)
	e.do(err)
	e.do(setHeader(q, 0, bufferBytes))
	e.do(q.SetLayout(LayoutRowMajor))
	e.do(q.SetStatus(StatusUninitialized))
	e.do(q.SetType(TypeRead))
	rd, err := q.NewReader()
	e.do(err)
	if err == nil {
		e.do(setReader(rd, start, end, false))
	}
	e.do(setArray(q, TypeRead, o.timestamp, 0))
	setVarOffsets(q, &e)
	if e.err != nil {
		return e.err
	}
	b, err := marshal(msg)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// setReader fills a QueryReader: row-major, one range, the read state.
func setReader(rd rest.QueryReader, start, end uint64, initialized bool) error {
	var e errs
	e.do(rd.SetLayout(LayoutRowMajor))
	sub, err := rd.NewSubarray()
	e.do(err)
	if err == nil {
		e.do(setSubarray(sub, start, end))
	}
	rs, err := rd.NewReadState()
	e.do(err)
	if err == nil {
		rs.SetOverflowed(false)
		rs.SetUnsplittable(false)
		rs.SetInitialized(initialized)
	}
	return e.err
}

// DecodeRead reads a READ query/submit body: one message, of at most limit
// bytes. It reads nothing after the message: TileDB's JS client continues
// an INCOMPLETE read by posting the previous reply back verbatim, result
// bytes included, and those bytes are left unread in r.
//
// The range comes from Query.denseReader if it has one, else from
// Query.reader. Exactly one attribute buffer, contents, may have a size.
func DecodeRead(r io.Reader, limit int64) (q ReadQuery, err error) {
	defer guard(&err)
	raw, msg, err := readMessage(r, limit)
	if err != nil {
		return ReadQuery{}, err
	}
	root, err := rootStruct(msg)
	if err != nil {
		return ReadQuery{}, err
	}
	rq := rest.Query(root)
	if err := checkKind(rq, TypeRead); err != nil {
		return ReadQuery{}, err
	}
	q.Layout, q.Status, err = layoutStatus(rq)
	if err != nil {
		return ReadQuery{}, err
	}
	h, err := contentsHeader(rq)
	if err != nil {
		return ReadQuery{}, err
	}
	q.Capacity = h.OriginalFixedLenBufferSizeInBytes()
	if q.Capacity == 0 {
		q.Capacity = h.FixedLenBufferSizeInBytes()
	}
	if q.Capacity == 0 {
		return ReadQuery{}, malformed("contents buffer of capacity 0")
	}
	var ok bool
	if rq.HasDenseReader() {
		rd, err := rq.DenseReader()
		if err != nil {
			return ReadQuery{}, malformed("denseReader: %v", err)
		}
		q.Start, q.End, ok, err = readerRange(rd)
		if err != nil {
			return ReadQuery{}, err
		}
		q.DenseReader = ok
	}
	if !ok && rq.HasReader() {
		rd, err := rq.Reader()
		if err != nil {
			return ReadQuery{}, malformed("reader: %v", err)
		}
		q.Start, q.End, ok, err = readerRange(rd)
		if err != nil {
			return ReadQuery{}, err
		}
	}
	if !ok {
		return ReadQuery{}, unsupported("READ without a subarray (whole domain)")
	}
	q.Timestamp, q.StartTimestamp, err = arrayTimestamps(rq)
	if err != nil {
		return ReadQuery{}, err
	}
	q.MessageSize = int64(len(raw))
	return q, nil
}

func readerRange(rd rest.QueryReader) (start, end uint64, ok bool, err error) {
	if !rd.HasSubarray() {
		return 0, 0, false, nil
	}
	sub, err := rd.Subarray()
	if err != nil {
		return 0, 0, false, malformed("reader subarray: %v", err)
	}
	return subarrayRange(sub)
}
