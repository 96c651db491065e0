package save

// Tests of the engine through its exported API (Open, Save, Prepare, Step,
// Rename, Cancel, ...), over the real local store.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"notebookfs/remote"
)

// lockHolderEnv makes the test binary a process that holds a state lock
// (the directory named by the variable) until its stdin closes.
const lockHolderEnv = "NOTEBOOKFS_TEST_LOCK_HOLDER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(lockHolderEnv); dir != "" {
		os.Exit(holdLock(dir))
	}
	os.Exit(m.Run())
}

func holdLock(dir string) int {
	l, err := LockState(dir, 0)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	l.Release()
	return 0
}

// lockHolder is another process holding a state directory's lock.
type lockHolder struct {
	cmd   *exec.Cmd
	stdin io.Closer
	once  sync.Once
}

func startLockHolder(t *testing.T, dir string) *lockHolder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &lockHolder{cmd: cmd, stdin: stdin}
	t.Cleanup(h.release)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("lock holder says %q (%v)", line, err)
	}
	return h
}

func (h *lockHolder) pid() int { return h.cmd.Process.Pid }

// release lets the holder drop its lock and exit, and waits for it.
func (h *lockHolder) release() {
	h.once.Do(func() {
		h.stdin.Close()
		h.cmd.Wait()
	})
}

// kill ends the holder without letting it release anything.
func (h *lockHolder) kill() {
	h.once.Do(func() {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	})
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// open opens a saver over the env's journal directory, as the file system does.
func (e *env) open(o Options) *Saver {
	e.t.Helper()
	u, err := Open(o)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.t.Cleanup(u.Close)
	return u
}

// manual are the env's options for a saver stepped by hand.
func (e *env) manual() Options {
	o := e.options()
	o.Manual = true
	o.Backend = "local:test"
	return o
}

// reqOf is a save of notebook nb based on its current version.
func reqOf(nb remote.Notebook) Request {
	return Request{Ref: RefOf(nb.ID), Category: string(remote.Owned), Namespace: nb.Namespace,
		ID: nb.ID, Name: nb.Name, Base: nb.Version}
}

// reqNew is the save creating a notebook of chain ref.
func reqNew(ref Ref, name string) Request {
	return Request{Ref: ref, Category: string(remote.Owned), Namespace: user, Name: name}
}

func (e *env) save(u *Saver, req Request, data []byte) Entry {
	e.t.Helper()
	ent, err := u.Save(req, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		e.t.Fatalf("Save: %v", err)
	}
	return ent
}

// step runs one upload and returns the result it reported.
func step(t *testing.T, u *Saver) Result {
	t.Helper()
	if !u.Step() {
		t.Fatalf("Step ran nothing (stats %+v)", u.Stats())
	}
	r, ok := u.Next()
	if !ok {
		t.Fatal("Step reported no result")
	}
	return r
}

func noResult(t *testing.T, u *Saver) {
	t.Helper()
	if r, ok := u.Next(); ok {
		t.Fatalf("unexpected result %+v", r)
	}
}

// header reads an entry's header as it is on disk.
func (e *env) header(seq uint64) Entry {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.jdir, fmt.Sprintf("%020d.json", seq)))
	if err != nil {
		e.t.Fatal(err)
	}
	var ent Entry
	if err := json.Unmarshal(b, &ent); err != nil {
		e.t.Fatal(err)
	}
	return ent
}

// flipByte changes one byte of an entry's data in place: same size, another
// checksum.
func (e *env) flipByte(ent Entry) {
	e.t.Helper()
	f, err := os.OpenFile(filepath.Join(e.jdir, fmt.Sprintf("%020d.data", ent.Seq)), os.O_RDWR, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	off := ent.Size / 2
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		e.t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, off); err != nil {
		e.t.Fatal(err)
	}
}

// flipped is data with the byte flipByte changes changed.
func flipped(data []byte) []byte {
	b := bytes.Clone(data)
	b[len(b)/2] ^= 0x20
	return b
}

