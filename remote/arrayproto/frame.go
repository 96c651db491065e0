package arrayproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	capnp "capnproto.org/go/capnp/v3"
)

// Errors returned by the decoders, to be tested with errors.Is. A server
// answers ErrMalformed and ErrUnsupported with 400 and ErrTooLarge with 413.
var (
	// ErrMalformed: the body is not a well-formed message of the expected
	// kind (bad framing, truncated, wrong pointer types, inconsistent sizes).
	ErrMalformed = errors.New("arrayproto: malformed body")
	// ErrTooLarge: the body, or a size it declares, exceeds the limit given
	// to the decoder.
	ErrTooLarge = errors.New("arrayproto: body exceeds size limit")
	// ErrUnsupported: a well-formed TileDB query this package does not
	// serve, i.e. anything but one range of the notebook array's `contents`
	// attribute.
	ErrUnsupported = errors.New("arrayproto: unsupported query")
)

const (
	// maxSegments is the most segments a message may have (as go-capnp's
	// own decoder; TileDB's clients always write one).
	maxSegments = 512
	// minTraverse is the traversal allowance every message gets on top of
	// a multiple of its size.
	minTraverse = 64 << 10
	// chunkSize is the largest buffer allocated before the bytes to fill it
	// have arrived: bigger reads grow as the data comes in.
	chunkSize = 1 << 20
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...)
}

func tooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrTooLarge}, args...)...)
}

// truncated maps the io errors of a short read to ErrMalformed and keeps
// other read errors (a broken connection) as they are.
func truncated(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed("%s: truncated", what)
	}
	return fmt.Errorf("arrayproto: reading %s: %w", what, err)
}

// readMessage reads one standard (unpacked) framed capnp message from r,
// consuming exactly its bytes and no more. It fails with ErrTooLarge when
// the message declares more than limit bytes, and allocates at most the
// declared size, growing with the bytes actually received. raw is the
// message as framed on the wire; msg reads from raw.
func readMessage(r io.Reader, limit int64) (raw []byte, msg *capnp.Message, err error) {
	if limit < 8 {
		return nil, nil, tooLarge("limit %d is below the smallest message", limit)
	}
	var first [8]byte
	if _, err := io.ReadFull(r, first[:]); err != nil {
		return nil, nil, truncated("message header", err)
	}
	segs := uint64(binary.LittleEndian.Uint32(first[:4])) + 1
	if segs > maxSegments {
		return nil, nil, malformed("message declares %d segments", segs)
	}
	hdrLen := (4*(segs+1) + 7) &^ 7
	if hdrLen > uint64(limit) {
		return nil, nil, tooLarge("message header of %d bytes", hdrLen)
	}
	hdr := make([]byte, hdrLen)
	copy(hdr, first[:])
	if _, err := io.ReadFull(r, hdr[8:]); err != nil {
		return nil, nil, truncated("message header", err)
	}
	var total uint64 // at most 512 * (2^32-1) * 8: no overflow
	for i := uint64(0); i < segs; i++ {
		total += uint64(binary.LittleEndian.Uint32(hdr[4+4*i:])) * 8
	}
	if binary.LittleEndian.Uint32(hdr[4:]) == 0 {
		return nil, nil, malformed("first segment is empty (no root pointer)")
	}
	if total > uint64(limit)-hdrLen {
		return nil, nil, tooLarge("message of %d bytes, limit %d", hdrLen+total, limit)
	}
	raw, err = readN(r, hdr, int(hdrLen+total))
	if err != nil {
		return nil, nil, truncated("message", err)
	}
	msg, err = capnp.Unmarshal(raw)
	if err != nil {
		return nil, nil, malformed("message framing: %v", err)
	}
	msg.ResetReadLimit(4*uint64(len(raw)) + minTraverse)
	return raw, msg, nil
}

// readN returns prefix followed by bytes from r up to a total of n bytes.
// Buffers beyond chunkSize grow as data arrives, so a peer declaring a large
// size and then sending little costs little memory; the result has exactly
// capacity n.
func readN(r io.Reader, prefix []byte, n int) ([]byte, error) {
	c := min(n, max(chunkSize, len(prefix)))
	buf := make([]byte, len(prefix), c)
	copy(buf, prefix)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// rootStruct returns the root struct pointer of msg, failing unless it is a
// (possibly empty) struct.
func rootStruct(msg *capnp.Message) (capnp.Struct, error) {
	p, err := msg.Root()
	if err != nil {
		return capnp.Struct{}, malformed("root pointer: %v", err)
	}
	if !p.IsValid() {
		return capnp.Struct{}, malformed("root pointer is null")
	}
	s := p.Struct()
	if !s.IsValid() {
		return capnp.Struct{}, malformed("root pointer is not a struct")
	}
	return s, nil
}

// marshal frames msg as one standard capnp message.
func marshal(msg *capnp.Message) ([]byte, error) {
	b, err := msg.Marshal()
	if err != nil {
		return nil, fmt.Errorf("arrayproto: marshal: %w", err)
	}
	return b, nil
}

// newMessage returns a fresh single-segment message, as TileDB's clients
// write.
func newMessage() (*capnp.Message, *capnp.Segment) {
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	if err != nil {
		panic(err) // only fails on a non-empty arena
	}
	return msg, seg
}

// exactReader yields exactly n bytes of r: io.EOF after them (bytes beyond
// are left unread), and an ErrMalformed error if r ends first.
type exactReader struct {
	r io.Reader
	n uint64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, io.EOF
	}
	if uint64(len(p)) > e.n {
		p = p[:e.n]
	}
	m, err := e.r.Read(p)
	e.n -= uint64(m)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		if e.n > 0 {
			return m, malformed("data truncated: %d bytes missing", e.n)
		}
		return m, nil
	}
	return m, err
}
