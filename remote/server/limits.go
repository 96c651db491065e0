package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of the Options that bound what uploads may hold.
const (
	DefaultMaxUploads     = 64
	DefaultMaxUserUploads = 8
	DefaultMaxSpoolBytes  = 2 << 30
	DefaultMaxSpoolMem    = 64 << 20
	DefaultMinBodyRate    = 64 << 10 // bytes per second
	DefaultBodyGrace      = 10 * time.Second
)

// limits bounds the bodies of uploads (the upload endpoint and capnp
// WRITEs): how many are received at once, and how many bytes they hold,
// in memory and in all. Sizes come from the client: they are charged
// against the bounds, never used to allocate.
type limits struct {
	maxUploads int
	maxPerUser int
	maxSpool   int64
	maxMem     int64

	mu      sync.Mutex
	uploads int            // GUARDED_BY(mu)
	perUser map[string]int // GUARDED_BY(mu): uploads in progress by user
	spooled int64          // GUARDED_BY(mu): bytes charged by uploads in progress
	inMem   int64          // GUARDED_BY(mu): of which spooled in memory
}

func newLimits(o Options) *limits {
	l := &limits{maxUploads: o.MaxUploads, maxPerUser: o.MaxUploadsPerUser, maxSpool: o.MaxSpoolBytes, maxMem: o.MaxSpoolMemory,
		perUser: map[string]int{}}
	if l.maxUploads <= 0 {
		l.maxUploads = DefaultMaxUploads
	}
	if l.maxPerUser <= 0 {
		l.maxPerUser = DefaultMaxUserUploads
	}
	if l.maxSpool <= 0 {
		l.maxSpool = DefaultMaxSpoolBytes
	}
	if l.maxMem <= 0 {
		l.maxMem = DefaultMaxSpoolMem
	}
	return l
}

// errBusy is the 503 of a full server.
func errBusy(why string) error {
	return &httpError{status: http.StatusServiceUnavailable, code: CodeBusy, retryAfter: "1",
		msg: "the server is receiving too many uploads (" + why + "); retry shortly"}
}

// admit takes an upload slot of user for size bytes, or fails with a 503
// at once (a client that waits holds a connection; one that retries holds
// nothing). The slot bounds bodies being received, in all and per user (so
// that one account's stalled uploads cannot take every slot); received
// gives it back once the body is spooled. The bytes stay charged until
// release, when the store has taken them. memory reports whether the body
// may be spooled in memory (size at most spoolInMemory and room in the
// memory budget).
func (l *limits) admit(user string, size int64) (memory bool, received, release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.perUser[user] >= l.maxPerUser:
		return false, nil, nil, errBusy(fmt.Sprintf("%d at once by one user", l.maxPerUser))
	case l.uploads >= l.maxUploads:
		return false, nil, nil, errBusy(fmt.Sprintf("%d at once", l.maxUploads))
	case l.spooled+size > l.maxSpool:
		return false, nil, nil, errBusy(fmt.Sprintf("%d bytes held", l.maxSpool))
	}
	memory = size <= spoolInMemory && l.inMem+size <= l.maxMem
	l.uploads++
	l.perUser[user]++
	l.spooled += size
	if memory {
		l.inMem += size
	}
	var slot, bytes sync.Once
	received = func() {
		slot.Do(func() {
			l.mu.Lock()
			l.uploads--
			if l.perUser[user]--; l.perUser[user] <= 0 {
				delete(l.perUser, user)
			}
			l.mu.Unlock()
		})
	}
	release = func() {
		received()
		bytes.Do(func() {
			l.mu.Lock()
			l.spooled -= size
			if memory {
				l.inMem -= size
			}
			l.mu.Unlock()
		})
	}
	return memory, received, release, nil
}

// errSlowBody: the client sent its body slower than the minimum rate.
var errSlowBody = &httpError{status: http.StatusRequestTimeout, code: CodeSlowBody,
	msg: "the request body came too slowly; the connection is closed"}

// rateBody enforces a minimum transfer rate on a request body: each read
// must end by start + grace + bytes so far / rate, so
// a body that stops, or trickles, is cut, whatever size it announced,
// while a large one sent at a fair rate has all the time it needs.
type rateBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	grace time.Duration
	rate  int64
	n     int64
	slow  bool
}

func newRateBody(w http.ResponseWriter, body io.ReadCloser, rate int64, grace time.Duration) *rateBody {
	if rate <= 0 {
		rate = DefaultMinBodyRate
	}
	if grace <= 0 {
		grace = DefaultBodyGrace
	}
	b := &rateBody{ReadCloser: body, rc: http.NewResponseController(w), start: time.Now(), grace: grace, rate: rate}
	// A body the handler leaves unread is still cut: net/http reads what
	// is left of it after the reply, at the client's pace.
	b.rc.SetReadDeadline(b.start.Add(grace))
	return b
}

func (b *rateBody) Read(p []byte) (int, error) {
	if b.slow {
		return 0, errSlowBody
	}
	allowed := b.grace + time.Duration(float64(b.n)/float64(b.rate)*float64(time.Second))
	// An error here (the writer cannot set deadlines) leaves the body
	// without one, as before.
	b.rc.SetReadDeadline(b.start.Add(allowed))
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		// Read whole: net/http now watches the connection itself, and a
		// deadline passing while the handler works would cancel it.
		b.done()
	}
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		b.slow = true
		return n, errSlowBody
	}
	return n, err
}

// done lifts the deadline once the body is read whole. A body read only in
// part keeps it: what net/http discards of it afterwards is cut too, and
// the connection closed.
func (b *rateBody) done() { b.rc.SetReadDeadline(time.Time{}) }
