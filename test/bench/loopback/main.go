// Command loopback mounts go-fuse's loopback file system (fs.NewLoopbackRoot)
// of ORIGINAL at MOUNTPOINT, the FUSE floor of test/bench/bench.sh. It
// serves until unmounted (fusermount3 -u) or sent SIGINT/SIGTERM.
//
// Usage: loopback ORIGINAL MOUNTPOINT
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: loopback ORIGINAL MOUNTPOINT")
		os.Exit(2)
	}
	root, err := fs.NewLoopbackRoot(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopback:", err)
		os.Exit(1)
	}
	// go-fuse's defaults (as in its example/loopback): 1 s entry and attr
	// timeouts.
	sec := time.Second
	server, err := fs.Mount(os.Args[2], root, &fs.Options{
		EntryTimeout: &sec,
		AttrTimeout:  &sec,
		MountOptions: fuse.MountOptions{FsName: "loopback:" + os.Args[1], Name: "loopback"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopback: mount:", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for range sigs {
			if err := server.Unmount(); err != nil {
				fmt.Fprintln(os.Stderr, "loopback: unmount:", err)
			}
		}
	}()
	server.Wait()
}
