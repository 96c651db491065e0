package remotetest

import (
	"errors"
	"testing"
	"time"

	"notebookfs/remote"
)

// contentCases cover identity, content and history of one owner's notebooks.
func contentCases() []testCase {
	return []testCase{
		{"Whoami", testWhoami},
		{"CreateRead", testCreateRead},
		{"Stat", testStat},
		{"WriteVersions", testWriteVersions},
		{"Rename", testRename},
		{"Delete", testDelete},
		{"DuplicateNames", testDuplicateNames},
	}
}

func testWhoami(t *testing.T, c Cast) {
	ctx := t.Context()
	for _, tc := range []struct {
		client remote.Client
		user   string
		orgs   []remote.Organization
		owned  []string
	}{
		{c.Alice, alice, []remote.Organization{{Name: acme, Role: "owner"}}, []string{alice, acme}},
		{c.Bob, bob, []remote.Organization{{Name: acme, Role: "read_only"}}, []string{bob, acme}},
		{c.Carol, carol, nil, []string{carol}},
	} {
		u, err := tc.client.Whoami(ctx)
		wantOK(t, "Whoami", err)
		if u.Username != tc.user || len(u.Organizations) != len(tc.orgs) {
			t.Fatalf("Whoami: got %+v, want user %s with %+v", u, tc.user, tc.orgs)
		}
		for i := range tc.orgs {
			if u.Organizations[i] != tc.orgs[i] {
				t.Fatalf("Whoami of %s: got orgs %+v, want %+v", tc.user, u.Organizations, tc.orgs)
			}
		}
		wantStrings(t, tc.user+" User.Namespaces", u.Namespaces(), tc.owned)
		wantStrings(t, tc.user+" Namespaces(owned)", namespaces(t, tc.client, remote.Owned), tc.owned)
		wantStrings(t, tc.user+" Namespaces(shared)", namespaces(t, tc.client, remote.Shared), nil)
		wantStrings(t, tc.user+" Namespaces(public)", namespaces(t, tc.client, remote.Public), nil)
	}
	_, err := c.Alice.Namespaces(ctx, remote.Category("nope"))
	wantErr(t, "Namespaces(bad category)", err, remote.ErrInvalid)
	_, err = c.Alice.List(ctx, remote.Category("nope"), alice)
	wantErr(t, "List(bad category)", err, remote.ErrInvalid)
}

func testCreateRead(t *testing.T, c Cast) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"plain", []byte(`{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}`)},
		{"unicode ünï 😀", sampleNotebook("héllo")},
		{"empty", []byte{}},
		{"all bytes", binary},
	} {
		before := time.Now().Add(-time.Minute)
		nb := create(t, c.Alice, alice, tc.name, tc.data)
		if nb.ID == "" || nb.Namespace != alice || nb.Name != tc.name || nb.Size != int64(len(tc.data)) {
			t.Fatalf("Create(%q): got %+v", tc.name, nb)
		}
		if nb.Version.Before(before) || nb.Created.Before(before) || nb.Version.Before(nb.Created) {
			t.Fatalf("Create(%q): times Version %v Created %v", tc.name, nb.Version, nb.Created)
		}
		wantStrings(t, "Create Actions", nb.Actions, allRights())
		data, content := readAt(t, c.Alice, nb, time.Time{})
		wantBytes(t, "read back "+tc.name, data, tc.data)
		if !content.Version.Equal(nb.Version) {
			t.Fatalf("Read(%q): Version %v, want %v", tc.name, content.Version, nb.Version)
		}
	}
	// Organization namespaces take notebooks too.
	nb := create(t, c.Alice, acme, "team", sampleNotebook("team"))
	wantBytes(t, "read back acme/team", read(t, c.Alice, nb), sampleNotebook("team"))
	wantStrings(t, "Create in acme Actions", nb.Actions, allRights())
}

func testStat(t *testing.T, c Cast) {
	nb := create(t, c.Alice, alice, "stat me", sampleNotebook("stat"))
	got, err := c.Alice.Stat(t.Context(), alice, nb.ID)
	wantOK(t, "Stat", err)
	sameNotebook(t, "Stat", got, nb)
	wantStrings(t, "Stat Actions", got.Actions, allRights())
	if !got.Can(remote.ActionWrite) || !got.Can(remote.ActionShare) {
		t.Fatalf("Stat: owner cannot write or share: %v", got.Actions)
	}
}

