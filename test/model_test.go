//go:build linux

package test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pgregory.net/rapid"

	"notebookfs/remote"
	"notebookfs/remote/local"
)

// The model-based test: random sequences of file operations through one
// real mount, checked after every step against a plain model (a map of
// names to contents), and now and then against the store.
//
// Every rapid check mounts a fresh store. The operations work on a small
// pool of names, notebooks and editor scratch files, so they collide often:
//
//	write      os.WriteFile (create or overwrite)
//	writeAt    open O_RDWR, WriteAt at an offset (maybe past the end), close
//	truncate   truncate(2) by path
//	ftruncate  open O_RDWR, ftruncate, close
//	fsync      open O_RDWR|O_TRUNC, write, fsync, close
//	rename     any name to any name: scratch -> notebook (rename-over),
//	           notebook -> scratch (move away), notebook -> notebook,
//	           scratch -> scratch
//	unlink     os.Remove
//	remount    unmount (after a bounded drain) and mount again
//	offline    every remote call fails from now on
//	online     the remote works again
//	settle     wait for the uploads, then compare the store with the model
//
// After each step the directory lists exactly the model's names, and every
// file stats and reads as the model says. Online, every step ends with its
// uploads done, so what is pending when an operation runs is decided by the
// operations alone (saves made offline) and failures replay and shrink.
//
// The model knows which operations need the remote: offline those must fail
// with EIO and change nothing, and all others must succeed: a save (close)
// returns 0 offline too, and fsync of a notebook is EIO offline and 0
// online. Going online, nothing saved may be lost.
//
// Defaults are sized for a -race run well under a minute (30 checks of
// about 25 steps); -rapid.checks and -rapid.steps (or RAPID_CHECKS and
// RAPID_STEPS) override them.

var (
	modelNotebooks = []string{"a.ipynb", "b.ipynb", "c.ipynb"}
	modelScratch   = []string{"a.ipynb~", ".tmp1", "b.bak"}
	modelNames     = append(append([]string(nil), modelNotebooks...), modelScratch...)
)

// modelIsNotebook mirrors fs.isNotebookName for the pool above.
func modelIsNotebook(name string) bool { return slices.Contains(modelNotebooks, name) }

// op is one step.
type op struct {
	kind string // write, writeAt, truncate, ftruncate, fsync, rename, unlink, remount, offline, online, settle
	name string
	dst  string // rename
	data []byte // write, writeAt, fsync
	n    int    // writeAt: offset; truncate, ftruncate: size
}

func (o op) String() string {
	switch o.kind {
	case "write", "fsync":
		return fmt.Sprintf("%s %s %q", o.kind, o.name, clip(o.data))
	case "writeAt":
		return fmt.Sprintf("writeAt %s off %d %q", o.name, o.n, clip(o.data))
	case "truncate", "ftruncate":
		return fmt.Sprintf("%s %s %d", o.kind, o.name, o.n)
	case "rename":
		return fmt.Sprintf("rename %s %s", o.name, o.dst)
	case "unlink":
		return "unlink " + o.name
	}
	return o.kind
}

// backup is a notebook moved away to a scratch name: it is hidden from the
// listing but stays in the store under its old name until a new file of
// that name takes it over (then it is that file) or the backup is removed
// (then it is deleted).
type backup struct {
	orig    string // the notebook's file name before the move
	content []byte // its content then: what the store holds
}

type model struct {
	rt      rapid.TB
	tb      *rapidTB
	e       *env
	files   map[string][]byte // every name the directory must list
	backups map[string]backup // by scratch name
	// pending are notebooks created offline and not uploaded yet (no id):
	// deleting or renaming them needs no remote call.
	pending map[string]bool
	offline bool
	seed    int64
	steps   int
}

// modelSlowestSync is the longest fsync online, for the summary.
var modelSlowestSync time.Duration