// An upload checks the content against the entry's checksum as it reads it:
// bytes changed on disk after the save was journaled are refused, never
// uploaded, and the entry is set aside as corrupt at the next start.
func TestUploadRefusesCorruptedEntry(t *testing.T) {
	for _, create := range []bool{false, true} {
		t.Run(fmt.Sprintf("create=%v", create), func(t *testing.T) {
			e := newEnv(t)
			var nb remote.Notebook
			var req Request
			if create {
				req = reqNew(NewRef(), "precious")
			} else {
				nb = e.create("precious", nbData("v0"))
				req = reqOf(nb)
			}
			o := e.manual()
			u := e.open(o)
			data := nbData("the save")
			p, err := u.Prepare(req, bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			p.Commit()
			e.flipByte(p.Entry)

			r := step(t, u)
			if r.Outcome != Refused || !errors.Is(r.Err, ErrCorrupt) || r.Entry.Seq != p.Entry.Seq {
				t.Fatalf("result %+v, want Refused with ErrCorrupt", r)
			}
			if u.Runnable() != 0 || u.Step() {
				t.Fatal("a corrupt entry is retried")
			}
			if create {
				if nbs := e.list(); len(nbs) != 0 {
					t.Fatalf("notebooks %+v: the corrupt content was created", nbs)
				}
			} else {
				if got := e.latest(nb.ID); !bytes.Equal(got, nbData("v0")) {
					t.Fatalf("latest %q, want the version before", got)
				}
				if n := e.versions(nb.ID); n != 1 {
					t.Fatalf("%d versions, want 1", n)
				}
			}
			s := u.Stats()
			if len(s.Failed) != 1 || s.Failed[0].Path != "owned/alice/precious.ipynb" ||
				!strings.Contains(s.Failed[0].Error, ErrCorrupt.Error()) || s.Uploaded != 0 || s.Retries != 0 {
				t.Fatalf("stats %+v, want the entry failed as corrupt", s)
			}
			if !e.hasFiles(p.Entry) {
				t.Fatalf("the refused entry left the journal: %v", e.journalFiles())
			}
			u.Close()

			// The next start finds it corrupt and sets it aside.
			u2 := e.open(o)
			if u2.Corrupt() != 1 {
				t.Fatalf("Corrupt() = %d after reopening, want 1", u2.Corrupt())
			}
			if s := u2.Stats(); s.Pending != 0 || u2.Runnable() != 0 {
				t.Fatalf("the corrupt entry is replayed: %+v", s)
			}
			if !existsSuffix(filepath.Join(e.jdir, "corrupt"), fmt.Sprintf("-%020d.data", p.Entry.Seq)) {
				t.Fatal("the corrupt entry's data is not in corrupt/")
			}
			e.wantEmptyJournal()
		})
	}
}

// The conflict copy is content that becomes a version too: bytes changed on
// disk between the write and the copy must not become the copy.
func TestConflictCopyChecksContent(t *testing.T) {
	e := newEnv(t)
	nb := e.create("shared work", nbData("v0"))
	u := e.open(e.manual())
	data := nbData("mine")
	ent := e.save(u, reqOf(nb), data)
	e.write(nb.ID, nbData("theirs")) // someone saved after our base
	var once sync.Once
	e.setHook(func(_ context.Context, method, target string) func() {
		if method == "Latest" && target == nb.ID {
			// After our checked write, before the conflict copy.
			once.Do(func() { e.flipByte(ent) })
		}
		return nil
	})
	step(t, u)
	for _, n := range e.list() {
		if got := e.latest(n.ID); bytes.Equal(got, flipped(data)) {
			t.Fatalf("%s holds the bytes changed on disk after the save", n.Name)
		}
	}
}

func TestLockState(t *testing.T) {
	dir := t.TempDir()
	h := startLockHolder(t, dir)

	_, err := LockState(dir, 0)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("pid %d", h.pid())) || !strings.Contains(msg, dir) {
		t.Fatalf("error %q names neither the holder's pid %d nor %s", msg, h.pid(), dir)
	}

	// A bound that runs out: ErrLocked after waiting at least that long.
	const bound = 30 * time.Millisecond
	start := time.Now()
	if _, err := LockState(dir, bound); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock with a bound: %v, want ErrLocked", err)
	} else if waited := time.Since(start); waited < bound {
		t.Fatalf("gave up after %v, before the bound %v", waited, bound)
	}

	// A waiter gets the lock once the holder releases it.
	type got struct {
		l   *Lock
		err error
	}
	done := make(chan got, 1)
	lockPath := filepath.Join(dir, "lock")
	before := openCount(t, lockPath)
	go func() {
		l, err := LockState(dir, time.Minute)
		done <- got{l, err}
	}()
	// The waiter has the lock file open, so it has tried (the holder has
	// it): it must still be waiting.
	poll(t, "the waiter to open the lock file", func() bool { return openCount(t, lockPath) > before })
	select {
	case g := <-done:
		t.Fatalf("the waiter returned while the lock was held: %v", g.err)
	default:
	}
	h.release()
	var l *Lock
	select {
	case g := <-done:
		if g.err != nil {
			t.Fatalf("the waiter: %v, want the lock", g.err)
		}
		l = g.l
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter did not get the released lock")
	}
	if b, err := os.ReadFile(lockPath); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file says %q (%v), want our pid %d", b, err, os.Getpid())
	}
	// Held in this process too: another open of it is refused.
	if _, err := LockState(dir, 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock while we hold it: %v", err)
	}
	l.Release()
	l.Release() // twice is harmless
	l2, err := LockState(dir, 0)
	if err != nil {
		t.Fatalf("lock after Release: %v", err)
	}
	l2.Release()
	(*Lock)(nil).Release()
}

