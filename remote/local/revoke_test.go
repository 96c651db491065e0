package local

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"notebookfs/remote"
)

// A token with an expiry works until then, by the store's clock, and is
// refused from then on; one without expiry is not affected.
func TestTokenExpiry(t *testing.T) {
	s := castStore(t)
	ctx := t.Context()
	now := time.UnixMilli(1_800_000_000_000)
	s.SetClock(func() time.Time { return now })
	short, err := s.NewTokenUntil(ctx, "alice", now.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	forever, err := s.NewToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{short, forever} {
		if u, err := s.UserForToken(ctx, tok); err != nil || u != "alice" {
			t.Fatalf("fresh token: %q %v", u, err)
		}
	}
	now = now.Add(30*24*time.Hour - time.Millisecond)
	if _, err := s.UserForToken(ctx, short); err != nil {
		t.Fatalf("a millisecond before the expiry: %v", err)
	}
	now = now.Add(time.Millisecond)
	if _, err := s.UserForToken(ctx, short); !errors.Is(err, remote.ErrUnauthenticated) {
		t.Fatalf("at the expiry: %v, want ErrUnauthenticated", err)
	}
	if u, err := s.UserForToken(ctx, forever); err != nil || u != "alice" {
		t.Fatalf("the token without expiry: %q %v", u, err)
	}
}

// RevokeTokens ends every token of one user, and only theirs.
func TestRevokeAllTokens(t *testing.T) {
	s := castStore(t)
	ctx := t.Context()
	a1, _ := s.NewToken(ctx, "alice")
	a2, _ := s.NewToken(ctx, "alice")
	b, _ := s.NewToken(ctx, "bob")
	if n, err := s.RevokeTokens(ctx, "alice"); err != nil || n != 2 {
		t.Fatalf("RevokeTokens: %d %v", n, err)
	}
	for _, tok := range []string{a1, a2} {
		if _, err := s.UserForToken(ctx, tok); !errors.Is(err, remote.ErrUnauthenticated) {
			t.Errorf("revoked token: %v", err)
		}
	}
	if u, err := s.UserForToken(ctx, b); err != nil || u != "bob" {
		t.Errorf("bob's token: %q %v", u, err)
	}
	if _, err := s.RevokeTokens(ctx, "ghost"); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

// A member taken out of an organization loses its notebooks at once; a
// removed user loses their tokens and shares, and their notebooks go only
// when asked.
func TestRemoveMemberAndUser(t *testing.T) {
	s := castStore(t)
	ctx := t.Context()
	data := []byte("{}")
	orgNB, err := s.As("alice").Create(ctx, "acme", "plan", bytes.NewReader(data), 2, remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bob := s.As("bob")
	if nbs, err := bob.List(ctx, remote.Owned, "acme"); err != nil || len(nbs) != 1 {
		t.Fatalf("bob lists acme: %v %v", nbs, err)
	}
	if err := s.RemoveMember(ctx, "acme", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.List(ctx, remote.Owned, "acme"); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("bob lists acme after removal: %v", err)
	}
	if _, err := bob.Read(ctx, "acme", orgNB.ID, time.Time{}); err == nil {
		t.Error("bob reads acme's notebook after removal")
	}
	if u, _ := bob.Whoami(ctx); len(u.Organizations) != 0 {
		t.Errorf("bob's organizations: %+v", u.Organizations)
	}
	if err := s.RemoveMember(ctx, "acme", "bob"); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}

	carol := s.As("carol")
	own, err := carol.Create(ctx, "carol", "mine", bytes.NewReader(data), 2, remote.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.As("alice").Share(ctx, "acme", orgNB.ID, "carol", []string{remote.ActionRead}); err != nil {
		t.Fatal(err)
	}
	tok, _ := s.NewToken(ctx, "carol")
	if _, err := s.RemoveUser(ctx, "carol", false); !errors.Is(err, remote.ErrExist) {
		t.Fatalf("removing a user who owns notebooks: %v", err)
	}
	if _, err := s.UserForToken(ctx, tok); err != nil {
		t.Fatalf("a refused removal changed something: %v", err)
	}
	if n, err := s.RemoveUser(ctx, "carol", true); err != nil || n != 1 {
		t.Fatalf("RemoveUser: %d %v", n, err)
	}
	if _, err := s.UserForToken(ctx, tok); !errors.Is(err, remote.ErrUnauthenticated) {
		t.Errorf("removed user's token: %v", err)
	}
	if _, err := s.As("alice").Stat(ctx, "carol", own.ID); err == nil {
		t.Error("the removed user's notebook is still there")
	}
	if shares, err := s.As("alice").Shares(ctx, "acme", orgNB.ID); err != nil || len(shares) != 0 {
		t.Errorf("shares naming the removed user: %+v %v", shares, err)
	}
	if err := s.AddUser(ctx, "carol"); err != nil {
		t.Fatalf("the name is free again: %v", err)
	}
	if _, err := carol.Read(ctx, "acme", orgNB.ID, time.Time{}); err == nil {
		t.Error("a new carol inherits the old one's share")
	}
}
