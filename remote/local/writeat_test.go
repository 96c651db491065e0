package local

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"notebookfs/remote"
)

func TestWriteAt(t *testing.T) {
	s := castStore(t)
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s.SetClock(func() time.Time { return base })
	if !s.Now().Equal(base) {
		t.Fatalf("Now = %v, want the clock set", s.Now())
	}
	alice := s.As("alice")
	ctx := t.Context()
	nb, err := alice.Create(ctx, "alice", "nb", strings.NewReader("v0"), 2, remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Share(ctx, "alice", nb.ID, "bob", []string{remote.ActionRead}); err != nil {
		t.Fatal(err)
	}

	// Ahead of the clock: stored at exactly that time.
	future := base.Add(time.Minute)
	out, err := s.WriteAt(ctx, "alice", "alice", nb.ID, future.Add(123*time.Microsecond), strings.NewReader("v1!"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Version.Equal(future) || out.Size != 3 || out.ID != nb.ID {
		t.Fatalf("WriteAt: %+v", out)
	}
	// At or before the latest version: a conflict, nothing stored.
	for _, at := range []time.Time{future, base.Add(time.Second)} {
		_, err := s.WriteAt(ctx, "alice", "alice", nb.ID, at, strings.NewReader("x"), 1)
		if !errors.Is(err, remote.ErrConflict) {
			t.Fatalf("WriteAt %v: %v, want ErrConflict", at, err)
		}
	}
	// Rights are Write's: bob only reads, carol sees nothing.
	if _, err := s.WriteAt(ctx, "bob", "alice", nb.ID, future.Add(time.Second), strings.NewReader("x"), 1); !errors.Is(err, remote.ErrPermission) {
		t.Fatalf("WriteAt as a reader: %v", err)
	}
	if _, err := s.WriteAt(ctx, "carol", "alice", nb.ID, future.Add(time.Second), strings.NewReader("x"), 1); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("WriteAt as a stranger: %v", err)
	}
	// A short reader stores nothing.
	if _, err := s.WriteAt(ctx, "alice", "alice", nb.ID, future.Add(time.Second), strings.NewReader("x"), 2); !errors.Is(err, remote.ErrInvalid) {
		t.Fatalf("WriteAt of a short reader: %v", err)
	}
	// Zero time is Write: the clock, bumped past the latest version.
	out, err = s.WriteAt(ctx, "alice", "alice", nb.ID, time.Time{}, strings.NewReader("v2"), 2)
	if err != nil || !out.Version.Equal(future.Add(time.Millisecond)) {
		t.Fatalf("WriteAt zero: %+v, %v", out, err)
	}
	vs, err := alice.Versions(ctx, "alice", nb.ID)
	if err != nil || len(vs) != 3 {
		t.Fatalf("Versions: %+v, %v", vs, err)
	}
	if got := readAll(t, alice, "alice", nb.ID, future); string(got) != "v1!" {
		t.Fatalf("read at the written time: %q", got)
	}
	if got := readAll(t, alice, "alice", nb.ID, base); string(got) != "v0" {
		t.Fatalf("read at the clock: %q", got)
	}
	sh, err := alice.Shares(ctx, "alice", nb.ID)
	if err != nil || len(sh) != 1 || sh[0].Namespace != "bob" {
		t.Fatalf("shares after WriteAt: %+v, %v", sh, err)
	}
}

func TestContentSeek(t *testing.T) {
	s := castStore(t)
	alice := s.As("alice")
	ctx := t.Context()
	data := randomBytes(3*chunkSize+777, 7)
	nb, err := alice.Create(ctx, "alice", "big", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	content, err := alice.Read(ctx, "alice", nb.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer content.Close()
	sk, ok := content.ReadCloser.(io.Seeker)
	if !ok {
		t.Fatal("content is not an io.Seeker")
	}
	n := int64(len(data))
	type step struct {
		off    int64
		whence int
		abs    int64
	}
	for _, st := range []step{
		{0, io.SeekStart, 0},
		{chunkSize + 5, io.SeekStart, chunkSize + 5},
		{10, io.SeekCurrent, chunkSize + 15 + 100}, // after reading 100 below
		{chunkSize, io.SeekStart, chunkSize},       // a chunk boundary
		{-1, io.SeekEnd, n - 1},
		{2 * chunkSize, io.SeekStart, 2 * chunkSize},
		{3, io.SeekStart, 3}, // back to the first chunk
		{chunkSize - 1, io.SeekStart, chunkSize - 1},
		{5, io.SeekEnd, n + 5},
	} {
		abs, err := sk.Seek(st.off, st.whence)
		if err != nil || abs != st.abs {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", st.off, st.whence, abs, err, st.abs)
		}
		want := data[min(abs, n):min(abs+100, n)]
		got := make([]byte, 100)
		m, err := io.ReadFull(content, got)
		if !bytes.Equal(got[:m], want) {
			t.Fatalf("after Seek to %d: read %d bytes (%v) differing from the data", abs, m, err)
		}
	}
	// The whole rest from an offset matches.
	if _, err := sk.Seek(12345, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(content)
	if err != nil || !bytes.Equal(rest, data[12345:]) {
		t.Fatalf("ReadAll after Seek: %d bytes, %v", len(rest), err)
	}
	if _, err := sk.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("Seek to -1 succeeded")
	}
	content.Close()
	if _, err := sk.Seek(0, io.SeekStart); err == nil {
		t.Fatal("Seek after Close succeeded")
	}
}
