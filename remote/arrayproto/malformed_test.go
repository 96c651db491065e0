package arrayproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	capnp "capnproto.org/go/capnp/v3"

	"notebookfs/remote/arrayproto/rest"
)

// decoders runs every decoder on b with the given limit.
var decoders = map[string]func(b []byte, limit int64) error{
	"DecodeWrite": func(b []byte, limit int64) error {
		q, err := DecodeWrite(bytes.NewReader(b), limit)
		if err == nil {
			_, err = q.ReadData()
		}
		return err
	},
	"DecodeRead": func(b []byte, limit int64) error {
		_, err := DecodeRead(bytes.NewReader(b), limit)
		return err
	},
	"DecodeReadReply": func(b []byte, limit int64) error {
		_, err := DecodeReadReply(bytes.NewReader(b), limit)
		return err
	},
	"DecodeWriteReply": func(b []byte, limit int64) error {
		_, err := DecodeWriteReply(bytes.NewReader(b), limit)
		return err
	},
	"DecodeArrayMetadata": func(b []byte, limit int64) error {
		_, err := DecodeArrayMetadata(bytes.NewReader(b), limit)
		return err
	},
}

// validBodies returns one valid body per decoder.
func validBodies(t testing.TB) map[string][]byte {
	var wr, rd, rr, ww, md bytes.Buffer
	if err := EncodeWrite(&wr, []byte("Grüße 🚀"), WithTimestamp(jsTimestamp)); err != nil {
		t.Fatal(err)
	}
	if err := EncodeRead(&rd, 0, 9, 10, WithTimestamp(jsTimestamp)); err != nil {
		t.Fatal(err)
	}
	if err := WriteReadReply(&rr, ReadQuery{Start: 0, End: 9, Capacity: 4}, []byte("abcd"), false); err != nil {
		t.Fatal(err)
	}
	if err := WriteWriteReply(&ww, WriteQuery{Start: 0, End: 9}, 5, "__5_5_x_22"); err != nil {
		t.Fatal(err)
	}
	if err := EncodeArrayMetadata(&md, NotebookMetadata(10)); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"DecodeWrite": wr.Bytes(), "DecodeRead": rd.Bytes(), "DecodeReadReply": rr.Bytes(),
		"DecodeWriteReply": ww.Bytes(), "DecodeArrayMetadata": md.Bytes(),
	}
}

// Every strict prefix of a valid body is an error, never a panic.
func TestTruncatedBodies(t *testing.T) {
	for name, body := range validBodies(t) {
		dec := decoders[name]
		if err := dec(body, int64(len(body))); err != nil {
			t.Fatalf("%s: valid body: %v", name, err)
		}
		for n := 0; n < len(body); n++ {
			err := dec(body[:n], int64(len(body)))
			if !errors.Is(err, ErrMalformed) || errors.Is(err, errPanic) {
				t.Fatalf("%s: body cut at %d/%d: %v", name, n, len(body), err)
			}
		}
	}
}

// Flipping any byte yields an error or a valid decode, never a panic.
func TestCorruptedBodies(t *testing.T) {
	for name, body := range validBodies(t) {
		dec := decoders[name]
		for i := range body {
			for _, x := range []byte{0xff, 0x01, 0x80} {
				b := append([]byte(nil), body...)
				b[i] ^= x
				if err := dec(b, int64(len(b))); errors.Is(err, errPanic) {
					t.Fatalf("%s: byte %d ^ %#x: %v", name, i, x, err)
				}
			}
		}
	}
}

func TestLimits(t *testing.T) {
	for name, body := range validBodies(t) {
		dec := decoders[name]
		for _, limit := range []int64{-1, 0, 7, 8, int64(len(body)) - 1} {
			if err := dec(body, limit); !errors.Is(err, ErrTooLarge) {
				t.Errorf("%s: limit %d for %d bytes: %v", name, limit, len(body), err)
			}
		}
	}
}

