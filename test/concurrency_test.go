//go:build linux

package test

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
)

// Parallel writers of different notebooks and parallel readers of one:
// every save lands whole, and cold readers share one download.
func TestConcurrentSavesAndReads(t *testing.T) {
	e := mount(t, envOptions{})
	big := bytes.Repeat(nb("shared read"), 20000) // about 2 MB
	e.put("big", big)                             // before the mount lists the namespace
	const writers, saves = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*saves)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			p := e.ns(fmt.Sprintf("w%d.ipynb", w))
			for s := 0; s < saves; s++ {
				want := bytes.Repeat(nb(fmt.Sprintf("writer %d save %d", w, s)), 1+s*50)
				if err := os.WriteFile(p, want, 0o644); err != nil {
					errs <- err
					return
				}
				got, err := os.ReadFile(p)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, want) {
					errs <- fmt.Errorf("w%d save %d: read back %d bytes, want %d", w, s, len(got), len(want))
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Rapid saves of one notebook coalesce in the write-back journal: at
	// most one version per save, and the latest is the last save.
	for w := 0; w < writers; w++ {
		nbk := e.notebook(fmt.Sprintf("w%d", w))
		if v := e.versions(nbk.ID); len(v) < 1 || len(v) > saves {
			t.Errorf("w%d: %d versions, want 1 to %d", w, len(v), saves)
		}
		want := bytes.Repeat(nb(fmt.Sprintf("writer %d save %d", w, saves-1)), 1+(saves-1)*50)
		if got := e.storeBytes(nbk.ID); !bytes.Equal(got, want) {
			t.Errorf("w%d: latest version is %d bytes, want the last save (%d)", w, len(got), len(want))
		}
	}

	readDir(t, e.ns())
	e.count.Reset()
	var rg sync.WaitGroup
	for r := 0; r < 8; r++ {
		rg.Add(1)
		go func() {
			defer rg.Done()
			got, err := os.ReadFile(e.ns("big.ipynb"))
			if err != nil || !bytes.Equal(got, big) {
				t.Errorf("parallel read: %d bytes, %v", len(got), err)
			}
		}()
	}
	rg.Wait()
	if n := e.count.Count("Read"); n != 1 {
		t.Errorf("8 parallel cold readers made %d Read calls, want 1 (shared download)", n)
	}
}
