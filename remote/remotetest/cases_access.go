package remotetest

import (
	"bytes"
	"testing"
	"time"

	"notebookfs/remote"
)

// accessCases cover listings, rights and sharing between the cast.
func accessCases() []testCase {
	return []testCase{
		{"ListOwned", testListOwned},
		{"ShareWithUser", testShareWithUser},
		{"SharePublic", testSharePublic},
		{"OrgMember", testOrgMember},
		{"ShareWithOrg", testShareWithOrg},
		{"ShareRules", testShareRules},
	}
}

func testListOwned(t *testing.T, c Cast) {
	mine := create(t, c.Alice, alice, "mine", sampleNotebook("mine"))
	team := create(t, c.Alice, acme, "team", sampleNotebook("team"))
	team = write(t, c.Alice, team, sampleNotebook("team, second version"))

	l := list(t, c.Alice, remote.Owned, alice)
	if len(l) != 1 {
		t.Fatalf("List(owned, alice): %+v", l)
	}
	sameNotebook(t, "List(owned, alice)", l[0], mine)
	wantStrings(t, "List(owned, alice) Actions", l[0].Actions, allRights())

	l = list(t, c.Alice, remote.Owned, acme)
	if len(l) != 1 {
		t.Fatalf("List(owned, acme): %+v", l)
	}
	sameNotebook(t, "List(owned, acme) latest version", l[0], team)
	wantStrings(t, "owner's Actions in acme", l[0].Actions, allRights())

	l = list(t, c.Bob, remote.Owned, acme)
	if len(l) != 1 {
		t.Fatalf("List(owned, acme) by bob: %+v", l)
	}
	sameNotebook(t, "List(owned, acme) by bob", l[0], team)
	wantStrings(t, "read_only member's Actions", l[0].Actions, readOnly())

	if l := list(t, c.Bob, remote.Owned, bob); len(l) != 0 {
		t.Fatalf("List(owned, bob): %+v, want empty", l)
	}
	_, err := c.Bob.List(t.Context(), remote.Owned, alice)
	wantErr(t, "List(owned, alice) by bob", err, remote.ErrNotFound)
	_, err = c.Carol.List(t.Context(), remote.Owned, acme)
	wantErr(t, "List(owned, acme) by carol", err, remote.ErrNotFound)
	// Owned notebooks are not shared or public.
	if l := list(t, c.Alice, remote.Shared, alice); len(l) != 0 {
		t.Fatalf("List(shared, alice) by alice: %+v", l)
	}
	if l := list(t, c.Bob, remote.Public, acme); len(l) != 0 {
		t.Fatalf("List(public, acme) by bob: %+v", l)
	}
}

