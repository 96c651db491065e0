package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressThreshold is the transfer size above which a progress bar is
// shown (on a terminal only).
const progressThreshold = 4 << 20

// isTerminal reports whether f is a terminal (not merely a character
// device such as /dev/null).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// progress counts bytes through a reader and draws a bar on out.
type progress struct {
	io.Reader
	out   io.Writer
	label string
	total int64

	mu   sync.Mutex
	done int64
	last time.Time
}

// withProgress wraps r with a bar on stderr when stderr is a terminal and
// total is over the threshold; else it returns r and a no-op finish.
func withProgress(r io.Reader, total int64, label string) (io.Reader, func()) {
	if total <= progressThreshold || !isTerminal(os.Stderr) {
		return r, func() {}
	}
	p := &progress{Reader: r, out: os.Stderr, label: label, total: total}
	return p, p.finish
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.Reader.Read(b)
	p.mu.Lock()
	p.done += int64(n)
	if time.Since(p.last) > 100*time.Millisecond {
		p.last = time.Now()
		p.draw()
	}
	p.mu.Unlock()
	return n, err
}

func (p *progress) draw() {
	const width = 30
	frac := float64(p.done) / float64(p.total)
	if frac > 1 {
		frac = 1
	}
	fill := int(frac * width)
	fmt.Fprintf(p.out, "\r%s [%s%s] %3.0f%% %s/%s", p.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		frac*100, humanBytes(p.done), humanBytes(p.total))
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
	fmt.Fprintln(p.out)
}

// humanBytes is n in B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