// The kernel drops the lock of a daemon that dies: no stale lock.
func TestLockFreedWhenHolderDies(t *testing.T) {
	dir := t.TempDir()
	h := startLockHolder(t, dir)
	if _, err := LockState(dir, 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock while held: %v", err)
	}
	h.kill()
	l, err := LockState(dir, 0)
	if err != nil {
		t.Fatalf("lock after the holder died: %v", err)
	}
	l.Release()
}

// openCount is how many descriptors of this process have path open.
func openCount(t *testing.T, path string) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, de := range des {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", de.Name())); err == nil && p == path {
			n++
		}
	}
	return n
}

func TestPrepareStateDir(t *testing.T) {
	mode := func(t *testing.T, p string) os.FileMode {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	wantUnsafe := func(t *testing.T, err error, path string) {
		t.Helper()
		if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), path+":") {
			t.Fatalf("PrepareStateDir: %v, want ErrUnsafeDir naming %s", err, path)
		}
	}

	t.Run("creates missing directories private", func(t *testing.T) {
		top := filepath.Join(t.TempDir(), "cache")
		dir := filepath.Join(top, "a", "b")
		if err := PrepareStateDir(top, dir); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{top, filepath.Join(top, "a"), dir} {
			if m := mode(t, p); !m.IsDir() || m.Perm() != 0o700 {
				t.Fatalf("%s: mode %v, want a 0700 directory", p, m)
			}
		}
		// A private tree is accepted again.
		if err := PrepareStateDir(top, dir); err != nil {
			t.Fatalf("second time: %v", err)
		}
		if err := PrepareStateDir(dir, dir); err != nil {
			t.Fatalf("top = dir: %v", err)
		}
	})

	t.Run("accepts a tree nobody else may write", func(t *testing.T) {
		top := t.TempDir()
		mid := filepath.Join(top, "mid")
		dir := filepath.Join(mid, "state")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{top, mid, dir} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := PrepareStateDir(top, dir); err != nil {
			t.Fatal(err)
		}
		// The state directory itself is made 0700; those above are not ours to change.
		if m := mode(t, dir).Perm(); m != 0o700 {
			t.Fatalf("state directory mode %v, want 0700", m)
		}
		if m := mode(t, mid).Perm(); m != 0o755 {
			t.Fatalf("directory above it: mode %v changed", m)
		}
	})

	for _, tc := range []struct {
		which string // top, mid or dir
		perm  os.FileMode
	}{
		{"top", 0o770}, {"top", 0o757}, {"mid", 0o775}, {"mid", 0o703}, {"dir", 0o720}, {"dir", 0o777},
	} {
		t.Run(fmt.Sprintf("refuses %s %04o", tc.which, tc.perm), func(t *testing.T) {
			top := t.TempDir()
			paths := map[string]string{"top": top, "mid": filepath.Join(top, "mid"), "dir": filepath.Join(top, "mid", "state")}
			if err := os.MkdirAll(paths["dir"], 0o700); err != nil {
				t.Fatal(err)
			}
			bad := paths[tc.which]
			if err := os.Chmod(bad, tc.perm); err != nil {
				t.Fatal(err)
			}
			wantUnsafe(t, PrepareStateDir(top, paths["dir"]), bad)
			if m := mode(t, bad).Perm(); m != tc.perm {
				t.Fatalf("a refused directory's mode changed to %v", m)
			}
		})
	}

	t.Run("refuses a symlink", func(t *testing.T) {
		top := t.TempDir()
		real := filepath.Join(top, "real")
		if err := os.Mkdir(real, 0o700); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(top, "link")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		err := PrepareStateDir(top, filepath.Join(link, "state"))
		wantUnsafe(t, err, link)
		if !strings.Contains(err.Error(), link+": a symlink") {
			t.Fatalf("error %q does not say it is a symlink", err)
		}
		if exists(filepath.Join(real, "state")) {
			t.Fatal("a directory was made through the symlink")
		}
		// As the state directory itself too.
		wantUnsafe(t, PrepareStateDir(top, link), link)
	})

	t.Run("refuses a file", func(t *testing.T) {
		top := t.TempDir()
		f := filepath.Join(top, "state")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		wantUnsafe(t, PrepareStateDir(top, f), f)
	})

	t.Run("refuses another owner's directory", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a directory to another uid")
		}
		top := t.TempDir()
		mid := filepath.Join(top, "mid")
		if err := os.MkdirAll(filepath.Join(mid, "state"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(mid, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		err := PrepareStateDir(top, filepath.Join(mid, "state"))
		wantUnsafe(t, err, mid)
		if !strings.Contains(err.Error(), "uid 65534") {
			t.Fatalf("error %q does not name the owner", err)
		}
		if st := mode(t, mid); st.Perm() != 0o700 {
			t.Fatalf("mode changed: %v", st)
		}
		fi, _ := os.Lstat(mid)
		if fi.Sys().(*syscall.Stat_t).Uid != 65534 {
			t.Fatal("owner changed")
		}
	})

	t.Run("refuses a directory outside top", func(t *testing.T) {
		top := t.TempDir()
		err := PrepareStateDir(filepath.Join(top, "cache"), filepath.Join(top, "elsewhere"))
		if err == nil || !strings.Contains(err.Error(), "not under") {
			t.Fatalf("PrepareStateDir: %v, want a directory outside top refused", err)
		}
		if exists(filepath.Join(top, "elsewhere")) {
			t.Fatal("it was created")
		}
	})
}