func testWriteVersions(t *testing.T, c Cast) {
	ctx := t.Context()
	v1 := sampleNotebook("first")
	v2 := sampleNotebook("second, longer than the first")
	nb1 := create(t, c.Alice, alice, "history", v1)
	nb2 := write(t, c.Alice, nb1, v2)
	if nb2.ID != nb1.ID || nb2.Name != nb1.Name || nb2.Size != int64(len(v2)) || !nb2.Created.Equal(nb1.Created) {
		t.Fatalf("Write: got %+v after %+v", nb2, nb1)
	}
	if !nb2.Version.After(nb1.Version) {
		t.Fatalf("Write: version %v not after %v", nb2.Version, nb1.Version)
	}
	st, err := c.Alice.Stat(ctx, alice, nb1.ID)
	wantOK(t, "Stat after Write", err)
	sameNotebook(t, "Stat after Write", st, nb2)
	// Latest is the cheap form of the same answer (the write-back's
	// conflict check).
	latest, err := c.Alice.Latest(ctx, alice, nb1.ID, time.Time{})
	wantOK(t, "Latest after Write", err)
	if !latest.Equal(nb2.Version) {
		t.Fatalf("Latest after Write: %v, want %v", latest, nb2.Version)
	}
	before, err := c.Alice.Latest(ctx, alice, nb1.ID, nb2.Version.Add(-time.Millisecond))
	wantOK(t, "Latest before the second version", err)
	if !before.Equal(nb1.Version) {
		t.Fatalf("Latest before the second version: %v, want %v", before, nb1.Version)
	}
	if _, err := c.Alice.Latest(ctx, alice, nb1.ID, nb1.Version.Add(-time.Millisecond)); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Latest before the first version: %v, want ErrNotFound", err)
	}
	if _, err := c.Bob.Latest(ctx, alice, nb1.ID, time.Time{}); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Latest of a notebook not shared with the caller: %v, want ErrNotFound", err)
	}

	vs, err := c.Alice.Versions(ctx, alice, nb1.ID)
	wantOK(t, "Versions", err)
	if len(vs) != 2 || !vs[0].Time.Equal(nb1.Version) || !vs[1].Time.Equal(nb2.Version) ||
		vs[0].Size != int64(len(v1)) || vs[1].Size != int64(len(v2)) {
		t.Fatalf("Versions: got %+v, want [%v %d] then [%v %d]", vs, nb1.Version, len(v1), nb2.Version, len(v2))
	}
	wantBytes(t, "Read latest", read(t, c.Alice, nb1), v2)
	old, content := readAt(t, c.Alice, nb1, vs[0].Time)
	wantBytes(t, "Read at first version", old, v1)
	if !content.Version.Equal(vs[0].Time) {
		t.Fatalf("Read at first version: Version %v, want %v", content.Version, vs[0].Time)
	}
	// Between the two versions, the first is the one in force.
	if d := vs[1].Time.Sub(vs[0].Time); d > time.Millisecond {
		mid, _ := readAt(t, c.Alice, nb1, vs[0].Time.Add(d/2))
		wantBytes(t, "Read between versions", mid, v1)
	}
	later, _ := readAt(t, c.Alice, nb1, vs[1].Time.Add(time.Hour))
	wantBytes(t, "Read after last version", later, v2)
	_, err = c.Alice.Read(ctx, alice, nb1.ID, vs[0].Time.Add(-time.Millisecond))
	wantErr(t, "Read before first version", err, remote.ErrNotFound)
}