func testShareWithUser(t *testing.T, c Cast) {
	ctx := t.Context()
	v1 := sampleNotebook("shared")
	nb := create(t, c.Alice, alice, "for bob", v1)
	_, err := c.Bob.Stat(ctx, alice, nb.ID)
	wantErr(t, "Stat by bob before sharing", err, remote.ErrNotFound)

	wantOK(t, "Share read", c.Alice.Share(ctx, alice, nb.ID, bob, []string{remote.ActionRead}))
	wantStrings(t, "bob Namespaces(shared)", namespaces(t, c.Bob, remote.Shared), []string{alice})
	wantStrings(t, "carol Namespaces(shared)", namespaces(t, c.Carol, remote.Shared), nil)
	l := list(t, c.Bob, remote.Shared, alice)
	if len(l) != 1 {
		t.Fatalf("List(shared, alice) by bob: %+v", l)
	}
	sameNotebook(t, "List(shared, alice) by bob", l[0], nb)
	wantStrings(t, "read share Actions", l[0].Actions, readOnly())
	wantBytes(t, "Read by bob", read(t, c.Bob, nb), v1)
	_, err = c.Bob.Write(ctx, alice, nb.ID, bytes.NewReader(v1), int64(len(v1)))
	wantErr(t, "Write with read share", err, remote.ErrPermission)
	_, err = c.Bob.Rename(ctx, alice, nb.ID, "stolen")
	wantErr(t, "Rename with read share", err, remote.ErrPermission)
	wantErr(t, "Delete with read share", c.Bob.Delete(ctx, alice, nb.ID), remote.ErrPermission)
	shares, err := c.Alice.Shares(ctx, alice, nb.ID)
	wantOK(t, "Shares", err)
	if len(shares) != 1 || shares[0].Namespace != bob || shares[0].Type != "user" {
		t.Fatalf("Shares: %+v", shares)
	}
	wantStrings(t, "Shares actions", shares[0].Actions, readOnly())
	// Whoever can read sees the policies.
	shares, err = c.Bob.Shares(ctx, alice, nb.ID)
	wantOK(t, "Shares by bob", err)
	if len(shares) != 1 {
		t.Fatalf("Shares by bob: %+v", shares)
	}

	wantOK(t, "Share read+write", c.Alice.Share(ctx, alice, nb.ID, bob, []string{remote.ActionRead, remote.ActionWrite}))
	st, err := c.Bob.Stat(ctx, alice, nb.ID)
	wantOK(t, "Stat by bob", err)
	wantStrings(t, "read+write share Actions", st.Actions, readWrite())
	v2 := sampleNotebook("edited by bob")
	nb2 := write(t, c.Bob, nb, v2)
	if nb2.ID != nb.ID || !nb2.Version.After(nb.Version) {
		t.Fatalf("Write by bob: got %+v after %+v", nb2, nb)
	}
	wantBytes(t, "alice reads bob's version", read(t, c.Alice, nb), v2)
	vs, err := c.Alice.Versions(ctx, alice, nb.ID)
	wantOK(t, "Versions", err)
	if len(vs) != 2 {
		t.Fatalf("Versions after bob's write: %+v", vs)
	}
	// Write rights do not include rename, delete or share.
	_, err = c.Bob.Rename(ctx, alice, nb.ID, "stolen")
	wantErr(t, "Rename with write share", err, remote.ErrPermission)
	wantErr(t, "Share with write share", c.Bob.Share(ctx, alice, nb.ID, carol, []string{remote.ActionRead}), remote.ErrPermission)

	wantOK(t, "unshare", c.Alice.Share(ctx, alice, nb.ID, bob, nil))
	_, err = c.Bob.Stat(ctx, alice, nb.ID)
	wantErr(t, "Stat by bob after unshare", err, remote.ErrNotFound)
	_, err = c.Bob.Read(ctx, alice, nb.ID, time.Time{})
	wantErr(t, "Read by bob after unshare", err, remote.ErrNotFound)
	wantStrings(t, "bob Namespaces(shared) after unshare", namespaces(t, c.Bob, remote.Shared), nil)
	if l := list(t, c.Bob, remote.Shared, alice); len(l) != 0 {
		t.Fatalf("List(shared, alice) by bob after unshare: %+v", l)
	}
	shares, err = c.Alice.Shares(ctx, alice, nb.ID)
	wantOK(t, "Shares after unshare", err)
	if len(shares) != 0 {
		t.Fatalf("Shares after unshare: %+v", shares)
	}
	wantOK(t, "unshare twice", c.Alice.Share(ctx, alice, nb.ID, bob, []string{}))
}

