package fs

import (
	"time"

	"notebookfs/remote"
)

// pollRecent is how long after its last use a namespace stays polled:
// editors keep a notebook open for hours, but a namespace nobody looked
// at for a while costs requests for nothing.
const pollRecent = 30 * time.Minute

// touch records that the namespace was used now.
func (d *Namespace) touch() {
	d.mu.Lock()
	d.used = d.fs.now()
	d.mu.Unlock()
}

// Poll refreshes, in the background, the listing of every namespace used
// within the last pollRecent, so that remote changes reach the kernel
// (and editors that keep a file open) without any access. --poll-interval
// calls it on a ticker; tests call it themselves.
func (f *FS) Poll() {
	now := f.now()
	for _, c := range remote.Categories {
		cat := f.cats[c]
		if cat == nil {
			continue
		}
		cat.mu.Lock()
		var recent []*Namespace
		for _, d := range cat.children {
			d.mu.Lock()
			if !d.used.IsZero() && now.Sub(d.used) < pollRecent {
				recent = append(recent, d)
			}
			d.mu.Unlock()
		}
		cat.mu.Unlock()
		for _, d := range recent {
			d.refreshInBackground()
		}
	}
}

// pollEvery runs Poll every interval until stop is closed.
func (f *FS) pollEvery(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f.Poll()
		case <-stop:
			return
		}
	}
}
