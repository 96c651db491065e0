package arrayproto

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

const (
	jsTimestamp = 1700000000000
	jsPayload   = "0123456789"
)

// The JS bodies are the captured ones byte for byte.
func TestJSVectorsAreTheCaptures(t *testing.T) {
	for name, want := range map[string]string{
		"js_write_7.1.bin": "f30817d7d2d2c4eb5bd4915cd65833d73b1177ca7dadb8ddc6986926c3dba6d2",
		"js_read_7.2.bin":  "8affad8c2b38263c7e1413b4d9670defc51b00f7487fb63ea3c585766ab29e2f",
	} {
		sum := sha256.Sum256(readFile(t, name))
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: sha256 %s, want %s", name, got, want)
		}
	}
	w := readFile(t, "js_write_7.1.bin")
	if len(w) != 906 || messageLen(t, w) != 896 || string(w[896:]) != jsPayload {
		t.Errorf("write vector: %d bytes, message %d", len(w), messageLen(t, w))
	}
	if r := readFile(t, "js_read_7.2.bin"); len(r) != 904 || messageLen(t, r) != 904 {
		t.Errorf("read vector: %d bytes", len(r))
	}
}

// capnp decodes the JS write and read vectors with the upstream schema to
// the stored decodings.
func TestJSVectorsDecodeWithCapnp(t *testing.T) {
	for _, c := range []struct{ bin, txt string }{
		{"js_write_7.1.bin", "js_write_7.1.capnp.txt"},
		{"js_read_7.2.bin", "js_read_7.2.capnp.txt"},
	} {
		body := readFile(t, c.bin)
		got := flatten(t, capnpDecode(t, upstreamSchema, "Query", body[:messageLen(t, body)]))
		want := flatten(t, string(readFile(t, c.txt)))
		if d := diffFlat(want, got); len(d) > 0 {
			t.Errorf("%s: capnp decode differs from %s:\n%s", c.bin, c.txt, strings.Join(d, "\n"))
		}
	}
}

