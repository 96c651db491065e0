package arrayproto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"notebookfs/remote/arrayproto/rest"
)

// A query/submit reply is a sequence of chunks `u64le L ‖ message ‖ buffers`.
// With read_all=false (TileDB's JS client, and all this package's clients)
// there is exactly one chunk.

// ReadReply is one decoded chunk of a READ query/submit reply.
type ReadReply struct {
	// Status is "COMPLETED" or "INCOMPLETE".
	Status string
	// Data holds the contents bytes of this chunk. Results come in
	// row-major order, one byte per cell: this chunk covers the cells right
	// after those of the previous chunks (see Covered).
	Data []byte
	// Capacity echoes the request's buffer size (originalFixedLen…).
	Capacity uint64
	// Timestamp is array.endTimestamp of the reply (a WriteReadReply reply
	// carries the timestamp the read resolved to).
	Timestamp uint64
	// SubStart and SubEnd are the range in the reply's reader (or
	// denseReader) if HasSub. Informational: real TileDB keeps the full
	// subarray there, WriteReadReply the range still to read. A client must
	// not rely on it.
	SubStart, SubEnd uint64
	HasSub           bool
	// Message is the reply's framed capnp message, to continue an
	// INCOMPLETE read (see EncodeContinuation).
	Message []byte
}

// Complete reports whether the read is done.
func (r ReadReply) Complete() bool { return r.Status == StatusCompleted }

// Covered returns the cells Data covers, given the first cell not yet
// received (the request's start plus the bytes of earlier chunks). ok is
// false if the chunk is empty.
func (r ReadReply) Covered(next uint64) (first, last uint64, ok bool) {
	if len(r.Data) == 0 {
		return 0, 0, false
	}
	return next, next + uint64(len(r.Data)) - 1, true
}

// EncodeContinuation writes the body that continues an INCOMPLETE read:
// the reply's message and its contents bytes, which is the reply chunk
// without its length prefix when it carries only contents, as TileDB's JS
// client posts it back. Post it to the same URL as the first request.
func (r ReadReply) EncodeContinuation(w io.Writer) error {
	if _, err := w.Write(r.Message); err != nil {
		return err
	}
	_, err := w.Write(r.Data)
	return err
}

// WriteReadReply writes the reply chunk to a READ query q: the u64le length
// prefix, the message, then data, the contents of cells [q.Start,
// q.Start+len(data)-1]. complete says whether that ends the read: then data
// must cover all of [q.Start, q.End]; otherwise the reply is INCOMPLETE and
// data must be shorter than the range and not empty. data never exceeds
// q.Capacity.
//
// The reply carries what TileDB's clients need: layout, the contents
// header (fixed size = len(data), original = capacity), reader (or
// denseReader, as q came) with readState.initialized,
// array.endTimestamp = q.Timestamp, totalFixedLengthBufferBytes. Set
// q.Timestamp to the timestamp the read resolved to before calling: an
// INCOMPLETE reply keeps it, and the range still to read, in its reader for
// the continuation (the JS client posts the reply back verbatim; DecodeRead
// then returns that range and timestamp).
func WriteReadReply(w io.Writer, q ReadQuery, data []byte, complete bool) error {
	return WriteReadReplyFrom(w, q, bytes.NewReader(data), uint64(len(data)), complete)
}