func testSharePublic(t *testing.T, c Cast) {
	ctx := t.Context()
	data := sampleNotebook("public")
	nb := create(t, c.Alice, alice, "for everyone", data)
	create(t, c.Alice, alice, "private", sampleNotebook("private"))
	wantErr(t, "public read+write",
		c.Alice.Share(ctx, alice, nb.ID, remote.PublicNamespace, []string{remote.ActionRead, remote.ActionWrite}), remote.ErrInvalid)
	wantOK(t, "make public", c.Alice.Share(ctx, alice, nb.ID, remote.PublicNamespace, []string{remote.ActionRead}))

	wantStrings(t, "carol Namespaces(public)", namespaces(t, c.Carol, remote.Public), []string{alice})
	wantStrings(t, "carol Namespaces(shared)", namespaces(t, c.Carol, remote.Shared), nil)
	if l := list(t, c.Carol, remote.Shared, alice); len(l) != 0 {
		t.Fatalf("List(shared, alice) by carol lists a public notebook: %+v", l)
	}
	l := list(t, c.Carol, remote.Public, alice)
	if len(l) != 1 {
		t.Fatalf("List(public, alice) by carol: %+v", l)
	}
	sameNotebook(t, "List(public, alice)", l[0], nb)
	wantStrings(t, "public Actions", l[0].Actions, readOnly())
	if l := list(t, c.Alice, remote.Public, alice); len(l) != 1 || l[0].ID != nb.ID {
		t.Fatalf("List(public, alice) by alice: %+v", l)
	}
	wantBytes(t, "Read by carol", read(t, c.Carol, nb), data)
	_, err := c.Carol.Write(ctx, alice, nb.ID, bytes.NewReader(data), int64(len(data)))
	wantErr(t, "Write by carol", err, remote.ErrPermission)
	wantErr(t, "Share by carol", c.Carol.Share(ctx, alice, nb.ID, carol, []string{remote.ActionRead}), remote.ErrPermission)
	shares, err := c.Alice.Shares(ctx, alice, nb.ID)
	wantOK(t, "Shares", err)
	if len(shares) != 1 || shares[0].Namespace != remote.PublicNamespace || shares[0].Type != "organization" {
		t.Fatalf("Shares of public notebook: %+v", shares)
	}

	wantOK(t, "make private", c.Alice.Share(ctx, alice, nb.ID, remote.PublicNamespace, nil))
	_, err = c.Carol.Stat(ctx, alice, nb.ID)
	wantErr(t, "Stat by carol after unpublishing", err, remote.ErrNotFound)
	wantStrings(t, "carol Namespaces(public) after", namespaces(t, c.Carol, remote.Public), nil)
}