func TestModel(t *testing.T) {
	needFuse(t)
	rapidDefaults(t, map[string]string{"rapid.checks": "30", "rapid.steps": "25", "rapid.nofailfile": "true"})
	start := time.Now()
	var checks, steps int
	spent := map[string]time.Duration{}
	rapid.Check(t, func(rt *rapid.T) {
		m := newModel(t, rt)
		defer m.close()
		draw := func(gen func(*rapid.T) op) func(*rapid.T) {
			return func(rt *rapid.T) {
				o := gen(rt)
				begin := time.Now()
				m.apply(o)
				spent[o.kind] += time.Since(begin)
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"": func(*rapid.T) {
				begin := time.Now()
				m.check()
				spent["check"] += time.Since(begin)
			},
			"write": draw(func(rt *rapid.T) op {
				return op{kind: "write", name: m.drawName(rt, "name"), data: drawContent(rt, "data")}
			}),
			"writeAt": draw(func(rt *rapid.T) op {
				name := m.drawName(rt, "name")
				return op{kind: "writeAt", name: name, n: rapid.IntRange(0, len(m.files[name])+10).Draw(rt, "off"), data: drawContent(rt, "data")}
			}),
			"truncate": draw(func(rt *rapid.T) op {
				name := m.drawName(rt, "name")
				return op{kind: "truncate", name: name, n: rapid.IntRange(0, len(m.files[name])+10).Draw(rt, "size")}
			}),
			"ftruncate": draw(func(rt *rapid.T) op {
				name := m.drawName(rt, "name")
				return op{kind: "ftruncate", name: name, n: rapid.IntRange(0, len(m.files[name])+10).Draw(rt, "size")}
			}),
			"fsync": draw(func(rt *rapid.T) op {
				return op{kind: "fsync", name: m.drawName(rt, "name"), data: drawContent(rt, "data")}
			}),
			"rename": draw(func(rt *rapid.T) op {
				return op{kind: "rename", name: m.drawName(rt, "src"), dst: m.drawName(rt, "dst")}
			}),
			"unlink":  draw(func(rt *rapid.T) op { return op{kind: "unlink", name: m.drawName(rt, "name")} }),
			"remount": draw(func(rt *rapid.T) op { return op{kind: "remount"} }),
			"offline": draw(func(rt *rapid.T) op {
				if m.offline {
					rt.Skip("offline already")
				}
				return op{kind: "offline"}
			}),
			"online": draw(func(rt *rapid.T) op {
				if !m.offline {
					rt.Skip("online already")
				}
				return op{kind: "online"}
			}),
			"settle": draw(func(rt *rapid.T) op {
				if m.offline {
					rt.Skip("offline")
				}
				return op{kind: "settle"}
			}),
		})
		// Whatever happened, online again everything reaches the store.
		m.apply(op{kind: "online"})
		m.apply(op{kind: "settle"})
		checks++
		steps += m.steps
	})
	t.Logf("slowest online fsync %v", modelSlowestSync)
	t.Logf("model: %d runs, %d steps in all, %v; time per action: %v", checks, steps, time.Since(start).Round(time.Millisecond), spent)
}