// Saves journaled for one backend and account are kept aside, not
// replayed, by a saver of another backend or account, and replayed by
// one of theirs.
func TestBackendIdentity(t *testing.T) {
	e := newEnv(t)
	withID := func(backend, who string, manual bool) Options {
		o := e.options()
		o.Backend, o.User, o.Manual = backend, who, manual
		return o
	}
	u := e.open(withID("A", user, true))
	data := nbData("for A")
	ent := e.save(u, reqNew(NewRef(), "mine"), data)
	if ent.Backend != "A" || ent.User != user {
		t.Fatalf("entry journaled as %q/%q, want A/%s", ent.Backend, ent.User, user)
	}
	u.Close()

	wantAside := func(t *testing.T, u *Saver) {
		t.Helper()
		s := u.Stats()
		if s.Pending != 0 || len(s.Aside) != 1 {
			t.Fatalf("stats %+v, want one save aside and none pending", s)
		}
		if a := s.Aside[0]; a.Path != "owned/alice/mine.ipynb" || a.Size != int64(len(data)) ||
			a.Backend != user+" at A" || !a.Saved.Equal(ent.Time) {
			t.Fatalf("aside %+v", a)
		}
	}
	// Uploading savers: whatever they replay they would upload.
	for _, tc := range []struct{ name, backend, who string }{
		{"another backend", "B", user},
		{"another backend, no user known", "B", ""},
		{"another account", "A", "bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := e.open(withID(tc.backend, tc.who, false))
			drain(t, u)
			wantAside(t, u)
			u.Close()
			if n := e.count.Total(); n != 0 {
				t.Fatalf("%d remote calls", n)
			}
			if !e.hasFiles(ent) {
				t.Fatalf("the save left the journal: %v", e.journalFiles())
			}
		})
	}
	t.Run("account known later", func(t *testing.T) {
		u := e.open(withID("A", "", true))
		wantAside(t, u) // held until the account is known
		if u.Runnable() != 0 {
			t.Fatal("replayed before the account is known")
		}
		u.SetUser("bob")
		wantAside(t, u)
		if u.Runnable() != 0 {
			t.Fatal("replayed to another account")
		}
		u.Close()

		u = e.open(withID("A", "", true))
		u.SetUser(user)
		if s := u.Stats(); s.Pending != 1 || len(s.Aside) != 0 || u.Runnable() != 1 {
			t.Fatalf("stats %+v after SetUser(%s), want the save queued", s, user)
		}
		u.Close()
	})
	t.Run("account changed at login", func(t *testing.T) {
		// Believed alice at the start (the last session's), bob in fact.
		u := e.open(withID("A", user, true))
		if u.Runnable() != 1 {
			t.Fatal("not queued for the account believed")
		}
		u.SetUser("bob")
		wantAside(t, u)
		if u.Runnable() != 0 {
			t.Fatal("still queued after the account changed")
		}
		u.Close()
	})
	if n := e.count.Total(); n != 0 {
		t.Fatalf("%d remote calls before the right saver", n)
	}

	u = e.open(withID("A", user, false))
	drain(t, u)
	nbs := e.named("mine")
	if len(nbs) != 1 || !bytes.Equal(e.latest(nbs[0].ID), data) {
		t.Fatalf("notebooks named mine: %+v", nbs)
	}
	if s := u.Stats(); len(s.Aside) != 0 || s.Uploaded != 1 {
		t.Fatalf("stats %+v", s)
	}
	e.wantEmptyJournal()
}

