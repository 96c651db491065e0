package save

// The upload of one save: a create or a new version, the check after the
// write for a save by someone else, the conflict copy, and the recovery
// from a notebook deleted remotely meanwhile.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"notebookfs/remote"
)

// upload sends one entry. Its content is checked against the entry's
// checksum as it is read: bytes changed on disk are refused, not uploaded.
func (s *Saver) upload(e Entry, replayed bool) (Result, error) {
	f, err := s.j.Content(e)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", remote.ErrInvalid, err)
	}
	defer f.Close()
	body := func() io.Reader { return newChecked(f, e) }

	if e.ID == "" {
		if replayed {
			// The previous run may have created it and died before
			// recording that: adopt a notebook of this name and content.
			if nb, ok, err := s.findByContent(e, e.Name); err != nil {
				return Result{}, err
			} else if ok {
				return Result{Entry: e, Outcome: Saved, Notebook: nb}, nil
			}
		}
		nb, err := s.create(e, e.Namespace, e.Name, body())
		if err != nil {
			return Result{}, err
		}
		return Result{Entry: e, Outcome: Saved, Notebook: nb}, nil
	}

	ctx, cancel := s.callCtx()
	nb, err := s.o.Client.Write(ctx, e.Namespace, e.ID, body(), e.Size)
	cancel()
	if errors.Is(err, remote.ErrNotFound) {
		return s.recreate(e, body())
	}
	if err != nil {
		return Result{}, err
	}
	s.o.Log.WithFields(e.LogFields()).WithField("version", nb.Version.UTC().Format(time.RFC3339Nano)).
		WithField("replayed", replayed).Debug("uploaded")
	if s.o.Overwrite {
		return Result{Entry: e, Outcome: Saved, Notebook: nb}, nil
	}
	return s.verify(e, nb, f)
}

// renameCreated gives a notebook just created the name its file took
// while the create was under way.
func (s *Saver) renameCreated(e Entry, nb remote.Notebook, name string) remote.Notebook {
	ctx, cancel := s.callCtx()
	defer cancel()
	renamed, err := s.o.Client.Rename(ctx, nb.Namespace, nb.ID, name)
	if err != nil {
		s.o.Log.WithError(err).WithField("path", e.Category+"/"+e.Namespace+"/"+name+".ipynb").
			Warn("a new notebook renamed during its upload keeps its first name remotely")
		return nb
	}
	return renamed
}

// verify checks, after the write, that the version before ours is the one
// our content was based on (or one of our own). TileDB has no conditional
// write, so checking after the write is what also catches a save that
// landed between a check and our write: one request (the version before
// ours) on the normal path. Someone else's version there means we
// overwrote a save we never saw: ours becomes the conflict copy and theirs
// is written back as the latest, so the later writer always yields.
func (s *Saver) verify(e Entry, nb remote.Notebook, mine io.ReaderAt) (Result, error) {
	body := func() io.Reader { return newChecked(mine, e) } // what becomes a version is checked, conflict copies too
	saved := Result{Entry: e, Outcome: Saved, Notebook: nb}
	log := s.o.Log.WithField("path", e.Path())
	var prev time.Time
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := s.callCtx()
		prev, err = s.o.Client.Latest(ctx, e.Namespace, e.ID, nb.Version.Add(-time.Millisecond))
		cancel()
		if err == nil || errors.Is(err, remote.ErrNotFound) || s.ctx.Err() != nil {
			break
		}
		s.sleep(s.o.Backoff << attempt)
	}
	s.mu.Lock()
	ours := !prev.IsZero() && prev.Equal(s.written[e.ID])
	s.mu.Unlock()
	s.o.Log.WithFields(e.LogFields()).WithField("before", prev.UTC().Format(time.RFC3339Nano)).WithField("ours", ours).
		WithError(err).Debug("checked the version before this save")
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return saved, nil // ours is the first version (recreated meanwhile)
	case err != nil:
		log.WithError(err).Warn("saved, but could not check for a concurrent save by someone else")
		return saved, nil
	case ours || !prev.After(e.Base):
		return saved, nil
	}
	theirs, sum, err := s.remoteContent(e.Namespace, e.ID, prev)
	if err != nil {
		log.WithError(err).Warn("saved, but could not read the version before it to check for a conflict")
		return saved, nil
	}
	s.o.Log.WithFields(e.LogFields()).WithField("their_size", len(theirs)).WithField("their_sum", sum[:12]).
		Debug("read the version before this save")
	if sum == e.Sum || slices.Contains(e.Prevs, sum) || partialOf(theirs, mine, e.Size) {
		// An earlier save of ours (recorded before a restart), the very
		// content ours was based on written again, or what a write of
		// this content left when it was cut off between TileDB's data
		// write and its file_size metadata (a crash, a dropped connection):
		// our bytes cut to, or padded with 0xff to, the size before.
		return saved, nil
	}
	copyNB, err := s.conflictCopy(e, body())
	if err != nil {
		// Ours is the latest and theirs is in the history: nothing is lost.
		log.WithError(err).Error("conflict: someone else saved first, and the conflict copy could not be made; your save is the latest version and theirs is in the history")
		return saved, nil
	}
	ctx, cancel := s.callCtx()
	restored, err := s.o.Client.Write(ctx, e.Namespace, e.ID, bytes.NewReader(theirs), int64(len(theirs)))
	cancel()
	if err != nil {
		log.WithError(err).Error("conflict: could not write the other save back as the latest; it is in the history")
		restored = nb
	}
	log.WithField("copy", copyNB.Namespace+"/"+copyNB.Name+".ipynb").
		WithField("their_version", prev.UTC().Format(time.RFC3339Nano)).
		Warn("conflict: someone else saved this notebook first; your save is kept as a conflict copy and the notebook keeps their version")
	return Result{Entry: e, Outcome: Conflict, Notebook: restored, Copy: copyNB}, nil
}