// WriteReadReplyFrom is WriteReadReply with the n data bytes streamed from r.
func WriteReadReplyFrom(w io.Writer, q ReadQuery, r io.Reader, n uint64, complete bool) error {
	if err := checkRange(q.Start, q.End); err != nil {
		return fmt.Errorf("arrayproto: WriteReadReply: %w", err)
	}
	switch {
	case n > q.Capacity:
		return fmt.Errorf("arrayproto: WriteReadReply: %d bytes exceed the capacity %d", n, q.Capacity)
	case complete && n != q.Len():
		return fmt.Errorf("arrayproto: WriteReadReply: complete reply of %d bytes for %d cells", n, q.Len())
	case !complete && (n == 0 || n >= q.Len()):
		return fmt.Errorf("arrayproto: WriteReadReply: incomplete reply of %d bytes for %d cells", n, q.Len())
	}
	status, subStart := StatusCompleted, q.Start
	if !complete {
		status, subStart = StatusIncomplete, q.Start+n
	}
	msg, seg := newMessage()
	var e errs
	rq, err := rest.NewRootQuery(seg)
	e.do(err)
	e.do(setHeader(rq, n, q.Capacity))
	e.do(rq.SetLayout(LayoutRowMajor))
	e.do(rq.SetStatus(status))
	e.do(rq.SetType(TypeRead))
	newReader := rq.NewReader
	if q.DenseReader {
		newReader = rq.NewDenseReader
	}
	rd, err := newReader()
	e.do(err)
	if err == nil {
		e.do(setReader(rd, subStart, q.End, true))
	}
	e.do(setArray(rq, TypeRead, q.Timestamp, q.StartTimestamp))
	rq.SetTotalFixedLengthBufferBytes(n)
	setVarOffsets(rq, &e)
	if e.err != nil {
		return e.err
	}
	b, err := marshal(msg)
	if err != nil {
		return err
	}
	return writeChunk(w, b, r, n)
}

// writeChunk writes u64le(len(msg)+n) ‖ msg ‖ n bytes of r.
func writeChunk(w io.Writer, msg []byte, r io.Reader, n uint64) error {
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(msg))+n)
	if _, err := w.Write(prefix[:]); err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	m, err := io.CopyN(w, r, int64(n))
	if err == io.EOF {
		return fmt.Errorf("arrayproto: reply data ended after %d of %d bytes", m, n)
	}
	return err
}

// readChunk reads a chunk's u64le length prefix and its message, checking
// that both fit in limit bytes. rest is the number of chunk bytes after the
// message.
func readChunk(r io.Reader, limit int64) (raw []byte, q rest.Query, rest_ uint64, err error) {
	var prefix [8]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, rest.Query{}, 0, truncated("reply length prefix", err)
	}
	l := binary.LittleEndian.Uint64(prefix[:])
	if limit < 8 || l > uint64(limit)-8 {
		return nil, rest.Query{}, 0, tooLarge("reply chunk of %d bytes, limit %d", l, limit)
	}
	raw, msg, err := readMessage(io.LimitReader(r, int64(l)), int64(l))
	if err != nil {
		return nil, rest.Query{}, 0, err
	}
	root, err := rootStruct(msg)
	if err != nil {
		return nil, rest.Query{}, 0, err
	}
	return raw, rest.Query(root), l - uint64(len(raw)), nil
}

