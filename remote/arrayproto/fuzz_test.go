package arrayproto

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The seed corpora live in testdata/fuzz/<Target>/ (run by plain `go test`);
// TestFuzzSeeds regenerates them with ARRAYPROTO_WRITE_SEEDS=1. Run a
// target with e.g. `go test -run '^$' -fuzz=FuzzDecodeWrite -fuzztime=20s`.

// checkDecodeError fails on a recovered panic or an error of no known kind.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, errPanic) {
		t.Fatalf("decoder panicked: %v", err)
	}
	if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error of no known kind: %v", err)
	}
}

func FuzzDecodeWrite(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		q, err := DecodeWrite(r, int64(len(b)))
		checkDecodeError(t, err)
		if err != nil {
			return
		}
		if q.Start > q.End || q.End > DomainMax || q.MessageSize+int64(q.Len()) > int64(len(b)) {
			t.Fatalf("inconsistent %+v for %d bytes", q, len(b))
		}
		if int64(len(b)-r.Len()) != q.MessageSize {
			t.Fatalf("read %d bytes before the data, message is %d", len(b)-r.Len(), q.MessageSize)
		}
		data, err := q.ReadData()
		if err != nil || uint64(len(data)) != q.Len() {
			t.Fatalf("ReadData: %d bytes, %v", len(data), err)
		}
	})
}

func FuzzDecodeRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := DecodeRead(bytes.NewReader(b), int64(len(b)))
		checkDecodeError(t, err)
		if err != nil {
			return
		}
		if q.Start > q.End || q.End > DomainMax || q.Capacity == 0 || q.MessageSize > int64(len(b)) {
			t.Fatalf("inconsistent %+v", q)
		}
		// What decodes re-encodes to the same request.
		var e bytes.Buffer
		if err := EncodeRead(&e, q.Start, q.End, q.Capacity, WithTimestamp(q.Timestamp)); err != nil {
			t.Fatal(err)
		}
		q2, err := DecodeRead(&e, int64(e.Len()))
		if err != nil || q2.Start != q.Start || q2.End != q.End || q2.Capacity != q.Capacity || q2.Timestamp != q.Timestamp {
			t.Fatalf("re-encoded %+v -> %+v, %v", q, q2, err)
		}
		// A server can always answer it.
		q.Timestamp = 1
		n := min(q.Len(), q.Capacity, 64)
		if err := WriteReadReply(&e, q, make([]byte, n), n == q.Len()); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeReadReply(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		rep, err := DecodeReadReply(r, int64(len(b)))
		checkDecodeError(t, err)
		if err != nil {
			return
		}
		if rep.Status != StatusCompleted && rep.Status != StatusIncomplete {
			t.Fatalf("status %q", rep.Status)
		}
		if len(rep.Message)+len(rep.Data)+8 > len(b)-r.Len() {
			t.Fatalf("message %d + data %d beyond the %d bytes read", len(rep.Message), len(rep.Data), len(b)-r.Len())
		}
		if rep.Status == StatusIncomplete && len(rep.Data) == 0 {
			t.Fatal("INCOMPLETE without data")
		}
	})
}

func FuzzDecodeArrayMetadata(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := DecodeArrayMetadata(bytes.NewReader(b), int64(len(b)))
		checkDecodeError(t, err)
		if err != nil {
			return
		}
		// What decodes re-encodes and decodes to the same entries.
		var e bytes.Buffer
		if err := EncodeArrayMetadata(&e, entries); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := DecodeArrayMetadata(&e, int64(e.Len()))
		if err != nil || len(again) != len(entries) {
			t.Fatalf("round trip: %d -> %d entries, %v", len(entries), len(again), err)
		}
		m := Metadata{}
		m.Apply(entries)
		for _, x := range m {
			x.Int64()
			x.Text()
			x.JSONValue()
		}
		m.FileSize()
	})
}

// fuzzSeeds returns the seed inputs of each target: the JS client's bodies,
// this package's encodings, and a few edge cases.
func fuzzSeeds(t *testing.T) map[string]map[string][]byte {
	valid := validBodies(t)
	var w1, w1m, r1, rdense, rr, md0 bytes.Buffer
	if err := EncodeWrite(&w1, []byte{0xf0, 0x9f, 0x9a, 0x80}, WithTimestamp(jsTimestamp)); err != nil {
		t.Fatal(err)
	}
	if err := EncodeRead(&r1, 0, DomainMax, 1<<20, WithTimestamp(jsTimestamp)); err != nil {
		t.Fatal(err)
	}
	if err := WriteReadReply(&rdense, ReadQuery{Start: 2, End: 5, Capacity: 4, DenseReader: true, Timestamp: 9}, []byte("ab🚀"[:4]), true); err != nil {
		t.Fatal(err)
	}
	if err := WriteReadReply(&rr, ReadQuery{Start: 0, End: 9, Capacity: 10}, []byte(jsPayload), true); err != nil {
		t.Fatal(err)
	}
	if err := EncodeArrayMetadata(&md0, []MetadataEntry{DeleteEntry("__np_flat_x"), StringEntry("t", "🚀"), {Key: "f", Type: "FLOAT32", ValueNum: 1, Value: []byte{0, 0, 0x80, 0x3f}}}); err != nil {
		t.Fatal(err)
	}
	w1m.Write(w1.Bytes()[:messageLen(t, w1.Bytes())]) // message only: data missing
	js := readFile(t, "js_write_7.1.bin")
	return map[string]map[string][]byte{
		"FuzzDecodeWrite": {
			"js_7.1":       js,
			"go_10":        valid["DecodeWrite"],
			"go_emoji":     w1.Bytes(),
			"no_data":      w1m.Bytes(),
			"js_7.1_short": js[:900],
			"js_read":      readFile(t, "js_read_7.2.bin"),
		},
		"FuzzDecodeRead": {
			"js_7.2":       readFile(t, "js_read_7.2.bin"),
			"go_10":        valid["DecodeRead"],
			"go_domain":    r1.Bytes(),
			"continuation": rr.Bytes()[8:],
			"dense":        rdense.Bytes()[8:],
			"js_write":     js,
		},
		"FuzzDecodeReadReply": {
			"vector_7.3": readHex(t, "read_reply_7.3.hex"),
			"incomplete": valid["DecodeReadReply"],
			"complete":   rr.Bytes(),
			"dense":      rdense.Bytes(),
			"write":      valid["DecodeWriteReply"],
		},
		"FuzzDecodeArrayMetadata": {
			"vector_7.4": readHex(t, "metadata_post_7.4.hex"),
			"notebook":   valid["DecodeArrayMetadata"],
			"mixed":      md0.Bytes(),
			"empty":      {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		},
	}
}

// TestFuzzSeeds checks that testdata/fuzz holds the current seeds (and
// rewrites it when ARRAYPROTO_WRITE_SEEDS=1).
func TestFuzzSeeds(t *testing.T) {
	write := os.Getenv("ARRAYPROTO_WRITE_SEEDS") == "1"
	for target, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, b := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
			path := filepath.Join(dir, name)
			if write {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != content {
				t.Errorf("%s is missing or stale (%v): run ARRAYPROTO_WRITE_SEEDS=1 go test -run TestFuzzSeeds", path, err)
			}
		}
	}
}