// A header declaring a huge message is refused before the allocation, and
// one declaring a large message that does not arrive costs little memory.
func TestNoAllocationFromDeclaredSizes(t *testing.T) {
	hdr := func(segs ...uint32) []byte {
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(segs)-1))
		for _, s := range segs {
			b = binary.LittleEndian.AppendUint32(b, s)
		}
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		return b
	}
	for name, dec := range decoders {
		body := hdr(0xffffffff, 0xffffffff)
		if strings.Contains(name, "Reply") {
			body = append(binary.LittleEndian.AppendUint64(nil, uint64(len(body))+1<<40), body...)
		}
		if err := dec(body, 1<<30); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: 64 GiB message under a 1 GiB limit: %v", name, err)
		}
		many := make([]uint32, 600)
		body = hdr(many...)
		if strings.Contains(name, "Reply") {
			body = append(binary.LittleEndian.AppendUint64(nil, uint64(len(body))), body...)
		}
		if err := dec(body, 1<<30); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: 600 segments: %v", name, err)
		}
	}
	// 512 MiB declared, 1 GiB allowed, 16 bytes sent.
	body := hdr(64 << 20)
	body = append(body, make([]byte, 16)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := DecodeWrite(bytes.NewReader(body), 1<<30)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated 512 MiB message: %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("allocated %d bytes for a message that sent 16", grew)
	}
}

