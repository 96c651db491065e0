//go:build linux

package test

import (
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// benchSize is the notebook read in the throughput benchmarks: 200 MiB, the
// size the performance targets name (it goes through the disk cache).
const benchSize = 200 << 20

// benchRead reads path whole with a 1 MiB buffer, b.N times, and reports
// throughput; the first read (cold) is outside the timing.
func benchRead(b *testing.B, path string) {
	buf := make([]byte, 1<<20)
	read := func() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, f, buf); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	read()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		read()
	}
}

// Cached sequential read of a 200 MiB notebook through notebookfs (in the
// disk cache, within the TTL; the kernel keeps its pages across opens).
//
//	go test -run '^$' -bench 'CachedRead' ./test/
func BenchmarkCachedReadNotebookfs(b *testing.B) {
	needFuse(b)
	data := make([]byte, benchSize)
	rand.Read(data)
	e := mount(b, envOptions{})
	mustWrite(b, e.ns("big.ipynb"), data)
	e.settle()
	benchRead(b, e.ns("big.ipynb"))
}

// The same read through go-fuse's loopback file system: the FUSE floor.
func BenchmarkCachedReadLoopback(b *testing.B) {
	needFuse(b)
	dir := b.TempDir()
	orig, mnt := filepath.Join(dir, "orig"), filepath.Join(dir, "mnt")
	os.Mkdir(orig, 0o755)
	os.Mkdir(mnt, 0o755)
	data := make([]byte, benchSize)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(orig, "big.ipynb"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	root, err := gofs.NewLoopbackRoot(orig)
	if err != nil {
		b.Fatal(err)
	}
	server, err := gofs.Mount(mnt, root, &gofs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { server.Unmount() })
	benchRead(b, filepath.Join(mnt, "big.ipynb"))
}
