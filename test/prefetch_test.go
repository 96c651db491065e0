//go:build linux

package test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// After listing a cold namespace, its small notebooks are fetched in the
// background, so reading them all costs no download at read time.
func TestPrefetchColdNamespace(t *testing.T) { forBackends(t, testPrefetchColdNamespace) }

func testPrefetchColdNamespace(t *testing.T, o envOptions) {
	o.prefetch = 8 << 20
	e := mount(t, o)
	const n = 30
	for i := 0; i < n; i++ {
		e.put(fmt.Sprintf("nb%02d", i), nb(fmt.Sprintf("notebook %d", i)))
	}
	run(t, "ls", "-l", e.ns())
	e.root.Idle() // the prefetch started by the listing is done
	if r := e.count.Count("Read"); r != n {
		t.Errorf("prefetch made %d Read calls, want %d", r, n)
	}
	e.count.Reset()
	for i := 0; i < n; i++ {
		if b := mustRead(t, e.ns(fmt.Sprintf("nb%02d.ipynb", i))); !bytes.Equal(b, nb(fmt.Sprintf("notebook %d", i))) {
			t.Errorf("nb%02d reads %q", i, b)
		}
	}
	if c := e.count.Total(); c != 0 {
		t.Errorf("reading %d prefetched notebooks made %d remote calls: %v", n, c, e.count.Snapshot())
	}
}

// With the page cache kept across opens, a newer version saved behind the
// mount's back is still read once the listing is refreshed. Two things
// guard it: fs keeps pages only while the version is unchanged, and the
// kernel (AUTO_INVAL_DATA) drops pages when it sees the mtime change; this
// test checks the outcome, which either one alone would keep.
func TestKeepCacheSeesNewVersion(t *testing.T) {
	e := mount(t, envOptions{ttl: 200 * time.Millisecond})
	old := bytes.Repeat([]byte("A"), 100000)
	e.put("k", old)
	for i := 0; i < 3; i++ { // the second and third open keep the page cache
		if b := mustRead(t, e.ns("k.ipynb")); !bytes.Equal(b, old) {
			t.Fatalf("read %d: %d bytes", i, len(b))
		}
	}
	id := e.notebook("k").ID
	newer := bytes.Repeat([]byte("B"), 100000) // same size: only the pages tell
	if _, err := e.client().Write(context.Background(), e.user, id, bytes.NewReader(newer), int64(len(newer))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // past the TTL
	readDir(t, e.ns())                 // serves the stale listing and refreshes it
	e.root.Idle()
	time.Sleep(250 * time.Millisecond) // past the kernel's entry timeout too
	if b := mustRead(t, e.ns("k.ipynb")); !bytes.Equal(b, newer) {
		t.Errorf("after the refresh the mount reads %q..., want the newer version", b[:8])
	}
}