// regressions are the minimal sequences of the bugs the random test found
// (all fixed; each failed before its fix).
var regressions = []struct {
	name string
	ops  []op
}{
	// The moved-away record is in memory only: after a remount a.ipynb
	// shows again next to its backup (and removing the backup then no
	// longer deletes the notebook).
	{"moved away then remount", []op{
		{kind: "write", name: "a.ipynb", data: []byte("one")},
		{kind: "rename", name: "a.ipynb", dst: "a.ipynb~"},
		{kind: "remount"},
	}},
	// Offline, renaming onto an existing notebook journals the save into
	// the target, then fails to delete the source, logs a warning and
	// returns 0: a.ipynb stays listed (and in the store, for good).
	{"offline rename onto a notebook", []op{
		{kind: "write", name: "a.ipynb", data: []byte("a")},
		{kind: "write", name: "b.ipynb", data: []byte("b")},
		{kind: "offline"},
		{kind: "rename", name: "a.ipynb", dst: "b.ipynb"},
	}},
	// bytesLocked answers nothing for a new notebook without a staged
	// copy, ignoring its pending journal entry: the content is lost.
	{"pending notebook renamed onto a notebook", []op{
		{kind: "write", name: "a.ipynb", data: []byte("x")},
		{kind: "offline"},
		{kind: "write", name: "b.ipynb", data: []byte("hello")},
		{kind: "rename", name: "b.ipynb", dst: "a.ipynb"},
	}},
	// moveAway overwrites the record of a backup it replaces without
	// deleting that backup's notebook: a stays in the store, hidden (and
	// shows again after a remount), though its only file is gone.
	{"moved away onto a backup", []op{
		{kind: "write", name: "a.ipynb", data: []byte("a")},
		{kind: "write", name: "b.ipynb", data: []byte("b")},
		{kind: "rename", name: "a.ipynb", dst: "b.bak"},
		{kind: "rename", name: "b.ipynb", dst: "b.bak"},
		{kind: "settle"},
	}},
	// A new notebook renamed before its upload: the journal entry keeps
	// the old name, so the upload creates "a" and the file b.ipynb turns
	// into a.ipynb.
	{"pending notebook renamed", []op{
		{kind: "offline"},
		{kind: "write", name: "a.ipynb", data: []byte("x")},
		{kind: "rename", name: "a.ipynb", dst: "b.ipynb"},
		{kind: "online"},
	}},
	// The same onto another new notebook: the target is only marked gone,
	// its queued create is not cancelled.
	{"pending notebook renamed onto a pending one", []op{
		{kind: "offline"},
		{kind: "write", name: "a.ipynb", data: []byte("x")},
		{kind: "write", name: "b.ipynb", data: []byte("y")},
		{kind: "rename", name: "a.ipynb", dst: "b.ipynb"},
		{kind: "online"},
	}},
	// saveScratchAs un-hides the backup's own notebook when the backup is
	// saved into another one: a.ipynb shows again (and stays in the
	// store), though its only file was renamed onto b.ipynb.
	{"backup renamed onto another notebook", []op{
		{kind: "write", name: "a.ipynb", data: []byte("a")},
		{kind: "write", name: "b.ipynb", data: []byte("b")},
		{kind: "rename", name: "a.ipynb", dst: "a.ipynb~"},
		{kind: "rename", name: "a.ipynb~", dst: "b.ipynb"},
		{kind: "settle"},
	}},
	// renameScratchFile renames first and then deletes the backup's
	// notebook; offline the delete fails and rename(2) answers EIO,
	// though .tmp1 is gone and a.ipynb~ holds its content.
	{"offline scratch renamed over a backup", []op{
		{kind: "write", name: "a.ipynb", data: []byte("a")},
		{kind: "rename", name: "a.ipynb", dst: "a.ipynb~"},
		{kind: "write", name: ".tmp1", data: []byte("t")},
		{kind: "offline"},
		{kind: "rename", name: ".tmp1", dst: "a.ipynb~"},
	}},
	// A save still queued when its notebook was moved away to a backup
	// lands later; a new file of the old name then saved on top of the
	// version the backup record remembered, older than that upload, and
	// became a conflict copy.
	{"queued save, moved away, then recreated", []op{
		{kind: "write", name: "b.ipynb", data: []byte("first")},
		{kind: "settle"},
		{kind: "offline"},
		{kind: "write", name: "b.ipynb", data: []byte("queued")},
		{kind: "rename", name: "b.ipynb", dst: "b.bak"},
		{kind: "online"},
		{kind: "settle"},
		{kind: "remount"},
		{kind: "write", name: "b.ipynb", data: []byte("recreated")},
		{kind: "settle"},
	}},
	{"pending notebook moved away", []op{
		{kind: "offline"},
		{kind: "write", name: "a.ipynb", data: []byte("hello")},
		{kind: "rename", name: "a.ipynb", dst: "a.ipynb~"},
	}},
}

func TestModelRegressions(t *testing.T) {
	needFuse(t)
	for _, kb := range regressions {
		t.Run(strings.ReplaceAll(kb.name, " ", "_"), func(t *testing.T) {
			replay(t, kb.ops)
		})
	}
}

// replay runs a fixed sequence through the model, checking after each step.
func replay(t *testing.T, ops []op) {
	m := newModel(t, t)
	defer m.close()
	m.check()
	for _, o := range ops {
		m.apply(o)
		m.check()
	}
	m.apply(op{kind: "online"})
	m.check()
	m.apply(op{kind: "settle"})
}

// rapidDefaults sets rapid's flags to the test's defaults unless the
// command line or the environment chose them.
func rapidDefaults(t *testing.T, defaults map[string]string) {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range defaults {
		env := strings.ToUpper(strings.ReplaceAll(name, ".", "_"))
		f := flag.Lookup(name)
		if f == nil || set[name] || os.Getenv(env) != "" {
			continue
		}
		old := f.Value.String()
		if err := f.Value.Set(v); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Value.Set(old) })
	}
}