// A save made before the account was known is replayed to any account of
// its backend.
func TestBackendIdentityUnknownUser(t *testing.T) {
	e := newEnv(t)
	o := e.manual()
	o.User = ""
	u := e.open(o)
	ent := e.save(u, reqNew(NewRef(), "anyone"), nbData("x"))
	if ent.User != "" {
		t.Fatalf("entry user %q", ent.User)
	}
	u.Close()
	o.User = "bob"
	u = e.open(o)
	if s := u.Stats(); s.Pending != 1 || len(s.Aside) != 0 {
		t.Fatalf("stats %+v", s)
	}
	o.Backend = "another"
	u.Close()
	u = e.open(o)
	if s := u.Stats(); s.Pending != 0 || len(s.Aside) != 1 || s.Aside[0].Backend != "local:test" {
		t.Fatalf("stats %+v, want it aside for backend local:test", s)
	}
}

// A queued create takes a new name (in the journal too) and is created
// under it, once; a chain already created is renamed remotely at once.
func TestRenameQueuedCreate(t *testing.T) {
	e := newEnv(t)
	u := e.open(e.manual())
	ref := NewRef()
	first := e.save(u, reqNew(ref, "draft"), nbData("v1"))
	nb, done, err := u.Rename(t.Context(), ref, "final")
	if err != nil || done {
		t.Fatalf("Rename of a queued create: %+v %v %v, want not done", nb, done, err)
	}
	if p, ok := u.Pending(ref); !ok || p.Name != "final" || p.Seq != first.Seq {
		t.Fatalf("Pending %+v %v", p, ok)
	}
	if h := e.header(first.Seq); h.Name != "final" {
		t.Fatalf("journal header says %q", h.Name)
	}
	if pc := u.PendingCreates(string(remote.Owned), user); len(pc) != 1 || pc[0].Name != "final" {
		t.Fatalf("PendingCreates %+v", pc)
	}
	if e.count.Total() != 0 {
		t.Fatalf("remote calls before Step: %v", e.count.Snapshot())
	}

	r := step(t, u)
	if r.Outcome != Saved || r.Notebook.Name != "final" {
		t.Fatalf("result %+v", r)
	}
	u.Release(r)
	if nbs := e.named("final"); len(nbs) != 1 || nbs[0].ID != r.Notebook.ID || len(e.list()) != 1 {
		t.Fatalf("notebooks %+v, want one named final", e.list())
	}
	if c, rn := e.count.Count("Create"), e.count.Count("Rename"); c != 1 || rn != 0 {
		t.Fatalf("%d creates, %d renames; want 1 and 0", c, rn)
	}

	// Created: renamed now, remotely.
	nb, done, err = u.Rename(t.Context(), ref, "published")
	if err != nil || !done || nb.ID != r.Notebook.ID || nb.Name != "published" {
		t.Fatalf("Rename of a created chain: %+v %v %v", nb, done, err)
	}
	if nbs := e.named("published"); len(nbs) != 1 || nbs[0].ID != r.Notebook.ID || len(e.list()) != 1 {
		t.Fatalf("notebooks %+v, want the one renamed", e.list())
	}
	if n := e.count.Count("Rename"); n != 1 {
		t.Fatalf("%d renames", n)
	}
	// Its name already: nothing to do.
	if nb, done, err := u.Rename(t.Context(), ref, "published"); err != nil || !done || nb.ID != r.Notebook.ID {
		t.Fatalf("Rename to its name: %+v %v %v", nb, done, err)
	}
	if n := e.count.Count("Rename"); n != 1 {
		t.Fatalf("%d renames after a rename to the same name", n)
	}
	// Later saves of the chain go to the notebook.
	req := reqNew(ref, "published")
	e.save(u, req, nbData("v2"))
	if r2 := step(t, u); r2.Outcome != Saved || r2.Notebook.ID != r.Notebook.ID {
		t.Fatalf("later save %+v", r2)
	}
	if got := e.latest(r.Notebook.ID); !bytes.Equal(got, nbData("v2")) || len(e.list()) != 1 {
		t.Fatalf("latest %q, notebooks %+v", got, e.list())
	}
	e.wantEmptyJournal()
}

// A rename of a queued create survives a restart: the replay creates it
// under the new name.
func TestRenameQueuedCreateSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	o := e.manual()
	u := e.open(o)
	ref := NewRef()
	e.save(u, reqNew(ref, "draft"), nbData("v1"))
	if _, _, err := u.Rename(t.Context(), ref, "final"); err != nil {
		t.Fatal(err)
	}
	u.Close()
	u = e.open(o)
	if pc := u.PendingCreates(string(remote.Owned), user); len(pc) != 1 || pc[0].Name != "final" {
		t.Fatalf("PendingCreates after restart %+v", pc)
	}
	if r := step(t, u); r.Outcome != Saved || r.Notebook.Name != "final" {
		t.Fatalf("result %+v", r)
	}
	if len(e.named("final")) != 1 || len(e.list()) != 1 {
		t.Fatalf("notebooks %+v", e.list())
	}
}

