package arrayproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// notebookText returns n bytes of valid UTF-8 notebook-like text with
// multi-byte characters and emoji.
func notebookText(n int) []byte {
	const unit = `{"cells":[{"source":"Grüße, 東京 🚀📓 ✓ naïve café — ∑ x² 🧪"}]}` + "\n"
	var b bytes.Buffer
	for b.Len() < n {
		for _, r := range unit {
			if b.Len()+utf8.RuneLen(r) > n {
				break
			}
			b.WriteRune(r)
		}
		if b.Len() < n && b.Len()+utf8.UTFMax > n {
			for b.Len() < n {
				b.WriteByte(' ')
			}
		}
	}
	if !utf8.Valid(b.Bytes()) || b.Len() != n {
		panic("notebookText")
	}
	return b.Bytes()
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	m, err := c.r.Read(p)
	c.n += int64(m)
	return m, err
}

var sizes = []int{1, 10, 4096, 1 << 20}

func TestWriteRoundTrip(t *testing.T) {
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := notebookText(n)
			var b bytes.Buffer
			if err := EncodeWrite(&b, data, WithTimestamp(42)); err != nil {
				t.Fatal(err)
			}
			// The streaming forms produce the same bytes.
			var b2 bytes.Buffer
			if err := EncodeWriteFrom(&b2, bytes.NewReader(data), uint64(n), WithTimestamp(42)); err != nil {
				t.Fatal(err)
			}
			body, size, err := WriteBody(bytes.NewReader(data), uint64(n), WithTimestamp(42))
			if err != nil {
				t.Fatal(err)
			}
			b3, _ := io.ReadAll(body)
			if !bytes.Equal(b.Bytes(), b2.Bytes()) || !bytes.Equal(b.Bytes(), b3) || size != int64(b.Len()) {
				t.Fatalf("EncodeWrite, EncodeWriteFrom and WriteBody differ (size %d, len %d)", size, b.Len())
			}

			cr := &countingReader{r: bytes.NewReader(b.Bytes())}
			q, err := DecodeWrite(cr, int64(b.Len()))
			if err != nil {
				t.Fatal(err)
			}
			if cr.n != q.MessageSize {
				t.Errorf("DecodeWrite read %d bytes, the message is %d: the contents must stream", cr.n, q.MessageSize)
			}
			if q.Start != 0 || q.End != uint64(n-1) || q.Timestamp != 42 || q.Status != StatusUninitialized {
				t.Errorf("decoded %+v", q)
			}
			var got bytes.Buffer
			if _, err := io.Copy(&got, q.Data); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Errorf("contents differ")
			}
			if q.MessageSize+int64(n) != int64(b.Len()) {
				t.Errorf("message %d + %d != body %d", q.MessageSize, n, b.Len())
			}
		})
	}
}

