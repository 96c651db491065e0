package fs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"pgregory.net/rapid"

	"notebookfs/fs"
	"notebookfs/fs/save"
	"notebookfs/remote"
)

// The core model test: random sequences of file operations through the
// FUSE-free core (no mount), with background work interleaved at every
// point between them, checked against a plain model after every step.
//
// The core runs with a fake clock, manual saves and a stepped scheduler,
// so nothing happens behind the test's back: between two foreground
// operations rapid draws whether an upload runs (Saver.Step), whether the
// outcomes waiting are applied (FS.ApplyOutcomes; separate, as the
// outcome reader may lag behind the uploads), whether one queued
// background job runs (a listing refresh, a prefetch, keeping a last-known
// listing), whether a deferred release arrives (the kernel sends RELEASE
// after close returned), whether the next create, write or check of an
// upload fails once as a dropped connection would, and whether the clock moves,
// a little or past the metadata TTL.
//
// Foreground operations act as the kernel would call the core: a lookup
// before anything done by name, then
//
//	write       open(O_CREAT|O_TRUNC), write, close (cp onto a file)
//	open        open a handle (read-only, read-write, or with O_TRUNC;
//	            created when missing); two or more of one file at once
//	hwrite      pwrite through a handle (maybe past the end)
//	hread       read through a handle: a writer sees its copy, a reader
//	            the version it first read
//	htrunc      ftruncate
//	close       flush and release, or flush now and release later
//	fsync       fsync through a handle (waits for the upload: the test
//	            steps uploads meanwhile)
//	truncate    truncate(2) by path
//	rename      any name to any name (rename over, move away, notebook
//	            onto notebook, backup onto backup, scratch onto notebook)
//	unlink, stat, readdir, forget (the kernel drops an inode)
//	xattr       getxattr of user.tiledb.id, .uri, .shares, .permissions
//	            (a new notebook's waits for its create)
//	touch       open and close without writing
//	truncClose  open(O_TRUNC) and close without writing (": > x")
//	redirect    open(O_TRUNC), flush, write, flush, release ("cmd > x")
//	vim, emacs, atomic
//	            editor saves (rename away and recreate, with or without
//	            keeping the backup; write a temp file and rename it over),
//	            played one syscall at a time with background work and
//	            probes in between
//	daemon2     a second core on the same state directory must be refused
//	restart     stop the core (the journal keeps what is not uploaded)
//	            and start a new one on the same state
//	remoteNew   another client of the same account creates a notebook
//
// After every step: the namespace lists exactly the model's names; each
// stats with the model's size and reads the model's content through a new
// handle; a notebook's mtime and inode number do not move unless a
// foreground operation changed that name (an upload landing, a listing
// refresh or the clock never do). A getxattr of the id always answers the
// id its notebook had before (a notebook keeps its id across editor
// saves). At "settle" and at the end, after every release, upload and
// background job: the store holds exactly the model's notebooks (those
// listed and those hidden behind a backup), each at its last acknowledged
// save, with a history that is a subsequence of its saves (one version
// per save at most, so no empty version unless an empty file was saved),
// and no conflict copy, refused or pending save.
//
// Core bugs found and not fixed yet are in knownBugs: the model steers
// around each (their minimal sequences are skipped regressions), so that
// the rest stays checked.
//
// CI runs 200 sequences (about 40 steps each); RAPID_CHECKS=10000 (or
// -rapid.checks=10000) runs more, see the README.

// knownBugs are core bugs the model found that are not fixed yet; the
// model steers around each (see coreRegressions for their sequences).
// Drop one once its regression test passes.
var knownBugs = map[string]bool{
	// A listing refreshed after a new notebook's create was done, and
	// before its outcome was applied, keeps that notebook after the file
	// is removed or moved away (its create is undone, the listing not).
	// The model applies the outcomes before a rename or an unlink.
	"listingKeepsCancelledCreate": false,
	// A file created under the name of a notebook moved away shows the
	// version of the backup record, not the save still pending: its mtime
	// moves when that save lands. Rebound files are not checked.
	"reboundShowsRecordVersion": true,
	// A file made afresh for a notebook (the kernel forgot the inode and
	// looks the name up again) between a save's upload and its outcome
	// shows the version before that save: it is neither pending any more
	// nor in the listing yet. The forget action applies outcomes first.
	"freshFileMissesUploadedSave": false,
	// A new notebook moved away onto a backup of another notebook leaves
	// that backup's record: removing the backup then fails. The model
	// does not move a new notebook onto a backup that holds one.
	"newMovedOntoBackupKeepsRecord": false,
	// A notebook moved away keeps its pending save on the backup file,
	// which then reads it stale once renamed onto a notebook name; and
	// when that save lands and the daemon stops before its outcome, a new
	// file of the name makes a conflict copy after the restart. The model
	// lets the uploads land before a notebook is moved away.
	"movedAwayKeepsPendingSave": true,
	// An outcome applied after a rename of its notebook puts the old name
	// back in the listing. The model applies outcomes before a rename.
	"outcomeRestoresOldName": false,
	// A backup whose notebook was taken over by a new file of its name,
	// renamed onto a notebook name, un-hides that notebook even when it
	// is hidden again behind another backup. The model does not rename
	// such a backup then.
	"reboundRecordUnhides": false,
	// A descriptor of a deleted or replaced notebook that holds no staged
	// copy (none yet, or one a rename dropped) reads nothing, or an older
	// version, and fails to write or truncate; the model accepts that.
	"goneHandleWithoutCopy": true,
	// A backup renamed back onto its notebook's name is compared with the
	// notebook's content in the memory cache; when that misses (after a
	// restart, or a large save that landed since) an unchanged backup
	// makes an identical version, and an emptied one is not saved at all.
	// The model accepts the identical version and does not rename an
	// emptied backup back.
	"restoreMissesCache": false,
}