// A create renamed while it is under way takes the new name once it is done.
func TestRenameCreateUnderWay(t *testing.T) {
	e := newEnv(t)
	g := newGate("Create", "draft")
	e.setHook(g.hook)
	o := e.options()
	u := e.open(o)
	ref := NewRef()
	e.save(u, reqNew(ref, "draft"), nbData("v1"))
	g.wait(t)
	if _, done, err := u.Rename(t.Context(), ref, "final"); err != nil || done {
		t.Fatalf("Rename under way: %v %v", done, err)
	}
	close(g.release)
	drain(t, u)
	r, ok := u.Next()
	if !ok || r.Outcome != Saved || r.Notebook.Name != "final" {
		t.Fatalf("result %+v %v", r, ok)
	}
	if nbs := e.named("final"); len(nbs) != 1 || len(e.list()) != 1 {
		t.Fatalf("notebooks %+v", e.list())
	}
}

// A create refused for good stays for the next start; a rename meanwhile
// must be the name it is created under then (a refusal for an over-long
// name is what a rename to a shorter one fixes).
func TestRenameRefusedCreate(t *testing.T) {
	e := newEnv(t)
	o := e.manual()
	u := e.open(o)
	ref := NewRef()
	long := strings.Repeat("n", remote.MaxNameLen+1)
	e.save(u, reqNew(ref, long), nbData("v1"))
	if r := step(t, u); r.Outcome != Refused || !errors.Is(r.Err, remote.ErrNameTooLong) {
		t.Fatalf("result %+v", r)
	}
	if _, _, err := u.Rename(t.Context(), ref, "short"); err != nil {
		t.Fatal(err)
	}
	u.Close()
	u = e.open(o)
	if r := step(t, u); r.Outcome != Saved || r.Notebook.Name != "short" {
		t.Fatalf("after the restart: %+v, want created as short", r)
	}
}

// Manual mode: nothing uploads until Step, Runnable says what Step would
// run, and the outcomes come out of Next in order.
func TestManualMode(t *testing.T) {
	e := newEnv(t)
	a := e.create("a", nbData("a0"))
	b := e.create("b", nbData("b0"))
	clock := newFakeClock()
	o := e.manual()
	o.Clock = clock.Now
	u := e.open(o)
	sa := e.save(u, reqOf(a), nbData("a1"))
	sb := e.save(u, reqOf(b), nbData("b1"))
	sc := e.save(u, reqNew(NewRef(), "c"), nbData("c1"))
	if n := u.Runnable(); n != 3 {
		t.Fatalf("Runnable %d, want 3", n)
	}
	// Drain would return as soon as anything uploaded them all.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err := u.Drain(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain without Step: %v, want it to wait", err)
	}
	if n := e.count.Total(); n != 0 || u.Stats().Pending != 3 {
		t.Fatalf("%d remote calls before Step (%v), stats %+v", n, e.count.Snapshot(), u.Stats())
	}
	noResult(t, u)

	for i, want := range []int{2, 1, 0} {
		if !u.Step() {
			t.Fatalf("step %d ran nothing", i+1)
		}
		if n := u.Runnable(); n != want {
			t.Fatalf("Runnable %d after %d steps, want %d", n, i+1, want)
		}
	}
	for i, want := range []Entry{sa, sb, sc} {
		r, ok := u.Next()
		if !ok || r.N != uint64(i+1) || r.Entry.Seq != want.Seq || r.Outcome != Saved {
			t.Fatalf("result %d: %+v %v, want N %d for seq %d", i, r, ok, i+1, want.Seq)
		}
	}
	noResult(t, u)
	if u.Step() {
		t.Fatal("Step ran something with nothing queued")
	}
	if !bytes.Equal(e.latest(a.ID), nbData("a1")) || !bytes.Equal(e.latest(b.ID), nbData("b1")) || len(e.named("c")) != 1 {
		t.Fatalf("uploads missing: %+v", e.list())
	}

	// A failed attempt waits its backoff, by the clock; a newer save of
	// the notebook waits behind the one tried.
	e.faulty.FailNext("Write", 1, errTransient)
	e.save(u, reqOf(a), nbData("a2"))
	a3 := e.save(u, reqOf(a), nbData("a3")) // supersedes a2, never tried
	if s := u.Stats(); s.Coalesced != 1 || s.Pending != 1 {
		t.Fatalf("stats %+v", s)
	}
	if !u.Step() {
		t.Fatal("no step")
	}
	noResult(t, u)
	if s := u.Stats(); s.Retries != 1 || len(s.PendingFiles) != 1 || s.PendingFiles[0].Attempts != 1 {
		t.Fatalf("stats after a failed attempt %+v", s)
	}
	if u.Runnable() != 0 || u.Step() {
		t.Fatal("retried before its backoff")
	}
	a4 := e.save(u, reqOf(a), nbData("a4"))
	if s := u.Stats(); s.Pending != 2 || s.Coalesced != 1 {
		t.Fatalf("stats %+v: a tried save is not superseded", s)
	}
	clock.Advance(o.MaxBackoff)
	if n := u.Runnable(); n != 1 {
		t.Fatalf("Runnable %d after the backoff, want 1 (the newer save waits)", n)
	}
	if r := step(t, u); r.Entry.Seq != a3.Seq || r.Outcome != Saved || r.N != 4 {
		t.Fatalf("result %+v, want the retried save", r)
	}
	if r := step(t, u); r.Entry.Seq != a4.Seq || r.Outcome != Saved || r.N != 5 {
		t.Fatalf("result %+v, want the newest save", r)
	}
	if !bytes.Equal(e.latest(a.ID), nbData("a4")) || len(e.list()) != 3 {
		t.Fatalf("latest %q, notebooks %+v", e.latest(a.ID), e.list())
	}
	e.wantEmptyJournal()
}