// DecodeReadReply reads one chunk of a READ query/submit reply from r,
// consuming exactly the chunk's bytes (so that, with read_all=true, the
// next call reads the next chunk). limit bounds the chunk, prefix
// included. Data is read forward from the end of the message, as libtiledb
// does: in header order, contents after the bytes of any other header;
// padding after the buffers, inside the chunk, is skipped.
//
// A FAILED status, a missing contents header, sizes that do not fit the
// chunk, more data than the capacity, or an INCOMPLETE reply without data
// (no progress) are errors.
func DecodeReadReply(r io.Reader, limit int64) (rep ReadReply, err error) {
	defer guard(&err)
	raw, q, after, err := readChunk(r, limit)
	if err != nil {
		return ReadReply{}, err
	}
	if err := checkKind(q, TypeRead); err != nil {
		return ReadReply{}, err
	}
	rep.Status, err = q.Status()
	if err != nil {
		return ReadReply{}, malformed("status: %v", err)
	}
	switch rep.Status {
	case StatusCompleted, StatusIncomplete:
	default:
		return ReadReply{}, malformed("reply status %q", rep.Status)
	}
	if !q.HasAttributeBufferHeaders() {
		return ReadReply{}, malformed("reply without attribute buffer headers")
	}
	hs, err := q.AttributeBufferHeaders()
	if err != nil {
		return ReadReply{}, malformed("attribute buffer headers: %v", err)
	}
	if hs.Len() > maxHeaders {
		return ReadReply{}, malformed("%d attribute buffer headers", hs.Len())
	}
	var skip, total, n uint64 // bytes before contents; of all buffers; of contents
	found := false
	for i := 0; i < hs.Len(); i++ {
		h := hs.At(i)
		name, err := h.Name()
		if err != nil {
			return ReadReply{}, malformed("attribute buffer header name: %v", err)
		}
		size := headerBytes(h)
		if size > after-total {
			return ReadReply{}, malformed("buffers exceed the %d bytes after the message", after)
		}
		if name == AttributeName && !found {
			found = true
			if h.VarLenBufferSizeInBytes() != 0 || h.ValidityLenBufferSizeInBytes() != 0 {
				return ReadReply{}, malformed("%s with var-length or validity data", AttributeName)
			}
			n = h.FixedLenBufferSizeInBytes()
			rep.Capacity = h.OriginalFixedLenBufferSizeInBytes()
			if rep.Capacity != 0 && n > rep.Capacity {
				return ReadReply{}, malformed("%d bytes exceed the capacity %d", n, rep.Capacity)
			}
			skip = total
		}
		total += size
	}
	if !found {
		return ReadReply{}, malformed("reply without a %s buffer", AttributeName)
	}
	if rep.Status == StatusIncomplete && n == 0 {
		return ReadReply{}, malformed("INCOMPLETE reply without data")
	}
	rep.Timestamp, _, err = arrayTimestamps(q)
	if err != nil {
		return ReadReply{}, err
	}
	rep.SubStart, rep.SubEnd, rep.HasSub, err = replyRange(q)
	if err != nil {
		return ReadReply{}, err
	}
	if _, err := io.CopyN(io.Discard, r, int64(skip)); err != nil {
		return ReadReply{}, truncated("reply buffers", err)
	}
	rep.Data, err = readN(r, nil, int(n))
	if err != nil {
		return ReadReply{}, truncated("reply data", err)
	}
	if _, err := io.CopyN(io.Discard, r, int64(after-skip-n)); err != nil {
		return ReadReply{}, truncated("reply chunk", err)
	}
	rep.Message = raw
	return rep, nil
}

// replyRange returns the range in a reply's denseReader or reader.
func replyRange(q rest.Query) (start, end uint64, ok bool, err error) {
	if q.HasDenseReader() {
		rd, err := q.DenseReader()
		if err != nil {
			return 0, 0, false, malformed("denseReader: %v", err)
		}
		if start, end, ok, err = readerRange(rd); err != nil || ok {
			return start, end, ok, err
		}
	}
	if q.HasReader() {
		rd, err := q.Reader()
		if err != nil {
			return 0, 0, false, malformed("reader: %v", err)
		}
		return readerRange(rd)
	}
	return 0, 0, false, nil
}

// WriteReply is a decoded WRITE query/submit reply.
type WriteReply struct {
	// Status as sent; "COMPLETED" on success.
	Status string
	// FragmentURI and Timestamp come from writtenFragmentInfo[0] if
	// HasFragment: the fragment written and the timestamp the server
	// chose (the end of its timestamp range).
	FragmentURI string
	Timestamp   uint64
	HasFragment bool
}

