package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"notebookfs/remote"
)

// countRows returns the rows of a table (test tables only: name is trusted).
func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func randomBytes(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// maxReadReader records the largest read asked of it: a save must never ask
// for more than a chunk at once.
type maxReadReader struct {
	r   io.Reader
	max int
}

func (m *maxReadReader) Read(p []byte) (int, error) {
	m.max = max(m.max, len(p))
	return m.r.Read(p)
}

func readAll(t *testing.T, c remote.Client, ns, id string, at time.Time) []byte {
	t.Helper()
	content, err := c.Read(t.Context(), ns, id, at)
	if err != nil {
		t.Fatal(err)
	}
	defer content.Close()
	data, err := io.ReadAll(content)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLargeNotebookStreamsInChunks(t *testing.T) {
	s := castStore(t)
	alice := s.As("alice")
	ctx := t.Context()
	data := randomBytes(5<<20+123, 1) // not a multiple of the chunk size

	// A reader shorter or longer than the size stores nothing.
	for _, size := range []int64{int64(len(data)) + 1, int64(len(data)) - 1} {
		_, err := alice.Create(ctx, "alice", "big", bytes.NewReader(data), size, remote.CreateOptions{})
		if !errors.Is(err, remote.ErrInvalid) {
			t.Fatalf("Create with size %d for %d bytes: %v, want ErrInvalid", size, len(data), err)
		}
	}
	for _, table := range []string{"notebooks", "versions", "chunks"} {
		if n := countRows(t, s, table); n != 0 {
			t.Fatalf("after failed creates, %s has %d rows", table, n)
		}
	}

	src := &maxReadReader{r: bytes.NewReader(data)}
	nb, err := alice.Create(ctx, "alice", "big", src, int64(len(data)), remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if src.max > chunkSize {
		t.Fatalf("save read %d bytes at once, want at most a chunk (%d)", src.max, chunkSize)
	}
	if n := countRows(t, s, "chunks"); n != 6 {
		t.Fatalf("5 MiB + 123 bytes stored in %d chunks, want 6", n)
	}

	// A short Write leaves the stored version alone.
	_, err = alice.Write(ctx, "alice", nb.ID, bytes.NewReader(data[:len(data)-10]), int64(len(data)))
	if !errors.Is(err, remote.ErrInvalid) {
		t.Fatalf("short Write: %v, want ErrInvalid", err)
	}
	if n := countRows(t, s, "versions"); n != 1 {
		t.Fatalf("short Write left %d versions, want 1", n)
	}

	content, err := alice.Read(ctx, "alice", nb.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer content.Close()
	if content.Size != int64(len(data)) {
		t.Fatalf("Content.Size %d, want %d", content.Size, len(data))
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, content, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("content read back differs")
	}
	cr := content.ReadCloser.(*chunkReader)
	if cap(cr.buf) > 2*chunkSize {
		t.Fatalf("reader buffer grew to %d bytes", cap(cr.buf))
	}
	if err := content.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := content.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

func TestReadAfterDeleteAndCancel(t *testing.T) {
	s := castStore(t)
	alice := s.As("alice")
	data := randomBytes(3<<20, 2)
	nb, err := alice.Create(t.Context(), "alice", "gone", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	content, err := alice.Read(t.Context(), "alice", nb.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer content.Close()
	if _, err := io.ReadFull(content, make([]byte, chunkSize)); err != nil {
		t.Fatal(err)
	}
	if err := alice.Delete(t.Context(), "alice", nb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(content); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("reading a deleted notebook: %v, want ErrNotFound", err)
	}
	if n := countRows(t, s, "chunks"); n != 0 {
		t.Fatalf("Delete left %d chunks", n)
	}

	nb, err = alice.Create(t.Context(), "alice", "cancel", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	content, err = alice.Read(ctx, "alice", nb.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer content.Close()
	cancel()
	if _, err := io.ReadAll(content); !errors.Is(err, context.Canceled) {
		t.Fatalf("reading under a canceled context: %v, want context.Canceled", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "store")
	ctx := t.Context()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := s.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "acme", "bob", RoleReadWrite); err != nil {
		t.Fatal(err)
	}
	token, err := s.NewToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	alice := s.As("alice")
	nb, err := alice.Create(ctx, "alice", "kept", bytes.NewReader([]byte("v1")), 2, remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Write(ctx, "alice", nb.ID, bytes.NewReader([]byte("v2!")), 3); err != nil {
		t.Fatal(err)
	}
	if err := alice.Share(ctx, "alice", nb.ID, "bob", []string{"read"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {filepath.Join(dir, "store.db"), 0o600}} {
		fi, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != p.mode {
			t.Errorf("%s: mode %v, want %v", p.path, fi.Mode().Perm(), p.mode)
		}
	}

	s = openTestDir(t, dir)
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != len(migrations()) {
		t.Fatalf("user_version %d (%v), want %d", v, err, len(migrations()))
	}
	if u, err := s.UserForToken(ctx, token); err != nil || u != "alice" {
		t.Fatalf("UserForToken after reopen: %q, %v", u, err)
	}
	bob := s.As("bob")
	who, err := bob.Whoami(ctx)
	if err != nil || len(who.Organizations) != 1 || who.Organizations[0] != (remote.Organization{Name: "acme", Role: RoleReadWrite}) {
		t.Fatalf("Whoami after reopen: %+v, %v", who, err)
	}
	if got := string(readAll(t, bob, "alice", nb.ID, time.Time{})); got != "v2!" {
		t.Fatalf("latest after reopen: %q", got)
	}
	vs, err := bob.Versions(ctx, "alice", nb.ID)
	if err != nil || len(vs) != 2 {
		t.Fatalf("Versions after reopen: %+v, %v", vs, err)
	}
	if got := string(readAll(t, bob, "alice", nb.ID, vs[0].Time)); got != "v1" {
		t.Fatalf("first version after reopen: %q", got)
	}
}

func openTestDir(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestTokens(t *testing.T) {
	s := castStore(t)
	ctx := t.Context()
	t1, err := s.NewToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t2, err := s.NewToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(t1) != 64 || t1 == t2 {
		t.Fatalf("tokens %q and %q: want two distinct 64-hex-digit tokens", t1, t2)
	}
	for _, tok := range []string{t1, t2} {
		if u, err := s.UserForToken(ctx, tok); err != nil || u != "alice" {
			t.Fatalf("UserForToken: %q, %v", u, err)
		}
	}
	for _, bad := range []string{"", "x", t1[:63], t1 + "0"} {
		if _, err := s.UserForToken(ctx, bad); !errors.Is(err, remote.ErrUnauthenticated) {
			t.Fatalf("UserForToken(%q): %v, want ErrUnauthenticated", bad, err)
		}
	}
	if _, err := s.NewToken(ctx, "ghost"); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("NewToken for unknown user: %v, want ErrNotFound", err)
	}
	if _, err := s.NewToken(ctx, "acme"); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("NewToken for an organization: %v, want ErrNotFound", err)
	}
	// Only hashes are stored.
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM tokens WHERE hash = ? OR hash = ?`, t1, []byte(t1)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("raw token found in the database (%d, %v)", n, err)
	}
	// Revoking one token leaves the other.
	if err := s.RevokeToken(ctx, t1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserForToken(ctx, t1); !errors.Is(err, remote.ErrUnauthenticated) {
		t.Fatalf("revoked token: %v, want ErrUnauthenticated", err)
	}
	if u, err := s.UserForToken(ctx, t2); err != nil || u != "alice" {
		t.Fatalf("the other token after a revoke: %q, %v", u, err)
	}
	if err := s.RevokeToken(ctx, t1); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("revoking twice: %v, want ErrNotFound", err)
	}
}

func TestVersionTimesStrictlyIncrease(t *testing.T) {
	s := castStore(t)
	frozen := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	now := frozen
	var mu sync.Mutex
	s.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	alice := s.As("alice")
	ctx := t.Context()
	nb, err := alice.Create(ctx, "alice", "frozen", bytes.NewReader([]byte("0")), 1, remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !nb.Created.Equal(frozen) || !nb.Version.Equal(frozen) {
		t.Fatalf("Create under a frozen clock: %+v", nb)
	}
	for i := 1; i <= 3; i++ {
		out, err := alice.Write(ctx, "alice", nb.ID, bytes.NewReader([]byte{byte('0' + i)}), 1)
		if err != nil {
			t.Fatal(err)
		}
		if want := frozen.Add(time.Duration(i) * time.Millisecond); !out.Version.Equal(want) {
			t.Fatalf("write %d: version %v, want %v", i, out.Version, want)
		}
	}
	// A clock that goes back still moves versions forward.
	mu.Lock()
	now = frozen.Add(-time.Hour)
	mu.Unlock()
	out, err := alice.Write(ctx, "alice", nb.ID, bytes.NewReader([]byte("4")), 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := frozen.Add(4 * time.Millisecond); !out.Version.Equal(want) {
		t.Fatalf("write under a clock gone back: %v, want %v", out.Version, want)
	}
	vs, err := alice.Versions(ctx, "alice", nb.ID)
	if err != nil || len(vs) != 5 {
		t.Fatalf("Versions: %+v, %v", vs, err)
	}
	for i, v := range vs {
		if got := string(readAll(t, alice, "alice", nb.ID, v.Time)); got != fmt.Sprint(i) {
			t.Fatalf("version %d at %v reads %q", i, v.Time, got)
		}
	}
	// Sub-millisecond parts of at are ignored.
	if got := string(readAll(t, alice, "alice", nb.ID, vs[2].Time.Add(999*time.Microsecond))); got != "2" {
		t.Fatalf("Read at version 2 + 999µs: %q", got)
	}
}

func TestConcurrentSaves(t *testing.T) {
	s := castStore(t)
	alice := s.As("alice")
	ctx := t.Context()
	first := []byte("first")
	nb, err := alice.Create(ctx, "alice", "busy", bytes.NewReader(first), int64(len(first)), remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const writers, saves = 6, 4
	valid := map[[32]byte]bool{sha256.Sum256(first): true}
	payloads := make([][][]byte, writers)
	for w := range writers {
		for i := range saves {
			// Some span chunks, so a torn version would show.
			p := randomBytes(1000+(w*saves+i)*100_000, uint64(100+w*saves+i))
			payloads[w] = append(payloads[w], p)
			valid[sha256.Sum256(p)] = true
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	for w := range writers {
		g.Go(func() error {
			for _, p := range payloads[w] {
				if _, err := alice.Write(gctx, "alice", nb.ID, bytes.NewReader(p), int64(len(p))); err != nil {
					return fmt.Errorf("writer %d: %w", w, err)
				}
			}
			return nil
		})
	}
	readersDone := make(chan struct{})
	var readers errgroup.Group
	for range 2 {
		readers.Go(func() error {
			for {
				select {
				case <-readersDone:
					return nil
				default:
				}
				content, err := alice.Read(ctx, "alice", nb.ID, time.Time{})
				if err != nil {
					return err
				}
				data, err := io.ReadAll(content)
				content.Close()
				if err != nil {
					return err
				}
				if int64(len(data)) != content.Size || !valid[sha256.Sum256(data)] {
					return fmt.Errorf("reader saw a partial version of %d bytes (size %d)", len(data), content.Size)
				}
			}
		})
	}
	werr := g.Wait()
	close(readersDone)
	if err := errors.Join(werr, readers.Wait()); err != nil {
		t.Fatal(err)
	}

	vs, err := alice.Versions(ctx, "alice", nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1+writers*saves {
		t.Fatalf("%d versions, want %d", len(vs), 1+writers*saves)
	}
	seen := map[[32]byte]bool{}
	for i, v := range vs {
		if i > 0 && !v.Time.After(vs[i-1].Time) {
			t.Fatalf("version %d at %v not after %v", i, v.Time, vs[i-1].Time)
		}
		data := readAll(t, alice, "alice", nb.ID, v.Time)
		sum := sha256.Sum256(data)
		if int64(len(data)) != v.Size || !valid[sum] || seen[sum] {
			t.Fatalf("version %d: %d bytes (size %d), valid %v, seen before %v", i, len(data), v.Size, valid[sum], seen[sum])
		}
		seen[sum] = true
	}
}

func TestAdmin(t *testing.T) {
	s := castStore(t)
	ctx := t.Context()
	for _, tc := range []struct {
		what string
		err  error
		want error
	}{
		{"AddUser taken by a user", s.AddUser(ctx, "alice"), remote.ErrExist},
		{"AddUser taken by an org", s.AddUser(ctx, "acme"), remote.ErrExist},
		{"AddOrg taken by a user", s.AddOrg(ctx, "bob"), remote.ErrExist},
		{"AddOrg public", s.AddOrg(ctx, "public"), remote.ErrExist},
		{"AddUser public", s.AddUser(ctx, "public"), remote.ErrExist},
		{"AddUser bad name", s.AddUser(ctx, "a/b"), remote.ErrInvalid},
		{"AddUser ..", s.AddUser(ctx, ".."), remote.ErrInvalid},
		{"EnsureUser on an org", s.EnsureUser(ctx, "acme"), remote.ErrExist},
		{"EnsureUser public", s.EnsureUser(ctx, "public"), remote.ErrExist},
		{"AddMember bad role", s.AddMember(ctx, "acme", "carol", "boss"), remote.ErrInvalid},
		{"AddMember unknown org", s.AddMember(ctx, "nope", "carol", RoleAdmin), remote.ErrNotFound},
		{"AddMember user as org", s.AddMember(ctx, "bob", "carol", RoleAdmin), remote.ErrNotFound},
		{"AddMember unknown user", s.AddMember(ctx, "acme", "ghost", RoleAdmin), remote.ErrNotFound},
		{"AddMember public", s.AddMember(ctx, "public", "carol", RoleAdmin), remote.ErrInvalid},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, tc.err, tc.want)
		}
	}
	for range 2 {
		if err := s.EnsureUser(ctx, "erin"); err != nil {
			t.Fatalf("EnsureUser: %v", err)
		}
	}
	if err := s.AddMember(ctx, "acme", "bob", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	who, err := s.As("bob").Whoami(ctx)
	if err != nil || len(who.Organizations) != 1 || who.Organizations[0].Role != RoleAdmin {
		t.Fatalf("re-added member: %+v, %v", who, err)
	}
	if _, err := s.As("ghost").Whoami(ctx); !errors.Is(err, remote.ErrUnauthenticated) {
		t.Fatalf("unknown user: %v, want ErrUnauthenticated", err)
	}
	if _, err := s.As("acme").List(ctx, remote.Owned, "acme"); !errors.Is(err, remote.ErrUnauthenticated) {
		t.Fatalf("an organization as caller: %v, want ErrUnauthenticated", err)
	}
}

// TestRoles checks what each organization role may do with the
// organization's notebooks.
func TestRoles(t *testing.T) {
	s := castStore(t)
	ctx := t.Context()
	for _, tc := range []struct {
		role                      string
		actions                   string
		create, rename, canDelete bool
	}{
		{RoleOwner, "[read share write]", true, true, true},
		{RoleAdmin, "[read share write]", true, true, true},
		{RoleReadWriteDelete, "[read write]", true, true, true},
		{RoleReadWrite, "[read write]", true, false, false},
		{RoleReadOnly, "[read]", false, false, false},
	} {
		if err := s.AddMember(ctx, "acme", "carol", tc.role); err != nil {
			t.Fatal(err)
		}
		carol := s.As("carol")
		nb, err := s.As("alice").Create(ctx, "acme", "n", bytes.NewReader([]byte("x")), 1, remote.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := carol.Stat(ctx, "acme", nb.ID)
		if err != nil || fmt.Sprint(st.Actions) != tc.actions {
			t.Fatalf("%s: Actions %v (%v), want %s", tc.role, st.Actions, err, tc.actions)
		}
		_, err = carol.Create(ctx, "acme", "c", bytes.NewReader([]byte("x")), 1, remote.CreateOptions{})
		checkAllowed(t, tc.role+" Create", err, tc.create)
		_, err = carol.Write(ctx, "acme", nb.ID, bytes.NewReader([]byte("y")), 1)
		checkAllowed(t, tc.role+" Write", err, st.Can(remote.ActionWrite))
		_, err = carol.Rename(ctx, "acme", nb.ID, "m")
		checkAllowed(t, tc.role+" Rename", err, tc.rename)
		err = carol.Share(ctx, "acme", nb.ID, "dave", []string{"read"})
		checkAllowed(t, tc.role+" Share", err, st.Can(remote.ActionShare))
		err = carol.Delete(ctx, "acme", nb.ID)
		checkAllowed(t, tc.role+" Delete", err, tc.canDelete)
	}
}

func checkAllowed(t *testing.T, what string, err error, allowed bool) {
	t.Helper()
	switch {
	case allowed && err != nil:
		t.Fatalf("%s: %v, want success", what, err)
	case !allowed && !errors.Is(err, remote.ErrPermission):
		t.Fatalf("%s: %v, want ErrPermission", what, err)
	}
}
