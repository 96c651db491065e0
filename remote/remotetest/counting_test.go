package remotetest

import (
	"sync"
	"testing"
)

func TestCounting(t *testing.T) {
	k := NewCounting(&stub{})
	for method, err := range callAll(t.Context(), k) {
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
	}
	for _, m := range Methods() {
		if n := k.Count(m); n != 1 {
			t.Fatalf("Count(%s) = %d, want 1", m, n)
		}
	}
	if n := k.Count("Nope"); n != 0 {
		t.Fatalf("Count(Nope) = %d", n)
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				k.Stat(t.Context(), "ns", "id")
			}
		})
	}
	wg.Wait()
	if n := k.Count("Stat"); n != 801 {
		t.Fatalf("Count(Stat) = %d, want 801", n)
	}
	if n := k.Total(); n != 800+int64(len(Methods())) {
		t.Fatalf("Total = %d, want %d", n, 800+len(Methods()))
	}
	snap := k.Snapshot()
	if len(snap) != len(Methods()) || snap["Stat"] != 801 || snap["Share"] != 1 {
		t.Fatalf("Snapshot = %v", snap)
	}
	k.Reset()
	if n := k.Total(); n != 0 {
		t.Fatalf("Total after Reset = %d", n)
	}
	if snap["Stat"] != 801 {
		t.Fatal("Reset changed an earlier snapshot")
	}
}