// rapidTB is the env's testing.TB inside a rapid check: failures go to
// the check (so rapid can shrink them), the mount's log to a ring buffer
// shown when the check fails, and temp dirs and cleanups to the Go test.
type rapidTB struct {
	testing.TB
	rt   rapid.TB
	mu   sync.Mutex
	logs []string
}

const logLines = 200

func (r *rapidTB) Helper() {}
func (r *rapidTB) Log(args ...any) {
	s := strings.TrimSpace(fmt.Sprint(args...))
	if strings.Contains(s, "level=debug") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, s)
	if len(r.logs) > logLines {
		r.logs = r.logs[len(r.logs)-logLines:]
	}
}
func (r *rapidTB) Logf(format string, args ...any)   { r.Log(fmt.Sprintf(format, args...)) }
func (r *rapidTB) Error(args ...any)                 { r.rt.Error(args...) }
func (r *rapidTB) Errorf(format string, args ...any) { r.rt.Errorf(format, args...) }
func (r *rapidTB) Fatal(args ...any)                 { r.rt.Fatal(args...) }
func (r *rapidTB) Fatalf(format string, args ...any) { r.rt.Fatalf(format, args...) }
func (r *rapidTB) Fail()                             { r.rt.Fail() }
func (r *rapidTB) FailNow()                          { r.rt.FailNow() }
func (r *rapidTB) Failed() bool                      { return r.rt.Failed() }
func (r *rapidTB) Skip(args ...any)                  { r.rt.Skip(args...) }
func (r *rapidTB) Skipf(format string, args ...any)  { r.rt.Skipf(format, args...) }
func (r *rapidTB) SkipNow()                          { r.rt.SkipNow() }

func (r *rapidTB) tail() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.logs, "\n")
}

