package save

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
	"notebookfs/remote/local"
	"notebookfs/remote/remotetest"
)

const user = "alice"

// errTransient is a failure that is none of the permanent sentinels.
var errTransient = errors.New("connection reset by peer")

func quietLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

// hookFunc runs before a call of the uploader's client; the func it returns
// runs after it.
type hookFunc func(ctx context.Context, method, target string) (after func())

// hooked is the uploader's view of the remote: every call runs the env's
// hook first (target is the id, or the name for Create).
type hooked struct {
	remote.Client
	hook *atomic.Pointer[hookFunc]
}

func (h *hooked) run(ctx context.Context, method, target string) func() {
	if f := h.hook.Load(); f != nil {
		if after := (*f)(ctx, method, target); after != nil {
			return after
		}
	}
	return func() {}
}

func (h *hooked) Latest(ctx context.Context, ns, id string, at time.Time) (time.Time, error) {
	defer h.run(ctx, "Latest", id)()
	return h.Client.Latest(ctx, ns, id, at)
}

func (h *hooked) Stat(ctx context.Context, ns, id string) (remote.Notebook, error) {
	defer h.run(ctx, "Stat", id)()
	return h.Client.Stat(ctx, ns, id)
}

func (h *hooked) Read(ctx context.Context, ns, id string, at time.Time) (*remote.Content, error) {
	defer h.run(ctx, "Read", id)()
	return h.Client.Read(ctx, ns, id, at)
}

func (h *hooked) Write(ctx context.Context, ns, id string, r io.Reader, size int64) (remote.Notebook, error) {
	defer h.run(ctx, "Write", id)()
	return h.Client.Write(ctx, ns, id, r, size)
}

func (h *hooked) Create(ctx context.Context, ns, name string, r io.Reader, size int64, o remote.CreateOptions) (remote.Notebook, error) {
	defer h.run(ctx, "Create", name)()
	return h.Client.Create(ctx, ns, name, r, size, o)
}

func (h *hooked) Delete(ctx context.Context, ns, id string) error {
	defer h.run(ctx, "Delete", id)()
	return h.Client.Delete(ctx, ns, id)
}

// gate blocks the first call of method on target until released (or the
// call's context ends).
type gate struct {
	method, target string
	once           sync.Once
	entered        chan struct{}
	release        chan struct{}
}

func newGate(method, target string) *gate {
	return &gate{method: method, target: target, entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) hook(ctx context.Context, method, target string) func() {
	if method != g.method || target != g.target {
		return nil
	}
	first := false
	g.once.Do(func() { first = true; close(g.entered) })
	if first {
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	}
	return nil
}

func (g *gate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s call on %s", g.method, g.target)
	}
}