func TestDecodeJSWrite(t *testing.T) {
	body := readFile(t, "js_write_7.1.bin")
	q, err := DecodeWrite(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if q.Start != 0 || q.End != 9 || q.Len() != 10 || q.Status != StatusUninitialized ||
		q.Layout != LayoutRowMajor || q.Timestamp != jsTimestamp || q.StartTimestamp != 0 || q.MessageSize != 896 {
		t.Errorf("decoded %+v", q)
	}
	data, err := q.ReadData()
	if err != nil || string(data) != jsPayload {
		t.Errorf("data %q, %v", data, err)
	}
	// One byte short of the limit: ErrTooLarge.
	if _, err := DecodeWrite(bytes.NewReader(body), int64(len(body))-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit-1: %v, want ErrTooLarge", err)
	}
}

func TestDecodeJSRead(t *testing.T) {
	body := readFile(t, "js_read_7.2.bin")
	q, err := DecodeRead(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	want := ReadQuery{Start: 0, End: 9, Capacity: 10, Status: StatusUninitialized, Layout: LayoutRowMajor,
		Timestamp: jsTimestamp, MessageSize: 904}
	if q != want {
		t.Errorf("decoded %+v, want %+v", q, want)
	}
}

// The Go encoder's bodies decode, with the upstream schema, to the JS
// client's fields except for the documented differences (doc.go).
func TestEncodeWriteMatchesJS(t *testing.T) {
	js := readFile(t, "js_write_7.1.bin")
	var b bytes.Buffer
	if err := EncodeWrite(&b, []byte(jsPayload), WithTimestamp(jsTimestamp)); err != nil {
		t.Fatal(err)
	}
	body := b.Bytes()
	n := messageLen(t, body)
	if string(body[n:]) != jsPayload {
		t.Fatalf("bytes after the message: %q", body[n:])
	}
	for _, schema := range []string{upstreamSchema, ourSchema} {
		jsFlat := flatten(t, capnpDecode(t, schema, "Query", js[:messageLen(t, js)]))
		goFlat := flatten(t, capnpDecode(t, schema, "Query", body[:n]))
		checkDiff(t, schema, diffFlat(jsFlat, goFlat), map[string]string{
			`^reader(\.|$)`:                          "JS sends an empty reader in a WRITE",
			`^array\.queryType: <none> -> "WRITE"$`:  "queryType set",
			`^totalFixedLengthBufferBytes: 0 -> 10$`: "libtiledb's total",
		})
	}
}

func TestEncodeReadMatchesJS(t *testing.T) {
	js := readFile(t, "js_read_7.2.bin")
	var b bytes.Buffer
	if err := EncodeRead(&b, 0, 9, 10, WithTimestamp(jsTimestamp)); err != nil {
		t.Fatal(err)
	}
	body := b.Bytes()
	if messageLen(t, body) != len(body) {
		t.Fatalf("bytes after the READ message")
	}
	for _, schema := range []string{upstreamSchema, ourSchema} {
		jsFlat := flatten(t, capnpDecode(t, schema, "Query", js))
		goFlat := flatten(t, capnpDecode(t, schema, "Query", body))
		checkDiff(t, schema, diffFlat(jsFlat, goFlat), map[string]string{
			`^writer(\.|$)`: "JS sends an empty writer in a READ",
			`^reader\.readState\.subarrayPartitioner\.`: "JS sends an empty partitioner",
			`^array\.queryType: <none> -> "READ"$`:      "queryType set",
		})
	}
}

func checkDiff(t *testing.T, schema string, diffs []string, allowed map[string]string) {
	t.Helper()
	for _, d := range diffs {
		ok := false
		for re := range allowed {
			if regexp.MustCompile(re).MatchString(d) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s: unexpected difference from the JS body: %s", schema, d)
		}
	}
	if len(diffs) == 0 {
		t.Errorf("%s: no difference at all: the expected ones are gone", schema)
	}
}

func TestReadReplyVector(t *testing.T) {
	body := readHex(t, "read_reply_7.3.hex")
	if len(body) != 306 {
		t.Fatalf("vector of %d bytes", len(body))
	}
	r := bytes.NewReader(append(body, "next"...))
	rep, err := DecodeReadReply(r, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if string(rep.Data) != jsPayload || rep.Status != StatusCompleted || !rep.Complete() ||
		rep.Capacity != 0 || rep.HasSub || len(rep.Message) != 288 {
		t.Errorf("decoded %+v", rep)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "next" {
		t.Errorf("decoder consumed past the chunk: %q left", rest)
	}
	if _, err := DecodeReadReply(bytes.NewReader(body), int64(len(body))-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit-1: %v", err)
	}
	// What the vector holds, checked with capnp.
	flat := flatten(t, capnpDecode(t, upstreamSchema, "Query", body[8:8+288]))
	for k, v := range map[string]string{
		"attributeBufferHeaders[0].name":                      `"contents"`,
		"attributeBufferHeaders[0].fixedLenBufferSizeInBytes": "10",
		"status": `"COMPLETED"`, "type": `"READ"`,
	} {
		if flat[k] != v {
			t.Errorf("%s = %s, want %s", k, flat[k], v)
		}
	}
}

func TestMetadataVector(t *testing.T) {
	body := readHex(t, "metadata_post_7.4.hex")
	entries, err := DecodeArrayMetadata(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("entries %+v", entries)
	}
	e := entries[0]
	if e.Key != KeyFileSize || e.Type != "INT64" || e.ValueNum != 1 || e.Del {
		t.Errorf("entry %+v", e)
	}
	if v, err := e.Int64(); v != 10 || err != nil {
		t.Errorf("Int64 = %d, %v", v, err)
	}
	// The Go encoder writes the JS client's bytes exactly.
	var b bytes.Buffer
	if err := EncodeArrayMetadata(&b, []MetadataEntry{Int64Entry(KeyFileSize, 10)}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), body) {
		t.Errorf("encoded\n%x\nwant\n%x", b.Bytes(), body)
	}
	// A save's three entries make 224 bytes.
	b.Reset()
	if err := EncodeArrayMetadata(&b, NotebookMetadata(10)); err != nil || b.Len() != 224 {
		t.Errorf("NotebookMetadata: %d bytes, %v", b.Len(), err)
	}
	flat := flatten(t, capnpDecode(t, ourSchema, "ArrayMetadata", b.Bytes()))
	want := map[string]string{
		"entries[0].key": `"file_size"`, "entries[0].type": `"INT64"`, "entries[0].valueNum": "1",
		"entries[0].value": `"\n\000\000\000\000\000\000\000"`, "entries[0].del": "false",
		"entries[1].key": `"format"`, "entries[1].type": `"STRING_UTF8"`, "entries[1].valueNum": "4",
		"entries[1].value": `"json"`, "entries[1].del": "false",
		"entries[2].key": `"type"`, "entries[2].type": `"STRING_UTF8"`, "entries[2].valueNum": "8",
		"entries[2].value": `"notebook"`, "entries[2].del": "false",
	}
	if d := diffFlat(want, flat); len(d) > 0 {
		t.Errorf("capnp decode of NotebookMetadata:\n%s", strings.Join(d, "\n"))
	}
}

// Every field of schema/notebook.capnp has the offset (and type) of the
// same field upstream; no field is renumbered.
func TestSchemaMatchesUpstream(t *testing.T) {
	std := capnpStd(t)
	layout := func(schema string) map[string]string {
		out, err := exec.Command("capnp", "compile", "-I"+std, "-ocapnp", schema).Output()
		if err != nil {
			t.Fatalf("capnp compile %s: %v", schema, err)
		}
		return fieldLayout(t, string(out))
	}
	up, ours := layout(upstreamSchema), layout(ourSchema)
	if len(ours) < 120 {
		t.Fatalf("only %d fields parsed", len(ours))
	}
	for k, v := range ours {
		u, ok := up[k]
		switch {
		case !ok:
			t.Errorf("%s: not upstream", k)
		case u != v && !anyPointerOf(u, v):
			t.Errorf("%s: upstream %q, ours %q", k, u, v)
		}
	}
}

// fieldLayout maps "Struct.field" to "@ordinal :Type # offset" from the
// output of `capnp compile -ocapnp`.
func fieldLayout(t *testing.T, text string) map[string]string {
	structRE := regexp.MustCompile(`^\s*struct (\w+) @0x[0-9a-f]+ \{`)
	openRE := regexp.MustCompile(`^\s*(\w+ :(union|group) |union )\{`)
	fieldRE := regexp.MustCompile(`^\s*(\w+) (@\d+ :[^;=]+?)\s*(= [^;]*)?;\s*#\s*(.*)$`)
	out := map[string]string{}
	var stack []string
	for _, line := range strings.Split(text, "\n") {
		switch {
		case structRE.MatchString(line):
			stack = append(stack, structRE.FindStringSubmatch(line)[1])
		case openRE.MatchString(line):
			stack = append(stack, "")
		case strings.TrimSpace(line) == "}":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case fieldRE.MatchString(line):
			m := fieldRE.FindStringSubmatch(line)
			owner := ""
			for i := len(stack) - 1; i >= 0 && owner == ""; i-- {
				owner = stack[i]
			}
			out[owner+"."+m[1]] = m[2] + " " + m[3] + " # " + m[4]
		}
	}
	return out
}

// anyPointerOf reports whether ours declares as AnyPointer a pointer field
// upstream types precisely, at the same ordinal and pointer slot.
func anyPointerOf(up, ours string) bool {
	re := regexp.MustCompile(`^(@\d+) :(.*?)  # (ptr\[\d+\].*)$`)
	u, o := re.FindStringSubmatch(up), re.FindStringSubmatch(ours)
	return u != nil && o != nil && o[2] == "AnyPointer" && u[1] == o[1] && u[3] == o[3]
}
