// Command staleness measures how long after another client saved a new
// version of a file a mount serves it. test/bench/staleness.sh runs it.
//
// It saves version 0 and waits until the mount serves it; then a reader
// reads -read every -interval while a writer saves -changes new versions,
// each after a random pause of 0 to -gap-max (so the changes fall at random
// moments of the mount's cache cycle), and never waits for the reader. A
// save is one run of -write-cmd (sh -c, the content on stdin; e.g.
// 'notebookfs upload --overwrite - tiledb://alice/x') or, with -write-file,
// a write to a temporary file in -tmp-dir renamed over that path (an
// atomic change of an origin folder). The delay of change i is the end of
// the first read that returned version i or a later one, minus the moment
// the save of version i returned. Changes not served within -give-up after
// the last save are reported as unseen.
//
// The reader either opens, reads and closes the file each time (as an
// editor reopening it, or cat), or with -keep-open opens it once and
// re-reads it from offset 0 with pread on that descriptor (as editors that
// keep a file open). Every read is compared with every version written:
// a read that is none of them exactly (a mix, a truncation) counts as
// torn; a read older than one already seen counts as a step back.
//
// Every version is a valid notebook of a different size than the one
// before (sizes go up and down at random), so that a cache keyed on size
// and a one-second mtime still sees each change.
//
// It prints one tab-separated line: changes, seen, min, median, p90, max
// (seconds, 3 decimals; ">X" where the value lies among unseen changes,
// X the smallest wait of those), reads, torn, step-backs, read errors,
// median save time; then, on stderr, one line per change unless -quiet.
//
// Usage: staleness -read PATH (-write-cmd CMD | -write-file PATH -tmp-dir DIR)
// [-keep-open] [-changes 50] [-gap-max 2s] [-interval 75ms] [-give-up 10s] [-seed S]
package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

type options struct {
	read      string
	writeCmd  string
	writeFile string
	tmpDir    string
	keepOpen  bool
	changes   int
	gapMax    time.Duration
	interval  time.Duration
	giveUp    time.Duration
	warmUp    time.Duration
	seed      uint64
	quiet     bool
}

func main() {
	var o options
	flag.StringVar(&o.read, "read", "", "the file as the mount serves it")
	flag.StringVar(&o.writeCmd, "write-cmd", "", "sh -c command that saves its stdin as a new version")
	flag.StringVar(&o.writeFile, "write-file", "", "save by renaming a new file over this path")
	flag.StringVar(&o.tmpDir, "tmp-dir", "", "where -write-file writes before the rename (same file system)")
	flag.BoolVar(&o.keepOpen, "keep-open", false, "open the file once and pread it from that descriptor")
	flag.IntVar(&o.changes, "changes", 50, "how many new versions to save")
	flag.DurationVar(&o.gapMax, "gap-max", 2*time.Second, "pause before each save: uniform in [0, gap-max]")
	flag.DurationVar(&o.interval, "interval", 75*time.Millisecond, "pause between reads")
	flag.DurationVar(&o.giveUp, "give-up", 10*time.Second, "how long after the last save to wait for the reader")
	flag.DurationVar(&o.warmUp, "warm-up", 10*time.Minute, "how long to wait until the mount serves version 0")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed (pauses and sizes)")
	flag.BoolVar(&o.quiet, "quiet", false, "no line per change on stderr")
	flag.Parse()
	if o.read == "" || (o.writeCmd == "") == (o.writeFile == "") || (o.writeFile != "" && o.tmpDir == "") || o.changes < 1 || o.interval <= 0 {
		fmt.Fprintln(os.Stderr, "usage: staleness -read PATH (-write-cmd CMD | -write-file PATH -tmp-dir DIR) [-keep-open] [-changes N] [-gap-max D] [-interval D] [-give-up D] [-seed S]")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "staleness:", err)
		os.Exit(1)
	}
}

// bench holds the shared state of the reader and the writer.
type bench struct {
	o       options
	rng     *rand.Rand
	lastLen int // size of the last version saved

	mu       sync.Mutex
	versions map[[32]byte]int // content hash -> version number
	contents [][]byte         // version i's bytes
	saved    []time.Time      // when the save of version i returned
	saveDur  []time.Duration
	seen     []time.Time // first read of version i or later
	maxSeen  int         // highest version read so far; -1 before any
	reads    int
	torn     int
	back     int
	errs     int
	errMsgs  []string
	tornMsgs []string
}