// known says whether the model steers around a known bug; with
// MODEL_KNOWN_BUGS set it does not (and the skipped regressions run).
func known(bug string) bool {
	return knownBugs[bug] && os.Getenv("MODEL_KNOWN_BUGS") == ""
}

var (
	coreNotebooks = []string{"a.ipynb", "b.ipynb", "c.ipynb"}
	coreScratch   = []string{"a.ipynb~", "b.ipynb~", ".tmp1", "b.bak"}
	corePool      = append(append([]string(nil), coreNotebooks...), coreScratch...)
	// Names only another client creates (so never a name the model has).
	coreRemoteNames = []string{"r.ipynb", "s.ipynb"}
)

// errInjected is the failure of a remote call the test injects.
var errInjected = errors.New("connection reset (injected)")

// isNB mirrors the core's rule: names ending in .ipynb are notebooks,
// except hidden, "#" and "~" names.
func isNB(name string) bool {
	return strings.HasSuffix(name, fs.Suffix) && len(name) > len(fs.Suffix) &&
		!strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "#") && !strings.HasSuffix(name, "~")
}

// cop is one step.
type cop struct {
	kind      string
	name, dst string
	data      []byte
	n         int    // offset, size, job or release index, milliseconds
	h         int    // handle
	mode      string // open: r, rw, trunc; xattr: the attribute; close: now, later
	sync      bool   // vim: fsync before close
}

func (o cop) String() string {
	switch o.kind {
	case "write", "redirect", "vim", "emacs", "atomic", "remoteNew":
		return fmt.Sprintf("%s %s %q", o.kind, o.name, clip(o.data))
	case "open":
		return fmt.Sprintf("open %s %s -> h%d", o.name, o.mode, o.h)
	case "hwrite":
		return fmt.Sprintf("hwrite h%d off %d %q", o.h, o.n, clip(o.data))
	case "hread", "fsync":
		return fmt.Sprintf("%s h%d", o.kind, o.h)
	case "htrunc":
		return fmt.Sprintf("htrunc h%d %d", o.h, o.n)
	case "close":
		return fmt.Sprintf("close h%d (release %s)", o.h, o.mode)
	case "truncate":
		return fmt.Sprintf("truncate %s %d", o.name, o.n)
	case "rename":
		return fmt.Sprintf("rename %s %s", o.name, o.dst)
	case "xattr":
		return fmt.Sprintf("xattr %s %s", o.name, o.mode)
	case "unlink", "stat", "touch", "truncClose", "forget":
		return o.kind + " " + o.name
	case "job", "release":
		return fmt.Sprintf("%s %d", o.kind, o.n)
	case "tick":
		return fmt.Sprintf("tick %dms", o.n)
	}
	return o.kind
}

func clip(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%s...(%d bytes)", b[:12], len(b))
	}
	return string(b)
}

// ident is one notebook as the user knows it: it keeps its id across
// editor saves, and ends when deleted.
type ident struct {
	n     int
	name  string   // its file name remotely (name + .ipynb)
	saves [][]byte // acknowledged contents, oldest first (the create's first)
	id    string   // learned from getxattr or the store
	// applied: the core knows the notebook's id (its create's outcome was
	// applied, or it came from the listing); before, it is a new notebook
	// the core has not heard of remotely.
	applied bool
	deleted bool
	dupOK   bool // its history may repeat a version (see knownBugs)
}

func (id *ident) last() []byte { return id.saves[len(id.saves)-1] }

// mnode is one file (the core's File): it keeps its identity across
// renames, as the kernel's inode does.
type mnode struct {
	n       int
	content []byte // what it reads now: its staged copy, else its saved content
	nb      bool   // a notebook, else a scratch file
	ident   *ident // while nb
	gone    bool   // deleted or replaced: its handles save nothing
	staged  bool   // the core holds a copy being written (every handle reads it)
	dirty   bool   // that copy holds what no save has
	writers int    // write handles not released
	// rebound: created under the name of a notebook moved away, not saved
	// since (see knownBugs).
	rebound bool
}

type mhandle struct {
	id      int
	h       *fs.Handle
	node    *mnode
	write   bool
	wrote   bool
	snap    []byte // a reader's version, once read without a staged copy
	snapped bool
}

type coreModel struct {
	rt       rapid.TB
	e        *coreEnv
	names    map[string]*mnode
	backups  map[string]*ident // scratch name -> the notebook hidden behind it
	rebounds map[string]*ident // scratch name -> the notebook its record had, taken over since
	unseen   map[string]*ident // created by another client, not listed yet
	handles  map[int]*mhandle  // open
	releases []*mhandle        // closed, release not delivered yet
	idents   []*ident
	mtimes   map[string]time.Time // as last checked, while nothing changed them
	inos     map[string]uint64
	script   []cop // the rest of an editor's save
	steps    int
	kinds    map[string]int // steps by kind
	record   []cop          // the steps asked for, for MODEL_DUMP
	// figures of the save engine, for the summary
	uploads, retries, coalesced int64
	depth                       int
	nextNode                    int
	nextH                       int
}

func newCoreModel(rt rapid.TB) *coreModel {
	e, err := newCoreEnv()
	if err != nil {
		rt.Fatalf("starting the core: %v", err)
	}
	return &coreModel{rt: rt, e: e, names: map[string]*mnode{}, backups: map[string]*ident{}, rebounds: map[string]*ident{},
		unseen: map[string]*ident{}, kinds: map[string]int{}, handles: map[int]*mhandle{}, mtimes: map[string]time.Time{}, inos: map[string]uint64{}}
}

