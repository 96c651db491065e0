package save

import (
	"bytes"
	"io"
	"testing"
)

// A pending save's content stays readable between its upload and the
// release of its result: the file system reads the pending save until it
// has applied the outcome, and a read in between failed with "no such
// file" (the data had moved to uploaded/).
func TestContentReadableUntilResultReleased(t *testing.T) {
	e := newEnv(t)
	o := e.options()
	o.Manual = true
	u := e.start(o, nil)
	data := nbData("between upload and outcome")
	ent, err := u.Save(Request{Category: "owned", Namespace: user, Name: "between"}, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !u.Step() {
		t.Fatal("nothing to upload")
	}
	got, err := u.ReadAll(ent)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll after the upload, before the outcome: %q, %v", got, err)
	}
	f, err := u.Content(ent)
	if err != nil {
		t.Fatalf("Content after the upload, before the outcome: %v", err)
	}
	got, err = io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Content read %q, %v", got, err)
	}
	r, ok := u.Next()
	if !ok || r.Outcome != Saved || r.Entry.Seq != ent.Seq {
		t.Fatalf("result %+v, %v", r, ok)
	}
	u.Release(r)
	if _, err := u.ReadAll(ent); err == nil {
		t.Fatal("the content is still there after its result was released")
	}
	e.wantEmptyJournal()
}

// A save uploaded before its notebook was deleted locally, and whose
// result was not taken yet, ends Cancelled: reported as Saved, the file
// system put the deleted notebook back in its listing.
func TestCancelAfterUploadBeforeResult(t *testing.T) {
	t.Run("create", func(t *testing.T) {
		e := newEnv(t)
		o := e.options()
		o.Manual = true
		u := e.start(o, nil)
		data := nbData("created then removed")
		ent, err := u.Save(Request{Category: "owned", Namespace: user, Name: "gone"}, bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		u.Step()
		if err := u.Cancel(t.Context(), Ref(ent.Key)); err != nil {
			t.Fatal(err)
		}
		r, ok := u.Next()
		if !ok || r.Outcome != Cancelled || r.Notebook.ID != "" {
			t.Fatalf("result %+v, want Cancelled", r)
		}
		u.Release(r)
		if nbs := e.named("gone"); len(nbs) != 0 {
			t.Fatalf("the create was not undone: %+v", nbs)
		}
	})
	t.Run("save", func(t *testing.T) {
		e := newEnv(t)
		o := e.options()
		o.Manual = true
		u := e.start(o, nil)
		nb := e.create("kept", nbData("one"))
		data := nbData("two")
		if _, err := u.Save(Request{Category: "owned", Namespace: user, ID: nb.ID, Name: nb.Name, Base: nb.Version}, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		u.Step()
		u.CancelNotebook(nb.ID)
		r, ok := u.Next()
		if !ok || r.Outcome != Cancelled {
			t.Fatalf("result %+v, want Cancelled", r)
		}
		u.Release(r)
	})
}

// A save of a new notebook journaled after its create was done, and
// before the file heard of it, is based on the create's version: replayed
// after a restart, it was taken for a save over someone else's version
// and became a conflict copy, the notebook keeping the older content.
func TestSaveAfterCreateDoneSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	o := e.options()
	o.Manual = true
	u := e.start(o, nil)
	first, second := nbData("first"), nbData("second")
	ent, err := u.Save(Request{Category: "owned", Namespace: user, Name: "new"}, bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	u.Step()
	if _, err := u.Save(Request{Ref: Ref(ent.Key), Category: "owned", Namespace: user, Name: "new"}, bytes.NewReader(second), int64(len(second))); err != nil {
		t.Fatal(err)
	}
	u.Close()

	j, entries, _, err := openJournal(e.jdir)
	if err != nil {
		t.Fatal(err)
	}
	u2 := newSaver(o, j, entries)
	defer u2.Close()
	for u2.Step() {
	}
	r, ok := u2.Next()
	if !ok || r.Outcome != Saved {
		t.Fatalf("replayed save: %+v, want Saved", r)
	}
	nbs := e.list()
	if len(nbs) != 1 || nbs[0].Name != "new" {
		t.Fatalf("the store has %+v, want the one notebook", nbs)
	}
	if got := e.latest(nbs[0].ID); !bytes.Equal(got, second) {
		t.Fatalf("the notebook holds %q, want %q", got, second)
	}
}