// WriteWriteReply writes the reply chunk to a WRITE query q that the server
// stored as fragment fragmentURI (see FragmentName) at timestamp ts: the
// headers echoed, COMPLETED, writer.subarrayRanges, array.endTimestamp ts,
// writtenFragmentInfo [{fragmentURI, [ts, ts]}], and no data.
func WriteWriteReply(w io.Writer, q WriteQuery, ts uint64, fragmentURI string) error {
	if err := checkRange(q.Start, q.End); err != nil {
		return fmt.Errorf("arrayproto: WriteWriteReply: %w", err)
	}
	n := q.Len()
	msg, seg := newMessage()
	var e errs
	rq, err := rest.NewRootQuery(seg)
	e.do(err)
	e.do(setHeader(rq, n, n))
	e.do(rq.SetLayout(LayoutRowMajor))
	e.do(rq.SetStatus(StatusCompleted))
	e.do(rq.SetType(TypeWrite))
	wr, err := rq.NewWriter()
	e.do(err)
	if err == nil {
		sub, err := wr.NewSubarrayRanges()
		e.do(err)
		e.do(setSubarray(sub, q.Start, q.End))
	}
	e.do(setArray(rq, TypeWrite, ts, q.StartTimestamp))
	rq.SetTotalFixedLengthBufferBytes(n)
	setVarOffsets(rq, &e)
	fs, err := rq.NewWrittenFragmentInfo(1)
	e.do(err)
	if err == nil {
		f := fs.At(0)
		e.do(f.SetUri(fragmentURI))
		tr, err := f.NewTimestampRange(2)
		e.do(err)
		if err == nil {
			tr.Set(0, ts)
			tr.Set(1, ts)
		}
	}
	if e.err != nil {
		return e.err
	}
	b, err := marshal(msg)
	if err != nil {
		return err
	}
	return writeChunk(w, b, nil, 0)
}

// DecodeWriteReply reads one chunk of a WRITE query/submit reply, consuming
// exactly its bytes. A status other than COMPLETED is an error.
func DecodeWriteReply(r io.Reader, limit int64) (rep WriteReply, err error) {
	defer guard(&err)
	_, q, after, err := readChunk(r, limit)
	if err != nil {
		return WriteReply{}, err
	}
	if err := checkKind(q, TypeWrite); err != nil {
		return WriteReply{}, err
	}
	rep.Status, err = q.Status()
	if err != nil {
		return WriteReply{}, malformed("status: %v", err)
	}
	if rep.Status != StatusCompleted {
		return WriteReply{}, malformed("write reply status %q", rep.Status)
	}
	if q.HasWrittenFragmentInfo() {
		fs, err := q.WrittenFragmentInfo()
		if err != nil {
			return WriteReply{}, malformed("writtenFragmentInfo: %v", err)
		}
		if fs.Len() > maxFragments {
			return WriteReply{}, malformed("%d written fragments", fs.Len())
		}
		if fs.Len() > 0 {
			f := fs.At(0)
			if rep.FragmentURI, err = f.Uri(); err != nil {
				return WriteReply{}, malformed("fragment uri: %v", err)
			}
			tr, err := f.TimestampRange()
			if err != nil {
				return WriteReply{}, malformed("fragment timestamp range: %v", err)
			}
			if tr.Len() != 2 {
				return WriteReply{}, malformed("fragment timestamp range of %d values", tr.Len())
			}
			rep.Timestamp, rep.HasFragment = tr.At(1), true
		}
	}
	if _, err := io.CopyN(io.Discard, r, int64(after)); err != nil {
		return WriteReply{}, truncated("reply chunk", err)
	}
	return rep, nil
}

// FormatVersion is the TileDB format version FragmentName puts at the end
// of fragment names and NotebookSchemaJSON reports. Informational (clients
// do not parse it); 22 is believed to be that of recent TileDB releases,
// not checked.
const FormatVersion = 22

// FragmentName returns a TileDB fragment name for a write at ts:
// __<ts>_<ts>_<32 hex of id>_<FormatVersion>.
func FragmentName(ts uint64, id [16]byte) string {
	return fmt.Sprintf("__%d_%d_%x_%d", ts, ts, id, FormatVersion)
}