func (m *coreModel) close() {
	if m.rt.Failed() {
		m.rt.Logf("model: %s\nlast lines of the core's log:\n%s", m.describe(), m.e.logs)
		dumpOps(m.record)
	}
	for _, h := range m.sortedHandles() {
		m.handles[h].h.Release(context.Background())
	}
	for _, h := range m.releases {
		h.h.Release(context.Background())
	}
	m.e.close()
}

func (m *coreModel) describe() string {
	var b strings.Builder
	for _, name := range m.sortedNames() {
		n := m.names[name]
		fmt.Fprintf(&b, "%s=%q", name, clip(n.content))
		if n.nb {
			fmt.Fprintf(&b, "(nb%d %d saves applied %v)", n.ident.n, len(n.ident.saves), n.ident.applied)
		}
		b.WriteString(" ")
	}
	for s, id := range m.backups {
		fmt.Fprintf(&b, "backup %s hides nb%d %s; ", s, id.n, id.name)
	}
	fmt.Fprintf(&b, "handles %v, releases %d, script %v", m.sortedHandles(), len(m.releases), m.script)
	return b.String()
}

func (m *coreModel) sortedNames() []string {
	names := make([]string, 0, len(m.names))
	for n := range m.names {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (m *coreModel) sortedHandles() []int {
	hs := make([]int, 0, len(m.handles))
	for h := range m.handles {
		hs = append(hs, h)
	}
	sort.Ints(hs)
	return hs
}

// users counts the handles (open, or closed and not released) of n.
func (m *coreModel) users(n *mnode) int {
	k := 0
	for _, h := range m.handles {
		if h.node == n {
			k++
		}
	}
	for _, h := range m.releases {
		if h.node == n {
			k++
		}
	}
	return k
}

func (m *coreModel) newIdent(name string) *ident {
	id := &ident{n: len(m.idents) + 1, name: name}
	m.idents = append(m.idents, id)
	return id
}

func (m *coreModel) newNode(name string) *mnode {
	m.nextNode++
	return &mnode{n: m.nextNode, nb: isNB(name)}
}

// nameOf is the name n shows under, if listed.
func (m *coreModel) nameOf(n *mnode) (string, bool) {
	for name, o := range m.names {
		if o == n {
			return name, true
		}
	}
	return "", false
}

// touch records that a foreground operation changed names: their mtime
// and inode may move.
func (m *coreModel) touch(names ...string) {
	for _, n := range names {
		delete(m.mtimes, n)
		delete(m.inos, n)
	}
}

func (m *coreModel) touchNode(n *mnode) {
	if name, ok := m.nameOf(n); ok {
		m.touch(name)
	}
}

// saved records a save of n's content: acknowledged once the call that
// made it returns nil.
func (m *coreModel) saved(n *mnode) {
	n.dirty = false
	if !n.nb || n.gone {
		return
	}
	n.ident.saves = append(n.ident.saves, slices.Clone(n.content))
	n.rebound = false
	m.touchNode(n)
}

// rebind records that a new file (or a rename onto the name) took over
// the notebook moved away: its backup is a plain scratch file now, whose
// record the core keeps as rebound.
func (m *coreModel) rebind(id *ident) {
	for s, o := range m.backups {
		if o == id {
			delete(m.backups, s)
			m.rebounds[s] = id
		}
	}
}

// backupOf is the notebook hidden behind a backup whose old file name is
// file, if any.
func (m *coreModel) backupOf(file string) *ident {
	for _, id := range m.backups {
		if id.name == file {
			return id
		}
	}
	return nil
}

func (m *coreModel) deleted(id *ident) {
	if id != nil {
		id.deleted = true
	}
}

// noteApplied learns which new notebooks the core knows the id of, after
// the outcomes waiting were applied: those with a save whose create is no
// longer queued (pc is the queue of creates before the outcomes were
// applied: creates done by then have their outcome among them).
func (m *coreModel) noteApplied(pc []save.Entry) {
	waiting := map[string]bool{}
	for _, e := range pc {
		waiting[e.Name+fs.Suffix] = true
	}
	for name, n := range m.names {
		if n.nb && !n.ident.applied && len(n.ident.saves) > 0 && !waiting[name] {
			n.ident.applied = true
		}
	}
}

func (m *coreModel) pendingCreates() []save.Entry {
	return m.e.fs.Saver().PendingCreates(string(remote.Owned), coreUser)
}

func (m *coreModel) applyOutcomes() int {
	pc := m.pendingCreates()
	k := m.e.fs.ApplyOutcomes()
	m.noteApplied(pc)
	return k
}

// pump runs fn, which may wait for uploads (fsync, a new notebook's
// getxattr), and steps the uploads and applies their outcomes once it
// waits, as the upload workers and the outcome reader would. Nothing is
// stepped unless fn waits, so the sequence does not depend on timing.
func (m *coreModel) pump(what string, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	sv := m.e.fs.Saver()
	waited := false
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		if time.Now().After(deadline) {
			m.rt.Fatalf("%s did not return while its uploads were stepped", what)
		}
		if sv.Waiting() > 0 {
			waited = true
			if sv.Step() {
				continue
			}
			if sv.Runnable() == 0 && sv.Stats().Pending > 0 {
				m.e.clock.Advance(time.Minute) // a retry's backoff passes
				continue
			}
		}
		// Past the uploads (or after an upload stepped before), fn
		// waits for their outcomes, which the core counts, not the saver.
		if (waited || time.Since(start) > 20*time.Millisecond) && m.applyOutcomes() > 0 {
			continue
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// drain delivers every release and runs every upload, outcome and
// background job.
func (m *coreModel) drain() {
	for len(m.releases) > 0 {
		m.apply(cop{kind: "release", n: 0})
	}
	sv := m.e.fs.Saver()
	for i := 0; ; i++ {
		if i > 200 {
			m.rt.Fatalf("uploads do not end: %+v", sv.Stats())
		}
		progress := false
		for sv.Step() {
			progress = true
		}
		if m.applyOutcomes() > 0 {
			progress = true
		}
		for m.e.sched.len() > 0 {
			m.e.sched.run(0)
			progress = true
		}
		if !progress {
			if sv.Stats().Pending == 0 {
				return
			}
			m.e.clock.Advance(time.Minute) // a retry's backoff
		}
	}
}

// landUploads runs every upload (retries too) and applies the outcomes.
func (m *coreModel) landUploads() {
	sv := m.e.fs.Saver()
	for i := 0; i < 100; i++ {
		for sv.Step() {
		}
		if sv.Stats().Pending == 0 {
			break
		}
		m.e.clock.Advance(time.Minute) // a retry's backoff
	}
	m.applyOutcomes()
}

// openPath opens name as the kernel does: a lookup, then an open, or a
// create when the name is missing and create is set.
func (m *coreModel) openPath(name string, flags uint32, create bool) (*fs.File, *fs.Handle, error) {
	ctx := context.Background()
	e, err := m.e.ns.Lookup(ctx, name)
	if errors.Is(err, syscall.ENOENT) && create {
		return m.e.ns.Create(ctx, name, flags|syscall.O_CREAT, 0o644)
	}
	if err != nil {
		return nil, nil, err
	}
	if e.File == nil {
		return nil, nil, fmt.Errorf("%s is no file: %+v", name, e)
	}
	h, _, err := e.File.Open(ctx, flags)
	return e.File, h, err
}

func (m *coreModel) lookupFile(name string) (*fs.File, error) {
	e, err := m.e.ns.Lookup(context.Background(), name)
	if err != nil {
		return nil, err
	}
	if e.File == nil {
		return nil, fmt.Errorf("%s is no file", name)
	}
	return e.File, nil
}

func readAll(h *fs.Handle) ([]byte, error) {
	var out []byte
	buf := make([]byte, 3000)
	for {
		k, err := h.ReadAt(context.Background(), buf, int64(len(out)))
		if err != nil {
			return out, err
		}
		if k == 0 {
			return out, nil
		}
		out = append(out, buf[:k]...)
	}
}

func resize(b []byte, size int) []byte {
	if size <= len(b) {
		return slices.Clone(b[:size])
	}
	return append(slices.Clone(b), make([]byte, size-len(b))...)
}

func writeAt(b []byte, off int, data []byte) []byte {
	if len(data) == 0 {
		return b // a pwrite of nothing does not extend
	}
	out := resize(b, max(len(b), off+len(data)))
	copy(out[off:], data)
	return out
}

func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// mustENOENT checks the answer for a missing name.
func (m *coreModel) mustENOENT(what string, err error) {
	m.rt.Helper()
	if errnoOf(err) != syscall.ENOENT && !errors.Is(err, remote.ErrNotFound) {
		m.rt.Fatalf("%s of a missing name: %v, want ENOENT", what, err)
	}
}

func (m *coreModel) must(what string, err error) {
	m.rt.Helper()
	if err != nil {
		m.rt.Fatalf("%s: %v", what, err)
	}
}

// renameOK says whether the model covers a rename: a file becoming or
// leaving scratch must have no handle (writes through a descriptor held
// across such a rename are not modelled).
func (m *coreModel) renameOK(src, dst string) bool {
	n := m.names[src]
	if n != nil && n.nb && !n.ident.applied && m.backups[dst] != nil && known("newMovedOntoBackupKeepsRecord") {
		return false
	}
	if own := m.backups[src]; own != nil && n != nil && isNB(dst) && len(n.content) == 0 && len(own.last()) > 0 && known("restoreMissesCache") {
		if d := m.names[dst]; d == nil && m.backupOf(dst) == nil || m.backupOf(dst) == own {
			return false
		}
	}
	if r := m.rebounds[src]; r != nil && isNB(dst) && known("reboundRecordUnhides") {
		for _, o := range m.backups {
			if o == r {
				return false
			}
		}
	}
	if n == nil || src == dst || (isNB(src) && isNB(dst)) {
		return true
	}
	return m.users(n) == 0
}

func (m *coreModel) apply(o cop) {
	m.rt.Helper()
	if m.depth == 0 {
		m.record = append(m.record, o)
	}
	m.depth++
	defer func() { m.depth-- }()
	m.steps++
	m.kinds[o.kind]++
	m.rt.Logf("step %d: %s", m.steps, o)
	ctx := context.Background()
	switch o.kind {
	case "write":
		// cp onto the name: open(O_WRONLY|O_CREAT|O_TRUNC), write, close.
		m.openHandle(o.name, "trunc", -1, true)
		h := m.handles[-1]
		m.apply1hwrite(h, 0, o.data)
		m.closeHandle(h, true)

	case "open":
		m.openHandle(o.name, o.mode, o.h, o.mode != "r")

	case "hwrite":
		m.apply1hwrite(m.handle(o.h), o.n, o.data)

	case "hread":
		h := m.handle(o.h)
		got, err := readAll(h.h)
		if h.node.nb && h.node.gone && !h.node.staged && known("goneHandleWithoutCopy") && (err != nil || !h.snapped) {
			return // a deleted version may be gone remotely before it was read
		}
		m.must(o.String(), err)
		want := h.node.content
		if h.node.nb && !h.node.staged {
			if !h.snapped {
				h.snap, h.snapped = slices.Clone(h.node.content), true
			}
			want = h.snap
		}
		if !bytes.Equal(got, want) {
			m.rt.Fatalf("%s reads %q, want %q", o, clip(got), clip(want))
		}

	case "htrunc":
		h := m.handle(o.h)
		size := uint64(o.n)
		_, err := h.h.File().Setattr(ctx, fs.SetAttr{Size: &size}, h.h)
		if err != nil && h.node.nb && h.node.gone && !h.node.staged && known("goneHandleWithoutCopy") {
			return
		}
		m.must(o.String(), err)
		n := h.node
		n.content = resize(n.content, o.n)
		if n.nb {
			n.staged, n.dirty, h.wrote = true, !n.gone, true
		}

	case "close":
		m.closeHandle(m.handle(o.h), o.mode != "later")

	case "release":
		h := m.releases[o.n]
		m.releases = slices.Delete(m.releases, o.n, o.n+1)
		m.must("release", h.h.Release(ctx))
		m.released(h)

	case "fsync":
		h := m.handle(o.h)
		n := h.node
		if n.nb && n.dirty && !n.gone {
			m.saved(n) // journaled first, then waited for
		}
		m.must(o.String(), m.pump(o.String(), func() error { return h.h.Fsync(ctx) }))
		if n.nb && !n.gone && len(n.ident.saves) > 0 && !n.ident.applied {
			m.rt.Fatalf("%s returned before the create was done", o)
		}

	case "truncate":
		n := m.names[o.name]
		f, err := m.lookupFile(o.name)
		if n == nil {
			m.mustENOENT(o.String(), err)
			return
		}
		m.must("lookup "+o.name, err)
		size := uint64(o.n)
		_, err = f.Setattr(ctx, fs.SetAttr{Size: &size}, nil)
		m.must(o.String(), err)
		n.content = resize(n.content, o.n)
		m.touch(o.name)
		if n.nb {
			n.dirty = !n.gone
			m.saved(n)
			n.staged = n.writers > 0
		}

	case "rename":
		m.rename(o.name, o.dst)

	case "unlink":
		n := m.names[o.name]
		if n != nil && n.nb && known("listingKeepsCancelledCreate") {
			m.applyOutcomes()
		}
		_, err := m.e.ns.Lookup(ctx, o.name)
		if n == nil {
			m.mustENOENT(o.String(), err)
			return
		}
		m.must("lookup "+o.name, err)
		m.must(o.String(), m.e.ns.Unlink(ctx, o.name))
		if n.nb {
			m.deleted(n.ident)
		}
		if id := m.backups[o.name]; id != nil {
			m.deleted(id)
			delete(m.backups, o.name)
		}
		delete(m.rebounds, o.name)
		n.gone = true
		delete(m.names, o.name)
		m.touch(o.name)

	case "stat":
		n := m.names[o.name]
		f, err := m.lookupFile(o.name)
		if n == nil {
			m.mustENOENT(o.String(), err)
			return
		}
		m.must("lookup "+o.name, err)
		a, err := f.Attr()
		m.must(o.String(), err)
		if a.Size != int64(len(n.content)) {
			m.rt.Fatalf("%s: size %d, model has %d bytes", o, a.Size, len(n.content))
		}

	case "readdir":
		ents, err := m.e.fs.Category(remote.Owned).ReadDir(ctx)
		m.must("readdir owned", err)
		if len(ents) != 1 || ents[0].Name != coreUser {
			m.rt.Fatalf("owned/ lists %+v, want the user's namespace", ents)
		}
		m.checkListing()

	case "forget":
		n := m.names[o.name]
		if n == nil || m.users(n) > 0 {
			return
		}
		f, err := m.lookupFile(o.name)
		m.must("lookup "+o.name, err)
		if known("freshFileMissesUploadedSave") {
			m.applyOutcomes()
		}
		f.Forget()
		m.touch(o.name)
		// The kernel looks the name up again at its next use.
		_, err = m.lookupFile(o.name)
		m.must("lookup "+o.name, err)

	case "xattr":
		m.xattr(o)

	case "touch", "truncClose":
		mode := "rw"
		if o.kind == "truncClose" {
			mode = "trunc"
		}
		m.openHandle(o.name, mode, -1, true)
		m.closeHandle(m.handles[-1], true)

	case "redirect":
		// The shell opens with O_TRUNC, dup2s the descriptor and closes
		// the first (a flush before any write), the command writes, and
		// the last close flushes and releases.
		m.openHandle(o.name, "trunc", -1, true)
		h := m.handles[-1]
		m.flush(h)
		if len(o.data) > 0 {
			m.apply1hwrite(h, 0, o.data)
		}
		m.closeHandle(h, true)

	case "daemon2":
		opts, err := m.e.options(&stepScheduler{}, "diskcache2")
		m.must("options", err)
		opts.StateLockWait = time.Nanosecond
		f2, err := fs.New(opts)
		if err == nil {
			f2.Close()
			m.rt.Fatalf("a second core started on a state directory in use")
		}
		if !errors.Is(err, save.ErrLocked) {
			m.rt.Fatalf("a second core on the state directory: %v, want %v", err, save.ErrLocked)
		}

	case "restart":
		// As an unmount: the kernel releases every handle; then the core
		// stops without waiting for uploads and a new one starts.
		for _, id := range m.sortedHandles() {
			m.closeHandle(m.handles[id], true)
		}
		for len(m.releases) > 0 {
			m.apply(cop{kind: "release"})
		}
		m.e.stop()
		m.must("restart", m.e.start())
		// The mtime of a version uploaded before shows the store's time
		// now (what the mount showed is not kept across a restart).
		clear(m.mtimes)
		clear(m.inos)
		m.noteApplied(m.pendingCreates())

	case "remoteNew":
		nb, err := m.e.client().Create(ctx, coreUser, strings.TrimSuffix(o.name, fs.Suffix), bytes.NewReader(o.data), int64(len(o.data)), remote.CreateOptions{})
		m.must(o.String(), err)
		id := m.newIdent(o.name)
		id.saves, id.applied, id.id = [][]byte{slices.Clone(o.data)}, true, nb.ID
		m.unseen[o.name] = id

	// Background work.
	case "upload":
		m.e.fs.Saver().Step()
	case "apply":
		m.applyOutcomes()
	case "job":
		m.e.sched.run(o.n)
	case "jobs":
		for m.e.sched.len() > 0 {
			m.e.sched.run(0)
		}
	case "tick":
		m.e.clock.Advance(time.Duration(o.n) * time.Millisecond)
	case "ttl":
		m.e.clock.Advance(coreTTL + time.Millisecond)
	case "fault":
		// The next call of that method fails as a dropped connection
		// would, before it reaches the store.
		m.e.faults.FailNext(o.mode, 1, errInjected)
	case "settle":
		m.settle()

	default:
		m.rt.Fatalf("unknown step %q", o.kind)
	}
}

func (m *coreModel) handle(id int) *mhandle {
	h := m.handles[id]
	if h == nil {
		m.rt.Fatalf("no handle h%d", id)
	}
	return h
}

// openHandle opens name as handle id: mode r, rw or trunc (O_RDWR|O_TRUNC);
// create makes a missing name.
func (m *coreModel) openHandle(name, mode string, id int, create bool) {
	flags := uint32(syscall.O_RDWR)
	switch mode {
	case "r":
		flags = syscall.O_RDONLY
	case "trunc":
		flags |= syscall.O_TRUNC
	}
	n := m.names[name]
	_, h, err := m.openPath(name, flags, create)
	what := fmt.Sprintf("open %s %s", name, mode)
	if n == nil && !create {
		m.mustENOENT(what, err)
		return
	}
	m.must(what, err)
	write := mode != "r"
	if n == nil {
		n = m.newNode(name)
		if n.nb {
			n.ident = m.backupOf(name)
			if n.ident != nil {
				// A new file of a moved-away notebook's name saves into it.
				n.rebound = true
				m.rebind(n.ident)
			} else {
				n.ident = m.newIdent(name)
			}
			n.staged, n.dirty = true, true
		}
		m.names[name] = n
		m.touch(name)
	} else if write {
		if mode == "trunc" {
			n.content = nil
			m.touch(name)
		}
		if n.nb {
			n.staged = true
			if mode == "trunc" {
				n.dirty = !n.gone
			}
		}
	}
	if write && n.nb {
		n.writers++
	}
	mh := &mhandle{id: id, h: h, node: n, write: write}
	if !write && n.nb && !n.staged && h.Pinned() {
		// Close-to-open: the version shown at open is what it reads.
		mh.snap, mh.snapped = slices.Clone(n.content), true
	}
	m.handles[id] = mh
}

func (m *coreModel) apply1hwrite(h *mhandle, off int, data []byte) {
	k, err := h.h.WriteAt(context.Background(), data, int64(off))
	if err != nil && h.node.nb && h.node.gone && !h.node.staged && known("goneHandleWithoutCopy") {
		return
	}
	if err != nil || k != len(data) {
		m.rt.Fatalf("hwrite h%d: %d bytes, %v", h.id, k, err)
	}
	n := h.node
	n.content = writeAt(n.content, off, data)
	if n.nb {
		n.staged, n.dirty, h.wrote = true, !n.gone, true
	}
}

// flush is a close's FLUSH: it saves what this handle wrote.
func (m *coreModel) flush(h *mhandle) {
	m.must(fmt.Sprintf("flush h%d", h.id), h.h.Flush(context.Background()))
	n := h.node
	if h.write && h.wrote && n.nb && n.dirty {
		m.saved(n)
	}
}

// closeHandle flushes and releases now, or leaves the release for later.
func (m *coreModel) closeHandle(h *mhandle, now bool) {
	m.flush(h)
	delete(m.handles, h.id)
	if !now {
		m.releases = append(m.releases, h)
		return
	}
	m.must(fmt.Sprintf("release h%d", h.id), h.h.Release(context.Background()))
	m.released(h)
}

// released: the last writer's release saves what is left (a file
// truncated at open and not written) and drops the staged copy.
func (m *coreModel) released(h *mhandle) {
	n := h.node
	if !h.write || !n.nb {
		return
	}
	n.writers--
	if n.writers == 0 {
		if n.dirty {
			m.saved(n)
		}
		n.staged = false
	}
}

func (m *coreModel) rename(src, dst string) {
	ctx := context.Background()
	s, d := m.names[src], m.names[dst]
	what := fmt.Sprintf("rename %s %s", src, dst)
	if s != nil && isNB(src) && !isNB(dst) && known("movedAwayKeepsPendingSave") {
		m.landUploads()
	}
	if s != nil && isNB(src) && (known("outcomeRestoresOldName") || known("listingKeepsCancelledCreate")) ||
		isNB(dst) && known("listingKeepsCancelledCreate") {
		m.applyOutcomes()
	}
	// The kernel looks both names up first (a missing target is fine).
	_, err := m.e.ns.Lookup(ctx, src)
	if s == nil {
		m.mustENOENT(what, err)
		return
	}
	m.must("lookup "+src, err)
	m.e.ns.Lookup(ctx, dst)
	err = m.e.ns.Rename(ctx, src, m.e.ns, dst, 0)
	if errors.Is(err, errInjected) {
		return // a scratch file renamed onto a new name creates at once: it fails, changing nothing
	}
	m.must(what, err)
	if src == dst {
		return
	}
	m.touch(src, dst)
	srcNB, dstNB := isNB(src), isNB(dst)
	// What the notebook name dst stands for: a listed notebook, or one
	// moved away from that name.
	var tgt *ident
	tgtRecord := false
	if dstNB {
		if d != nil {
			tgt = d.ident
		} else if tgt = m.backupOf(dst); tgt != nil {
			tgtRecord = true
		}
	}
	switch {
	case srcNB && dstNB:
		if tgt != nil && tgt.applied {
			// Onto a notebook: the content is its new version and the
			// source is deleted.
			m.deleted(s.ident)
			s.ident = tgt
			if tgtRecord {
				m.rebind(tgt)
			}
			s.staged = false
			s.dirty = true
			m.saved(s)
		} else {
			// A plain rename; a new notebook there is discarded.
			if tgt != nil {
				m.deleted(tgt)
			}
			s.ident.name = dst
		}
	case srcNB:
		// Moved away: a notebook the core knows remotely stays, hidden
		// behind the backup; a new one is no notebook any more.
		if over := m.backups[dst]; over != nil && over != s.ident {
			m.deleted(over)
		}
		delete(m.backups, dst)
		if s.ident.applied {
			m.backups[dst] = s.ident
			delete(m.rebounds, dst)
		} else {
			m.deleted(s.ident)
		}
		s.nb, s.ident, s.staged, s.dirty = false, nil, false, false
	case !dstNB:
		if over := m.backups[dst]; over != nil {
			m.deleted(over)
			delete(m.backups, dst)
		}
		delete(m.rebounds, dst)
		if own := m.backups[src]; own != nil {
			delete(m.backups, src)
			m.backups[dst] = own
		}
		if r := m.rebounds[src]; r != nil {
			delete(m.rebounds, src)
			m.rebounds[dst] = r
		}
	default:
		// A scratch file onto a notebook name: a save.
		own := m.backups[src]
		delete(m.backups, src)
		delete(m.rebounds, src)
		restore := own != nil && (tgt == own || tgt == nil)
		var id *ident
		switch {
		case restore:
			// A backup renamed back: its notebook again, with a new
			// version only if the backup was changed.
			id = own
			id.name = dst
			s.nb, s.ident = true, id
			if known("restoreMissesCache") {
				id.dupOK = true
			}
			if !bytes.Equal(s.content, own.last()) {
				s.dirty = true
				m.saved(s)
			}
		case tgt != nil && tgt.applied:
			id = tgt
			if tgtRecord {
				m.rebind(tgt)
			}
			s.nb, s.ident, s.dirty = true, id, true
			m.saved(s)
		default:
			// A save of a new notebook, or of the new one of that name not
			// uploaded yet, whose saves the file takes over.
			id = tgt
			if id == nil {
				id = m.newIdent(dst)
			}
			s.nb, s.ident, s.dirty = true, id, true
			m.saved(s)
		}
		if own != nil && !restore {
			m.deleted(own)
		}
		s.staged, s.dirty = false, false
	}
	if d != nil {
		d.gone = true
	}
	delete(m.names, src)
	m.names[dst] = s
}

func (m *coreModel) xattr(o cop) {
	ctx := context.Background()
	n := m.names[o.name]
	f, err := m.lookupFile(o.name)
	if n == nil {
		m.mustENOENT(o.String(), err)
		return
	}
	m.must("lookup "+o.name, err)
	if n.nb && !n.ident.applied && len(n.ident.saves) == 0 && n.dirty {
		// Created and not saved yet (touch before its release): the
		// getxattr saves it, to answer the id of a notebook that exists.
		m.saved(n)
	}
	var v []byte
	err = m.pump(o.String(), func() error {
		var err error
		v, err = f.Getxattr(ctx, o.mode)
		return err
	})
	if !n.nb {
		if errnoOf(err) != syscall.ENODATA {
			m.rt.Fatalf("%s of a scratch file: %q, %v, want ENODATA", o, v, err)
		}
		return
	}
	m.must(o.String(), err)
	id := n.ident
	if !id.applied {
		m.rt.Fatalf("%s answered %q before the notebook was created", o, v)
	}
	switch o.mode {
	case "user.tiledb.id":
		m.learnID(id, string(v), o.String())
	case "user.tiledb.uri":
		if want := "tiledb://" + coreUser + "/" + strings.TrimSuffix(o.name, fs.Suffix); string(v) != want {
			m.rt.Fatalf("%s = %q, want %q", o, v, want)
		}
	case "user.tiledb.permissions":
		if !slices.Contains(strings.Split(string(v), ","), remote.ActionWrite) {
			m.rt.Fatalf("%s = %q: no write", o, v)
		}
	case "user.tiledb.shares":
		if len(v) != 0 {
			m.rt.Fatalf("%s = %q, shared with no one", o, v)
		}
	}
}

// learnID checks that a notebook keeps its id: the first one seen is the
// one it has for good, and no other notebook has it.
func (m *coreModel) learnID(id *ident, got, what string) {
	if got == "" {
		m.rt.Fatalf("%s: no id", what)
	}
	if id.id != "" && id.id != got {
		m.rt.Fatalf("%s: notebook %d (%s) had id %s, now %s", what, id.n, id.name, id.id, got)
	}
	for _, o := range m.idents {
		if o != id && o.id == got && !o.deleted {
			m.rt.Fatalf("%s: notebooks %d and %d have the same id %s", what, o.n, id.n, got)
		}
	}
	id.id = got
}

// checkListing: the namespace lists the model's names (and, once they
// show, what another client created).
func (m *coreModel) checkListing() {
	ents, err := m.e.ns.ReadDir(context.Background())
	m.must("readdir", err)
	var got []string
	for _, e := range ents {
		if id := m.unseen[e.Name]; id != nil {
			delete(m.unseen, e.Name)
			n := m.newNode(e.Name)
			n.ident, n.content = id, slices.Clone(id.last())
			m.names[e.Name] = n
		}
		got = append(got, e.Name)
	}
	if want := m.sortedNames(); !slices.Equal(got, want) {
		m.rt.Fatalf("the namespace lists %v, the model has %v", got, want)
	}
}

// check is the invariant after every step.
func (m *coreModel) check() {
	m.rt.Helper()
	m.checkListing()
	ctx := context.Background()
	for _, name := range m.sortedNames() {
		n := m.names[name]
		f, err := m.lookupFile(name)
		m.must("lookup "+name, err)
		a, err := f.Attr()
		m.must("stat "+name, err)
		if a.Size != int64(len(n.content)) {
			m.rt.Fatalf("%s: stat size %d, model has %d bytes", name, a.Size, len(n.content))
		}
		if n.nb {
			if t, ok := m.mtimes[name]; ok && !t.Equal(a.Mtime) && !(n.rebound && known("reboundShowsRecordVersion")) {
				m.rt.Fatalf("%s: mtime moved from %s to %s, and nothing changed it", name, t.Format(time.RFC3339Nano), a.Mtime.Format(time.RFC3339Nano))
			}
			if ino, ok := m.inos[name]; ok && ino != f.Ino() {
				m.rt.Fatalf("%s: inode moved from %d to %d, and nothing changed it", name, ino, f.Ino())
			}
			m.mtimes[name], m.inos[name] = a.Mtime, f.Ino()
		}
		h, _, err := f.Open(ctx, syscall.O_RDONLY)
		m.must("open "+name, err)
		got, err := readAll(h)
		m.must("read "+name, err)
		m.must("release "+name, h.Release(ctx))
		if !bytes.Equal(got, n.content) {
			m.rt.Fatalf("%s reads %q, model has %q", name, clip(got), clip(n.content))
		}
	}
}

// settle runs everything to its end and compares the store with the
// model: each notebook listed or hidden behind a backup is there, once,
// at its last save, with no version that was not a save; nothing else is.
func (m *coreModel) settle() {
	m.drain()
	ctx := context.Background()
	c := m.e.client()
	want := map[string]*ident{}
	for name, n := range m.names {
		if n.nb && len(n.ident.saves) > 0 {
			want[name] = n.ident
		}
	}
	for _, id := range m.backups {
		want[id.name] = id
	}
	for name, id := range m.unseen {
		want[name] = id
	}
	nbs, err := c.List(ctx, remote.Owned, coreUser)
	m.must("listing the store", err)
	seen := map[string]bool{}
	for _, nb := range nbs {
		file := nb.Name + fs.Suffix
		id := want[file]
		if id == nil || seen[file] {
			data, _ := m.storeBytes(nb.ID, time.Time{})
			m.rt.Fatalf("the store has a notebook %q (%s, %q) the model does not", nb.Name, nb.ID, clip(data))
		}
		seen[file] = true
		m.learnID(id, nb.ID, "the store's "+file)
		vs, err := c.Versions(ctx, coreUser, nb.ID)
		m.must("versions of "+file, err)
		var history [][]byte
		for _, v := range vs {
			data, err := m.storeBytes(nb.ID, v.Time)
			m.must("reading a version of "+file, err)
			history = append(history, data)
		}
		if len(history) == 0 || !bytes.Equal(history[len(history)-1], id.last()) {
			m.rt.Fatalf("the store's %s holds %q, its last save is %q", file, clip(last(history)), clip(id.last()))
		}
		saves := id.saves
		if id.dupOK {
			history, saves = dedup(history), dedup(saves)
		}
		if !subsequence(history, saves) {
			m.rt.Fatalf("the store's %s has versions %s for the saves %s", file, clips(history), clips(id.saves))
		}
	}
	for file, id := range want {
		if !seen[file] {
			m.rt.Fatalf("the store has no %s (notebook %d, saved %s)", file, id.n, clips(id.saves))
		}
	}
	st := m.e.fs.Saver().Stats()
	if st.Pending != 0 || len(st.Failed) != 0 || st.ConflictCount != 0 || len(st.Aside) != 0 {
		m.rt.Fatalf("the save engine after settling: %+v", st)
	}
}

func (m *coreModel) storeBytes(id string, at time.Time) ([]byte, error) {
	r, err := m.e.client().Read(context.Background(), coreUser, id, at)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func last(b [][]byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b[len(b)-1]
}

func clips(bs [][]byte) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = fmt.Sprintf("%q", clip(b))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// dedup drops repeats of the element before.
func dedup(bs [][]byte) [][]byte {
	var out [][]byte
	for _, b := range bs {
		if len(out) == 0 || !bytes.Equal(out[len(out)-1], b) {
			out = append(out, b)
		}
	}
	return out
}

// subsequence reports whether a is b with some elements left out.
func subsequence(a, b [][]byte) bool {
	i := 0
	for _, x := range b {
		if i < len(a) && bytes.Equal(a[i], x) {
			i++
		}
	}
	return i == len(a)
}
