//go:build linux

package test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// loadDuration is how long TestServeLoad runs: 15 s, or
// NOTEBOOKFS_LOAD_SECONDS (the README's figures are of a 60 s run).
func loadDuration(t *testing.T) time.Duration {
	s := os.Getenv("NOTEBOOKFS_LOAD_SECONDS")
	if s == "" {
		return 15 * time.Second
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 600 {
		t.Fatalf("NOTEBOOKFS_LOAD_SECONDS=%q: want 1 to 600", s)
	}
	return time.Duration(n) * time.Second
}

// procKB reads a "Name:  N kB" line of /proc/PID/status.
func procKB(pid int, name string) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// loadStats collects what the clients saw.
type loadStats struct {
	mu        sync.Mutex
	latencies []time.Duration   // completed requests of well-behaved clients
	byOp      map[string]int    // of those, by operation
	failures  []string          // well-behaved requests that failed (not 503)
	busy      int               // 503s answered to well-behaved saves (retried)
	abuse     map[string]int    // replies to the abusive clients, by status
	saves     map[string][]byte // id -> sha256 of every acknowledged save
	saveNS    map[string]string // id -> namespace
}

func (s *loadStats) done(op string, d time.Duration) {
	s.mu.Lock()
	s.latencies = append(s.latencies, d)
	s.byOp[op]++
	s.mu.Unlock()
}

func (s *loadStats) fail(format string, a ...any) {
	s.mu.Lock()
	if len(s.failures) < 20 {
		s.failures = append(s.failures, fmt.Sprintf(format, a...))
	} else {
		s.failures = append(s.failures[:20], "...")
	}
	s.mu.Unlock()
}

// The load and abuse test of "notebookfs serve": 200 concurrent clients
// on loopback for loadDuration, 160 mixing listings, reads and saves as
// fast as they are answered, 20 sending their upload bodies at 200 B/s and
// 20 announcing 4 MiB and sending nothing (each starts again once cut).
// It reports requests per second, p50/p99 latency of the well-behaved
// requests and the server's peak RSS; every acknowledged save must read
// back as sent, and the RSS stay under 300 MB.
func TestServeLoad(t *testing.T) {
	const (
		clients   = 200
		slowFrom  = 160 // clients 160..179 send slowly
		idleFrom  = 180 // clients 180..199 send nothing
		users     = 40  // 4 well-behaved clients each
		maxRSSKB  = 300 << 10
		slowBytes = 100 // per half second
	)
	dur := loadDuration(t)
	c := newCLI(t)
	dir := filepath.Join(t.TempDir(), "data")
	tokens := make([]string, users)
	for i := range tokens {
		tokens[i] = strings.TrimSpace(c.ok("user", "add", "--data", dir, fmt.Sprintf("u%d", i)))
	}
	abuser := strings.TrimSpace(c.ok("user", "add", "--data", dir, "mallory"))
	abuser2 := strings.TrimSpace(c.ok("user", "add", "--data", dir, "trudy"))
	cmd, url := startServeProcess(t, c.bin, dir)
	pid := cmd.Process.Pid
	addr := strings.TrimPrefix(url, "http://")

	st := &loadStats{byOp: map[string]int{}, abuse: map[string]int{}, saves: map[string][]byte{}, saveNS: map[string]string{}}
	var seedMu sync.Mutex
	seeded := map[int][]string{} // user -> ids
	hc := &http.Client{Timeout: time.Minute}
	for u := range users {
		for j := range 2 {
			id, _, err := loadUpload(hc, url, tokens[u], fmt.Sprintf("u%d", u), fmt.Sprintf("seed%d", j), randomNotebook(rand.New(rand.NewPCG(uint64(u), uint64(j)))))
			if err != nil {
				t.Fatal(err)
			}
			seeded[u] = append(seeded[u], id)
		}
	}

	var peakKB int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			peakKB = max(peakKB, procKB(pid, "VmRSS"))
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()
	startKB := procKB(pid, "VmRSS")

	start := time.Now()
	end := start.Add(dur)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			switch {
			case i >= idleFrom:
				loadAbuser(st, addr, abuser2, fmt.Sprintf("nobody%d", i), end, 4<<20, 0)
			case i >= slowFrom:
				loadAbuser(st, addr, abuser, fmt.Sprintf("slow%d", i), end, 256<<10, slowBytes)
			default:
				u := i % users
				ns := fmt.Sprintf("u%d", u)
				// One connection per client, as 200 separate programs.
				cl := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
				defer cl.CloseIdleConnections()
				seedMu.Lock()
				mine := slices.Clone(seeded[u])
				seedMu.Unlock()
				for n := 0; time.Now().Before(end) && n < 1_000_000; n++ {
					t0 := time.Now()
					switch p := rng.IntN(10); {
					case p < 5:
						code, err := loadGet(cl, url+"/v1/arrays/browser/owned?file_type=notebook&per_page=100&page=1&namespace="+ns, tokens[u], nil)
						if err != nil || code != 200 {
							st.fail("listing: %d %v", code, err)
							continue
						}
						st.done("list", time.Since(t0))
					case p < 8:
						id := mine[rng.IntN(len(mine))]
						code, err := loadGet(cl, url+"/v1/arrays/"+ns+"/"+id+"/query/get_file", tokens[u], nil)
						if err != nil || code != 200 {
							st.fail("read %s: %d %v", id, code, err)
							continue
						}
						st.done("read", time.Since(t0))
					default:
						data := randomNotebook(rng)
						id, code, err := loadUpload(cl, url, tokens[u], ns, fmt.Sprintf("c%d-%d", i, n), data)
						if code == http.StatusServiceUnavailable {
							st.mu.Lock()
							st.busy++
							st.mu.Unlock()
							time.Sleep(time.Second) // Retry-After: 1
							continue
						}
						if err != nil {
							st.fail("save: %d %v", code, err)
							continue
						}
						st.done("save", time.Since(t0))
						sum := sha256.Sum256(data)
						st.mu.Lock()
						st.saves[id], st.saveNS[id] = sum[:], ns
						st.mu.Unlock()
						mine = append(mine, id)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled
	peakKB = max(peakKB, procKB(pid, "VmHWM"))

	// Every acknowledged save reads back as sent.
	st.mu.Lock()
	ids := make([]string, 0, len(st.saves))
	for id := range st.saves {
		ids = append(ids, id)
	}
	st.mu.Unlock()
	var vmu sync.Mutex
	var bad []string
	var vwg sync.WaitGroup
	for w := range 8 {
		vwg.Add(1)
		go func() {
			defer vwg.Done()
			for k := w; k < len(ids); k += 8 {
				id := ids[k]
				ns := st.saveNS[id]
				u, _ := strconv.Atoi(strings.TrimPrefix(ns, "u"))
				var body bytes.Buffer
				code, err := loadGet(hc, url+"/v1/arrays/"+ns+"/"+id+"/query/get_file", tokens[u], &body)
				sum := sha256.Sum256(body.Bytes())
				if err != nil || code != 200 || !bytes.Equal(sum[:], st.saves[id]) {
					vmu.Lock()
					bad = append(bad, fmt.Sprintf("%s/%s: %d %v", ns, id, code, err))
					vmu.Unlock()
				}
			}
		}()
	}
	vwg.Wait()

	lat := slices.Clone(st.latencies)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	t.Logf("serve load: %v, %d clients (%d well-behaved, %d slow bodies, %d without bodies)", elapsed.Round(time.Second), clients, slowFrom, idleFrom-slowFrom, clients-idleFrom)
	t.Logf("serve load: %d requests (%d listings, %d reads, %d saves) = %.0f req/s; p50 %v, p99 %v; %d saves answered 503 (retried)",
		len(lat), st.byOp["list"], st.byOp["read"], st.byOp["save"], float64(len(lat))/elapsed.Seconds(),
		pct(0.50).Round(100*time.Microsecond), pct(0.99).Round(100*time.Microsecond), st.busy)
	t.Logf("serve load: abusive uploads answered %v", st.abuse)
	t.Logf("serve load: RSS %d MB at start, peak %d MB; %d saves read back", startKB>>10, peakKB>>10, len(ids))

	if len(st.failures) > 0 {
		t.Errorf("well-behaved requests failed: %q", st.failures)
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d acknowledged saves do not read back: %q", len(bad), len(ids), bad[:min(len(bad), 10)])
	}
	if peakKB > maxRSSKB {
		t.Errorf("peak RSS %d MB, limit %d MB", peakKB>>10, maxRSSKB>>10)
	}
	if st.byOp["save"] == 0 || st.byOp["read"] == 0 || st.byOp["list"] == 0 {
		t.Errorf("some operation never completed: %v", st.byOp)
	}
}

// randomNotebook is a notebook of 1 to 64 KiB.
func randomNotebook(rng *rand.Rand) []byte {
	n := 1<<10 + rng.IntN(63<<10)
	var b bytes.Buffer
	b.WriteString(`{"cells":[{"cell_type":"code","source":"`)
	for b.Len() < n {
		b.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789 "[rng.IntN(37)])
	}
	b.WriteString(`"}],"metadata":{},"nbformat":4,"nbformat_minor":5}`)
	return b.Bytes()
}

// loadGet GETs u with a token, copying the body to out (if any).
func loadGet(cl *http.Client, u, token string, out io.Writer) (int, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-TILEDB-REST-API-KEY", token)
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out == nil {
		out = io.Discard
	}
	_, err = io.Copy(out, resp.Body)
	return resp.StatusCode, err
}

// loadUpload creates a notebook and returns its id.
func loadUpload(cl *http.Client, url, token, ns, name string, data []byte) (string, int, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/v2/notebooks/"+ns+"/"+name+"/upload?filesize="+strconv.Itoa(len(data)), bytes.NewReader(data))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("X-TILEDB-REST-API-KEY", token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := cl.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", resp.StatusCode, fmt.Errorf("upload: %d %s", resp.StatusCode, body)
	}
	i := bytes.Index(body, []byte(`"id":"`))
	if i < 0 {
		return "", resp.StatusCode, fmt.Errorf("upload reply without id: %s", body)
	}
	id := string(body[i+6:])
	return id[:strings.IndexByte(id, '"')], resp.StatusCode, nil
}

// loadAbuser sends, until end, uploads announcing size bytes whose body
// comes at perHalfSecond bytes every half second (0: never), each on a new
// connection once the server has answered or cut the previous one.
func loadAbuser(st *loadStats, addr, token, name string, end time.Time, size, perHalfSecond int) {
	for n := 0; time.Now().Before(end); n++ {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			st.mu.Lock()
			st.abuse["dial error"]++
			st.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		conn.SetDeadline(end)
		fmt.Fprintf(conn, "POST /v2/notebooks/%s/%s-%d/upload?filesize=%d HTTP/1.1\r\nHost: x\r\nX-TILEDB-REST-API-KEY: %s\r\nContent-Length: %d\r\n\r\n",
			loadNS(name), name, n, size, token, size)
		stop := make(chan struct{})
		if perHalfSecond > 0 {
			go func() {
				chunk := bytes.Repeat([]byte(" "), perHalfSecond)
				for {
					select {
					case <-stop:
						return
					case <-time.After(500 * time.Millisecond):
						if _, err := conn.Write(chunk); err != nil {
							return
						}
					}
				}
			}()
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		close(stop)
		outcome := "cut without reply"
		if err == nil {
			outcome = strconv.Itoa(resp.StatusCode)
			resp.Body.Close()
		} else if time.Now().After(end) {
			outcome = "" // the test ended first
		}
		conn.Close()
		if outcome != "" {
			st.mu.Lock()
			st.abuse[strings.TrimRight(name, "0123456789")+" "+outcome]++
			st.mu.Unlock()
		}
		if outcome == "503" {
			time.Sleep(time.Second)
		}
	}
}

// loadNS is the abusive clients' namespace: each uploads into its own
// user's (mallory for slow bodies, trudy for none).
func loadNS(name string) string {
	if strings.HasPrefix(name, "slow") {
		return "mallory"
	}
	return "trudy"
}
