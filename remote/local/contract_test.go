package local

import (
	"testing"

	"notebookfs/remote/remotetest"
)

func TestContract(t *testing.T) {
	remotetest.Run(t, func(t *testing.T) remotetest.Cast {
		s := castStore(t)
		return remotetest.Cast{Alice: s.As("alice"), Bob: s.As("bob"), Carol: s.As("carol")}
	})
}

// openTest opens a store in a fresh directory, closed when the test ends.
func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// castStore opens a store populated as remotetest.Cast documents.
func castStore(t *testing.T) *Store {
	t.Helper()
	s := openTest(t)
	ctx := t.Context()
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		if err := s.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "acme", "alice", RoleOwner); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "acme", "bob", RoleReadOnly); err != nil {
		t.Fatal(err)
	}
	return s
}