func testOrgMember(t *testing.T, c Cast) {
	ctx := t.Context()
	data := sampleNotebook("acme")
	nb := create(t, c.Alice, acme, "plan", data)
	wantBytes(t, "Read by read_only member", read(t, c.Bob, nb), data)
	st, err := c.Bob.Stat(ctx, acme, nb.ID)
	wantOK(t, "Stat by bob", err)
	wantStrings(t, "read_only member's Actions", st.Actions, readOnly())
	_, err = c.Bob.Write(ctx, acme, nb.ID, bytes.NewReader(data), int64(len(data)))
	wantErr(t, "Write by read_only member", err, remote.ErrPermission)
	wantErr(t, "Delete by read_only member", c.Bob.Delete(ctx, acme, nb.ID), remote.ErrPermission)
	_, err = c.Bob.Create(ctx, acme, "mine", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	wantErr(t, "Create in acme by read_only member", err, remote.ErrPermission)
	_, err = c.Carol.Stat(ctx, acme, nb.ID)
	wantErr(t, "Stat by non-member", err, remote.ErrNotFound)
	_, err = c.Carol.Create(ctx, acme, "mine", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	wantErr(t, "Create in acme by non-member", err, remote.ErrPermission)
	_, err = c.Bob.Create(ctx, alice, "mine", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	wantErr(t, "Create in another user's namespace", err, remote.ErrPermission)
	// Org notebooks are owned, not shared, for members.
	wantStrings(t, "bob Namespaces(shared)", namespaces(t, c.Bob, remote.Shared), nil)
	// A share to a member adds to the role.
	wantOK(t, "Share write with bob", c.Alice.Share(ctx, acme, nb.ID, bob, []string{remote.ActionRead, remote.ActionWrite}))
	write(t, c.Bob, nb, sampleNotebook("bob was here"))
	wantStrings(t, "bob Namespaces(shared) after share", namespaces(t, c.Bob, remote.Shared), nil)
}

func testShareWithOrg(t *testing.T, c Cast) {
	ctx := t.Context()
	data := sampleNotebook("for the team")
	nb := create(t, c.Alice, alice, "memo", data)
	wantOK(t, "Share with acme", c.Alice.Share(ctx, alice, nb.ID, acme, []string{remote.ActionRead}))
	wantStrings(t, "bob Namespaces(shared)", namespaces(t, c.Bob, remote.Shared), []string{alice})
	l := list(t, c.Bob, remote.Shared, alice)
	if len(l) != 1 || l[0].ID != nb.ID {
		t.Fatalf("List(shared, alice) by bob: %+v", l)
	}
	wantBytes(t, "Read by org member", read(t, c.Bob, nb), data)
	_, err := c.Carol.Stat(ctx, alice, nb.ID)
	wantErr(t, "Stat by non-member", err, remote.ErrNotFound)
	shares, err := c.Alice.Shares(ctx, alice, nb.ID)
	wantOK(t, "Shares", err)
	if len(shares) != 1 || shares[0].Namespace != acme || shares[0].Type != "organization" {
		t.Fatalf("Shares: %+v", shares)
	}
}

func testShareRules(t *testing.T, c Cast) {
	ctx := t.Context()
	nb := create(t, c.Alice, alice, "rules", sampleNotebook("rules"))
	read1 := []string{remote.ActionRead}
	wantErr(t, "bad action", c.Alice.Share(ctx, alice, nb.ID, bob, []string{"delete"}), remote.ErrInvalid)
	wantErr(t, "unknown namespace", c.Alice.Share(ctx, alice, nb.ID, "nobody-here", read1), remote.ErrInvalid)
	wantErr(t, "malformed namespace", c.Alice.Share(ctx, alice, nb.ID, "a/b", read1), remote.ErrInvalid)
	wantErr(t, "owning namespace", c.Alice.Share(ctx, alice, nb.ID, alice, read1), remote.ErrInvalid)

	wantOK(t, "Share with dave", c.Alice.Share(ctx, alice, nb.ID, dave, read1))
	wantOK(t, "Share with bob (messy spelling)", c.Alice.Share(ctx, alice, nb.ID, bob, []string{" WRITE", "read", "Read"}))
	wantOK(t, "Share with acme", c.Alice.Share(ctx, alice, nb.ID, acme, read1))
	wantOK(t, "Share with public", c.Alice.Share(ctx, alice, nb.ID, remote.PublicNamespace, read1))
	shares, err := c.Alice.Shares(ctx, alice, nb.ID)
	wantOK(t, "Shares", err)
	var got []string
	for _, s := range shares {
		got = append(got, s.Namespace+":"+s.Type)
	}
	wantStrings(t, "Shares sorted", got, []string{"acme:organization", "bob:user", "dave:user", "public:organization"})
	wantStrings(t, "bob's normalised actions", shares[1].Actions, readWrite())

	// Setting replaces the actions exactly.
	wantOK(t, "narrow bob to read", c.Alice.Share(ctx, alice, nb.ID, bob, read1))
	shares, err = c.Alice.Shares(ctx, alice, nb.ID)
	wantOK(t, "Shares", err)
	wantStrings(t, "bob's replaced actions", shares[1].Actions, readOnly())

	// A reader who is not the owner may not share.
	wantErr(t, "Share by reader", c.Bob.Share(ctx, alice, nb.ID, carol, read1), remote.ErrPermission)
	wantErr(t, "Unshare by reader", c.Bob.Share(ctx, alice, nb.ID, dave, nil), remote.ErrPermission)
	// Org owners may share org notebooks.
	team := create(t, c.Alice, acme, "team", sampleNotebook("team"))
	wantOK(t, "Share org notebook", c.Alice.Share(ctx, acme, team.ID, carol, read1))
	wantErr(t, "Share org notebook by read_only member", c.Bob.Share(ctx, acme, team.ID, dave, read1), remote.ErrPermission)
	wantBytes(t, "carol reads acme notebook", read(t, c.Carol, team), sampleNotebook("team"))
	wantStrings(t, "carol Namespaces(shared)", namespaces(t, c.Carol, remote.Shared), []string{acme})
}
