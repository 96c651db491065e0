// Command latproxy forwards TCP connections from LISTEN to TARGET (both
// 127.0.0.1 addresses) and adds a fixed latency to each request, so that a
// peer without a latency setting (rclone serve webdav) can be benchmarked
// behind the same delay as 'notebookfs serve --latency'.
//
// What it delays, exactly: on each connection, the first chunk of bytes the
// client sends after the server has answered (or the first chunk of the
// connection) is held for -latency before it is forwarded; the rest of
// that request, and every byte of the reply, is forwarded at once. With
// HTTP/1.1 (one request in flight per connection) that is one delay per
// request, like 'notebookfs serve --latency', which sleeps once before
// handling each API request. Connection setup itself is not delayed.
//
// Usage: latproxy -listen 127.0.0.1:A -target 127.0.0.1:B [-latency 50ms]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (127.0.0.1 only)")
	target := flag.String("target", "", "address to forward to (127.0.0.1 only)")
	latency := flag.Duration("latency", 50*time.Millisecond, "delay added to each request")
	flag.Parse()
	for _, a := range []string{*listen, *target} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			fmt.Fprintf(os.Stderr, "latproxy: %q: want a 127.0.0.1 address\n", a)
			os.Exit(2)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "latproxy:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "latproxy:", err)
			os.Exit(1)
		}
		go proxy(c, *target, *latency)
	}
}

func proxy(client net.Conn, target string, latency time.Duration) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "latproxy:", err)
		return
	}
	defer server.Close()
	// answered is true once the server has sent bytes since the client's
	// last chunk: the client's next chunk starts a new request.
	var answered atomic.Bool
	answered.Store(true)
	done := make(chan struct{}, 2)
	go func() { // client -> server
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if answered.Swap(false) {
					time.Sleep(latency)
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		if tc, ok := server.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() { // server -> client
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				answered.Store(true)
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
}