func TestWriteEmptyAndShort(t *testing.T) {
	if err := EncodeWrite(io.Discard, nil); err == nil {
		t.Error("EncodeWrite of 0 bytes succeeded")
	}
	if err := EncodeWriteFrom(io.Discard, strings.NewReader("abc"), 5); err == nil {
		t.Error("EncodeWriteFrom with a short source succeeded")
	}
	// A body cut inside the contents decodes, and its Data fails.
	var b bytes.Buffer
	if err := EncodeWrite(&b, []byte("hello world")); err != nil {
		t.Fatal(err)
	}
	cut := b.Bytes()[:b.Len()-3]
	q, err := DecodeWrite(bytes.NewReader(cut), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.ReadData(); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadData of a cut body: %v", err)
	}
	// The limit covers the contents too.
	if _, err := DecodeWrite(bytes.NewReader(b.Bytes()), int64(b.Len()-1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit below the body: %v", err)
	}
}

func TestReadRoundTrip(t *testing.T) {
	for _, c := range []struct{ start, end, capacity uint64 }{
		{0, 0, 1}, {0, 9, 10}, {5, 1<<20 - 1, 1 << 16}, {0, DomainMax, 1 << 30},
	} {
		var b bytes.Buffer
		if err := EncodeRead(&b, c.start, c.end, c.capacity, WithTimestamp(7)); err != nil {
			t.Fatal(err)
		}
		q, err := DecodeRead(bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil {
			t.Fatal(err)
		}
		want := ReadQuery{Start: c.start, End: c.end, Capacity: c.capacity, Status: StatusUninitialized,
			Layout: LayoutRowMajor, Timestamp: 7, MessageSize: int64(b.Len())}
		if q != want {
			t.Errorf("decoded %+v, want %+v", q, want)
		}
	}
	for _, c := range []struct{ start, end, capacity uint64 }{{1, 0, 1}, {0, DomainMax + 1, 1}, {0, 1, 0}} {
		if err := EncodeRead(io.Discard, c.start, c.end, c.capacity); err == nil {
			t.Errorf("EncodeRead(%d, %d, %d) succeeded", c.start, c.end, c.capacity)
		}
	}
}

// A client and a server drive a read through INCOMPLETE replies as TileDB's
// JS client does: each continuation is the previous reply, posted back.
func TestReadIncompleteRoundTrip(t *testing.T) {
	for _, c := range []struct{ n, capacity int }{{1, 1}, {10, 6}, {10, 10}, {1 << 20, 300 << 10}, {1 << 20, 1 << 20}} {
		t.Run(fmt.Sprintf("%d/%d", c.n, c.capacity), func(t *testing.T) {
			content := notebookText(c.n)
			const resolved = 1700000000123
			var req bytes.Buffer
			if err := EncodeRead(&req, 0, uint64(c.n-1), uint64(c.capacity), WithTimestamp(1)); err != nil {
				t.Fatal(err)
			}
			var got []byte
			rounds := 0
			for {
				rounds++
				if rounds > c.n+2 {
					t.Fatal("no progress")
				}
				// Server.
				q, err := DecodeRead(bytes.NewReader(req.Bytes()), int64(req.Len()))
				if err != nil {
					t.Fatal(err)
				}
				if rounds == 1 {
					q.Timestamp = resolved
				} else if q.Timestamp != resolved || !q.Continuation() {
					t.Fatalf("continuation lost the read timestamp or status: %+v", q)
				}
				end := min(q.End+1, q.Start+q.Capacity)
				var reply bytes.Buffer
				if err := WriteReadReply(&reply, q, content[q.Start:end], end == q.End+1); err != nil {
					t.Fatal(err)
				}
				// Client.
				rep, err := DecodeReadReply(bytes.NewReader(reply.Bytes()), int64(reply.Len()))
				if err != nil {
					t.Fatal(err)
				}
				first, last, ok := rep.Covered(uint64(len(got)))
				if !ok || first != q.Start || last != end-1 || rep.Timestamp != resolved {
					t.Fatalf("covered [%d, %d] %v, served [%d, %d]", first, last, ok, q.Start, end-1)
				}
				got = append(got, rep.Data...)
				if rep.Complete() {
					break
				}
				req.Reset()
				if err := rep.EncodeContinuation(&req); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(req.Bytes(), reply.Bytes()[8:]) {
					t.Fatal("continuation is not the reply minus its prefix")
				}
			}
			if !bytes.Equal(got, content) {
				t.Error("content differs")
			}
			if want := (c.n + c.capacity - 1) / c.capacity; rounds != want {
				t.Errorf("%d rounds, want %d", rounds, want)
			}
		})
	}
}

func TestReadReplyFields(t *testing.T) {
	q := ReadQuery{Start: 3, End: 12, Capacity: 4, Timestamp: 99, StartTimestamp: 1, DenseReader: true}
	var b bytes.Buffer
	if err := WriteReadReply(&b, q, []byte("abcd"), false); err != nil {
		t.Fatal(err)
	}
	// Two chunks back to back (read_all=true): each decode takes one.
	q2 := q
	q2.Start = 7
	q2.Capacity = 6
	if err := WriteReadReply(&b, q2, []byte("efghij"), true); err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(b.Bytes())
	rep, err := DecodeReadReply(r, int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if string(rep.Data) != "abcd" || rep.Status != StatusIncomplete || rep.Capacity != 4 || rep.Timestamp != 99 ||
		!rep.HasSub || rep.SubStart != 7 || rep.SubEnd != 12 {
		t.Errorf("first chunk %+v", rep)
	}
	flat := flatten(t, capnpDecode(t, upstreamSchema, "Query", rep.Message))
	for k, v := range map[string]string{
		"layout": `"row-major"`, "status": `"INCOMPLETE"`, "type": `"READ"`,
		"attributeBufferHeaders[0].fixedLenBufferSizeInBytes":         "4",
		"attributeBufferHeaders[0].originalFixedLenBufferSizeInBytes": "4",
		"denseReader.layout":                            `"row-major"`,
		"denseReader.readState.initialized":             "true",
		"denseReader.subarray.ranges[0].type":           `"UINT64"`,
		"array.endTimestamp":                            "99",
		"totalFixedLengthBufferBytes":                   "4",
		"denseReader.subarray.ranges[0].bufferSizes[0]": "16",
	} {
		if flat[k] != v {
			t.Errorf("%s = %q, want %q", k, flat[k], v)
		}
	}
	rep, err = DecodeReadReply(r, int64(r.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if string(rep.Data) != "efghij" || !rep.Complete() || rep.SubStart != 7 {
		t.Errorf("second chunk %+v", rep)
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left", r.Len())
	}

	for _, c := range []struct {
		q        ReadQuery
		data     string
		complete bool
	}{
		{ReadQuery{Start: 0, End: 9, Capacity: 3}, "abcd", false},  // over capacity
		{ReadQuery{Start: 0, End: 9, Capacity: 10}, "abcd", true},  // complete but short
		{ReadQuery{Start: 0, End: 3, Capacity: 10}, "abcd", false}, // incomplete but all
		{ReadQuery{Start: 0, End: 3, Capacity: 10}, "", false},     // no progress
		{ReadQuery{Start: 4, End: 3, Capacity: 10}, "", true},      // empty range
	} {
		if err := WriteReadReply(io.Discard, c.q, []byte(c.data), c.complete); err == nil {
			t.Errorf("WriteReadReply(%+v, %q, %v) succeeded", c.q, c.data, c.complete)
		}
	}
}

func TestWriteReplyRoundTrip(t *testing.T) {
	q := WriteQuery{Start: 0, End: 9}
	uri := FragmentName(1700000000000, [16]byte{0xab, 0xcd})
	if uri != "__1700000000000_1700000000000_abcd0000000000000000000000000000_22" {
		t.Errorf("FragmentName = %s", uri)
	}
	var b bytes.Buffer
	if err := WriteWriteReply(&b, q, 1700000000000, uri); err != nil {
		t.Fatal(err)
	}
	b.WriteString("tail")
	r := bytes.NewReader(b.Bytes())
	rep, err := DecodeWriteReply(r, int64(b.Len()-4))
	if err != nil {
		t.Fatal(err)
	}
	want := WriteReply{Status: StatusCompleted, FragmentURI: uri, Timestamp: 1700000000000, HasFragment: true}
	if rep != want {
		t.Errorf("decoded %+v, want %+v", rep, want)
	}
	if r.Len() != 4 {
		t.Errorf("consumed past the chunk")
	}
	flat := flatten(t, capnpDecode(t, upstreamSchema, "Query", b.Bytes()[8:b.Len()-4]))
	for k, v := range map[string]string{
		"status": `"COMPLETED"`, "type": `"WRITE"`, "layout": `"row-major"`,
		"attributeBufferHeaders[0].fixedLenBufferSizeInBytes": "10",
		"writtenFragmentInfo[0].timestampRange[1]":            "1700000000000",
		"writer.subarrayRanges.ranges[0].type":                `"UINT64"`,
	} {
		if flat[k] != v {
			t.Errorf("%s = %q, want %q", k, flat[k], v)
		}
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	entries := []MetadataEntry{
		DeleteEntry("__np_flat_file_size"),
		DeleteEntry("__np_shape_file_size"),
		Int64Entry(KeyFileSize, 1<<40),
		StringEntry("title", "Grüße 🚀📓"),
		StringEntry("empty", ""),
		{Key: "u64", Type: "UINT64", ValueNum: 1, Value: []byte{1, 0, 0, 0, 0, 0, 0, 0}},
		{Key: "i32s", Type: "INT32", ValueNum: 2, Value: []byte{0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0}},
		{Key: "ascii", Type: "STRING_ASCII", ValueNum: 4, Value: []byte("json")},
		{Key: "char", Type: "CHAR", ValueNum: 9, Value: []byte("notebook\x00")},
		{Key: "f64", Type: "FLOAT64", ValueNum: 1, Value: []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x3f}},
		{Key: "blob", Type: "BLOB", ValueNum: 3, Value: []byte{1, 2, 3}},
	}
	var b bytes.Buffer
	if err := EncodeArrayMetadata(&b, entries); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeArrayMetadata(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	norm := func(es []MetadataEntry) []MetadataEntry {
		out := append([]MetadataEntry(nil), es...)
		for i := range out {
			if len(out[i].Value) == 0 {
				out[i].Value = nil
			}
		}
		return out
	}
	if !reflect.DeepEqual(norm(got), norm(entries)) {
		t.Errorf("round trip:\n%+v\n%+v", got, entries)
	}

	m := Metadata{}
	m.Apply([]MetadataEntry{Int64Entry(KeyFileSize, 5), StringEntry("x", "1")})
	m.Apply(got)
	m.Apply([]MetadataEntry{DeleteEntry("x")})
	if size, ok, err := m.FileSize(); size != 1<<40 || !ok || err != nil {
		t.Errorf("FileSize = %d, %v, %v", size, ok, err)
	}
	if _, ok := m["x"]; ok {
		t.Error("deletion not applied")
	}
	if _, ok := m["__np_flat_file_size"]; ok {
		t.Error("deletion entry kept")
	}
	if es := m.Entries(); es[0].Key != "ascii" || len(es) != 9 {
		t.Errorf("Entries: %d, first %q", len(es), es[0].Key)
	}
	for key, want := range map[string]string{"title": "Grüße 🚀📓", "ascii": "json", "char": "notebook", "empty": ""} {
		if s, err := m[key].Text(); s != want || err != nil {
			t.Errorf("%s Text = %q, %v", key, s, err)
		}
	}
	if v, err := m["u64"].Int64(); v != 1 || err != nil {
		t.Errorf("UINT64 Int64 = %d, %v", v, err)
	}
	if _, err := m["blob"].Int64(); err == nil {
		t.Error("BLOB Int64 succeeded")
	}
	if _, err := (MetadataEntry{Key: "k", Type: "UINT64", ValueNum: 1, Value: bytes.Repeat([]byte{0xff}, 8)}).Int64(); err == nil {
		t.Error("UINT64 overflow accepted")
	}
	js := map[string]any{}
	for k, e := range m {
		if v, err := e.JSONValue(); err == nil {
			js[k] = v
		} else if k != "blob" {
			t.Errorf("%s JSONValue: %v", k, err)
		}
	}
	j, _ := json.Marshal(js)
	if want := `{"ascii":"json","char":"notebook","empty":"","f64":1.5,"file_size":1099511627776,"i32s":[-1,2],"title":"Grüße 🚀📓","u64":1}`; string(j) != want {
		t.Errorf("JSON %s\nwant %s", j, want)
	}

	// Size 0: a notebook of no bytes is file_size 0 only.
	b.Reset()
	if err := EncodeArrayMetadata(&b, NotebookMetadata(0)); err != nil {
		t.Fatal(err)
	}
	got, err = DecodeArrayMetadata(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	m = Metadata{}
	m.Apply(got)
	if size, ok, err := m.FileSize(); size != 0 || !ok || err != nil {
		t.Errorf("FileSize = %d, %v, %v", size, ok, err)
	}
	if s, _ := m[KeyType].Text(); s != NotebookType {
		t.Errorf("type = %q", s)
	}

	// Invalid entries are refused on both sides.
	for _, e := range []MetadataEntry{
		{Key: "", Type: "INT64", ValueNum: 1, Value: make([]byte, 8)},
		{Key: "k", Type: "INT64", ValueNum: 2, Value: make([]byte, 8)},
		{Key: "k", Type: "NOPE", ValueNum: 0},
	} {
		if err := EncodeArrayMetadata(io.Discard, []MetadataEntry{e}); err == nil {
			t.Errorf("EncodeArrayMetadata(%+v) succeeded", e)
		}
	}
	// An empty ArrayMetadata decodes to no entries.
	b.Reset()
	if err := EncodeArrayMetadata(&b, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeArrayMetadata(bytes.NewReader(b.Bytes()), int64(b.Len())); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
}

func TestParseTimeRange(t *testing.T) {
	for _, c := range []struct {
		query string
		want  TimeRange
		err   bool
	}{
		{"", TimeRange{0, Latest}, false},
		{"type=READ", TimeRange{0, Latest}, false},
		{"start_timestamp=0&end_timestamp=18446744073709551615", TimeRange{0, Latest}, false},
		{"start_timestamp=0&end_timestamp=1700000000000", TimeRange{0, 1700000000000}, false},
		{"open_at=1700000000000", TimeRange{0, 1700000000000}, false},
		{"open_at=5&end_timestamp=5&start_timestamp=2", TimeRange{2, 5}, false},
		{"end_timestamp=", TimeRange{0, Latest}, false},
		{"open_at=5&end_timestamp=6", TimeRange{}, true},
		{"start_timestamp=6&end_timestamp=5", TimeRange{}, true},
		{"end_timestamp=-1", TimeRange{}, true},
		{"end_timestamp=1e3", TimeRange{}, true},
		{"end_timestamp=18446744073709551616", TimeRange{}, true},
		{"end_timestamp=1&end_timestamp=2", TimeRange{}, true},
	} {
		q, _ := url.ParseQuery(c.query)
		got, err := ParseTimeRange(q)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%q: %v, %v; want %v, error %v", c.query, got, err, c.want, c.err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: error %v is not ErrMalformed", c.query, err)
		}
	}
	tr := TimeRange{0, 1700000000000}
	if got := tr.Values().Encode(); got != "end_timestamp=1700000000000&start_timestamp=0" {
		t.Errorf("Values = %s", got)
	}
	if (TimeRange{0, Latest}).Resolve(5) != 5 || tr.Resolve(5) != 1700000000000 || tr.IsLatest() {
		t.Error("Resolve/IsLatest")
	}
}

func TestNotebookSchemaJSON(t *testing.T) {
	j := NotebookSchemaJSON()
	const want = `{"arrayType":"dense","attributes":[{"cellValNum":1,"fillValue":[255],"filterPipeline":{"filters":[{"type":"FILTER_ZSTD","data":{"int32":-1}}]},"name":"contents","nullable":false,"type":"UINT8"}],"capacity":10000,"cellOrder":"row-major","coordsFilterPipeline":{},"domain":{"cellOrder":"row-major","dimensions":[{"domain":{"uint64":[0,18446744073709550590]},"filterPipeline":{"filters":[{"type":"FILTER_ZSTD","data":{"int32":-1}}]},"name":"position","nullTileExtent":false,"tileExtent":{"uint64":1024},"type":"UINT64"}],"tileOrder":"row-major","type":"UINT64"},"offsetFilterPipeline":{},"tileOrder":"row-major","version":[22],"allowsDuplicates":false}`
	if string(j) != want {
		t.Errorf("JSON\n%s\nwant\n%s", j, want)
	}
	var s struct {
		Domain struct {
			Dimensions []struct {
				Domain map[string][]uint64
			}
		}
	}
	if err := json.Unmarshal(j, &s); err != nil || s.Domain.Dimensions[0].Domain["uint64"][1] != DomainMax {
		t.Errorf("domain does not decode exactly: %v %+v", err, s)
	}
}

func TestNotebookSchemaCapnp(t *testing.T) {
	var b bytes.Buffer
	if err := EncodeNotebookSchema(&b); err != nil {
		t.Fatal(err)
	}
	flat := flatten(t, capnpDecode(t, upstreamSchema, "ArraySchema", b.Bytes()))
	want := map[string]string{
		"arrayType": `"dense"`, "capacity": "10000", "cellOrder": `"row-major"`, "tileOrder": `"row-major"`,
		"allowsDuplicates":                                          "false",
		"coordsFilterPipeline":                                      "()",
		"offsetFilterPipeline":                                      "()",
		"validityFilterPipeline":                                    "()",
		"domain.type":                                               `"UINT64"`,
		"domain.cellOrder":                                          `"row-major"`,
		"domain.tileOrder":                                          `"row-major"`,
		"domain.dimensions[0].name":                                 `"position"`,
		"domain.dimensions[0].type":                                 `"UINT64"`,
		"domain.dimensions[0].nullTileExtent":                       "false",
		"domain.dimensions[0].tileExtent.uint64":                    "1024",
		"domain.dimensions[0].domain.uint64[0]":                     "0",
		"domain.dimensions[0].domain.uint64[1]":                     "18446744073709550590",
		"domain.dimensions[0].filterPipeline.filters[0].type":       `"ZSTD"`,
		"domain.dimensions[0].filterPipeline.filters[0].data.int32": "-1",
		"attributes[0].name":                                        "\"contents\"",
		"attributes[0].type":                                        `"UINT8"`,
		"attributes[0].cellValNum":                                  "1",
		"attributes[0].nullable":                                    "false",
		"attributes[0].fillValue":                                   `"\377"`,
		"attributes[0].fillValueValidity":                           "false",
		"attributes[0].filterPipeline.filters[0].type":              `"ZSTD"`,
		"attributes[0].filterPipeline.filters[0].data.int32":        "-1",
	}
	for k, v := range want {
		if flat[k] != v {
			t.Errorf("%s = %q, want %q", k, flat[k], v)
		}
	}
	for k := range flat {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected field %s = %s", k, flat[k])
		}
	}
}
