//go:build linux

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"notebookfs/fs"
	nbfuse "notebookfs/fs/fuse"
	"notebookfs/remote"
)

// status reads the mount's status attribute, as `notebookfs status` does.
func (e *env) status() fs.Status {
	e.t.Helper()
	buf := make([]byte, 1<<20)
	n, err := unix.Getxattr(e.dir, nbfuse.StatusXattr, buf)
	if err != nil {
		e.t.Fatalf("getxattr %s: %v", nbfuse.StatusXattr, err)
	}
	var st fs.Status
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		e.t.Fatalf("status %q: %v", buf[:n], err)
	}
	return st
}

// Offline: with every remote call failing, cached notebooks still read,
// the listing is the last known one, saves return at once and queue (the
// status says what is pending and why), and fsync reports EIO after its
// deadline with the save still queued. Back online, the queue drains and
// the store holds the last save.
func TestOfflineSavesQueue(t *testing.T) { forBackends(t, testOfflineSavesQueue) }

func testOfflineSavesQueue(t *testing.T, o envOptions) {
	o.callTimeout = time.Second // fsync's wait
	e := mount(t, o)
	e.put("x", nb("v0"))
	e.put("y", nb("y0"))
	mustRead(t, e.ns("x.ipynb")) // cached
	readDir(t, e.ns())

	e.faults.SetFailRate(1, errors.New("network is unreachable"), 1)
	for i := 1; i <= 3; i++ {
		mustWrite(t, e.ns("x.ipynb"), nb(fmt.Sprintf("offline save %d", i)))
	}
	mustWrite(t, e.ns("new.ipynb"), nb("created offline"))
	if b := mustRead(t, e.ns("x.ipynb")); !bytes.Equal(b, nb("offline save 3")) {
		t.Errorf("reading a pending save: %q", b)
	}
	if b := mustRead(t, e.ns("new.ipynb")); !bytes.Equal(b, nb("created offline")) {
		t.Errorf("reading a pending new notebook: %q", b)
	}
	if got := strings.Join(readDir(t, e.ns()), ","); got != "new.ipynb,x.ipynb,y.ipynb" {
		t.Errorf("offline listing: %s", got)
	}
	waitFor(t, "a failed upload attempt", func() bool { return len(e.status().Uploads.LastErrors) > 0 })
	st := e.status().Uploads
	if st.Pending < 2 || !strings.Contains(st.LastErrors[0].Error, "network is unreachable") {
		t.Errorf("status while offline: %+v", st)
	}

	// fsync waits for the upload: EIO at the deadline, nothing lost.
	f, err := os.OpenFile(e.ns("x.ipynb"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "fsync offline", f.Sync(), unix.EIO)
	f.Close()

	e.faults.SetFailRate(0, nil, 1)
	e.settle()
	if got := e.storeBytes(e.notebook("x").ID); !bytes.Equal(got, nb("offline save 3")) {
		t.Errorf("after the outage the store holds %q", got)
	}
	if got := e.storeBytes(e.notebook("new").ID); !bytes.Equal(got, nb("created offline")) {
		t.Errorf("new notebook after the outage: %q", got)
	}
	if st := e.status().Uploads; st.Pending != 0 || st.Retries == 0 || st.ConflictCount != 0 {
		t.Errorf("status after the outage: %+v", st)
	}
	if n := len(e.versions(e.notebook("x").ID)); n < 2 || n > 4 {
		t.Errorf("x has %d versions, want the first plus 1 to 3 saves", n)
	}
}

// Two users with write access save the same notebook from two mounts:
// both contents survive, one as the latest version and one as a conflict
// copy in the same namespace; the loser's log says so.
func TestTwoMountsConflict(t *testing.T) { forBackends(t, testTwoMountsConflict) }

func testTwoMountsConflict(t *testing.T, o envOptions) {
	o.setup = withUsers
	alice := mount(t, o)
	nbk, err := alice.client().Create(context.Background(), "acme", "x", bytes.NewReader(nb("base")), int64(len(nb("base"))), remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	carol := alice.mountAs("carol")
	pa := alice.path("owned", "acme", "x.ipynb")
	pc := carol.path("owned", "acme", "x.ipynb")
	mustRead(t, pa)
	mustRead(t, pc)

	// Both save the version they read, at the same time.
	var wg sync.WaitGroup
	for _, w := range []struct{ p, who string }{{pa, "alice"}, {pc, "carol"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mustWrite(t, w.p, nb(w.who+"'s save"))
		}()
	}
	wg.Wait()
	alice.settle()

	nbs, err := alice.client().List(context.Background(), remote.Owned, "acme")
	if err != nil {
		t.Fatal(err)
	}
	contents := map[string]bool{}
	var copies []remote.Notebook
	for _, n := range nbs {
		switch {
		case n.ID == nbk.ID:
			contents[string(readStore(t, alice, n))] = true
		case strings.HasPrefix(n.Name, "x.conflict-"):
			copies = append(copies, n)
			contents[string(readStore(t, alice, n))] = true
		default:
			t.Errorf("unexpected notebook %s", n.Name)
		}
	}
	if len(copies) != 1 || !contents[string(nb("alice's save"))] || !contents[string(nb("carol's save"))] {
		t.Fatalf("after two concurrent saves: %d conflict copies, contents %v; listing %+v", len(copies), contents, nbs)
	}
	loser := copies[0].Name[len("x.conflict-"):]
	loser = loser[:strings.IndexByte(loser, '-')]
	if loser != "alice" && loser != "carol" {
		t.Fatalf("conflict copy %q names no user", copies[0].Name)
	}
	// TileDB has no conditional write: the loser finds the winner's
	// version just before its own after writing, and writes the winner's
	// content back: base, winner, loser, winner again.
	if v := acmeVersions(t, alice, nbk.ID); len(v) != 4 {
		t.Errorf("the notebook has %d versions, want 4 (base, winner, loser, winner restored)", len(v))
	}
	// The loser's mount shows the winner's version under the name and its
	// own save as the copy, and says so in status and log.
	le := map[string]*env{"alice": alice, "carol": carol}[loser]
	winner := map[string]string{"alice": "carol", "carol": "alice"}[loser]
	if b := mustRead(t, le.path("owned", "acme", "x.ipynb")); !bytes.Equal(b, nb(winner+"'s save")) {
		t.Errorf("%s's mount reads %q, want the winner's", loser, b)
	}
	if b := mustRead(t, le.path("owned", "acme", copies[0].Name+".ipynb")); !bytes.Equal(b, nb(loser+"'s save")) {
		t.Errorf("%s's mount reads the copy as %q", loser, b)
	}
	if st := le.status().Uploads; st.ConflictCount != 1 || len(st.Conflicts) != 1 || st.Conflicts[0] != "acme/"+copies[0].Name+".ipynb" {
		t.Errorf("%s's status: %+v", loser, st)
	}
	warned := false
	for _, en := range le.logs.AllEntries() {
		warned = warned || strings.Contains(en.Message, "conflict")
	}
	if !warned {
		t.Errorf("no conflict warning in %s's log", loser)
	}
}

func acmeVersions(t *testing.T, e *env, id string) []remote.Version {
	t.Helper()
	v, err := e.client().Versions(context.Background(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readStore(t *testing.T, e *env, n remote.Notebook) []byte {
	t.Helper()
	c, err := e.client().Read(context.Background(), n.Namespace, n.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// --on-conflict=overwrite keeps the old behaviour: the later save wins.
func TestConflictOverwrite(t *testing.T) {
	alice := mount(t, envOptions{setup: withUsers, overwrite: true})
	nbk, err := alice.client().Create(context.Background(), "acme", "x", bytes.NewReader(nb("base")), int64(len(nb("base"))), remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	carol := alice.mountAs("carol")
	mustRead(t, carol.path("owned", "acme", "x.ipynb"))
	mustWrite(t, alice.path("owned", "acme", "x.ipynb"), nb("alice's save"))
	alice.settle()
	mustWrite(t, carol.path("owned", "acme", "x.ipynb"), nb("carol's save"))
	carol.settle()
	nbs, err := alice.client().List(context.Background(), remote.Owned, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(nbs) != 1 || !bytes.Equal(readStore(t, alice, nbs[0]), nb("carol's save")) || len(acmeVersions(t, alice, nbk.ID)) != 3 {
		t.Errorf("overwrite: %d notebooks, latest %q", len(nbs), readStore(t, alice, nbs[0]))
	}
}

// The soak: against a server failing 30% of requests with
// 20 ms of latency, 4 writers save 20 notebooks 500 times in all; every
// notebook ends with its last save, each save reads back at once, and no
// syscall takes longer than the call deadline.
func TestSoakFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	e := mount(t, envOptions{remote: true, faultRate: 0.3, latency: 20 * time.Millisecond})
	const writers, perWriter, saves = 4, 5, 500
	ids := map[string]string{}
	for w := 0; w < writers; w++ {
		for i := 0; i < perWriter; i++ {
			name := fmt.Sprintf("w%d-%d", w, i)
			ids[name] = e.put(name, nb(name+" v0")).ID
		}
	}
	// Faults of the Go client too (the server's are mostly absorbed by the
	// cloud client's own retries): the write-back must retry them.
	e.faults.SetFailRate(0.1, errors.New("connection reset by peer"), 3)
	var (
		mu      sync.Mutex
		last    = map[string][]byte{}
		slowest time.Duration
		wg      sync.WaitGroup
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for s := 0; s < saves/writers; s++ {
				name := fmt.Sprintf("w%d-%d", w, rng.IntN(perWriter))
				data := bytes.Repeat(nb(fmt.Sprintf("%s save %d", name, s)), 1+rng.IntN(40))
				// A little think time, so uploads interleave with saves
				// instead of all coalescing.
				time.Sleep(time.Duration(rng.IntN(8)) * time.Millisecond)
				start := time.Now()
				err := os.WriteFile(e.ns(name+".ipynb"), data, 0o644)
				var got []byte
				if err == nil {
					got, err = os.ReadFile(e.ns(name + ".ipynb"))
				}
				took := time.Since(start)
				mu.Lock()
				slowest = max(slowest, took)
				if err == nil {
					last[name] = data
				}
				mu.Unlock()
				if err != nil {
					t.Errorf("%s save %d: %v", name, s, err)
					return
				}
				if !bytes.Equal(got, data) {
					t.Errorf("%s save %d read back %d bytes, want %d", name, s, len(got), len(data))
				}
			}
		}()
	}
	wg.Wait()
	e.faults.SetFailRate(0, nil, 3)
	e.settle()
	st := e.status().Uploads
	lost := 0
	for name, want := range last {
		if got := e.storeBytes(ids[name]); !bytes.Equal(got, want) {
			lost++
			t.Errorf("%s: latest version is %d bytes, not its last save (%d)", name, len(got), len(want))
		}
	}
	if n := len(e.notebooks()); n != writers*perWriter {
		t.Errorf("store holds %d notebooks, want %d (no conflict copies)", n, writers*perWriter)
	}
	if slowest > time.Minute {
		t.Errorf("slowest save+read took %v, more than the call deadline", slowest)
	}
	t.Logf("soak: %d saves, %d uploaded, %d coalesced, %d faults injected by the server and %d upload retries, %d conflicts, %d lost; slowest syscall pair %v",
		saves, st.Uploaded, st.Coalesced, serverFaults(t, e.url), st.Retries, st.ConflictCount, lost, slowest.Round(time.Millisecond))
}

// serverFaults sums the faults the server injected, from its /metrics.
func serverFaults(t *testing.T, url string) int64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var total int64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "notebookfs_server_faults_injected_total{") {
			n, _ := strconv.ParseInt(line[strings.LastIndexByte(line, ' ')+1:], 10, 64)
			total += n
		}
	}
	return total
}

// A journal entry damaged on disk is reported and never uploaded; the
// intact ones are.
func TestCorruptJournalEntry(t *testing.T) {
	e := mount(t, envOptions{})
	e.put("x", nb("v0"))
	e.put("y", nb("y0"))
	mustRead(t, e.ns("x.ipynb"))
	mustRead(t, e.ns("y.ipynb"))
	e.faults.SetFailRate(1, errors.New("offline"), 1)
	mustWrite(t, e.ns("x.ipynb"), nb("x saved"))
	mustWrite(t, e.ns("y.ipynb"), nb("y saved"))
	// Stop without the uploads (as a crash would), then damage x's entry.
	e.crash()
	data, _ := filepath.Glob(filepath.Join(e.stateDir, "journal", "*.data"))
	if len(data) != 2 {
		t.Fatalf("journal holds %d entries, want 2: %v", len(data), data)
	}
	damaged := ""
	for _, p := range data {
		if b, _ := os.ReadFile(p); bytes.Equal(b, nb("x saved")) {
			damaged = p
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o600)
		}
	}
	if damaged == "" {
		t.Fatal("x's entry not found")
	}
	e.mountFS()
	e.settle()
	if got := e.storeBytes(e.notebook("x").ID); !bytes.Equal(got, nb("v0")) {
		t.Errorf("a corrupt entry was uploaded: %q", got)
	}
	if got := e.storeBytes(e.notebook("y").ID); !bytes.Equal(got, nb("y saved")) {
		t.Errorf("the intact entry was not uploaded: %q", got)
	}
	if st := e.status(); st.CorruptEntries != 1 {
		t.Errorf("status reports %d corrupt entries, want 1", st.CorruptEntries)
	}
	if m, _ := filepath.Glob(filepath.Join(e.stateDir, "journal", "corrupt", "*-"+filepath.Base(damaged))); len(m) != 1 {
		t.Errorf("the corrupt entry was not set aside: %v", m)
	}
}

// After a crash, saves still in the journal show at once, before their
// upload and with the remote unreachable: an existing notebook with its
// pending content, a new one in the listing; back online they upload.
func TestPendingSavesShowAfterRestart(t *testing.T) {
	e := mount(t, envOptions{})
	e.put("x", nb("v0"))
	readDir(t, e.ns())
	e.faults.SetFailRate(1, errors.New("offline"), 1)
	mustWrite(t, e.ns("x.ipynb"), nb("x edited"))
	mustWrite(t, e.ns("fresh.ipynb"), nb("created before the crash"))
	e.crash()
	e.opts.offline = true
	e.mountFS()
	if got := strings.Join(readDir(t, e.ns()), ","); got != "fresh.ipynb,x.ipynb" {
		t.Fatalf("after the restart, offline: %s", got)
	}
	if b := mustRead(t, e.ns("fresh.ipynb")); !bytes.Equal(b, nb("created before the crash")) {
		t.Errorf("fresh.ipynb reads %q", b)
	}
	if b := mustRead(t, e.ns("x.ipynb")); !bytes.Equal(b, nb("x edited")) {
		t.Errorf("x.ipynb reads %q", b)
	}
	e.faults.SetFailRate(0, nil, 1)
	e.settle()
	if got := e.storeBytes(e.notebook("fresh").ID); !bytes.Equal(got, nb("created before the crash")) {
		t.Errorf("fresh in the store: %q", got)
	}
	if got := e.storeBytes(e.notebook("x").ID); !bytes.Equal(got, nb("x edited")) {
		t.Errorf("x in the store: %q", got)
	}
	if got := strings.Join(readDir(t, e.ns()), ","); got != "fresh.ipynb,x.ipynb" {
		t.Errorf("after the uploads: %s", got)
	}
}
