//go:build linux

package test

import (
	"context"
	"testing"

	"notebookfs/remote/local"
	"notebookfs/remote/remotetest"
	"notebookfs/remote/server"
)

// The contract every Client passes, here by the cloud client over real
// HTTP against the server over a real store.
func TestContractOverHTTP(t *testing.T) {
	remotetest.Run(t, func(t *testing.T) remotetest.Cast {
		store, err := local.Open(t.TempDir(), testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		ctx := context.Background()
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			if err := store.AddUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.AddOrg(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := store.AddMember(ctx, "acme", "alice", local.RoleOwner); err != nil {
			t.Fatal(err)
		}
		if err := store.AddMember(ctx, "acme", "bob", local.RoleReadOnly); err != nil {
			t.Fatal(err)
		}
		url := serveStore(t, store, server.Options{})
		return remotetest.Cast{
			Alice: cloudClient(t, store, url, "alice", ""),
			Bob:   cloudClient(t, store, url, "bob", ""),
			Carol: cloudClient(t, store, url, "carol", ""),
		}
	})
}
