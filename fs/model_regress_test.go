package fs_test

import (
	"os"
	"strings"
	"testing"
)

// coreRegressions are minimal sequences of bugs the core model found.
var coreRegressions = []struct {
	name string
	ops  []cop
	skip string // a bug not fixed yet
}{
	// Reading a new notebook between its upload and the outcome's apply
	// failed: the journal had moved the save's data to uploaded/.
	{name: "read between upload and outcome", ops: []cop{
		{kind: "write", name: "b.ipynb", data: []byte("one")},
		{kind: "upload"},
		{kind: "stat", name: "b.ipynb"},
	}},
	// A new notebook replaced (by a temp file renamed onto it) after its
	// create was done but before the outcome was applied: the outcome put
	// the deleted notebook back in the listing as b~<id>.ipynb.
	{name: "pending notebook replaced after its upload", ops: []cop{
		{kind: "write", name: "b.ipynb", data: []byte("one")},
		{kind: "upload"},
		{kind: "write", name: ".tmp1", data: []byte("two")},
		{kind: "rename", name: ".tmp1", dst: "b.ipynb"},
		{kind: "apply"},
	}},
	{name: "pending notebook removed after its upload", ops: []cop{
		{kind: "write", name: "b.ipynb", data: []byte("one")},
		{kind: "upload"},
		{kind: "unlink", name: "b.ipynb"},
		{kind: "apply"},
	}},
	// A listing refreshed between a new notebook's upload and its
	// outcome holds the notebook; removing (or moving away) the file then
	// undoes the create remotely, but the listing keeps it: b.ipynb is
	// still listed (and opens a deleted notebook) until the next refresh.
	{name: "listing refreshed before the outcome, then removed", ops: []cop{
		{kind: "write", name: "b.ipynb", data: []byte("one")},
		{kind: "upload"},
		{kind: "ttl"},
		{kind: "readdir"},
		{kind: "jobs"},
		{kind: "unlink", name: "b.ipynb"},
	}},
	{name: "listing refreshed before the outcome, then moved away", ops: []cop{
		{kind: "write", name: "b.ipynb", data: []byte("one")},
		{kind: "upload"},
		{kind: "ttl"},
		{kind: "readdir"},
		{kind: "jobs"},
		{kind: "rename", name: "b.ipynb", dst: "b.ipynb~"},
	}},
	// The kernel forgets a notebook's inode after a save was uploaded and
	// before its outcome is applied: the next lookup makes a new File from
	// the listing, which still has the version before the save, and finds
	// no pending save (it is uploaded): a.ipynb reads "one" again, though
	// "" was saved, until the outcome is applied.
	{name: "inode forgotten between upload and outcome", ops: []cop{
		{kind: "write", name: "a.ipynb", data: []byte("one")},
		{kind: "settle"},
		{kind: "truncClose", name: "a.ipynb"},
		{kind: "upload"},
		{kind: "forget", name: "a.ipynb"},
	}},
	// A new notebook (no id yet) moved away onto a backup that holds
	// another notebook: that notebook is deleted, but its record stays,
	// so removing (or renaming over) the backup deletes it again and
	// fails with ENOENT: rm cannot remove a listed file.
	{name: "new notebook moved away onto a backup", ops: []cop{
		{kind: "write", name: "b.ipynb", data: []byte("b")},
		{kind: "settle"},
		{kind: "rename", name: "b.ipynb", dst: "a.ipynb~"},
		{kind: "write", name: "a.ipynb", data: []byte("a")},
		{kind: "rename", name: "a.ipynb", dst: "a.ipynb~"},
		{kind: "unlink", name: "a.ipynb~"},
	}},
	// A notebook moved away with a save pending keeps that save as its
	// file's pending content; the file, now a backup, renamed onto a
	// notebook name became another notebook that still read the old save
	// from the journal, which a later save of the first notebook had
	// superseded and removed: b.ipynb failed to read. (A rename of a
	// scratch file onto a free name now journals a save, which replaces
	// the stale one.)
	{name: "backup of a notebook with a pending save renamed onto a name", ops: []cop{
		{kind: "write", name: "b.ipynb", data: []byte("ce")},
		{kind: "xattr", name: "b.ipynb", mode: "user.tiledb.uri"},
		{kind: "write", name: "b.ipynb", data: []byte("adcba")},
		{kind: "rename", name: "b.ipynb", dst: "b.ipynb~"},
		{kind: "open", name: "b.ipynb", h: 1, mode: "trunc"},
		{kind: "rename", name: "b.ipynb", dst: "c.ipynb"},
		{kind: "rename", name: "b.ipynb~", dst: "b.ipynb"},
		{kind: "close", h: 1, mode: "now"},
	}},
	// A save still queued when its notebook was moved away lands, and the
	// daemon stops before applying the outcome (a crash; results are not
	// kept): the backup record keeps the version before that save. A new
	// file of the name after the restart saves on that older version, our
	// own landed save looks like someone else's, and the new save becomes
	// a conflict copy: the notebook keeps "two" though "three" was saved.
	{name: "moved away with a save queued, landed, restart, recreated", skip: "the moved-away record learns the version of a save made before the move only when its outcome is applied (noteVersion); it could keep the moved content's checksum as the rebound file's baseSum", ops: []cop{
		{kind: "write", name: "a.ipynb", data: []byte("one")},
		{kind: "settle"},
		{kind: "write", name: "a.ipynb", data: []byte("two")},
		{kind: "rename", name: "a.ipynb", dst: "a.ipynb~"},
		{kind: "upload"},
		{kind: "restart"},
		{kind: "write", name: "a.ipynb", data: []byte("three")},
	}},
	// A descriptor opened before its notebook was deleted, and that had
	// not read yet, reads an empty file (or fails) instead of the content.
	{name: "read through a descriptor after unlink", skip: "Handle.ReadAt picks its source at the first read, after markGone cleared the file", ops: []cop{
		{kind: "write", name: "a.ipynb", data: []byte("ab")},
		{kind: "open", name: "a.ipynb", h: 1, mode: "r"},
		{kind: "unlink", name: "a.ipynb"},
		{kind: "hread", h: 1},
	}},
	// A save uploaded before a rename and applied after it: the outcome
	// carries the notebook as the upload left it, under its old name, and
	// the listing takes that name back: b.ipynb vanishes and a.ipynb
	// shows again until the next refresh.
	{name: "outcome applied after a rename", ops: []cop{
		{kind: "write", name: "a.ipynb", data: []byte("one")},
		{kind: "settle"},
		{kind: "write", name: "a.ipynb", data: []byte("two")},
		{kind: "upload"},
		{kind: "rename", name: "a.ipynb", dst: "b.ipynb"},
		{kind: "apply"},
	}},
	// A notebook moved away, taken over by a new file of its name, moved
	// away again: renaming the first backup onto a notebook name un-hides
	// it, and a.ipynb shows though its file is b.bak.
	{name: "old backup renamed onto a name un-hides its notebook", ops: []cop{
		{kind: "write", name: "a.ipynb", data: []byte("one")},
		{kind: "settle"},
		{kind: "rename", name: "a.ipynb", dst: "a.ipynb~"},
		{kind: "write", name: "a.ipynb", data: []byte("two")},
		{kind: "rename", name: "a.ipynb", dst: "b.bak"},
		{kind: "rename", name: "a.ipynb~", dst: "b.ipynb"},
	}},
	// ftruncate through a descriptor of a notebook deleted after a rename
	// dropped its staged copy fails: the copy is made again from the
	// deleted notebook.
	{name: "ftruncate after rename over and unlink", skip: "stageLocked copies a deleted notebook's remote content for a gone file", ops: []cop{
		{kind: "write", name: "b.ipynb", data: []byte("b")},
		{kind: "settle"},
		{kind: "open", name: "a.ipynb", h: 1, mode: "rw"},
		{kind: "rename", name: "a.ipynb", dst: "b.ipynb"},
		{kind: "unlink", name: "b.ipynb"},
		{kind: "htrunc", h: 1, n: 4},
	}},
	// An emptied backup renamed back after a restart is not saved: the
	// check for an unchanged backup compares it with the notebook's
	// content in the memory cache, which is empty now, and finds the empty
	// backup equal. The file shows empty, the notebook keeps its content.
	// A backup not emptied makes an identical version instead.
	{name: "emptied backup renamed back after a restart", ops: []cop{
		{kind: "write", name: "a.ipynb", data: []byte("content")},
		{kind: "settle"},
		{kind: "rename", name: "a.ipynb", dst: "a.ipynb~"},
		{kind: "truncClose", name: "a.ipynb~"},
		{kind: "restart"},
		{kind: "rename", name: "a.ipynb~", dst: "a.ipynb"},
	}},
	{name: "unchanged backup renamed back after a restart", ops: []cop{
		{kind: "write", name: "b.ipynb", data: []byte("content")},
		{kind: "settle"},
		{kind: "rename", name: "b.ipynb", dst: "b.ipynb~"},
		{kind: "restart"},
		{kind: "rename", name: "b.ipynb~", dst: "b.ipynb"},
	}},
	// A file created under the name of a notebook moved away shows the
	// version the backup record holds, not the notebook's save still
	// pending: when that save lands, the mtime moves back to the older
	// version's store time (ownTimes keeps one version per notebook).
	{name: "rebound file while the moved-away save uploads", skip: "Namespace.Create's rebind takes the record's version and not the pending save (attachPendingLocked)", ops: []cop{
		{kind: "write", name: "c.ipynb", data: []byte("one")},
		{kind: "settle"},
		{kind: "tick", n: 5},
		{kind: "write", name: "c.ipynb", data: []byte("two")},
		{kind: "rename", name: "c.ipynb", dst: "c.ipynb~"},
		{kind: "open", name: "c.ipynb", mode: "trunc", h: 1},
		{kind: "upload"},
		{kind: "apply"},
	}},
}

func TestCoreModelRegressions(t *testing.T) {
	for _, r := range coreRegressions {
		t.Run(strings.ReplaceAll(r.name, " ", "_"), func(t *testing.T) {
			if r.skip != "" && os.Getenv("MODEL_KNOWN_BUGS") == "" {
				t.Skip("bug: " + r.skip)
			}
			replayCore(t, r.ops)
		})
	}
}