func testRename(t *testing.T, c Cast) {
	ctx := t.Context()
	data := sampleNotebook("rename")
	nb := create(t, c.Alice, alice, "old name", data)
	nb2 := write(t, c.Alice, nb, data)
	renamed, err := c.Alice.Rename(ctx, alice, nb.ID, "new name ✓")
	wantOK(t, "Rename", err)
	if renamed.ID != nb.ID || renamed.Name != "new name ✓" || renamed.Size != nb2.Size || !renamed.Version.Equal(nb2.Version) {
		t.Fatalf("Rename: got %+v from %+v", renamed, nb2)
	}
	st, err := c.Alice.Stat(ctx, alice, nb.ID)
	wantOK(t, "Stat after Rename", err)
	sameNotebook(t, "Stat after Rename", st, renamed)
	wantBytes(t, "Read after Rename", read(t, c.Alice, nb), data)
	vs, err := c.Alice.Versions(ctx, alice, nb.ID)
	wantOK(t, "Versions after Rename", err)
	if len(vs) != 2 {
		t.Fatalf("Versions after Rename: %d, want 2", len(vs))
	}
	l := list(t, c.Alice, remote.Owned, alice)
	if len(l) != 1 || l[0].Name != "new name ✓" {
		t.Fatalf("List after Rename: %+v", l)
	}
	// Shares survive a rename.
	wantOK(t, "Share", c.Alice.Share(ctx, alice, nb.ID, bob, []string{remote.ActionRead}))
	_, err = c.Alice.Rename(ctx, alice, nb.ID, "third")
	wantOK(t, "Rename again", err)
	got, err := c.Bob.Stat(ctx, alice, nb.ID)
	wantOK(t, "Stat by share target after Rename", err)
	if got.Name != "third" {
		t.Fatalf("Stat by bob after Rename: name %q", got.Name)
	}
	_, err = c.Alice.Rename(ctx, alice, nb.ID, "a/b")
	wantErr(t, "Rename to a/b", err, remote.ErrInvalid)
}

func testDelete(t *testing.T, c Cast) {
	ctx := t.Context()
	nb := create(t, c.Alice, alice, "doomed", sampleNotebook("doomed"))
	keep := create(t, c.Alice, alice, "kept", sampleNotebook("kept"))
	write(t, c.Alice, nb, sampleNotebook("doomed 2"))
	wantOK(t, "Share before Delete", c.Alice.Share(ctx, alice, nb.ID, remote.PublicNamespace, []string{remote.ActionRead}))
	wantOK(t, "Delete", c.Alice.Delete(ctx, alice, nb.ID))
	_, err := c.Alice.Stat(ctx, alice, nb.ID)
	wantErr(t, "Stat after Delete", err, remote.ErrNotFound)
	_, err = c.Alice.Read(ctx, alice, nb.ID, time.Time{})
	wantErr(t, "Read after Delete", err, remote.ErrNotFound)
	_, err = c.Alice.Versions(ctx, alice, nb.ID)
	wantErr(t, "Versions after Delete", err, remote.ErrNotFound)
	wantErr(t, "Delete twice", c.Alice.Delete(ctx, alice, nb.ID), remote.ErrNotFound)
	l := list(t, c.Alice, remote.Owned, alice)
	if len(l) != 1 || l[0].ID != keep.ID {
		t.Fatalf("List after Delete: %+v", l)
	}
	wantStrings(t, "Namespaces(public) after Delete", namespaces(t, c.Carol, remote.Public), nil)
}

func testDuplicateNames(t *testing.T, c Cast) {
	first := create(t, c.Alice, alice, "x", sampleNotebook("one"))
	second := create(t, c.Alice, alice, "x", sampleNotebook("two"))
	if first.ID == second.ID {
		t.Fatalf("two notebooks named x share id %s", first.ID)
	}
	wantBytes(t, "first x", read(t, c.Alice, first), sampleNotebook("one"))
	wantBytes(t, "second x", read(t, c.Alice, second), sampleNotebook("two"))
	l := list(t, c.Alice, remote.Owned, alice)
	_, ok1 := find(l, first.ID)
	_, ok2 := find(l, second.ID)
	if len(l) != 2 || !ok1 || !ok2 {
		t.Fatalf("List: got %+v, want %s and %s", l, first.ID, second.ID)
	}
	// Oldest first, in creation order even within one millisecond: the
	// file system gives the first listed the plain name.
	if l[0].ID != first.ID || l[1].ID != second.ID || l[1].Created.Before(l[0].Created) {
		t.Fatalf("List not in creation order (want %s then %s): %+v", first.ID, second.ID, l)
	}
	// Renaming onto an existing name is allowed too.
	third := create(t, c.Alice, alice, "y", sampleNotebook("three"))
	_, err := c.Alice.Rename(t.Context(), alice, third.ID, "x")
	wantOK(t, "Rename onto a taken name", err)
	if l := list(t, c.Alice, remote.Owned, alice); len(l) != 3 {
		t.Fatalf("List after Rename onto x: %d notebooks, want 3", len(l))
	}
}