func run(o options) error {
	r := &bench{o: o, rng: rand.New(rand.NewPCG(o.seed, 0x5eed)), versions: map[[32]byte]int{}, maxSeen: -1, lastLen: -1}
	r.saved = make([]time.Time, o.changes+1)
	r.saveDur = make([]time.Duration, o.changes+1)
	r.seen = make([]time.Time, o.changes+1)

	// Version 0, then wait until the mount serves it by reopening: this
	// also warms whatever the mount caches.
	if err := r.save(0); err != nil {
		return err
	}
	deadline := time.Now().Add(o.warmUp)
	for {
		b, err := os.ReadFile(o.read)
		if err == nil && r.versionOf(b) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the mount did not serve version 0 within %v (last error: %v)", o.warmUp, err)
		}
		time.Sleep(o.interval)
	}
	r.mu.Lock()
	r.seen[0], r.maxSeen = time.Now(), 0
	r.mu.Unlock()

	var fd *os.File
	if o.keepOpen {
		f, err := os.Open(o.read)
		if err != nil {
			return err
		}
		defer f.Close()
		fd = f
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.readLoop(fd, stop)
	}()

	var writeErr error
	for i := 1; i <= o.changes; i++ {
		time.Sleep(time.Duration(r.rng.Int64N(int64(o.gapMax) + 1)))
		if writeErr = r.save(i); writeErr != nil {
			break
		}
	}
	end := time.Now().Add(o.giveUp)
	for time.Now().Before(end) && writeErr == nil {
		r.mu.Lock()
		all := r.maxSeen >= o.changes
		r.mu.Unlock()
		if all {
			break
		}
		time.Sleep(o.interval)
	}
	close(stop)
	<-done
	if writeErr != nil {
		return writeErr
	}
	r.report(time.Now())
	return nil
}

// content is version i: a notebook whose size differs from version i-1's.
func (r *bench) content(i int, prevLen int) []byte {
	for {
		pad := strings.Repeat("x", r.rng.IntN(400))
		b := fmt.Appendf(nil, `{"cells":[{"cell_type":"markdown","metadata":{},"source":["change %d %s"]}],"metadata":{},"nbformat":4,"nbformat_minor":5}`+"\n", i, pad)
		if len(b) != prevLen {
			return b
		}
	}
}

// save writes version i and records when the save returned.
func (r *bench) save(i int) error {
	b := r.content(i, r.lastLen)
	r.lastLen = len(b)
	r.mu.Lock()
	r.versions[sha256.Sum256(b)] = i
	r.contents = append(r.contents, b)
	r.mu.Unlock()
	start := time.Now()
	if r.o.writeCmd != "" {
		cmd := exec.Command("sh", "-c", r.o.writeCmd)
		cmd.Stdin = bytes.NewReader(b)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("saving version %d: %w: %s", i, err, strings.TrimSpace(stderr.String()))
		}
	} else {
		tmp := filepath.Join(r.o.tmpDir, fmt.Sprintf(".staleness-%d", i))
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return fmt.Errorf("saving version %d: %w", i, err)
		}
		if err := os.Rename(tmp, r.o.writeFile); err != nil {
			return fmt.Errorf("saving version %d: %w", i, err)
		}
	}
	end := time.Now()
	r.mu.Lock()
	r.saved[i], r.saveDur[i] = end, end.Sub(start)
	r.mu.Unlock()
	return nil
}

// versionOf is the version b is exactly, or -1.
func (r *bench) versionOf(b []byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.versions[sha256.Sum256(b)]; ok {
		return v
	}
	return -1
}

func (r *bench) readLoop(fd *os.File, stop <-chan struct{}) {
	buf := make([]byte, 1<<20)
	for {
		select {
		case <-stop:
			return
		default:
		}
		var b []byte
		var err error
		if fd != nil {
			var n int
			n, err = fd.ReadAt(buf, 0)
			if errors.Is(err, io.EOF) {
				err = nil
			}
			b = buf[:n]
		} else {
			b, err = os.ReadFile(r.o.read)
		}
		at := time.Now()
		v := -1
		if err == nil {
			v = r.versionOf(b)
		}
		r.mu.Lock()
		r.reads++
		switch {
		case err != nil:
			r.errs++
			if len(r.errMsgs) < 3 {
				r.errMsgs = append(r.errMsgs, err.Error())
			}
		case v < 0:
			r.torn++
			if len(r.tornMsgs) < 3 {
				r.tornMsgs = append(r.tornMsgs, r.describeTornLocked(b, at))
			}
		case v < r.maxSeen:
			r.back++
		case v > r.maxSeen:
			for i := r.maxSeen + 1; i <= v; i++ {
				r.seen[i] = at
			}
			r.maxSeen = v
		}
		r.mu.Unlock()
		time.Sleep(r.o.interval)
	}
}

