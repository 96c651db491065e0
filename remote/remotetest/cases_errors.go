package remotetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"notebookfs/remote"
)

// errorCases cover lookups that fail, bad arguments and canceled calls.
func errorCases() []testCase {
	return []testCase{
		{"NotFound", testNotFound},
		{"InvalidNames", testInvalidNames},
		{"SizeMismatch", testSizeMismatch},
		{"Canceled", testCanceled},
	}
}

func testNotFound(t *testing.T, c Cast) {
	ctx := t.Context()
	nb := create(t, c.Alice, alice, "private", sampleNotebook("private"))
	data := sampleNotebook("x")
	for _, tc := range []struct {
		what   string
		client remote.Client
		ns, id string
	}{
		{"unknown id", c.Alice, alice, "00000000-0000-4000-8000-000000000000"},
		{"malformed id", c.Alice, alice, "not-a-uuid"},
		{"empty id", c.Alice, alice, ""},
		{"wrong namespace", c.Alice, acme, nb.ID},
		{"unknown namespace", c.Alice, "nowhere", nb.ID},
		{"not readable", c.Carol, alice, nb.ID},
	} {
		_, err := tc.client.Stat(ctx, tc.ns, tc.id)
		wantErr(t, tc.what+": Stat", err, remote.ErrNotFound)
		_, err = tc.client.Read(ctx, tc.ns, tc.id, time.Time{})
		wantErr(t, tc.what+": Read", err, remote.ErrNotFound)
		_, err = tc.client.Write(ctx, tc.ns, tc.id, bytes.NewReader(data), int64(len(data)))
		wantErr(t, tc.what+": Write", err, remote.ErrNotFound)
		_, err = tc.client.Rename(ctx, tc.ns, tc.id, "new")
		wantErr(t, tc.what+": Rename", err, remote.ErrNotFound)
		_, err = tc.client.Versions(ctx, tc.ns, tc.id)
		wantErr(t, tc.what+": Versions", err, remote.ErrNotFound)
		_, err = tc.client.Shares(ctx, tc.ns, tc.id)
		wantErr(t, tc.what+": Shares", err, remote.ErrNotFound)
		wantErr(t, tc.what+": Share", tc.client.Share(ctx, tc.ns, tc.id, dave, []string{remote.ActionRead}), remote.ErrNotFound)
		wantErr(t, tc.what+": Delete", tc.client.Delete(ctx, tc.ns, tc.id), remote.ErrNotFound)
	}
	_, err := c.Alice.Create(ctx, "no-such-namespace", "x", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	wantErr(t, "Create in unknown namespace", err, remote.ErrNotFound)
	// Nothing above changed the notebook.
	wantBytes(t, "notebook untouched", read(t, c.Alice, nb), sampleNotebook("private"))
}

func testInvalidNames(t *testing.T, c Cast) {
	ctx := t.Context()
	data := sampleNotebook("names")
	for _, tc := range []struct {
		name string
		want error
	}{
		{"", remote.ErrInvalid},
		{".", remote.ErrInvalid},
		{"..", remote.ErrInvalid},
		{"a/b", remote.ErrInvalid},
		{"nul\x00byte", remote.ErrInvalid},
		{"new\nline", remote.ErrInvalid},
		{"bad\xffutf8", remote.ErrInvalid},
		{strings.Repeat("n", 300), remote.ErrNameTooLong},
	} {
		_, err := c.Alice.Create(ctx, alice, tc.name, bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
		wantErr(t, "Create "+tc.name, err, tc.want)
	}
	if l := list(t, c.Alice, remote.Owned, alice); len(l) != 0 {
		t.Fatalf("invalid names created notebooks: %+v", l)
	}
	nb := create(t, c.Alice, alice, strings.Repeat("é", remote.MaxNameLen/2), data) // longest valid, multibyte
	_, err := c.Alice.Rename(ctx, alice, nb.ID, strings.Repeat("n", 300))
	wantErr(t, "Rename to 300 bytes", err, remote.ErrNameTooLong)
	_, err = c.Alice.Rename(ctx, alice, nb.ID, "")
	wantErr(t, "Rename to empty", err, remote.ErrInvalid)
	st, err := c.Alice.Stat(ctx, alice, nb.ID)
	wantOK(t, "Stat", err)
	sameNotebook(t, "Stat after failed renames", st, nb)
}

func testSizeMismatch(t *testing.T, c Cast) {
	ctx := t.Context()
	data := sampleNotebook("sized")
	for _, size := range []int64{int64(len(data)) + 1, int64(len(data)) - 1, 0, -1} {
		_, err := c.Alice.Create(ctx, alice, "sized", bytes.NewReader(data), size, remote.CreateOptions{})
		if err == nil {
			t.Fatalf("Create with size %d for %d bytes: no error", size, len(data))
		}
	}
	if l := list(t, c.Alice, remote.Owned, alice); len(l) != 0 {
		t.Fatalf("Create with a wrong size left notebooks: %+v", l)
	}
	nb := create(t, c.Alice, alice, "sized", data)
	other := sampleNotebook("other contents")
	for _, size := range []int64{int64(len(other)) + 1, int64(len(other)) - 1} {
		_, err := c.Alice.Write(ctx, alice, nb.ID, bytes.NewReader(other), size)
		if err == nil {
			t.Fatalf("Write with size %d for %d bytes: no error", size, len(other))
		}
	}
	vs, err := c.Alice.Versions(ctx, alice, nb.ID)
	wantOK(t, "Versions", err)
	if len(vs) != 1 {
		t.Fatalf("Write with a wrong size left versions: %+v", vs)
	}
	wantBytes(t, "contents after failed writes", read(t, c.Alice, nb), data)
}

func testCanceled(t *testing.T, c Cast) {
	nb := create(t, c.Alice, alice, "cancel", sampleNotebook("cancel"))
	ctx := ctxCanceled(t)
	data := sampleNotebook("never")
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s with a canceled context: got %v, want context.Canceled", what, err)
		}
	}
	_, err := c.Alice.Whoami(ctx)
	check("Whoami", err)
	_, err = c.Alice.Namespaces(ctx, remote.Owned)
	check("Namespaces", err)
	_, err = c.Alice.List(ctx, remote.Owned, alice)
	check("List", err)
	_, err = c.Alice.Stat(ctx, alice, nb.ID)
	check("Stat", err)
	_, err = c.Alice.Read(ctx, alice, nb.ID, time.Time{})
	check("Read", err)
	_, err = c.Alice.Create(ctx, alice, "never", bytes.NewReader(data), int64(len(data)), remote.CreateOptions{})
	check("Create", err)
	_, err = c.Alice.Write(ctx, alice, nb.ID, bytes.NewReader(data), int64(len(data)))
	check("Write", err)
	check("Share", c.Alice.Share(ctx, alice, nb.ID, bob, []string{remote.ActionRead}))
	check("Delete", c.Alice.Delete(ctx, alice, nb.ID))

	l := list(t, c.Alice, remote.Owned, alice)
	if len(l) != 1 {
		t.Fatalf("canceled calls changed the listing: %+v", l)
	}
	sameNotebook(t, "after canceled calls", l[0], nb)
}