// deleteCreated deletes a notebook created for a file that was deleted
// locally while the create was on its way.
func (s *Saver) deleteCreated(e Entry, id string) {
	if id == "" {
		return
	}
	ctx, cancel := s.callCtx()
	defer cancel()
	if err := s.o.Client.Delete(ctx, e.Namespace, id); err != nil {
		s.o.Log.WithError(err).WithField("path", e.Path()).Warn("could not delete a notebook removed while it was being created")
	}
}

func (s *Saver) create(e Entry, ns, name string, r io.Reader) (remote.Notebook, error) {
	ctx, cancel := s.callCtx()
	defer cancel()
	return s.o.Client.Create(ctx, ns, name, r, e.Size, remote.CreateOptions{
		StoragePath: e.StoragePath, StorageCredential: e.StorageCredential})
}

// recreate saves content whose notebook was deleted remotely meanwhile as
// a new notebook of the same name: a save wins over a delete.
func (s *Saver) recreate(e Entry, r io.Reader) (Result, error) {
	if s.isCancelled(e) {
		return Result{Entry: e, Outcome: Cancelled}, nil
	}
	nb, err := s.create(e, e.Namespace, e.Name, r)
	if err != nil {
		return Result{}, err
	}
	s.o.Log.WithField("path", e.Path()).WithField("id", nb.ID).
		Warn("the notebook was deleted remotely before this save was uploaded; saved as a new notebook of the same name")
	return Result{Entry: e, Outcome: Saved, Notebook: nb}, nil
}

// conflictCopy stores the content as a new notebook next to the original
// (in my own namespace when I may not create in the original's).
func (s *Saver) conflictCopy(e Entry, r io.Reader) (remote.Notebook, error) {
	user := s.currentUser()
	if user == "" {
		user = "unknown"
	}
	name := ConflictName(e.Name, user, e.Time)
	nb, err := s.create(e, e.Namespace, name, r)
	if errors.Is(err, remote.ErrPermission) && user != "unknown" && user != e.Namespace {
		if sk, ok := r.(io.Seeker); ok {
			sk.Seek(0, io.SeekStart)
		}
		nb, err = s.create(e, user, name, r)
	}
	return nb, err
}

// partialOf reports whether theirs is a cut-off write of mine: a strict
// prefix of it, or all of it followed by 0xff fill (TileDB reads cells past
// a write as the fill value when file_size still says the older, longer
// size).
func partialOf(theirs []byte, mine io.ReaderAt, size int64) bool {
	n := min(int64(len(theirs)), size)
	if int64(len(theirs)) == size {
		return false // same length and another checksum: not ours
	}
	buf := make([]byte, n)
	if _, err := mine.ReadAt(buf, 0); err != nil && err != io.EOF {
		return false
	}
	if !bytes.Equal(buf, theirs[:n]) {
		return false
	}
	for _, c := range theirs[n:] {
		if c != 0xff {
			return false
		}
	}
	return true
}

// ConflictName is the name of a conflict copy (without .ipynb), cut to fit.
func ConflictName(name, user string, at time.Time) string {
	suffix := fmt.Sprintf(".conflict-%s-%s", user, at.UTC().Format("20060102T150405.000Z"))
	if over := len(name) + len(suffix) - remote.MaxNameLen; over > 0 {
		cut := max(0, len(name)-over)
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut-- // never split a character
		}
		name = name[:cut]
	}
	return name + suffix
}

// remoteContent reads a notebook's content at a version, and its checksum.
func (s *Saver) remoteContent(ns, id string, at time.Time) ([]byte, string, error) {
	ctx, cancel := s.callCtx()
	defer cancel()
	c, err := s.o.Client.Read(ctx, ns, id, at)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	data, err := io.ReadAll(c)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s/%s: %w", ns, id, err)
	}
	return data, Sum(data), nil
}

// findByContent looks for a notebook named name whose latest content is
// the entry's.
func (s *Saver) findByContent(e Entry, name string) (remote.Notebook, bool, error) {
	ctx, cancel := s.callCtx()
	nbs, err := s.o.Client.List(ctx, remote.Category(e.Category), e.Namespace)
	cancel()
	if err != nil {
		return remote.Notebook{}, false, err
	}
	for _, nb := range nbs {
		if nb.Name != name || nb.Size != e.Size || nb.Created.Before(e.Time.Add(-time.Minute)) {
			continue
		}
		_, sum, err := s.remoteContent(e.Namespace, nb.ID, time.Time{})
		if err != nil {
			return remote.Notebook{}, false, err
		}
		if sum == e.Sum {
			return nb, true, nil
		}
	}
	return remote.Notebook{}, false, nil
}