// describeTornLocked says what a read that matched no version was: a
// version cut short, or one with more bytes after it, or a mix.
func (r *bench) describeTornLocked(b []byte, at time.Time) string {
	what := ""
	for k := len(r.contents) - 1; k >= 0 && what == ""; k-- {
		c := r.contents[k]
		switch {
		case len(b) < len(c) && bytes.Equal(c[:len(b)], b):
			what = fmt.Sprintf("the first %d bytes of version %d (%d bytes)", len(b), k, len(c))
		case len(b) > len(c) && bytes.Equal(b[:len(c)], c):
			kind := "more bytes"
			if len(bytes.Trim(b[len(c):], "\x00")) == 0 {
				kind = "zero bytes"
			}
			what = fmt.Sprintf("version %d (%d bytes) and %d %s", k, len(c), len(b)-len(c), kind)
		}
	}
	if what == "" {
		what = fmt.Sprintf("%d bytes, no version's prefix", len(b))
	}
	last := len(r.contents) - 1
	sizes := ""
	for k := max(0, r.maxSeen-1); k <= last; k++ {
		sizes += fmt.Sprintf(" v%d=%d", k, len(r.contents[k]))
	}
	ago := "not returned yet"
	if !r.saved[last].IsZero() {
		ago = fmt.Sprintf("returned %.3f s before", at.Sub(r.saved[last]).Seconds())
	}
	return fmt.Sprintf("%s; newest read before: version %d; newest saved: version %d (its save %s); sizes%s", what, r.maxSeen, last, ago, sizes)
}

type delay struct {
	d      time.Duration
	unseen bool // d is how long it had waited when the run ended
}

func (r *bench) report(end time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ds []delay
	nSeen := 0
	for i := 1; i <= r.o.changes; i++ {
		d := delay{}
		if r.seen[i].IsZero() {
			d = delay{d: end.Sub(r.saved[i]), unseen: true}
		} else {
			d.d = r.seen[i].Sub(r.saved[i])
			nSeen++
		}
		ds = append(ds, d)
		if !r.o.quiet {
			state := "served after"
			if d.unseen {
				state = "NOT served within"
			}
			fmt.Fprintf(os.Stderr, "change %2d: saved in %.3f s, %s %.3f s\n", i, r.saveDur[i].Seconds(), state, d.d.Seconds())
		}
	}
	// Unseen changes sort after every seen one: their delay is at least
	// their wait, which may be less than a seen one's.
	minUnseen := time.Duration(-1)
	for _, d := range ds {
		if d.unseen && (minUnseen < 0 || d.d < minUnseen) {
			minUnseen = d.d
		}
	}
	slices.SortFunc(ds, func(a, b delay) int {
		if a.unseen != b.unseen {
			if a.unseen {
				return 1
			}
			return -1
		}
		return int(a.d - b.d)
	})
	at := func(q float64) string { // nearest rank
		k := int(q*float64(len(ds))+0.999999) - 1
		k = max(0, min(k, len(ds)-1))
		if ds[k].unseen {
			return fmt.Sprintf(">%.3f", minUnseen.Seconds())
		}
		return fmt.Sprintf("%.3f", ds[k].d.Seconds())
	}
	durs := slices.Clone(r.saveDur[1:])
	slices.Sort(durs)
	for _, m := range r.errMsgs {
		fmt.Fprintln(os.Stderr, "read error:", m)
	}
	for _, m := range r.tornMsgs {
		fmt.Fprintln(os.Stderr, "torn read:", m)
	}
	fmt.Printf("%d\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.3f\n", r.o.changes, nSeen, at(0), at(0.5), at(0.9), at(1),
		r.reads, r.torn, r.back, r.errs, durs[len(durs)/2].Seconds())
}
