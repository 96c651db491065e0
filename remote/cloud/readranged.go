package cloud

import (
	"context"
	"fmt"
	"io"
	"sync"

	"notebookfs/remote"
)

// A notebook over rangedAbove bytes is read as several READs of
// consecutive ranges at once, as mountpoint-s3 reads large objects: one
// connection's throughput (its TCP window over the round trip) no longer
// bounds the read, and over HTTP/2 the ranges share one connection. At
// most Parallel ranges are in flight or waiting to be read, each of
// rangeMin to rangeMax bytes, so a read holds at most Parallel × rangeMax
// bytes whatever the notebook's size.
const (
	rangedAbove = 1 << 20
	rangeMin    = 512 << 10
	rangeMax    = 2 << 20
)

// rangeSize is the length of each range of a read of size bytes: the
// notebook spread over parallel ranges, within [rangeMin, rangeMax].
func rangeSize(size int64, parallel int) int64 {
	n := (size + int64(parallel) - 1) / int64(parallel)
	return min(max(n, rangeMin), rangeMax)
}

// readRanged reads contents [0, size-1] as of readTS, labelled version, as
// concurrent range READs delivered in order. It returns once the first
// range has arrived, so that a server without the array protocol is met
// as readPinned meets it (the get_file fallback for a latest read).
func (c *Client) readRanged(ctx context.Context, ns, id string, size int64, version, readTS uint64, latest bool) (*remote.Content, error) {
	piece := rangeSize(size, c.parallel)
	rctx, cancel := context.WithCancel(ctx)
	r := &rangedReader{ctx: rctx, cancel: cancel, window: c.parallel}
	for start := int64(0); start < size; start += piece {
		r.pieces = append(r.pieces, &rangePiece{start: uint64(start), n: uint64(min(piece, size-start)), done: make(chan struct{})})
	}
	r.fetch = func(p *rangePiece) {
		defer r.wg.Done()
		defer close(p.done)
		ar, err := c.newArrayReader(rctx, ns, id, p.start, p.n, readTS)
		if err != nil {
			p.err = err
			return
		}
		defer ar.Close()
		if p.data, err = ar.readAll(); err != nil {
			p.data, p.err = nil, fmt.Errorf("read %s/%s: bytes %d-%d: %w", ns, id, p.start, p.start+p.n-1, err)
		}
	}
	for i := range min(r.window, len(r.pieces)) {
		r.launch(i)
	}
	first := r.pieces[0]
	select {
	case <-first.done:
	case <-ctx.Done():
		r.Close()
		return nil, fmt.Errorf("read %s/%s: %w", ns, id, ctx.Err())
	}
	if err := first.err; err != nil {
		r.Close()
		if latest && arrayProtoMissing(err) {
			return c.readFileAt(ctx, ns, id, version, err)
		}
		return nil, err
	}
	return &remote.Content{ReadCloser: r, Size: size, Version: msTime(version)}, nil
}

// rangePiece is one range of a ranged read: cells [start, start+n-1].
type rangePiece struct {
	start, n uint64
	done     chan struct{} // closed once data or err is set
	data     []byte
	err      error
}

// rangedReader delivers a ranged read's pieces in order, starting the
// fetch of piece i+window once piece i is being delivered.
type rangedReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	pieces []*rangePiece
	window int
	fetch  func(*rangePiece)
	wg     sync.WaitGroup

	next int    // the piece to deliver after cur
	cur  []byte // of the piece being delivered
	err  error
}

func (r *rangedReader) launch(i int) {
	r.wg.Add(1)
	go r.fetch(r.pieces[i])
}

func (r *rangedReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next == len(r.pieces) {
			return 0, io.EOF
		}
		pc := r.pieces[r.next]
		select {
		case <-pc.done:
		case <-r.ctx.Done():
			r.err = fmt.Errorf("ranged read: %w", r.ctx.Err())
			return 0, r.err
		}
		if pc.err != nil {
			r.err = pc.err
			r.cancel()
			return 0, r.err
		}
		r.cur, pc.data = pc.data, nil
		if k := r.next + r.window; k < len(r.pieces) {
			r.launch(k)
		}
		r.next++
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close stops the fetches under way and waits for them; later Reads fail.
func (r *rangedReader) Close() error {
	r.cancel()
	r.wg.Wait()
	if r.err == nil {
		r.err = fmt.Errorf("ranged read after close: %w", remote.ErrInvalid)
	}
	r.cur = nil
	for _, p := range r.pieces {
		p.data = nil
	}
	return nil
}