// Prepare journals a save without queueing it; Commit queues it, Discard
// forgets it.
func TestPrepareCommitDiscard(t *testing.T) {
	e := newEnv(t)
	nb := e.create("nb", nbData("v0"))
	u := e.open(e.manual())
	data := nbData("v1")
	p, err := u.Prepare(reqOf(nb), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !e.hasFiles(p.Entry) || p.Entry.Sum != Sum(data) || p.Entry.Size != int64(len(data)) {
		t.Fatalf("prepared entry %+v, journal %v", p.Entry, e.journalFiles())
	}
	if _, ok := u.PendingNotebook(nb.ID); ok || u.Runnable() != 0 {
		t.Fatal("a prepared save is queued before Commit")
	}
	p.Discard()
	e.wantEmptyJournal()

	p, err = u.Prepare(reqOf(nb), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	p.Commit()
	if got, ok := u.PendingNotebook(nb.ID); !ok || got.Seq != p.Entry.Seq || u.Runnable() != 1 {
		t.Fatalf("PendingNotebook %+v %v after Commit", got, ok)
	}
	if r := step(t, u); r.Outcome != Saved || !bytes.Equal(e.latest(nb.ID), data) {
		t.Fatalf("result %+v", r)
	}
}

// Results delivers every result in order to one reader; a result's Content
// holds what was uploaded until Release; Close closes the channel.
func TestResultsChannel(t *testing.T) {
	e := newEnv(t)
	nb := e.create("nb", nbData("v0"))
	o := e.options()
	o.Parallel = 1
	u := e.open(o)
	var want []Entry
	for _, req := range []Request{reqOf(nb), reqNew(NewRef(), "other")} {
		want = append(want, e.save(u, req, nbData(req.Name)))
	}
	for i, w := range want {
		var r Result
		select {
		case r = <-u.Results():
		case <-time.After(10 * time.Second):
			t.Fatal("no result")
		}
		if r.Entry.Seq != w.Seq || r.Outcome != Saved || r.N != uint64(i+1) {
			t.Fatalf("result %d: %+v, want seq %d", i, r, w.Seq)
		}
		if b, err := os.ReadFile(r.Content); err != nil || !bytes.Equal(b, nbData(w.Name)) {
			t.Fatalf("Content %s: %q %v", r.Content, b, err)
		}
		u.Release(r)
		if exists(r.Content) {
			t.Fatal("Content left after Release")
		}
	}
	u.Close()
	select {
	case r, ok := <-u.Results():
		if ok {
			t.Fatalf("result after Close: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Results not closed by Close")
	}
}

// PendingCreates lists the newest waiting save of each notebook not created
// yet in one namespace, oldest first.
func TestPendingCreates(t *testing.T) {
	e := newEnv(t)
	existing := e.create("existing", nbData("v0"))
	u := e.open(e.manual())
	r1, r2 := NewRef(), NewRef()
	e.save(u, reqNew(r1, "one"), nbData("1a"))
	// Tried once, so the next save of its notebook queues behind it.
	e.faulty.FailNext("Create", 1, errTransient)
	if !u.Step() {
		t.Fatal("no step")
	}
	two := e.save(u, reqNew(r2, "two"), nbData("2a"))
	one := e.save(u, reqNew(r1, "one renamed"), nbData("1b"))
	if s := u.Stats(); s.Pending != 3 {
		t.Fatalf("stats %+v, want 3 pending", s)
	}
	e.save(u, reqOf(existing), nbData("v1"))
	other := reqNew(NewRef(), "elsewhere")
	other.Namespace = "acme"
	e.save(u, other, nbData("x"))
	pc := u.PendingCreates(string(remote.Owned), user)
	if len(pc) != 2 || pc[0].Seq != two.Seq || pc[1].Seq != one.Seq || pc[1].Name != "one renamed" {
		t.Fatalf("PendingCreates %+v, want seqs %d and %d", pc, two.Seq, one.Seq)
	}
	if pc := u.PendingCreates(string(remote.Shared), user); len(pc) != 0 {
		t.Fatalf("PendingCreates of shared %+v", pc)
	}
}

// Cancel of a create still queued drops it from the journal: nothing is
// created.
func TestCancelQueuedCreateManual(t *testing.T) {
	e := newEnv(t)
	u := e.open(e.manual())
	ref := NewRef()
	ent := e.save(u, reqNew(ref, "never"), nbData("x"))
	if err := u.Cancel(t.Context(), ref); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if e.hasFiles(ent) {
		t.Fatalf("the cancelled create is still in the journal: %v", e.journalFiles())
	}
	if _, ok := u.Pending(ref); ok || u.Runnable() != 0 || u.Step() {
		t.Fatal("the cancelled create is still queued")
	}
	if _, err := u.Wait(t.Context(), ref); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	noResult(t, u)
	if n := e.count.Total(); n != 0 || len(e.list()) != 0 {
		t.Fatalf("%d remote calls, notebooks %+v", n, e.list())
	}
	e.wantEmptyJournal()
}

// Cancel after the create landed deletes the notebook, and drops the
// chain's later saves still queued.
func TestCancelAfterCreateLanded(t *testing.T) {
	e := newEnv(t)
	keep := e.create("keep", nbData("k"))
	u := e.open(e.manual())
	ref := NewRef()
	e.save(u, reqNew(ref, "landed"), nbData("v1"))
	r := step(t, u)
	if r.Outcome != Saved || r.Notebook.ID == "" {
		t.Fatalf("result %+v", r)
	}
	u.Release(r)
	later := e.save(u, reqNew(ref, "landed"), nbData("v2"))
	if p, ok := u.Pending(ref); !ok || p.Seq != later.Seq || p.ID != r.Notebook.ID {
		t.Fatalf("the chain's later save %+v %v, want it queued for %s", p, ok, r.Notebook.ID)
	}
	if err := u.Cancel(t.Context(), ref); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if _, err := e.direct.Stat(e.ctx, user, r.Notebook.ID); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Stat of the cancelled notebook: %v, want ErrNotFound", err)
	}
	if nbs := e.list(); len(nbs) != 1 || nbs[0].ID != keep.ID {
		t.Fatalf("notebooks %+v, want only keep", nbs)
	}
	if _, ok := u.Pending(ref); ok || u.Runnable() != 0 || u.Step() {
		t.Fatal("the chain's later save is still queued")
	}
	noResult(t, u)
	e.wantEmptyJournal()
	// Done once: another Cancel deletes nothing more.
	if err := u.Cancel(t.Context(), ref); err != nil {
		t.Fatalf("second Cancel: %v", err)
	}
	if n := e.count.Count("Delete"); n != 1 {
		t.Fatalf("%d deletes, want 1", n)
	}
}

// A reader that took a pending save just before its upload handed the
// data over (to uploaded/, for the cache) still reads it until the result
// is released: a just-created notebook read back at that moment was ENOENT.
func TestContentAfterHandOver(t *testing.T) {
	e := newEnv(t)
	u := e.open(e.manual())
	data := nbData("handed over")
	entry := e.save(u, reqNew(NewRef(), "h"), data)
	if !u.Step() {
		t.Fatal("nothing to upload")
	}
	res, ok := u.Next()
	if !ok || res.Outcome != Saved {
		t.Fatalf("result %+v %v", res, ok)
	}
	f, err := u.Content(entry)
	if err != nil {
		t.Fatalf("Content after the hand-over: %v", err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) {
		t.Errorf("Content reads %q", got)
	}
	if b, err := u.ReadAll(entry); err != nil || !bytes.Equal(b, data) {
		t.Errorf("ReadAll after the hand-over: %q %v", b, err)
	}
	u.Release(res)
}
