package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// holdUpload opens a connection and sends the headers of an upload
// announcing size bytes, then the first body bytes given, and nothing more.
func holdUpload(t *testing.T, e *env, name string, size int, first string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v2/notebooks/alice/%s/upload?filesize=%d HTTP/1.1\r\nHost: x\r\nX-TILEDB-REST-API-KEY: %s\r\n"+
		"Content-Length: %d\r\n\r\n%s", name, size, e.tokens["alice"], size, first)
	return conn
}

// replyOf reads the reply on conn, waiting at most wait.
func replyOf(t *testing.T, conn net.Conn, wait time.Duration) (*http.Response, error) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// Uploads that announce 4 MiB and send nothing pin no memory: 150 of them
// (the review's attack) hold less than 64 MiB in all, the ones beyond the
// upload bound are answered 503 with Retry-After at once, and every one
// admitted is cut when its body does not come.
func TestIdleUploadsHoldNoMemory(t *testing.T) {
	e := newEnv(t, Options{MaxUploads: 200, MaxUploadsPerUser: 200, BodyGrace: 2 * time.Second}, "alice")
	before := heapInUse()
	var conns []net.Conn
	for i := range 150 {
		conns = append(conns, holdUpload(t, e, fmt.Sprint("m", i), 4<<20, ""))
	}
	// Every upload is admitted (200 slots) and waits for its body.
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.srv.limits.mu.Lock()
		n := e.srv.limits.uploads
		e.srv.limits.mu.Unlock()
		if n == 150 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d uploads in progress, want 150", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The handlers may still be on their way to the body read: the most
	// seen over half a second.
	var peak int64
	for range 10 {
		peak = max(peak, int64(heapInUse())-int64(before))
		time.Sleep(50 * time.Millisecond)
	}
	if peak > 64<<20 {
		t.Errorf("150 idle uploads hold %d MiB", peak>>20)
	}
	for i, conn := range conns {
		resp, err := replyOf(t, conn, 30*time.Second)
		if err != nil {
			t.Fatalf("upload %d got no reply: %v", i, err)
		}
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("upload %d: %d, want 408", i, resp.StatusCode)
		}
	}
}

// A body trickling slower than the minimum rate is cut, though it never
// stops, whether it announces more than net/http discards after a reply
// (256 KiB) or less; the same upload at a fair pace is stored.
func TestSlowBodyIsCut(t *testing.T) {
	e := newEnv(t, Options{BodyGrace: 300 * time.Millisecond, MinBodyRate: 1 << 20}, "alice")
	for _, size := range []int{1 << 20, 100 << 10} {
		conn := holdUpload(t, e, fmt.Sprint("slow", size), size, "{")
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		resp, err := replyOf(t, conn, 30*time.Second)
		close(stop)
		if err != nil {
			t.Fatalf("a trickling body of %d bytes got no reply: %v", size, err)
		}
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("trickling body of %d bytes: %d, want 408", size, resp.StatusCode)
		}
	}
	e.upload("alice", "alice", "fast", strings.Repeat(" ", 1<<20)) // fails the test unless 201
}

// Past the bound on concurrent uploads, or on the bytes they announce, an
// upload is answered 503 with Retry-After at once; once the others are
// done it goes through.
func TestUploadBoundsAnswerBusy(t *testing.T) {
	e := newEnv(t, Options{MaxUploads: 2, MaxSpoolBytes: 10 << 20, BodyGrace: time.Minute}, "alice")
	a := holdUpload(t, e, "a", 6<<20, "")
	waitUploads(t, e, 1)
	if resp := rawUpload(t, e, "b", 5<<20); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the byte bound: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	b := holdUpload(t, e, "b", 1<<20, "")
	waitUploads(t, e, 2)
	if resp := rawUpload(t, e, "c", 10); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the upload bound: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	a.Close()
	b.Close()
	waitUploads(t, e, 0)
	e.upload("alice", "alice", "c", "{}")
}

func waitUploads(t *testing.T, e *env, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.srv.limits.mu.Lock()
		n := e.srv.limits.uploads
		e.srv.limits.mu.Unlock()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d uploads in progress, want %d", n, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawUpload sends an upload's headers and reads the reply, sending no body
// unless the server asks (Expect: 100-continue).
func rawUpload(t *testing.T, e *env, name string, size int) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v2/notebooks/alice/%s/upload?filesize=%d HTTP/1.1\r\nHost: x\r\nX-TILEDB-REST-API-KEY: %s\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", name, size, e.tokens["alice"], size)
	resp, err := replyOf(t, conn, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// One user's stalled uploads take at most their share of the slots: the
// next of theirs is 503, another user's goes through.
func TestUploadBoundPerUser(t *testing.T) {
	e := newEnv(t, Options{MaxUploads: 10, MaxUploadsPerUser: 2, BodyGrace: time.Minute}, "alice", "bob")
	holdUpload(t, e, "a1", 100, "")
	holdUpload(t, e, "a2", 100, "")
	waitUploads(t, e, 2)
	if resp := rawUpload(t, e, "a3", 10); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("alice's third upload: %d, want 503", resp.StatusCode)
	}
	e.upload("bob", "bob", "b", "{}")
}
