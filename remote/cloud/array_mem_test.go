package cloud

import (
	"hash/crc64"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"notebookfs/remote/arrayproto"
)

// patternReader yields the bytes of a notebook of any size without holding
// it: byte x is block[x % len(block)], the block a prime-ish 1 MiB + 7 of
// random bytes, so that no two chunks of a read look alike.
type patternReader struct {
	block []byte
	off   uint64
	left  uint64
}

func newPattern(seed uint64) []byte {
	block := make([]byte, 1<<20+7)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	return block
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	b = b[:min(uint64(len(b)), p.left)]
	n := 0
	for n < len(b) {
		i := (p.off + uint64(n)) % uint64(len(p.block))
		n += copy(b[n:], p.block[i:])
	}
	p.off += uint64(n)
	p.left -= uint64(n)
	return n, nil
}

// bigNotebookServer answers the array protocol for one notebook of size
// bytes generated on the fly, streaming READ replies chunk by chunk
// (read_all honoured, or not).
func bigNotebookServer(t *testing.T, size uint64, block []byte, readAll bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/fragment_end_timestamp"):
			io.WriteString(w, "1700000000000")
		case strings.HasSuffix(r.URL.Path, "/array_metadata"):
			w.Header().Set("Content-Type", capnpType)
			arrayproto.EncodeArrayMetadata(w, arrayproto.NotebookMetadata(int64(size)))
		case strings.HasSuffix(r.URL.Path, "/query/submit"):
			q, err := arrayproto.DecodeRead(r.Body, 1<<20)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if q.Continuation() {
				io.Copy(io.Discard, r.Body) // the previous chunk's bytes
			}
			q.Timestamp = 1700000000000
			w.Header().Set("Content-Type", capnpType)
			for {
				n := min(q.Len(), q.Capacity)
				complete := n == q.Len()
				src := &patternReader{block: block, off: q.Start, left: n}
				if err := arrayproto.WriteReadReplyFrom(w, q, src, n, complete); err != nil {
					return // client gone
				}
				if complete || !readAll {
					return
				}
				q.Start += n
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A 200 MB notebook streams through Read with the client's heap bounded
// by a small multiple of the READ buffer (8 MiB), not the notebook's size.
// The server runs in this process too; its share is small (it streams
// from a 1 MiB block).
func TestArrayReadStreamsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MB read")
	}
	const size = 200 << 20
	block := newPattern(42)
	want := crc64.New(crcTable)
	io.Copy(want, &patternReader{block: block, left: size})
	for _, readAll := range []bool{true, false} {
		name := "read_all"
		if !readAll {
			name = "continuations"
		}
		t.Run(name, func(t *testing.T) {
			srv := bigNotebookServer(t, size, block, readAll)
			c := newTestClient(t, Options{Host: srv.URL, Token: testToken, CallTimeout: 10 * time.Minute})
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base, allocBase := ms.HeapInuse, ms.TotalAlloc
			start := time.Now()
			content, err := c.Read(t.Context(), "alice", nbID, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if content.Size != size || content.Version.UnixMilli() != 1700000000000 {
				t.Fatalf("Size %d Version %v", content.Size, content.Version)
			}
			got := crc64.New(crcTable)
			buf := make([]byte, 256<<10)
			var peak uint64
			var total int64
			for next := int64(0); ; {
				n, err := content.Read(buf)
				got.Write(buf[:n])
				total += int64(n)
				if total >= next {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
					next += 4 << 20
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			content.Close()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			if total != size || got.Sum64() != want.Sum64() {
				t.Fatalf("read %d bytes, checksum %x, want %d bytes %x", total, got.Sum64(), size, want.Sum64())
			}
			grew := int64(peak) - int64(base)
			t.Logf("%d MiB in %v: HeapInuse %.1f MiB before, peak %.1f MiB (+%.1f MiB); %.0f MiB allocated in all",
				size>>20, time.Since(start).Round(time.Millisecond), mib(base), mib(peak), float64(grew)/(1<<20), mib(ms.TotalAlloc-allocBase))
			if grew > 64<<20 {
				t.Fatalf("heap grew by %.1f MiB reading %d MiB: not streaming", float64(grew)/(1<<20), size>>20)
			}
		})
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// sampler is a source that records the heap's peak as it is read.
type sampler struct {
	r    io.Reader
	read int64
	next int64
	peak uint64
}

func (s *sampler) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.read += int64(n)
	if s.read >= s.next {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.peak = max(s.peak, ms.HeapInuse)
		s.next += 4 << 20
	}
	return n, err
}

// A 200 MB save streams too: the WRITE body is the message, then the bytes
// as read from the caller's reader (here a stream, not a Seeker); the server
// (arrayproto.DecodeWrite, streaming) checks them.
func TestArrayWriteStreamsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MB write")
	}
	const size = 200 << 20
	block := newPattern(7)
	want := crc64.New(crcTable)
	io.Copy(want, &patternReader{block: block, left: size})
	var gotSum uint64
	var gotLen, bodyLen int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/metadata"):
			io.WriteString(w, `{"id":"`+nbID+`","namespace":"alice","name":"big","created_at":"2024-05-01T10:00:00Z","allowed_actions":["read","write"]}`)
		case strings.HasSuffix(r.URL.Path, "/user"):
			userJSON(w)
		case strings.HasSuffix(r.URL.Path, "/query/submit"):
			bodyLen = r.ContentLength
			q, err := arrayproto.DecodeWrite(r.Body, r.ContentLength)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			h := crc64.New(crcTable)
			n, err := io.Copy(h, q.Data)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			gotSum, gotLen = h.Sum64(), n
			w.Header().Set("Content-Type", capnpType)
			arrayproto.WriteWriteReply(w, q, 1700000000000, "__frag")
		case strings.HasSuffix(r.URL.Path, "/array_metadata"):
			io.Copy(io.Discard, r.Body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Options{Host: srv.URL, Token: testToken, CallTimeout: 10 * time.Minute,
		Now: func() time.Time { return time.UnixMilli(1700000000000) }})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	src := &sampler{r: &patternReader{block: block, left: size}}
	start := time.Now()
	nb, err := c.Write(t.Context(), "alice", nbID, src, size)
	if err != nil {
		t.Fatal(err)
	}
	if nb.Size != size || nb.Version.UnixMilli() != 1700000000000 || nb.Name != "big" {
		t.Fatalf("Write: %+v", nb)
	}
	if gotLen != size || gotSum != want.Sum64() {
		t.Fatalf("server got %d bytes, checksum %x; want %x", gotLen, gotSum, want.Sum64())
	}
	grew := int64(src.peak) - int64(base)
	t.Logf("%d MiB saved in %v: WRITE body %d bytes; HeapInuse %.1f MiB before, peak %.1f MiB (+%.1f MiB)",
		size>>20, time.Since(start).Round(time.Millisecond), bodyLen, mib(base), mib(src.peak), float64(grew)/(1<<20))
	if grew > 64<<20 {
		t.Fatalf("heap grew by %.1f MiB writing %d MiB: not streaming", float64(grew)/(1<<20), size>>20)
	}
}