// newModel mounts a fresh store, as mount() does but reporting to rt
// (a rapid check, or a test replaying a fixed sequence); close unmounts it.
func newModel(t *testing.T, rt rapid.TB) *model {
	tb := &rapidTB{TB: t, rt: rt}
	base := t.TempDir()
	e := &env{
		t:        tb,
		user:     user,
		dir:      filepath.Join(base, "mnt"),
		storeDir: filepath.Join(base, "store"),
		stateDir: filepath.Join(base, "state"),
		opts: envOptions{
			ttl:       time.Minute,
			cacheSize: 64 << 20,
			// fsync's wait: offline it ends in EIO after this; online it
			// covers a retry's backoff (at most 200 ms) and the upload,
			// with room for a loaded machine.
			callTimeout: time.Second,
		},
	}
	e.group = &[]*env{e}
	if err := os.Mkdir(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	store, err := local.Open(e.storeDir, testLog(tb).WithField("component", "store"))
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	if err := store.EnsureUser(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	e.mountFS()
	m := &model{rt: rt, tb: tb, e: e, files: map[string][]byte{}, backups: map[string]backup{}, pending: map[string]bool{}}
	m.learn()
	return m
}

// learn has the mount learn the user and the (empty) listing while online.
func (m *model) learn() {
	if _, err := os.ReadDir(m.e.ns()); err != nil {
		m.rt.Fatalf("readdir after mounting: %v", err)
	}
}

func (m *model) close() {
	if m.rt.Failed() {
		m.rt.Logf("model: %s\nlast lines of the mount's log:\n%s", m.describe(), m.tb.tail())
	}
	m.e.faults.SetFailRate(0, nil, 0)
	m.e.unmount()
	m.e.store.Close()
}

func (m *model) describe() string {
	var b strings.Builder
	for _, n := range m.sortedNames() {
		fmt.Fprintf(&b, "%s=%q ", n, clip(m.files[n]))
	}
	fmt.Fprintf(&b, "backups %v pending %v offline %v", m.backups, m.pending, m.offline)
	return b.String()
}

func (m *model) sortedNames() []string {
	names := make([]string, 0, len(m.files))
	for n := range m.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func clip(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%s...(%d bytes)", b[:20], len(b))
	}
	return string(b)
}

// drawName picks a name of the pool, mostly one that exists.
func (m *model) drawName(rt *rapid.T, label string) string {
	if len(m.files) > 0 && rapid.IntRange(0, 3).Draw(rt, label+"Any") > 0 {
		return rapid.SampledFrom(m.sortedNames()).Draw(rt, label)
	}
	return rapid.SampledFrom(modelNames).Draw(rt, label)
}

func drawContent(rt *rapid.T, label string) []byte {
	// Small and readable, now and then longer than a page.
	if rapid.IntRange(0, 9).Draw(rt, label+"Long") == 0 {
		return bytes.Repeat([]byte{rapid.ByteRange('A', 'Z').Draw(rt, label+"Fill")}, rapid.IntRange(4000, 9000).Draw(rt, label+"Len"))
	}
	return []byte(rapid.StringMatching(`[a-e]{0,12}`).Draw(rt, label))
}

func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

func resize(b []byte, size int) []byte {
	if size <= len(b) {
		return append([]byte(nil), b[:size]...)
	}
	return append(append([]byte(nil), b...), make([]byte, size-len(b))...)
}

func (m *model) has(name string) bool {
	_, ok := m.files[name]
	return ok
}

// backupOf is the scratch name holding the moved-away notebook whose old
// name is file, if any.
func (m *model) backupOf(file string) (string, bool) {
	for s, b := range m.backups {
		if b.orig == file {
			return s, true
		}
	}
	return "", false
}

// uploaded reports whether notebook file exists remotely (it has an id):
// a listed notebook not created offline, or a moved-away one.
func (m *model) uploaded(file string) bool {
	if _, ok := m.files[file]; ok {
		return !m.pending[file]
	}
	_, ok := m.backupOf(file)
	return ok
}

// occupied reports whether notebook name file stands for something: a
// listed or pending notebook, or a moved-away one.
func (m *model) occupied(file string) bool {
	_, listed := m.files[file]
	_, moved := m.backupOf(file)
	return listed || moved
}

// created records that notebook name file shows a new file: offline and
// taking over nothing, it is pending; a moved-away notebook of that name is
// taken over by it.
func (m *model) created(file string) {
	if !modelIsNotebook(file) {
		return
	}
	if s, ok := m.backupOf(file); ok {
		delete(m.backups, s)
		m.pending[file] = false
		return
	}
	m.pending[file] = m.offline
}

// needsRemote says whether an operation on existing names needs a remote
// call (so fails offline).
func (m *model) needsRemote(o op) bool {
	switch o.kind {
	case "unlink":
		if modelIsNotebook(o.name) {
			return !m.pending[o.name]
		}
		_, moved := m.backups[o.name]
		return moved
	case "rename":
		src, dst := o.name, o.dst
		srcNB, dstNB := modelIsNotebook(src), modelIsNotebook(dst)
		switch {
		case src == dst:
			return false
		case !srcNB && !dstNB:
			// A backup renamed over is deleted.
			_, over := m.backups[dst]
			return over
		case srcNB && !dstNB:
			// Moving away is local, unless it replaces a backup that still
			// holds another notebook, which is deleted first.
			_, over := m.backups[dst]
			return over
		case srcNB && dstNB:
			if m.uploaded(dst) {
				// A save into the target, then the source is deleted.
				return !m.pending[src]
			}
			// A plain rename: local while the source is new.
			return !m.pending[src]
		default: // scratch onto a notebook name
			own, isBackup := m.backups[src]
			if isBackup && (own.orig == dst || !m.occupied(dst)) {
				// A backup renamed back: a remote rename unless to its
				// own old name.
				return own.orig != dst
			}
			if m.uploaded(dst) {
				return false // a save into the target
			}
			// Onto a free name or a new notebook not uploaded yet: a
			// journaled save like any other; a backup's own notebook is
			// deleted first.
			return isBackup
		}
	}
	return false
}

// expect checks an operation's error: ENOENT on a missing file; offline,
// EIO when it needs the remote; else success. It reports whether the
// operation took effect.
func (m *model) expect(o op, what string, exists bool, err error) bool {
	m.rt.Helper()
	switch {
	case !exists:
		if errnoOf(err) != syscall.ENOENT {
			m.rt.Fatalf("%s of a missing file: %v, want ENOENT", what, err)
		}
		return false
	case m.offline && m.needsRemote(o):
		if errnoOf(err) != syscall.EIO {
			m.rt.Fatalf("%s offline: %v, want EIO (it needs the remote)", what, err)
		}
		return false
	case err != nil:
		m.rt.Fatalf("%s: %v (offline %v)", what, err, m.offline)
	}
	return true
}

func (m *model) apply(o op) {
	m.rt.Helper()
	m.steps++
	m.rt.Logf("step %d: %s", m.steps, o)
	e := m.e
	p := e.ns(o.name)
	old, exists := m.files[o.name]
	switch o.kind {
	case "write":
		if err := os.WriteFile(p, o.data, 0o644); err != nil {
			m.rt.Fatalf("%s: %v (offline %v)", o, err, m.offline)
		}
		if !exists {
			m.created(o.name)
		}
		m.files[o.name] = o.data

	case "writeAt":
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if !m.expect(o, "open "+o.name, exists, err) {
			return
		}
		_, err = f.WriteAt(o.data, int64(o.n))
		cerr := f.Close()
		if err != nil || cerr != nil {
			m.rt.Fatalf("%s: write %v, close %v (offline %v)", o, err, cerr, m.offline)
		}
		if len(o.data) > 0 { // pwrite of nothing does not extend
			buf := resize(old, max(len(old), o.n+len(o.data)))
			copy(buf[o.n:], o.data)
			m.files[o.name] = buf
		}

	case "truncate":
		err := os.Truncate(p, int64(o.n))
		if m.expect(o, o.String(), exists, err) {
			m.files[o.name] = resize(old, o.n)
		}

	case "ftruncate":
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if !m.expect(o, "open "+o.name, exists, err) {
			return
		}
		err = f.Truncate(int64(o.n))
		cerr := f.Close()
		if err != nil || cerr != nil {
			m.rt.Fatalf("%s: ftruncate %v, close %v (offline %v)", o, err, cerr, m.offline)
		}
		m.files[o.name] = resize(old, o.n)

	case "fsync":
		f, err := os.OpenFile(p, os.O_RDWR|os.O_TRUNC, 0)
		if !m.expect(o, "open "+o.name, exists, err) {
			return
		}
		_, werr := f.Write(o.data)
		syncStart := time.Now()
		serr := f.Sync()
		if took := time.Since(syncStart); !m.offline && took > modelSlowestSync {
			modelSlowestSync = took
		}
		cerr := f.Close()
		if werr != nil || cerr != nil {
			m.rt.Fatalf("%s: write %v, close %v (offline %v)", o, werr, cerr, m.offline)
		}
		// Offline a notebook's upload cannot finish: EIO at the deadline.
		if want := m.offline && modelIsNotebook(o.name); (errnoOf(serr) == syscall.EIO) != want || (serr != nil && !want) {
			m.rt.Fatalf("%s: fsync %v, want EIO %v (offline %v)", o, serr, want, m.offline)
		}
		m.files[o.name] = o.data

	case "rename":
		err := os.Rename(p, e.ns(o.dst))
		if !m.expect(o, o.String(), exists, err) || o.name == o.dst {
			return
		}
		m.renamed(o.name, o.dst)

	case "unlink":
		err := os.Remove(p)
		if !m.expect(o, o.String(), exists, err) {
			return
		}
		delete(m.files, o.name)
		delete(m.backups, o.name)
		delete(m.pending, o.name)

	case "remount":
		m.apply(op{kind: "online"})
		e.remount()
		m.learn()

	case "offline":
		m.seed++
		m.offline = true
		e.faults.SetFailRate(1, errors.New("offline"), m.seed)

	case "online":
		m.offline = false
		e.faults.SetFailRate(0, nil, 0)
		e.settle()
		clear(m.pending)

	case "settle":
		m.checkStore()

	default:
		m.rt.Fatalf("unknown op %q", o.kind)
	}
}

// renamed updates the model after a successful rename of src to dst.
func (m *model) renamed(src, dst string) {
	data := m.files[src]
	srcPending := m.pending[src]
	srcNB, dstNB := modelIsNotebook(src), modelIsNotebook(dst)
	own, srcIsBackup := m.backups[src]
	// What dst stood for before: a save into an uploaded or moved-away
	// notebook keeps that notebook (not pending).
	intoUploaded := dstNB && m.uploaded(dst)
	restore := srcIsBackup && (own.orig == dst || !m.occupied(dst))

	delete(m.files, src)
	delete(m.pending, src)
	delete(m.backups, src)
	// A backup renamed over is gone (its notebook deleted); a notebook
	// name's moved-away notebook is taken over.
	delete(m.backups, dst)
	m.files[dst] = data
	switch {
	case srcNB && !dstNB:
		// Moved away: a notebook with an id stays, hidden, until its
		// name is taken over or the backup removed; a new notebook not
		// uploaded yet simply is no notebook any more.
		if !srcPending {
			m.backups[dst] = backup{orig: src, content: data}
		}
	case !srcNB && !dstNB:
		if srcIsBackup {
			m.backups[dst] = own // the record follows its file
		}
	case dstNB:
		if s, ok := m.backupOf(dst); ok {
			delete(m.backups, s)
		}
		switch {
		case intoUploaded:
			m.pending[dst] = false
		case srcNB:
			m.pending[dst] = srcPending // a plain rename
		case restore:
			m.pending[dst] = false // a backup renamed back
		default:
			m.pending[dst] = m.offline // journaled as a new notebook
		}
	}
}

// checkStore waits for the uploads and compares the store with the model:
// every notebook holds exactly the model's content, and the store has no
// other notebook but the moved-away ones (no conflict copies either).
func (m *model) checkStore() {
	rt, e := m.rt, m.e
	e.settle()
	nbs := e.notebooks()
	for _, name := range m.sortedNames() {
		if !modelIsNotebook(name) {
			continue
		}
		nb, ok := nbs[strings.TrimSuffix(name, ".ipynb")]
		if !ok {
			rt.Fatalf("store: %s missing (store has %v)", name, storeNames(nbs))
		}
		delete(nbs, nb.Name)
		if got := e.storeBytes(nb.ID); !bytes.Equal(got, m.files[name]) {
			rt.Fatalf("store: %s holds %q, want %q", name, clip(got), clip(m.files[name]))
		}
	}
	for name, nb := range nbs {
		got := e.storeBytes(nb.ID)
		if _, ok := m.backupOf(name + ".ipynb"); !ok {
			rt.Fatalf("store: notebook %q (%q) is not in the model (backups %v)", name, clip(got), m.backups)
		}
	}
	for s, b := range m.backups {
		nb, ok := nbs[strings.TrimSuffix(b.orig, ".ipynb")]
		if !ok {
			rt.Fatalf("store: %s, moved away to %s, is missing", b.orig, s)
		}
		if got := e.storeBytes(nb.ID); !bytes.Equal(got, b.content) {
			rt.Fatalf("store: %s, moved away to %s, holds %q, want %q", b.orig, s, clip(got), clip(b.content))
		}
	}
	if st := e.status().Uploads; st.ConflictCount != 0 || len(st.Failed) != 0 || st.Pending != 0 {
		rt.Fatalf("status after settling: %+v", st)
	}
}

func storeNames(nbs map[string]remote.Notebook) []string {
	var out []string
	for n := range nbs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// check is the invariant: the directory lists the model's names and each
// file stats and reads as the model says.
func (m *model) check() {
	rt := m.rt
	if !m.offline {
		// Online, every step ends with its uploads done.
		m.e.settle()
	}
	ents, err := os.ReadDir(m.e.ns())
	if err != nil {
		rt.Fatalf("readdir: %v (offline %v)", err, m.offline)
	}
	var got []string
	for _, en := range ents {
		got = append(got, en.Name())
	}
	want := m.sortedNames()
	if !slices.Equal(got, want) {
		rt.Fatalf("directory lists %v, model has %v", got, want)
	}
	for _, name := range want {
		fi, err := os.Stat(m.e.ns(name))
		if err != nil {
			rt.Fatalf("stat %s: %v", name, err)
		}
		if fi.Size() != int64(len(m.files[name])) {
			rt.Fatalf("%s: stat size %d, model has %d bytes", name, fi.Size(), len(m.files[name]))
		}
		b, err := os.ReadFile(m.e.ns(name))
		if err != nil {
			rt.Fatalf("read %s: %v (offline %v)", name, err, m.offline)
		}
		if !bytes.Equal(b, m.files[name]) {
			rt.Fatalf("%s reads %q, model has %q", name, clip(b), clip(m.files[name]))
		}
	}
}