type env struct {
	t      *testing.T
	ctx    context.Context
	store  *local.Store
	direct remote.Client // alice, bypassing the uploader's wrappers
	count  *remotetest.Counting
	faulty *remotetest.Faulty
	client *hooked // what the uploader uses: hooked -> faulty -> counting -> store
	hook   atomic.Pointer[hookFunc]
	jdir   string
	j      *journal

	mu      sync.Mutex
	savers  []*Saver
	results []Result
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	store, err := local.Open(t.TempDir(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.EnsureUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, store: store, direct: store.As(user), jdir: filepath.Join(t.TempDir(), "journal")}
	e.count = remotetest.NewCounting(e.direct)
	e.faulty = remotetest.NewFaulty(e.count)
	e.client = &hooked{Client: e.faulty, hook: &e.hook}
	e.j, _, _, err = openJournal(e.jdir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) setHook(f hookFunc) { e.hook.Store(&f) }

func (e *env) options() Options {
	return Options{
		Client:      e.client,
		Dir:         e.jdir,
		Log:         quietLog(),
		CallTimeout: 10 * time.Second,
		User:        user,
		Backoff:     5 * time.Millisecond,
		MaxBackoff:  50 * time.Millisecond,
	}
}

func (e *env) start(o Options, replay []Entry) *Saver {
	u := newSaver(o, e.j, replay)
	e.t.Cleanup(u.Close)
	e.mu.Lock()
	e.savers = append(e.savers, u)
	e.mu.Unlock()
	return u
}

// track collects the results of a saver started by the test itself.
func (e *env) track(u *Saver) *Saver {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.savers = append(e.savers, u)
	return u
}

// doneResults are the results reported so far, by every saver started.
func (e *env) doneResults() []Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, u := range e.savers {
		for {
			r, ok := u.Next()
			if !ok {
				break
			}
			e.results = append(e.results, r)
		}
	}
	return slices.Clone(e.results)
}

// onlyResult is the one Done call so far.
func (e *env) onlyResult() Result {
	e.t.Helper()
	rs := e.doneResults()
	if len(rs) != 1 {
		e.t.Fatalf("Done called %d times, want once: %+v", len(rs), rs)
	}
	return rs[0]
}

func nbData(s string) []byte {
	return fmt.Appendf(nil, `{"cells":[{"cell_type":"code","source":%q}],"metadata":{},"nbformat":4,"nbformat_minor":5}`, s)
}

func (e *env) create(name string, data []byte) remote.Notebook {
	e.t.Helper()
	nb, err := e.direct.Create(e.ctx, user, name, bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return nb
}

func (e *env) write(id string, data []byte) remote.Notebook {
	e.t.Helper()
	nb, err := e.direct.Write(e.ctx, user, id, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		e.t.Fatal(err)
	}
	return nb
}

// saveOf is an entry saving notebook nb, derived from its current version.
func saveOf(nb remote.Notebook) Entry {
	return Entry{Key: "id:" + nb.ID, Category: string(remote.Owned), Namespace: user,
		ID: nb.ID, Name: nb.Name, Time: time.Now().UTC(), Base: nb.Version}
}

// createOf is an entry creating a notebook.
func createOf(key, name string) Entry {
	return Entry{Key: key, Category: string(remote.Owned), Namespace: user, Name: name, Time: time.Now().UTC()}
}

// journal makes e durable.
func (e *env) journal(ent Entry, data []byte) Entry {
	e.t.Helper()
	ent, err := e.j.Add(ent, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		e.t.Fatal(err)
	}
	return ent
}

// next is a later save after prev (still unfinished), as the file system
// makes it: same base, prev's content one of our own.
func next(prev Entry) Entry {
	n := prev
	n.Seq, n.Size, n.Sum = 0, 0, ""
	n.Prevs = slices.Clone(prev.Prevs)
	n.AddPrev(prev.Sum)
	n.Time = time.Now().UTC()
	return n
}

func (e *env) latest(id string) []byte {
	e.t.Helper()
	c, err := e.direct.Read(e.ctx, user, id, time.Time{})
	if err != nil {
		e.t.Fatalf("Read %s: %v", id, err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) versions(id string) int {
	e.t.Helper()
	vs, err := e.direct.Versions(e.ctx, user, id)
	if err != nil {
		e.t.Fatalf("Versions %s: %v", id, err)
	}
	return len(vs)
}

func (e *env) list() []remote.Notebook {
	e.t.Helper()
	nbs, err := e.direct.List(e.ctx, remote.Owned, user)
	if err != nil {
		e.t.Fatal(err)
	}
	return nbs
}

func (e *env) named(name string) []remote.Notebook {
	e.t.Helper()
	var out []remote.Notebook
	for _, nb := range e.list() {
		if nb.Name == name {
			out = append(out, nb)
		}
	}
	return out
}

// journalFiles lists the entry files left in the journal directory.
func (e *env) journalFiles() []string {
	e.t.Helper()
	des, err := os.ReadDir(e.jdir)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if !de.IsDir() {
			out = append(out, de.Name())
		}
	}
	return out
}

func (e *env) hasFiles(ent Entry) bool {
	e.t.Helper()
	n := 0
	for _, f := range e.journalFiles() {
		if f == fmt.Sprintf("%020d.json", ent.Seq) || f == fmt.Sprintf("%020d.data", ent.Seq) {
			n++
		}
	}
	return n == 2
}

func (e *env) wantEmptyJournal() {
	e.t.Helper()
	if f := e.journalFiles(); len(f) != 0 {
		e.t.Fatalf("journal still holds %v", f)
	}
}

func drain(t *testing.T, u *Saver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := u.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v (stats %+v)", err, u.Stats())
	}
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCreateUploaded(t *testing.T) {
	e := newEnv(t)
	u := e.start(e.options(), nil)
	data := nbData("fresh")
	ent := e.journal(createOf("new:a", "fresh"), data)
	u.add(ent)
	drain(t, u)

	nbs := e.named("fresh")
	if len(nbs) != 1 {
		t.Fatalf("notebooks named fresh: %+v", nbs)
	}
	if got := e.latest(nbs[0].ID); !bytes.Equal(got, data) {
		t.Fatalf("content %q, want %q", got, data)
	}
	r := e.onlyResult()
	if r.Outcome != Saved || r.Notebook.ID != nbs[0].ID || r.Entry.Seq != ent.Seq || r.Err != nil {
		t.Fatalf("result %+v, want Saved as %s", r, nbs[0].ID)
	}
	e.wantEmptyJournal()
	if _, ok := u.Pending("new:a"); ok {
		t.Fatal("Unfinished after the upload")
	}
	if s := u.Stats(); s.Uploaded != 1 || s.Pending != 0 || s.PendingBytes != 0 || len(s.Failed) != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// Saves of a notebook made while its create is uploading go to the new id:
// one notebook, not one per save.
func TestSavesAfterCreateGoToNewID(t *testing.T) {
	e := newEnv(t)
	g := newGate("Create", "grows")
	e.setHook(g.hook)
	u := e.start(e.options(), nil)
	first := e.journal(createOf("new:g", "grows"), nbData("v1"))
	u.add(first)
	g.wait(t) // the create is on its way
	second := e.journal(next(first), nbData("v2"))
	u.add(second)
	third := e.journal(next(second), nbData("v3"))
	u.add(third) // supersedes second, which is waiting
	if s := u.Stats(); s.Coalesced != 1 || s.Pending != 2 {
		t.Fatalf("stats %+v, want 1 coalesced and 2 pending", s)
	}
	if e.hasFiles(second) {
		t.Fatal("the superseded entry's files are still in the journal")
	}
	if got, ok := u.Pending("new:g"); !ok || got.Seq != third.Seq {
		t.Fatalf("Unfinished %+v %v, want seq %d", got, ok, third.Seq)
	}
	close(g.release)
	drain(t, u)

	nbs := e.named("grows")
	if len(nbs) != 1 {
		t.Fatalf("notebooks named grows: %+v", nbs)
	}
	if got := e.latest(nbs[0].ID); !bytes.Equal(got, nbData("v3")) {
		t.Fatalf("content %q", got)
	}
	if n := e.versions(nbs[0].ID); n != 2 {
		t.Fatalf("%d versions, want 2 (create and the last save)", n)
	}
	rs := e.doneResults()
	if len(rs) != 2 || rs[0].Entry.Seq != first.Seq || rs[1].Entry.Seq != third.Seq ||
		rs[1].Entry.ID != nbs[0].ID || rs[1].Notebook.ID != nbs[0].ID {
		t.Fatalf("results %+v", rs)
	}
	for _, r := range rs {
		if r.Outcome != Saved {
			t.Fatalf("result %+v", r)
		}
	}
	e.wantEmptyJournal()
}

func TestOrderingAndCoalescing(t *testing.T) {
	e := newEnv(t)
	nb := e.create("busy", nbData("v0"))
	u := e.start(e.options(), nil)
	// Writes fail until told otherwise: the first save stays queued
	// (retrying), and later ones queue behind it.
	e.faulty.FailNext("Write", 1<<30, errTransient)
	var ents []Entry
	prev := saveOf(nb)
	for i := 1; i <= 4; i++ {
		var ent Entry
		if i == 1 {
			ent = e.journal(prev, nbData("v1"))
		} else {
			ent = e.journal(next(prev), nbData(fmt.Sprintf("v%d", i)))
		}
		u.add(ent)
		ents = append(ents, ent)
		prev = ent
	}
	s := u.Stats()
	// Whether or not the first save was uploading at each Add, every
	// waiting save was superseded by the next: at most the first and the
	// last are left.
	if s.Coalesced < 2 || s.Pending > 2 || s.Pending < 1 {
		t.Fatalf("stats after the adds %+v: want >= 2 coalesced, 1 or 2 pending", s)
	}
	if got := len(e.journalFiles()); got != 2*s.Pending {
		t.Fatalf("journal holds %d files for %d pending saves: %v", got, s.Pending, e.journalFiles())
	}
	if got, ok := u.PendingNotebook(nb.ID); !ok || got.Seq != ents[3].Seq {
		t.Fatalf("Unfinished(id) %+v %v, want seq %d", got, ok, ents[3].Seq)
	}
	poll(t, "a failed attempt", func() bool { return u.Stats().Retries > 0 })
	e.faulty.FailNext("Write", 0, nil)
	drain(t, u)

	if got := e.latest(nb.ID); !bytes.Equal(got, nbData("v4")) {
		t.Fatalf("latest %q, want v4", got)
	}
	if n := e.versions(nb.ID); n > 1+len(ents) || n < 2 {
		t.Fatalf("%d versions", n)
	}
	rs := e.doneResults()
	if len(rs) == 0 || rs[len(rs)-1].Entry.Seq != ents[3].Seq {
		t.Fatalf("results %+v: the last must be the last save", rs)
	}
	for i, r := range rs {
		if r.Outcome != Saved {
			t.Fatalf("result %d: %+v", i, r)
		}
		if i > 0 && r.Entry.Seq <= rs[i-1].Entry.Seq {
			t.Fatalf("results out of order: %d after %d", r.Entry.Seq, rs[i-1].Entry.Seq)
		}
	}
	if int64(len(rs))+u.Stats().Coalesced != int64(len(ents)) {
		t.Fatalf("%d results + %d coalesced != %d saves", len(rs), u.Stats().Coalesced, len(ents))
	}
	if len(e.named("busy")) != 1 || len(e.list()) != 1 {
		t.Fatalf("notebooks: %+v", e.list())
	}
	e.wantEmptyJournal()
}

// Saves of one notebook never upload concurrently and end in order; saves
// of different notebooks do run in parallel.
func TestPerNotebookSerialized(t *testing.T) {
	e := newEnv(t)
	const notebooks, saves = 4, 6
	var nbs []remote.Notebook
	for i := range notebooks {
		nbs = append(nbs, e.create(fmt.Sprintf("nb%d", i), nbData("v0")))
	}
	var mu sync.Mutex
	active := map[string]int{}
	var overlaps []string
	total, maxTotal := 0, 0
	e.setHook(func(_ context.Context, method, target string) func() {
		mu.Lock()
		defer mu.Unlock()
		active[target]++
		total++
		maxTotal = max(maxTotal, total)
		if active[target] > 1 {
			overlaps = append(overlaps, method+" "+target)
		}
		return func() {
			mu.Lock()
			defer mu.Unlock()
			active[target]--
			total--
		}
	})
	e.faulty.SetLatency(2 * time.Millisecond)
	e.faulty.SetFailRate(0.2, errTransient, 1)
	o := e.options()
	o.Parallel = 4
	u := e.start(o, nil)

	last := make([]Entry, notebooks)
	for round := range saves {
		for i, nb := range nbs {
			var ent Entry
			if round == 0 {
				ent = e.journal(saveOf(nb), nbData(fmt.Sprintf("%d.%d", i, round)))
			} else {
				ent = e.journal(next(last[i]), nbData(fmt.Sprintf("%d.%d", i, round)))
			}
			u.add(ent)
			last[i] = ent
		}
		time.Sleep(time.Millisecond) // let some of them start
	}
	drain(t, u)

	mu.Lock()
	if len(overlaps) > 0 {
		t.Errorf("calls on one notebook overlapped: %v", overlaps)
	}
	mu.Unlock()
	for i, nb := range nbs {
		if got, want := e.latest(nb.ID), nbData(fmt.Sprintf("%d.%d", i, saves-1)); !bytes.Equal(got, want) {
			t.Errorf("%s: latest %q, want %q", nb.Name, got, want)
		}
		if n := e.versions(nb.ID); n > 1+saves {
			t.Errorf("%s: %d versions", nb.Name, n)
		}
	}
	bySeq := map[string]uint64{}
	for _, r := range e.doneResults() {
		if r.Outcome != Saved {
			t.Errorf("result %+v", r)
		}
		if r.Entry.Seq <= bySeq[r.Entry.Key] {
			t.Errorf("%s: seq %d ended after %d", r.Entry.Key, r.Entry.Seq, bySeq[r.Entry.Key])
		}
		bySeq[r.Entry.Key] = r.Entry.Seq
	}
	for i, nb := range nbs {
		if bySeq["id:"+nb.ID] != last[i].Seq {
			t.Errorf("%s: last result seq %d, want %d", nb.Name, bySeq["id:"+nb.ID], last[i].Seq)
		}
	}
	if len(e.list()) != notebooks {
		t.Errorf("notebooks: %+v", e.list())
	}
	e.wantEmptyJournal()
}

func TestTransientFaultsRetried(t *testing.T) {
	e := newEnv(t)
	nb := e.create("flaky", nbData("v0"))
	u := e.start(e.options(), nil)
	e.faulty.FailNext("Write", 3, errTransient)
	ent := e.journal(saveOf(nb), nbData("v1"))
	u.add(ent)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := u.Wait(ctx, Ref(ent.Key)); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if got := e.latest(nb.ID); !bytes.Equal(got, nbData("v1")) {
		t.Fatalf("latest %q", got)
	}
	if n := e.versions(nb.ID); n != 2 {
		t.Fatalf("%d versions, want 2", n)
	}
	if n := e.count.Count("Write"); n != 1 {
		t.Fatalf("%d writes reached the store, want 1", n)
	}
	s := u.Stats()
	if s.Retries < 3 || s.Uploaded != 1 || len(s.LastErrors) < 3 {
		t.Fatalf("stats %+v: want >= 3 retries and errors, 1 uploaded", s)
	}
	if !strings.Contains(s.LastErrors[0].Error, errTransient.Error()) || s.LastErrors[0].Path != "owned/alice/flaky.ipynb" {
		t.Fatalf("last error %+v", s.LastErrors[0])
	}
	if r := e.onlyResult(); r.Outcome != Saved || r.Notebook.ID != nb.ID {
		t.Fatalf("result %+v", r)
	}
	e.wantEmptyJournal()
}

// Transient failures of a create, and of any call, are retried too; the
// pending figures show the attempts meanwhile.
func TestTransientCreateRetried(t *testing.T) {
	e := newEnv(t)
	e.faulty.FailNext("Create", 1<<30, errTransient)
	u := e.start(e.options(), nil)
	data := nbData("new")
	u.add(e.journal(createOf("new:r", "retried"), data))
	poll(t, "two attempts", func() bool {
		s := u.Stats()
		return len(s.PendingFiles) == 1 && s.PendingFiles[0].Attempts >= 2
	})
	s := u.Stats()
	p := s.PendingFiles[0]
	if s.Pending != 1 || s.PendingBytes != int64(len(data)) || p.Path != "owned/alice/retried.ipynb" ||
		p.Size != int64(len(data)) || !strings.Contains(p.Error, errTransient.Error()) {
		t.Fatalf("stats while retrying %+v", s)
	}
	e.faulty.FailNext("Create", 0, nil)
	drain(t, u)
	if nbs := e.named("retried"); len(nbs) != 1 || !bytes.Equal(e.latest(nbs[0].ID), data) {
		t.Fatalf("notebooks %+v", nbs)
	}
	e.wantEmptyJournal()
}

func TestConflict(t *testing.T) {
	for _, named := range []bool{true, false} {
		t.Run(fmt.Sprintf("user=%v", named), func(t *testing.T) {
			e := newEnv(t)
			nb := e.create("shared work", nbData("v0"))
			ent := e.journal(saveOf(nb), nbData("mine"))
			theirs := e.write(nb.ID, nbData("theirs")) // someone saved after our base
			o := e.options()
			who := user
			if !named {
				o.User, who = "", "unknown"
			}
			u := e.start(o, nil)
			u.add(ent)
			drain(t, u)

			r := e.onlyResult()
			wantName := ConflictName(ent.Name, who, ent.Time)
			if r.Outcome != Conflict || r.Copy.Name != wantName || r.Copy.ID == "" || r.Copy.ID == nb.ID ||
				r.Copy.Namespace != user || r.Notebook.ID != nb.ID || r.Notebook.Version.Before(theirs.Version) {
				t.Fatalf("result %+v, want a conflict copy %q", r, wantName)
			}
			copies := e.named(wantName)
			if len(copies) != 1 || copies[0].ID != r.Copy.ID {
				t.Fatalf("conflict copies %+v", copies)
			}
			if got := e.latest(r.Copy.ID); !bytes.Equal(got, nbData("mine")) {
				t.Fatalf("conflict copy holds %q", got)
			}
			if got := e.latest(nb.ID); !bytes.Equal(got, nbData("theirs")) {
				t.Fatalf("original holds %q, want theirs", got)
			}
			if st, err := e.direct.Stat(e.ctx, user, nb.ID); err != nil || !st.Version.Equal(r.Notebook.Version) {
				t.Fatalf("original's latest version %+v (%v), result says %v", st, err, r.Notebook.Version)
			}
			s := u.Stats()
			if s.ConflictCount != 1 || !slices.Equal(s.Conflicts, []string{user + "/" + wantName + ".ipynb"}) {
				t.Fatalf("stats %+v", s)
			}
			if len(e.list()) != 2 {
				t.Fatalf("notebooks %+v", e.list())
			}
			e.wantEmptyJournal()
		})
	}
}

// A conflict on a notebook shared with me, in a namespace I may not create
// in, puts the copy in my own namespace.
func TestConflictCopyInOwnNamespace(t *testing.T) {
	e := newEnv(t)
	if err := e.store.EnsureUser(e.ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	bob := e.store.As("bob")
	data := nbData("v0")
	nb, err := bob.Create(e.ctx, "bob", "bobs", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Share(e.ctx, "bob", nb.ID, user, []string{remote.ActionRead, remote.ActionWrite}); err != nil {
		t.Fatal(err)
	}
	ent := saveOf(nb)
	ent.Category, ent.Namespace = string(remote.Shared), "bob"
	ent = e.journal(ent, nbData("mine"))
	theirs := nbData("bob's")
	if _, err := bob.Write(e.ctx, "bob", nb.ID, bytes.NewReader(theirs), int64(len(theirs))); err != nil {
		t.Fatal(err)
	}
	u := e.start(e.options(), nil)
	u.add(ent)
	drain(t, u)

	r := e.onlyResult()
	if r.Outcome != Conflict || r.Copy.Namespace != user || r.Copy.Name != ConflictName("bobs", user, ent.Time) {
		t.Fatalf("result %+v, want a copy in %s", r, user)
	}
	if got := e.latest(r.Copy.ID); !bytes.Equal(got, nbData("mine")) {
		t.Fatalf("copy holds %q", got)
	}
	c, err := bob.Read(e.ctx, "bob", nb.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if !bytes.Equal(got, theirs) {
		t.Fatalf("bob's notebook holds %q", got)
	}
	e.wantEmptyJournal()
}

// When no conflict copy can be made, the save stays the latest version and
// the other writer's is in the history: nothing is lost.
func TestConflictCopyRefused(t *testing.T) {
	e := newEnv(t)
	nb := e.create("shared work", nbData("v0"))
	ent := e.journal(saveOf(nb), nbData("mine"))
	e.write(nb.ID, nbData("theirs"))
	e.faulty.FailNext("Create", 1<<30, remote.ErrPermission)
	u := e.start(e.options(), nil)
	u.add(ent)
	drain(t, u)
	if r := e.onlyResult(); r.Outcome != Saved || r.Notebook.ID != nb.ID {
		t.Fatalf("result %+v", r)
	}
	if got := e.latest(nb.ID); !bytes.Equal(got, nbData("mine")) {
		t.Fatalf("latest %q", got)
	}
	vs, err := e.direct.Versions(e.ctx, user, nb.ID)
	if err != nil || len(vs) != 3 {
		t.Fatalf("versions %+v %v", vs, err)
	}
	c, err := e.direct.Read(e.ctx, user, nb.ID, vs[1].Time)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if !bytes.Equal(got, nbData("theirs")) {
		t.Fatalf("history holds %q, want theirs", got)
	}
	if len(e.list()) != 1 {
		t.Fatalf("notebooks %+v", e.list())
	}
	e.wantEmptyJournal()
}

// Two machines save one notebook. B saves, then A's save, based on the
// version before B's, becomes a conflict copy and B's content is written
// back as the latest. B's next save, based on its own last save, is no
// conflict: nobody changed the content B last saw.
func TestConflictRestoreIsNoConflictForTheOtherWriter(t *testing.T) {
	e := newEnv(t)
	nb := e.create("two machines", nbData("v0"))
	ua := e.start(e.options(), nil)
	jb, _, _, err := openJournal(filepath.Join(t.TempDir(), "journal-b"))
	if err != nil {
		t.Fatal(err)
	}
	var bResults []Result
	ob := e.options()
	ob.Client = e.direct
	ub := newSaver(ob, jb, nil)
	t.Cleanup(ub.Close)
	addB := func(ent Entry, data []byte) {
		ent, err := jb.Add(ent, bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		ub.add(ent)
		drain(t, ub)
		for r, ok := ub.Next(); ok; r, ok = ub.Next() {
			bResults = append(bResults, r)
		}
	}

	addB(saveOf(nb), nbData("b1"))
	b1 := bResults[0]
	if b1.Outcome != Saved {
		t.Fatalf("B's first save: %+v", b1)
	}
	ua.add(e.journal(saveOf(nb), nbData("a1")))
	drain(t, ua)
	if r := e.onlyResult(); r.Outcome != Conflict {
		t.Fatalf("A's save: %+v, want a conflict", r)
	}
	// B's file now shows its own b1 (version b1.Notebook); B saves again.
	// As fs does, the entry counts the content it was based on (b1) as
	// B's own: A's conflict wrote exactly that back.
	second := saveOf(b1.Notebook)
	second.AddPrev(Sum(nbData("b1")))
	addB(second, nbData("b2"))
	b2 := bResults[1]
	if b2.Outcome != Saved {
		t.Fatalf("B's second save: outcome %d, copy %q; want Saved", b2.Outcome, b2.Copy.Name)
	}
	if got := e.latest(nb.ID); !bytes.Equal(got, nbData("b2")) {
		t.Fatalf("latest %q", got)
	}
}

func TestOverwrite(t *testing.T) {
	e := newEnv(t)
	nb := e.create("shared work", nbData("v0"))
	ent := e.journal(saveOf(nb), nbData("mine"))
	e.write(nb.ID, nbData("theirs"))
	o := e.options()
	o.Overwrite = true
	u := e.start(o, nil)
	u.add(ent)
	drain(t, u)

	if r := e.onlyResult(); r.Outcome != Saved || r.Notebook.ID != nb.ID {
		t.Fatalf("result %+v", r)
	}
	if got := e.latest(nb.ID); !bytes.Equal(got, nbData("mine")) {
		t.Fatalf("latest %q, want mine", got)
	}
	if n := e.versions(nb.ID); n != 3 {
		t.Fatalf("%d versions, want 3", n)
	}
	if nbs := e.list(); len(nbs) != 1 {
		t.Fatalf("notebooks %+v: no conflict copy expected", nbs)
	}
	if s := u.Stats(); s.ConflictCount != 0 || s.Uploaded != 1 {
		t.Fatalf("stats %+v", s)
	}
	if n := e.count.Count("Latest") + e.count.Count("Read"); n != 0 {
		t.Fatalf("%d conflict checks with Overwrite", n)
	}
	e.wantEmptyJournal()
}

func TestReplay(t *testing.T) {
	t.Run("already uploaded", func(t *testing.T) {
		// The previous run uploaded the save and died before removing it.
		e := newEnv(t)
		nb := e.create("crashy", nbData("v0"))
		ent := e.journal(saveOf(nb), nbData("mine"))
		e.write(nb.ID, nbData("mine"))
		u := e.start(e.options(), []Entry{ent})
		drain(t, u)

		r := e.onlyResult()
		if r.Outcome != Saved || r.Notebook.ID != nb.ID {
			t.Fatalf("result %+v", r)
		}
		if got := e.latest(nb.ID); !bytes.Equal(got, nbData("mine")) {
			t.Fatalf("latest %q", got)
		}
		if n := e.count.Count("Create"); n != 0 {
			t.Fatalf("%d creates", n)
		}
		if len(e.list()) != 1 {
			t.Fatalf("notebooks %+v: no conflict copy expected", e.list())
		}
		if s := u.Stats(); s.ConflictCount != 0 {
			t.Fatalf("stats %+v", s)
		}
		e.wantEmptyJournal()
	})
	t.Run("already uploaded: an identical version, no conflict", func(t *testing.T) {
		e := newEnv(t)
		nb := e.create("crashy", nbData("v0"))
		ent := e.journal(saveOf(nb), nbData("mine"))
		up := e.write(nb.ID, nbData("mine"))
		u := e.start(e.options(), []Entry{ent})
		drain(t, u)
		// TileDB has no conditional write, so the upload writes first and
		// checks after: the replay writes the same content again (one
		// identical version more) and recognises the one before as its own.
		if r := e.onlyResult(); r.Outcome != Saved || !r.Notebook.Version.After(up.Version) {
			t.Fatalf("result %+v, want Saved after the version already uploaded %v", r, up.Version)
		}
		if n := e.versions(nb.ID); n != 3 {
			t.Fatalf("%d versions, want 3 (v0, the first upload, the replay)", n)
		}
		if got := e.latest(nb.ID); !bytes.Equal(got, nbData("mine")) {
			t.Fatalf("latest %q", got)
		}
	})
	t.Run("earlier save of ours uploaded", func(t *testing.T) {
		// The remote holds an earlier save of ours, named in Prevs.
		e := newEnv(t)
		nb := e.create("crashy", nbData("v0"))
		first := e.journal(saveOf(nb), nbData("first"))
		e.write(nb.ID, nbData("first"))
		if err := e.j.Remove(first); err != nil {
			t.Fatal(err)
		}
		second := e.journal(next(first), nbData("second"))
		u := e.start(e.options(), []Entry{second})
		drain(t, u)

		if r := e.onlyResult(); r.Outcome != Saved || r.Notebook.ID != nb.ID {
			t.Fatalf("result %+v", r)
		}
		if got := e.latest(nb.ID); !bytes.Equal(got, nbData("second")) {
			t.Fatalf("latest %q", got)
		}
		if n := e.versions(nb.ID); n != 3 {
			t.Fatalf("%d versions, want 3", n)
		}
		if len(e.list()) != 1 {
			t.Fatalf("notebooks %+v: no conflict copy expected", e.list())
		}
		e.wantEmptyJournal()
	})
	t.Run("create already done", func(t *testing.T) {
		// The previous run created the notebook and died before
		// recording it.
		e := newEnv(t)
		data := nbData("born")
		ent := e.journal(createOf("new:c", "born"), data)
		nb := e.create("born", data)
		e.create("born", nbData("another of the same name"))
		u := e.start(e.options(), []Entry{ent})
		drain(t, u)

		if r := e.onlyResult(); r.Outcome != Saved || r.Notebook.ID != nb.ID {
			t.Fatalf("result %+v, want the existing %s", r, nb.ID)
		}
		if n := len(e.named("born")); n != 2 {
			t.Fatalf("%d notebooks named born, want 2", n)
		}
		if n := e.count.Count("Create"); n != 0 {
			t.Fatalf("%d creates", n)
		}
		e.wantEmptyJournal()
	})
	t.Run("create not done", func(t *testing.T) {
		e := newEnv(t)
		data := nbData("born")
		ent := e.journal(createOf("new:c", "born"), data)
		e.create("born", nbData("other content"))
		u := e.start(e.options(), []Entry{ent})
		drain(t, u)
		r := e.onlyResult()
		if r.Outcome != Saved || r.Notebook.ID == "" || !bytes.Equal(e.latest(r.Notebook.ID), data) {
			t.Fatalf("result %+v", r)
		}
		if n := len(e.named("born")); n != 2 {
			t.Fatalf("%d notebooks named born, want 2", n)
		}
		e.wantEmptyJournal()
	})
	t.Run("reopened journal", func(t *testing.T) {
		e := newEnv(t)
		nb := e.create("later", nbData("v0"))
		a := e.journal(saveOf(nb), nbData("a"))
		e.journal(next(a), nbData("b"))
		c := e.journal(createOf("new:x", "other"), nbData("x"))
		_, entries, corrupt, err := openJournal(e.jdir)
		if err != nil || len(entries) != 3 || len(corrupt) != 0 {
			t.Fatalf("Open: %d entries, %+v, %v", len(entries), corrupt, err)
		}
		u, err := Open(e.options())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(u.Close)
		drain(t, u)
		if got := e.latest(nb.ID); !bytes.Equal(got, nbData("b")) {
			t.Fatalf("latest %q", got)
		}
		if n := e.versions(nb.ID); n > 3 {
			t.Fatalf("%d versions", n)
		}
		if nbs := e.named(c.Name); len(nbs) != 1 {
			t.Fatalf("created %+v", nbs)
		}
		if len(e.list()) != 2 {
			t.Fatalf("notebooks %+v", e.list())
		}
		e.wantEmptyJournal()
	})
}

func TestPermanentFailure(t *testing.T) {
	for _, perm := range []error{remote.ErrPermission, remote.ErrInvalid, remote.ErrNameTooLong, remote.ErrUnsupported} {
		t.Run(perm.Error(), func(t *testing.T) {
			e := newEnv(t)
			nb := e.create("locked", nbData("v0"))
			u := e.start(e.options(), nil)
			e.faulty.FailNext("Write", 1, perm)
			bad := e.journal(saveOf(nb), nbData("refused"))
			u.add(bad)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := u.Wait(ctx, Ref(bad.Key))
			if !errors.Is(err, perm) {
				t.Fatalf("Wait: %v, want %v", err, perm)
			}
			r := e.onlyResult()
			if r.Outcome != Refused || !errors.Is(r.Err, perm) || r.Entry.Seq != bad.Seq {
				t.Fatalf("result %+v", r)
			}
			if !e.hasFiles(bad) {
				t.Fatalf("the refused entry left the journal: %v", e.journalFiles())
			}
			s := u.Stats()
			if s.Pending != 0 || len(s.Failed) != 1 || s.Failed[0].Path != "owned/alice/locked.ipynb" ||
				!strings.Contains(s.Failed[0].Error, perm.Error()) || s.Retries != 0 || s.Uploaded != 0 {
				t.Fatalf("stats %+v", s)
			}
			if got := e.latest(nb.ID); !bytes.Equal(got, nbData("v0")) {
				t.Fatalf("latest %q", got)
			}
			// Drain does not wait for a refused save.
			drain(t, u)

			// A newer save replaces the refused one.
			good := e.journal(saveOf(nb), nbData("accepted"))
			u.add(good)
			if e.hasFiles(bad) {
				t.Fatalf("the refused entry is still in the journal after a newer save: %v", e.journalFiles())
			}
			if _, err := u.Wait(ctx, Ref(good.Key)); err != nil {
				t.Fatalf("Wait after a newer save: %v", err)
			}
			if got := e.latest(nb.ID); !bytes.Equal(got, nbData("accepted")) {
				t.Fatalf("latest %q", got)
			}
			if s := u.Stats(); len(s.Failed) != 0 || s.Uploaded != 1 {
				t.Fatalf("stats %+v", s)
			}
			e.wantEmptyJournal()
		})
	}
}

// A save refused while a newer save of the same notebook waits behind it is
// dropped, not kept for the next mount: replaying it there would put older
// content over the newer save (found by the crash test as a conflict copy
// of the notebook's own older save).
func TestRefusedSaveSupersededByNewer(t *testing.T) {
	e := newEnv(t)
	nb := e.create("nb", nbData("v0"))
	g := newGate("Write", nb.ID)
	e.setHook(g.hook)
	u := e.start(e.options(), nil)
	old := e.journal(saveOf(nb), nbData("refused"))
	u.add(old)
	g.wait(t)
	newer := e.journal(next(old), nbData("newer"))
	u.add(newer)
	e.faulty.FailNext("Write", 1, remote.ErrInvalid)
	close(g.release)
	drain(t, u)

	if got := e.latest(nb.ID); !bytes.Equal(got, nbData("newer")) {
		t.Fatalf("latest %q", got)
	}
	if rs := e.doneResults(); len(rs) != 1 || rs[0].Outcome != Saved || rs[0].Entry.Seq != newer.Seq {
		t.Fatalf("results %+v, want only the newer save's", rs)
	}
	if s := u.Stats(); len(s.Failed) != 0 || len(s.LastErrors) != 1 {
		t.Fatalf("stats %+v", s)
	}
	e.wantEmptyJournal()

	// Nothing is left for the next start to upload.
	u.Close()
	_, replay, _, err := openJournal(e.jdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(replay) != 0 {
		t.Fatalf("the next start would replay %+v", replay)
	}
}

// Many saves coalesce while one uploads, more than Prevs keeps: after a
// restart the newest must still see the uploaded one as its own, not as
// someone else's (found by the crash test: a conflict copy of our own
// save after a chain of 20 quick saves).
func TestLongChainAcrossRestart(t *testing.T) {
	e := newEnv(t)
	nb := e.create("chain", nbData("v0"))
	// The first Write waits for release; the second waits until the
	// uploader stops, so that its save stays for the next start.
	release := make(chan struct{})
	var writes atomic.Int32
	e.setHook(func(ctx context.Context, method, target string) func() {
		if method != "Write" || target != nb.ID {
			return nil
		}
		switch writes.Add(1) {
		case 1:
			<-release
		case 2:
			<-ctx.Done()
		}
		return nil
	})
	u := e.track(newSaver(e.options(), e.j, nil))
	first := e.journal(saveOf(nb), nbData("save 0"))
	u.add(first)
	poll(t, "the first upload", func() bool { return writes.Load() == 1 })
	last := first
	for i := 1; i <= 20; i++ {
		last = e.journal(next(last), nbData(fmt.Sprintf("save %d", i)))
		u.add(last)
	}
	if len(last.Prevs) >= 20 {
		t.Fatalf("Prevs keeps %d checksums: the test needs a chain longer than that", len(last.Prevs))
	}
	close(release)
	poll(t, "the second upload", func() bool { return writes.Load() == 2 })
	u.Close()
	if r := e.onlyResult(); r.Outcome != Saved || r.Entry.Seq != first.Seq {
		t.Fatalf("result %+v", r)
	}

	_, replay, _, err := openJournal(e.jdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(replay) != 1 || replay[0].Seq != last.Seq {
		t.Fatalf("replay %+v, want only the newest save", replay)
	}
	u2 := e.start(e.options(), replay)
	drain(t, u2)
	rs := e.doneResults()
	if r := rs[len(rs)-1]; r.Outcome != Saved || r.Entry.Seq != last.Seq {
		t.Fatalf("after the restart: result %+v, want Saved", r)
	}
	if got := e.latest(nb.ID); !bytes.Equal(got, nbData("save 20")) {
		t.Fatalf("latest %q", got)
	}
	if len(e.list()) != 1 {
		t.Fatalf("notebooks %+v: no conflict copy expected", e.list())
	}
	e.wantEmptyJournal()
}

// A save journaled with the base from before our last upload (its close
// raced with that upload's end) is based on the version we wrote, in the
// journal too, so a restart does not take that version for someone else's.
func TestStaleBaseFollowsOurUpload(t *testing.T) {
	e := newEnv(t)
	nb := e.create("race", nbData("v0"))
	u := e.track(newSaver(e.options(), e.j, nil))
	first := e.journal(saveOf(nb), nbData("first"))
	u.add(first)
	drain(t, u)
	uploaded := e.onlyResult().Notebook.Version
	e.setHook(func(ctx context.Context, method, target string) func() {
		if method == "Write" {
			<-ctx.Done() // stays for the next start
		}
		return nil
	})
	stale := saveOf(nb) // base: v0, before our upload
	stale.Time = time.Now().UTC()
	stale = e.journal(stale, nbData("second"))
	u.add(stale)
	u.Close()
	_, replay, _, err := openJournal(e.jdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(replay) != 1 || !replay[0].Base.Equal(uploaded) {
		t.Fatalf("journal holds %+v, want the save based on %v", replay, uploaded)
	}
}

// The real store refuses an over-long name: a permanent failure of a create.
func TestPermanentFailureOfCreate(t *testing.T) {
	e := newEnv(t)
	u := e.start(e.options(), nil)
	ent := e.journal(createOf("new:long", strings.Repeat("n", remote.MaxNameLen+1)), nbData("x"))
	u.add(ent)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := u.Wait(ctx, Ref(ent.Key)); !errors.Is(err, remote.ErrNameTooLong) {
		t.Fatalf("Wait: %v", err)
	}
	if r := e.onlyResult(); r.Outcome != Refused {
		t.Fatalf("result %+v", r)
	}
	if !e.hasFiles(ent) || len(e.list()) != 0 {
		t.Fatalf("journal %v, notebooks %+v", e.journalFiles(), e.list())
	}
	// Cancel drops a refused save too.
	u.Cancel(t.Context(), Ref(ent.Key))
	if len(u.Stats().Failed) != 0 {
		t.Fatalf("stats %+v", u.Stats())
	}
	e.wantEmptyJournal()
}

func TestCancelQueued(t *testing.T) {
	e := newEnv(t)
	blocker := e.create("blocker", nbData("v0"))
	victim := e.create("victim", nbData("v0"))
	g := newGate("Write", blocker.ID)
	e.setHook(g.hook)
	o := e.options()
	o.Parallel = 1
	u := e.start(o, nil)
	b := e.journal(saveOf(blocker), nbData("b1"))
	u.add(b)
	g.wait(t) // the only worker is busy
	v := e.journal(saveOf(victim), nbData("v1"))
	u.add(v)
	c := e.journal(createOf("new:c", "never"), nbData("c"))
	u.add(c)
	if s := u.Stats(); s.Pending != 3 {
		t.Fatalf("stats %+v", s)
	}
	u.CancelNotebook(v.ID)
	u.Cancel(t.Context(), Ref(c.Key))
	// An uploading save is not dropped by Cancel of another notebook.
	if e.hasFiles(v) || e.hasFiles(c) || !e.hasFiles(b) {
		t.Fatalf("journal after Cancel: %v", e.journalFiles())
	}
	if _, ok := u.Pending(Ref(v.Key)); ok {
		t.Fatal("cancelled save still unfinished")
	}
	if s := u.Stats(); s.Pending != 1 {
		t.Fatalf("stats after Cancel %+v", s)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := u.Wait(ctx, Ref(v.Key)); err != nil {
		t.Fatalf("Wait for a cancelled save: %v", err)
	}
	close(g.release)
	drain(t, u)

	if got := e.latest(victim.ID); !bytes.Equal(got, nbData("v0")) || e.versions(victim.ID) != 1 {
		t.Fatalf("victim changed: %q", got)
	}
	if got := e.latest(blocker.ID); !bytes.Equal(got, nbData("b1")) {
		t.Fatalf("blocker %q", got)
	}
	if len(e.named("never")) != 0 {
		t.Fatal("a cancelled create was made")
	}
	if r := e.onlyResult(); r.Entry.Seq != b.Seq {
		t.Fatalf("result %+v", r)
	}
	e.wantEmptyJournal()
}

// A notebook deleted locally while its create is on its way is deleted
// remotely once the create returns.
func TestCancelDuringCreate(t *testing.T) {
	e := newEnv(t)
	g := newGate("Create", "doomed")
	e.setHook(g.hook)
	u := e.start(e.options(), nil)
	ent := e.journal(createOf("new:d", "doomed"), nbData("d"))
	u.add(ent)
	g.wait(t)
	u.Cancel(t.Context(), Ref(ent.Key))
	if !e.hasFiles(ent) {
		t.Fatal("Cancel removed an uploading entry")
	}
	close(g.release)
	drain(t, u)
	if nbs := e.named("doomed"); len(nbs) != 0 {
		t.Fatalf("the cancelled create is left: %+v", nbs)
	}
	if n := e.count.Count("Create"); n != 1 {
		t.Fatalf("%d creates", n)
	}
	for _, r := range e.doneResults() {
		if r.Outcome != Cancelled {
			t.Fatalf("result %+v, want a cancelled save", r)
		}
	}
	e.wantEmptyJournal()
}

func TestDeletedRemotely(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("overwrite=%v", overwrite), func(t *testing.T) {
			e := newEnv(t)
			nb := e.create("gone", nbData("v0"))
			ent := e.journal(saveOf(nb), nbData("saved anyway"))
			if err := e.direct.Delete(e.ctx, user, nb.ID); err != nil {
				t.Fatal(err)
			}
			o := e.options()
			o.Overwrite = overwrite
			u := e.start(o, nil)
			u.add(ent)
			drain(t, u)

			nbs := e.named("gone")
			if len(nbs) != 1 || nbs[0].ID == nb.ID {
				t.Fatalf("notebooks named gone: %+v", nbs)
			}
			if got := e.latest(nbs[0].ID); !bytes.Equal(got, nbData("saved anyway")) {
				t.Fatalf("content %q", got)
			}
			if r := e.onlyResult(); r.Outcome != Saved || r.Notebook.ID != nbs[0].ID || r.Entry.ID != nb.ID {
				t.Fatalf("result %+v", r)
			}
			e.wantEmptyJournal()
		})
	}
}

// A save queued behind the one that recreated a remotely deleted notebook
// must go to the recreated notebook, not make another one.
func TestDeletedRemotelyTwoSaves(t *testing.T) {
	e := newEnv(t)
	nb := e.create("gone", nbData("v0"))
	if err := e.direct.Delete(e.ctx, user, nb.ID); err != nil {
		t.Fatal(err)
	}
	g := newGate("Create", "gone")
	e.setHook(g.hook)
	u := e.start(e.options(), nil)
	first := e.journal(saveOf(nb), nbData("first"))
	u.add(first)
	g.wait(t) // recreating
	second := e.journal(next(first), nbData("second"))
	u.add(second)
	close(g.release)
	drain(t, u)
	nbs := e.named("gone")
	if len(nbs) != 1 {
		t.Fatalf("%d notebooks named gone, want 1: %+v", len(nbs), nbs)
	}
	if got := e.latest(nbs[0].ID); !bytes.Equal(got, nbData("second")) {
		t.Fatalf("content %q", got)
	}
}

func TestCloseKeepsPending(t *testing.T) {
	e := newEnv(t)
	nb := e.create("offline", nbData("v0"))
	e.faulty.FailNext(remotetest.AnyMethod, 1<<30, errTransient)
	u := e.track(newSaver(e.options(), e.j, nil))
	ent := e.journal(saveOf(nb), nbData("offline save"))
	u.add(ent)
	poll(t, "a failed attempt", func() bool { return u.Stats().Retries > 0 })
	u.Close()
	if !e.hasFiles(ent) {
		t.Fatalf("Close lost the pending save: %v", e.journalFiles())
	}
	if _, err := u.Drain(t.Context()); err == nil {
		t.Fatal("Drain after Close succeeded")
	}
	if len(e.doneResults()) != 0 {
		t.Fatalf("results %+v", e.doneResults())
	}

	// The next start uploads it.
	e.faulty.FailNext(remotetest.AnyMethod, 0, nil)
	j, entries, corrupt, err := openJournal(e.jdir)
	if err != nil || len(entries) != 1 || len(corrupt) != 0 || entries[0].Seq != ent.Seq {
		t.Fatalf("reopen: %+v %+v %v", entries, corrupt, err)
	}
	e.j = j
	u2 := e.start(e.options(), entries)
	drain(t, u2)
	if got := e.latest(nb.ID); !bytes.Equal(got, nbData("offline save")) {
		t.Fatalf("latest %q", got)
	}
	e.wantEmptyJournal()
}

func TestCloseDuringUpload(t *testing.T) {
	e := newEnv(t)
	nb := e.create("slow", nbData("v0"))
	g := newGate("Write", nb.ID) // held until Close cancels the call
	e.setHook(g.hook)
	u := e.track(newSaver(e.options(), e.j, nil))
	ent := e.journal(saveOf(nb), nbData("slow save"))
	u.add(ent)
	g.wait(t)
	u.Close()
	if !e.hasFiles(ent) {
		t.Fatalf("Close lost the uploading save: %v", e.journalFiles())
	}
	if len(e.doneResults()) != 0 {
		t.Fatalf("results %+v", e.doneResults())
	}
}

func TestWaitContext(t *testing.T) {
	e := newEnv(t)
	nb := e.create("stuck", nbData("v0"))
	e.faulty.FailNext(remotetest.AnyMethod, 1<<30, errTransient)
	u := e.start(e.options(), nil)
	ent := e.journal(saveOf(nb), nbData("x"))
	u.add(ent)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := u.Wait(ctx, Ref(ent.Key)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := u.Drain(ctx2); !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain: %v", err)
	}
	// Wait for another notebook returns at once.
	if _, err := u.Wait(t.Context(), "id:other"); err != nil {
		t.Fatalf("Wait for nothing: %v", err)
	}
}

func TestConflictName(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	if got, want := ConflictName("report", "bob", at), "report.conflict-bob-20240506T060809.123Z"; got != want {
		t.Fatalf("ConflictName: %q, want %q", got, want)
	}
	long := strings.Repeat("x", remote.MaxNameLen)
	got := ConflictName(long, "bob", at)
	if len(got) != remote.MaxNameLen || !strings.HasSuffix(got, ".conflict-bob-20240506T060809.123Z") {
		t.Fatalf("long ConflictName: %d bytes %q", len(got), got)
	}
	if err := remote.ValidName(got); err != nil {
		t.Fatalf("long ConflictName invalid: %v", err)
	}
}

func TestConflictNameUTF8(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for n := 100; n <= 130; n++ { // 2-byte runes: some cut points fall inside one
		name := strings.Repeat("é", n)
		got := ConflictName(name, "bob", at)
		if !utf8.ValidString(got) || remote.ValidName(got) != nil {
			t.Fatalf("ConflictName of %d × é: invalid name %q", n, got)
		}
	}
}

// A write cut off between TileDB's data write and its file_size metadata
// leaves a version of the older size: our bytes cut short, or followed by
// 0xff fill. Such a version is ours, not someone else's save.
func TestPartialOf(t *testing.T) {
	mine := []byte("0123456789")
	r := bytes.NewReader(mine)
	for _, tc := range []struct {
		theirs string
		want   bool
	}{
		{"01234", true},
		{"0123456789\xff\xff\xff", true},
		{"0123456789", false}, // same length: the checksum decides
		{"01235", false},
		{"0123456789\xff\x00", false},
		{"", true},
		{"x", false},
	} {
		if got := partialOf([]byte(tc.theirs), r, int64(len(mine))); got != tc.want {
			t.Errorf("partialOf(%q) = %v, want %v", tc.theirs, got, tc.want)
		}
	}
}