// buildQuery returns the framed message of a Query made by fill.
func buildQuery(t *testing.T, fill func(q rest.Query, seg *capnp.Segment)) []byte {
	t.Helper()
	msg, seg := newMessage()
	q, err := rest.NewRootQuery(seg)
	if err != nil {
		t.Fatal(err)
	}
	fill(q, seg)
	b, err := msg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeQuery fills a valid WRITE of cells [start, end].
func writeQuery(t *testing.T, q rest.Query, start, end uint64) {
	if err := setHeader(q, end-start+1, end-start+1); err != nil {
		t.Fatal(err)
	}
	q.SetType(TypeWrite)
	q.SetLayout(LayoutRowMajor)
	w, _ := q.NewWriter()
	sub, _ := w.NewSubarrayRanges()
	if err := setSubarray(sub, start, end); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeWriteRejects(t *testing.T) {
	withData := func(msg []byte, n int) []byte { return append(msg, bytes.Repeat([]byte{'x'}, n)...) }
	cases := map[string]struct {
		body []byte
		want error
	}{
		"valid at offset": {withData(buildQuery(t, func(q rest.Query, _ *capnp.Segment) { writeQuery(t, q, 5, 9) }), 5), nil},
		"old-style subarray only": {withData(buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			setHeader(q, 3, 3)
			q.SetType(TypeWrite)
			w, _ := q.NewWriter()
			da, _ := w.NewSubarray()
			u, _ := da.NewUint64(2)
			u.Set(0, 0)
			u.Set(1, 2)
		}), 3), nil},
		"READ type": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) { writeQuery(t, q, 0, 9); q.SetType(TypeRead) }), ErrMalformed},
		"no type":   {buildQuery(t, func(q rest.Query, _ *capnp.Segment) { writeQuery(t, q, 0, 9); q.SetType("") }), ErrMalformed},
		"fixed size differs": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			setHeader(q, 9, 10)
		}), ErrMalformed},
		"var buffer": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			hs, _ := q.AttributeBufferHeaders()
			hs.At(0).SetVarLenBufferSizeInBytes(3)
		}), ErrMalformed},
		"other attribute": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			hs, _ := q.NewAttributeBufferHeaders(2)
			hs.At(0).SetName(AttributeName)
			hs.At(0).SetFixedLenBufferSizeInBytes(10)
			hs.At(1).SetName(DimensionName)
			hs.At(1).SetFixedLenBufferSizeInBytes(80)
		}), ErrUnsupported},
		"no contents": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			hs, _ := q.NewAttributeBufferHeaders(1)
			hs.At(0).SetName("other")
		}), ErrUnsupported},
		"no headers": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			q.SetAttributeBufferHeaders(rest.AttributeBufferHeader_List{})
		}), ErrMalformed},
		"no writer": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			q.SetWriter(rest.Writer{})
		}), ErrMalformed},
		"no range": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			w, _ := q.NewWriter()
			w.NewSubarrayRanges()
		}), ErrUnsupported},
		"two ranges": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			w, _ := q.Writer()
			sub, _ := w.SubarrayRanges()
			rs, _ := sub.Ranges()
			rs.At(0).SetBuffer(make([]byte, 32))
		}), ErrUnsupported},
		"two dimensions": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			w, _ := q.Writer()
			sub, _ := w.SubarrayRanges()
			sub.NewRanges(2)
		}), ErrUnsupported},
		"INT64 range": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			w, _ := q.Writer()
			sub, _ := w.SubarrayRanges()
			rs, _ := sub.Ranges()
			rs.At(0).SetType("INT64")
		}), ErrUnsupported},
		"short range buffer": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			w, _ := q.Writer()
			sub, _ := w.SubarrayRanges()
			rs, _ := sub.Ranges()
			rs.At(0).SetBuffer(make([]byte, 15))
		}), ErrMalformed},
		"reversed range":      {buildQuery(t, func(q rest.Query, _ *capnp.Segment) { writeQuery(t, q, 9, 0) }), ErrMalformed},
		"range past domain":   {buildQuery(t, func(q rest.Query, _ *capnp.Segment) { writeQuery(t, q, DomainMax, DomainMax+1) }), ErrMalformed},
		"huge range vs limit": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) { writeQuery(t, q, 0, DomainMax) }), ErrTooLarge},
		"subarrays disagree": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			w, _ := q.Writer()
			da, _ := w.NewSubarray()
			setDomainArray(da, 0, 8)
		}), ErrMalformed},
		"int64 old-style subarray": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			w, _ := q.Writer()
			da, _ := w.NewSubarray()
			l, _ := da.NewInt64(2)
			l.Set(1, 9)
		}), ErrUnsupported},
		"unordered layout": {buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			writeQuery(t, q, 0, 9)
			q.SetLayout("unordered")
		}), ErrUnsupported},
		"root is a list": {func() []byte {
			msg, seg := newMessage()
			l, _ := capnp.NewData(seg, []byte("abc"))
			msg.SetRoot(l.ToPtr())
			b, _ := msg.Marshal()
			return b
		}(), ErrMalformed},
		"root is null":  {[]byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrMalformed},
		"empty segment": {[]byte{0, 0, 0, 0, 0, 0, 0, 0}, ErrMalformed},
		"empty body":    {nil, ErrMalformed},
	}
	for name, c := range cases {
		q, err := DecodeWrite(bytes.NewReader(c.body), 1<<20)
		if err == nil {
			_, err = q.ReadData()
		}
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestDecodeReadSlots(t *testing.T) {
	read := func(fill func(q rest.Query)) (ReadQuery, error) {
		b := buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			setHeader(q, 0, 10)
			q.SetType(TypeRead)
			fill(q)
		})
		return DecodeRead(bytes.NewReader(b), int64(len(b)))
	}
	// denseReader (libtiledb) wins over reader; an empty denseReader does not.
	q, err := read(func(q rest.Query) {
		rd, _ := q.NewReader()
		setReader(rd, 1, 2, false)
		dr, _ := q.NewDenseReader()
		setReader(dr, 3, 4, false)
	})
	if err != nil || q.Start != 3 || q.End != 4 || !q.DenseReader {
		t.Errorf("both slots: %+v, %v", q, err)
	}
	q, err = read(func(q rest.Query) {
		rd, _ := q.NewReader()
		setReader(rd, 1, 2, false)
		q.NewDenseReader()
	})
	if err != nil || q.Start != 1 || q.End != 2 || q.DenseReader {
		t.Errorf("empty denseReader: %+v, %v", q, err)
	}
	// The fixed size is the capacity when there is no original size.
	q, err = read(func(q rest.Query) {
		setHeader(q, 7, 0)
		rd, _ := q.NewReader()
		setReader(rd, 1, 2, false)
	})
	if err != nil || q.Capacity != 7 {
		t.Errorf("fixed size as capacity: %+v, %v", q, err)
	}
	if _, err := read(func(q rest.Query) {}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("no reader: %v", err)
	}
	if _, err := read(func(q rest.Query) {
		setHeader(q, 0, 0)
		rd, _ := q.NewReader()
		setReader(rd, 1, 2, false)
	}); !errors.Is(err, ErrMalformed) {
		t.Errorf("capacity 0: %v", err)
	}
	// JS without `attributes` also asks for position: unsupported.
	if _, err := read(func(q rest.Query) {
		hs, _ := q.NewAttributeBufferHeaders(2)
		hs.At(0).SetName(AttributeName)
		hs.At(0).SetOriginalFixedLenBufferSizeInBytes(1)
		hs.At(1).SetName(DimensionName)
		hs.At(1).SetOriginalFixedLenBufferSizeInBytes(8)
		rd, _ := q.NewReader()
		setReader(rd, 1, 2, false)
	}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("position requested: %v", err)
	}
	// DecodeRead leaves what follows the message (a JS continuation's
	// result bytes) unread.
	var b bytes.Buffer
	EncodeRead(&b, 0, 1, 2)
	b.WriteString("ab")
	r := bytes.NewReader(b.Bytes())
	if _, err := DecodeRead(r, int64(b.Len())); err != nil || r.Len() != 2 {
		t.Errorf("trailing bytes: %v, %d left", err, r.Len())
	}
}

