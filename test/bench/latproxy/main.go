// Command latproxy forwards TCP connections from LISTEN to TARGET (both
// 127.0.0.1 addresses) behind a simulated network, so that every peer of
// test/bench/bench.sh (rclone serve webdav, notebookfs serve) is reached
// over the same round-trip time and pays the same for new connections.
//
// The model:
//
//   - Every byte the client sends reaches the server one -latency later
//     (a delay line: bytes are timestamped as they arrive and forwarded in
//     order, so concurrent streams and pipelined bodies are delayed once,
//     not once per chunk in sequence). Replies are forwarded at once. A
//     request then costs one -latency, whether it is alone on its
//     connection (HTTP/1.1) or one of many multiplexed (HTTP/2).
//   - A new connection pays -handshake round trips more before its first
//     byte reaches the server: 2 by default, TCP's handshake and TLS's, as
//     against a real HTTPS server. A connection whose first bytes are a TLS
//     ClientHello pays one fewer, since its own TLS handshake crosses the
//     delay line like any other bytes.
//   - Connections opened are counted: -count FILE holds the total, rewritten
//     after each accept.
//
// Usage: latproxy -listen 127.0.0.1:A -target 127.0.0.1:B [-latency 50ms]
// [-handshake 2] [-count FILE]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (127.0.0.1 only)")
	target := flag.String("target", "", "address to forward to (127.0.0.1 only)")
	latency := flag.Duration("latency", 50*time.Millisecond, "round-trip time added to each request")
	handshake := flag.Int("handshake", 2, "round trips a new connection pays before its first byte (TCP + TLS)")
	count := flag.String("count", "", "file to hold the number of connections opened")
	flag.Parse()
	for _, a := range []string{*listen, *target} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			fmt.Fprintf(os.Stderr, "latproxy: %q: want a 127.0.0.1 address\n", a)
			os.Exit(2)
		}
	}
	if *handshake < 0 {
		fmt.Fprintln(os.Stderr, "latproxy: -handshake wants 0 or more")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "latproxy:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	var (
		opened atomic.Int64
		mu     sync.Mutex // orders the rewrites of -count
	)
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "latproxy:", err)
			os.Exit(1)
		}
		n := opened.Add(1)
		if *count != "" {
			mu.Lock()
			if err := writeCount(*count, n); err != nil {
				fmt.Fprintln(os.Stderr, "latproxy:", err)
			}
			mu.Unlock()
		}
		go proxy(c, *target, *latency, *handshake)
	}
}

// writeCount replaces path with n, atomically (a reader never sees it
// half written).
func writeCount(path string, n int64) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(n, 10)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// chunk is bytes from the client, due at the server at due.
type chunk struct {
	due time.Time
	b   []byte
}

func proxy(client net.Conn, target string, latency time.Duration, handshake int) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "latproxy:", err)
		return
	}
	defer server.Close()
	accepted := time.Now()
	line := make(chan chunk, 4096)
	done := make(chan struct{}, 3)
	go func() { // client -> delay line
		defer close(line)
		first := true
		for {
			buf := make([]byte, 64<<10)
			n, err := client.Read(buf)
			if n > 0 {
				due := time.Now().Add(latency)
				if first {
					first = false
					rtts := handshake
					if rtts > 0 && isClientHello(buf[:n]) {
						rtts--
					}
					due = accepted.Add(time.Duration(rtts+1) * latency)
				}
				line <- chunk{due: due, b: buf[:n]}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	go func() { // delay line -> server
		for c := range line {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := server.Write(c.b); err != nil {
				client.Close() // unblocks the reader above
				for range line {
				}
				break
			}
		}
		if tc, ok := server.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() { // server -> client, at once
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		if tc, ok := client.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	<-done
	<-done
}

// isClientHello reports whether b starts a TLS handshake record holding a
// ClientHello.
func isClientHello(b []byte) bool {
	return len(b) >= 6 && b[0] == 0x16 && b[1] == 0x03 && b[5] == 0x01
}