func TestDecodeReadReplyRejects(t *testing.T) {
	chunk := func(fill func(q rest.Query), data string) []byte {
		msg := buildQuery(t, func(q rest.Query, _ *capnp.Segment) {
			q.SetType(TypeRead)
			q.SetStatus(StatusCompleted)
			fill(q)
		})
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(msg)+len(data)))
		return append(append(b, msg...), data...)
	}
	cases := map[string]struct {
		body []byte
		want error
	}{
		"FAILED":     {chunk(func(q rest.Query) { setHeader(q, 0, 0); q.SetStatus(StatusFailed) }, ""), ErrMalformed},
		"WRITE":      {chunk(func(q rest.Query) { setHeader(q, 0, 0); q.SetType(TypeWrite) }, ""), ErrMalformed},
		"no headers": {chunk(func(q rest.Query) {}, ""), ErrMalformed},
		"no contents": {chunk(func(q rest.Query) {
			hs, _ := q.NewAttributeBufferHeaders(1)
			hs.At(0).SetName("x")
		}, ""), ErrMalformed},
		"sizes beyond chunk": {chunk(func(q rest.Query) { setHeader(q, 5, 10) }, "abcd"), ErrMalformed},
		"over capacity":      {chunk(func(q rest.Query) { setHeader(q, 4, 3) }, "abcd"), ErrMalformed},
		"incomplete, empty": {chunk(func(q rest.Query) {
			setHeader(q, 0, 3)
			q.SetStatus(StatusIncomplete)
		}, ""), ErrMalformed},
		"overflowing sizes": {chunk(func(q rest.Query) {
			hs, _ := q.NewAttributeBufferHeaders(2)
			hs.At(0).SetName("x")
			hs.At(0).SetFixedLenBufferSizeInBytes(^uint64(0))
			hs.At(0).SetVarLenBufferSizeInBytes(2)
			hs.At(1).SetName(AttributeName)
		}, "abcd"), ErrMalformed},
	}
	for name, c := range cases {
		if _, err := DecodeReadReply(bytes.NewReader(c.body), 1<<20); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// Other buffers before contents, and padding after: skipped.
	body := chunk(func(q rest.Query) {
		hs, _ := q.NewAttributeBufferHeaders(2)
		hs.At(0).SetName(DimensionName)
		hs.At(0).SetFixedLenBufferSizeInBytes(3)
		hs.At(1).SetName(AttributeName)
		hs.At(1).SetFixedLenBufferSizeInBytes(4)
	}, "123abcd\x00\x00")
	r := bytes.NewReader(append(body, 'z'))
	rep, err := DecodeReadReply(r, int64(len(body)))
	if err != nil || string(rep.Data) != "abcd" || r.Len() != 1 {
		t.Errorf("buffers around contents: %q, %v, %d left", rep.Data, err, r.Len())
	}
}

// A reader that fails mid-body reports its own error, not ErrMalformed.
func TestReadErrorsPassThrough(t *testing.T) {
	boom := errors.New("connection reset")
	body := validBodies(t)["DecodeRead"]
	r := io.MultiReader(bytes.NewReader(body[:20]), &failReader{boom})
	if _, err := DecodeRead(r, 1<<20); !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
		t.Errorf("got %v", err)
	}
}

type failReader struct{ err error }

func (f *failReader) Read([]byte) (int, error) { return 0, f.err }
