package fs

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"time"

	"notebookfs/fs/internal/atomicfile"
	"notebookfs/fs/save"
	"notebookfs/remote"
)

// Flags of rename(2) as the kernel passes them.
const (
	RenameNoReplace = 1 << 0
	RenameExchange  = 1 << 1
)

// Rename within one namespace. Editors save by renaming, and each pattern
// keeps the notebook's identity:
//   - scratch -> notebook name (sed -i, rsync, atomic writers): the temp
//     file's content becomes a new version of the notebook of that name (or
//     a new notebook when there is none);
//   - notebook -> scratch name (vim and emacs backups): the content moves to
//     a local scratch file and the notebook is hidden; a new file of the old
//     name then saves into the same notebook, and removing the backup
//     without that deletes it;
//   - notebook -> notebook name: a remote rename, or onto an existing
//     notebook a new version of the target and a delete of the source.
//
// Across namespaces the answer is EXDEV, so mv copies and deletes.
func (d *Namespace) Rename(ctx context.Context, name string, to *Namespace, newName string, flags uint32) error {
	if flags&RenameExchange != 0 {
		return syscall.EINVAL
	}
	if to != d {
		return syscall.EXDEV
	}
	if name == newName {
		return nil
	}
	if name == versionsDirName || newName == versionsDirName {
		return syscall.EROFS
	}
	src := d.liveFile(name)
	if src == nil {
		var st syscall.Stat_t
		if err := syscall.Lstat(d.scratchPath(name), &st); err != nil {
			return syscall.ENOENT
		}
		if uint32(st.Mode)&syscall.S_IFMT == syscall.S_IFREG {
			e, err := d.lookupScratch(name)
			if err != nil {
				return err
			}
			src = e.File
		} else {
			// A scratch directory or symlink.
			if isNotebookName(newName) {
				return syscall.EPERM
			}
			return renameLocal(d.scratchPath(name), d.scratchPath(newName), flags)
		}
	}
	if d.fs.opts.ReadOnly && (isNotebookName(name) || isNotebookName(newName)) {
		return syscall.EROFS
	}
	if !isNotebookName(newName) {
		d.settleCreate(ctx, src)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	var err error
	switch {
	case src.scratch && !isNotebookName(newName):
		err = d.renameScratchFile(ctx, src, newName, flags)
	case src.scratch:
		err = d.saveScratchAs(ctx, src, newName, flags)
	case !isNotebookName(newName):
		err = d.moveAway(ctx, src, newName, flags)
	default:
		err = d.renameNotebook(ctx, src, newName, flags)
	}
	if err != nil {
		return err
	}
	src.name = newName
	d.mu.Lock()
	if d.live[name] == src {
		delete(d.live, name)
	}
	d.live[newName] = src
	d.mu.Unlock()
	return nil
}

// createSettleWait bounds how long a rename away waits for the create of
// its notebook to land; past it the create is cancelled instead.
const createSettleWait = 5 * time.Second

// settleCreate waits (without the file's lock) for the upload of a new
// notebook that an editor renames away to its backup name (vim, emacs):
// once created, the notebook is moved away as any other, and the file
// the editor writes next under the old name saves into it. Cancelled
// while its create is in flight, the notebook would be deleted after it
// lands, under the editor's new file.
func (d *Namespace) settleCreate(ctx context.Context, src *File) {
	src.mu.Lock()
	ref, creating := src.ref, !src.scratch && !src.gone && src.nb.ID == "" && src.pend != nil
	src.mu.Unlock()
	if !creating || d.fs.opts.ManualSaves {
		// Saves driven by hand (tests) are never in flight between calls:
		// a queued create is cancelled before it is sent.
		return
	}
	cctx, cancel := context.WithTimeout(ctx, createSettleWait)
	defer cancel()
	last, err := d.fs.saver.Wait(cctx, ref)
	if err == nil {
		err = d.fs.waitApplied(cctx, last)
	}
	if err != nil {
		d.fs.log.WithError(err).WithField("path", d.Path(src.fileName())).Debug("a new notebook renamed away before its create landed")
	}
}

// target describes what a notebook file name currently stands for.
type target struct {
	nb      remote.Notebook // a notebook in the listing, or a moved-away one
	moved   *movedAway      // set when the name belongs to a moved-away notebook
	pending *File           // a new notebook not uploaded yet
}

func (t target) exists() bool { return t.nb.ID != "" || t.pending != nil }

func (d *Namespace) targetOf(ctx context.Context, file string) (target, error) {
	d.mu.Lock()
	if p := d.pending[file]; p != nil {
		d.mu.Unlock()
		return target{pending: p}, nil
	}
	for _, m := range d.moved {
		if m.file == file && !m.rebound {
			d.mu.Unlock()
			return target{nb: m.nb, moved: m}, nil
		}
	}
	d.mu.Unlock()
	names, err := d.list(ctx)
	if err != nil {
		return target{}, err
	}
	return target{nb: names[file]}, nil
}

// renameTarget checks a notebook name a rename goes to and says what it
// stands for now; RENAME_NOREPLACE onto anything there is EEXIST.
func (d *Namespace) renameTarget(ctx context.Context, newName string, flags uint32) (target, error) {
	if err := remote.ValidName(notebookName(newName)); err != nil {
		return target{}, err
	}
	t, err := d.targetOf(ctx, newName)
	if err != nil {
		return target{}, err
	}
	if t.exists() && flags&RenameNoReplace != 0 {
		return target{}, syscall.EEXIST
	}
	return t, nil
}

// renameScratchFile renames scratch to scratch; a backup record follows
// its file, and a backup renamed over is removed as unlink would.
func (d *Namespace) renameScratchFile(ctx context.Context, src *File, newName string, flags uint32) error {
	d.mu.Lock()
	over := d.moved[newName]
	d.mu.Unlock()
	if over != nil && !over.rebound && flags&RenameNoReplace == 0 {
		// The backup renamed over was its notebook's only file: delete
		// that notebook first, so a failure changes nothing.
		if err := d.deleteRemote(ctx, newName, over.nb, src); err != nil {
			return err
		}
	}
	if err := renameLocal(d.scratchPath(src.name), d.scratchPath(newName), flags); err != nil {
		return err
	}
	d.mu.Lock()
	if d.moved[newName] == over {
		delete(d.moved, newName)
	}
	if m := d.moved[src.name]; m != nil {
		delete(d.moved, src.name)
		d.moved[newName] = m
	}
	d.saveMovedLocked()
	d.mu.Unlock()
	return nil
}

// saveScratchAs turns a scratch file renamed onto a notebook name into a
// save: a new version of the notebook of that name, else a new notebook.
func (d *Namespace) saveScratchAs(ctx context.Context, src *File, newName string, flags uint32) error {
	t, err := d.renameTarget(ctx, newName, flags)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(d.scratchPath(src.name))
	if err != nil {
		return err
	}
	d.mu.Lock()
	own := d.moved[src.name]
	d.mu.Unlock()

	cctx, cancel := d.fs.saveCtx(ctx)
	defer cancel()
	var nb remote.Notebook
	keep := false // save data as a new version of nb
	restore := own != nil && !own.rebound && (t.moved == own || !t.exists())
	switch {
	case restore:
		// A backup renamed back (vim restoring after a failed write, or
		// mv x.ipynb x.bak; mv x.bak y.ipynb): the same notebook again,
		// with a new version only if the backup was changed.
		t.moved = nil
		nb = own.nb
		if notebookName(newName) != nb.Name {
			nb, err = d.fs.client.Rename(cctx, d.ns, nb.ID, notebookName(newName))
		}
		// Unchanged means equal to the version moved away: from the
		// cache, else downloaded; unknown (offline) is a save, since an
		// identical version is better than a lost one.
		old, known := d.fs.store.Get(own.nb.ID, own.nb.Version)
		if !known && err == nil {
			if b, berr := d.fs.store.Bytes(cctx, d.ns, own.nb.ID, own.nb.Version, own.nb.Size); berr == nil {
				old, known = b, true
			}
		}
		keep = err == nil && (!known || !bytes.Equal(data, old))
	case t.nb.ID != "":
		if !t.nb.Can(remote.ActionWrite) {
			return syscall.EACCES
		}
		nb, keep = t.nb, true
	default:
		if !d.Writable(ctx) {
			return syscall.EACCES
		}
		return d.saveScratchAsNew(ctx, src, newName, t, own, data)
	}
	if err != nil {
		return err
	}
	oldName, scratchFile := src.name, d.scratchPath(src.name)
	if own != nil && !own.rebound && !restore {
		// A backup renamed onto another notebook: its content goes there,
		// and its own notebook, whose only file it was, is deleted (as
		// mv a.ipynb b.ipynb deletes a).
		if err := d.deleteRemote(ctx, oldName, own.nb, src); err != nil {
			return err
		}
	}
	if keep {
		p, err := src.becomeSaved(nb, newName, data)
		if err != nil {
			return err
		}
		p.Commit()
	}
	os.Remove(scratchFile)
	d.mu.Lock()
	delete(d.moved, oldName)
	if t.moved != nil {
		t.moved.rebound = true
	}
	d.saveMovedLocked()
	if own != nil && !own.rebound {
		// A rebound record's notebook belongs to the file that took it
		// over (and may be hidden behind another backup by now).
		delete(d.hidden, own.nb.ID)
	}
	delete(d.hidden, nb.ID)
	if t.pending != nil {
		delete(d.pending, newName)
	}
	d.names = nil
	d.mu.Unlock()
	if t.pending != nil {
		d.discardPending(ctx, t.pending)
	}
	d.replaceTargetFile(newName, src)
	src.scratch, src.nb, src.dirty = false, nb, false
	d.fs.nodes.bind(nb.ID, src)
	src.dropStagedLocked()
	d.upsert(nb)
	if !keep {
		d.fs.store.Put(nb.ID, nb.Version, data)
	}
	return nil
}

// saveScratchAsNew makes a scratch file renamed onto a name with no
// notebook a new notebook, journaled as any save (so a failing remote
// retries it instead of failing the rename). Onto a new notebook still
// being created, the file takes over that notebook's chain of saves: its
// content is the next save of the same notebook, never a second one.
func (d *Namespace) saveScratchAsNew(ctx context.Context, src *File, newName string, t target, own *movedAway, data []byte) error {
	old := src.stateLocked()
	var over *File
	src.scratch, src.nb, src.name, src.base, src.baseSum, src.ref = false, remote.Notebook{}, newName, time.Time{}, "", ""
	if t.pending != nil && t.pending != src {
		over = t.pending
		over.mu.Lock()
		src.ref, src.base, src.baseSum = over.ref, over.base, over.baseSum
		over.mu.Unlock()
	}
	p, err := src.prepareLocked(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		src.restoreLocked(old)
		return err
	}
	oldName := old.name
	if own != nil && !own.rebound {
		// A backup renamed onto a new name: its content goes there, and
		// its own notebook, whose only file it was, is deleted.
		if err := d.deleteRemote(ctx, oldName, own.nb, src); err != nil {
			p.Discard()
			src.restoreLocked(old)
			return err
		}
	}
	p.Commit()
	if over != nil {
		// The file renamed over: its handles write to nothing now, and
		// its saves stay queued in the chain src took over.
		over.mu.Lock()
		over.gone, over.dirty, over.pend = true, false, nil
		over.setUnsavedLocked(false)
		over.mu.Unlock()
	}
	os.Remove(d.scratchPath(oldName))
	d.mu.Lock()
	delete(d.moved, oldName)
	d.saveMovedLocked()
	if own != nil && !own.rebound {
		// A rebound record's notebook belongs to the file that took it
		// over (and may be hidden behind another backup by now).
		delete(d.hidden, own.nb.ID)
	}
	d.pending[newName] = src
	d.names = nil
	d.gen++
	d.mu.Unlock()
	src.dirty = false
	src.dropStagedLocked()
	return nil
}

// becomeSaved turns src into notebook nb, named file, and journals data
// as its next save, for the caller to commit; on failure src is left as it
// was.
func (n *File) becomeSaved(nb remote.Notebook, file string, data []byte) (*save.Prepared, error) {
	old := n.stateLocked()
	n.scratch, n.nb, n.name, n.base, n.ref = false, nb, file, nb.Version, ""
	if prev := n.ns.fs.nodes.get(nb.ID); prev != nil && prev != n {
		// The notebook's former file may hold unfinished saves of ours.
		prev.mu.Lock()
		if prev.pend != nil {
			n.base = prev.base
		}
		prev.mu.Unlock()
	}
	p, err := n.prepareLocked(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		n.restoreLocked(old)
	}
	return p, err
}

type fileState struct {
	scratch bool
	nb      remote.Notebook
	name    string
	base    time.Time
	ref     save.Ref
}

func (n *File) stateLocked() fileState {
	return fileState{scratch: n.scratch, nb: n.nb, name: n.name, base: n.base, ref: n.ref}
}

func (n *File) restoreLocked(s fileState) {
	n.scratch, n.nb, n.name, n.base, n.ref = s.scratch, s.nb, s.name, s.base, s.ref
}

// replaceTargetFile marks the file a rename is about to overwrite, so an
// open handle on it cannot upload over the new content.
func (d *Namespace) replaceTargetFile(file string, src *File) {
	if old := d.liveFile(file); old != nil && old != src {
		old.markGone()
	}
}

// moveAway renames a notebook to a scratch name: its content is written to
// the scratch file and the notebook is hidden until a new file of its old
// name saves into it, or the backup is removed (then it is deleted).
func (d *Namespace) moveAway(ctx context.Context, src *File, newName string, flags uint32) error {
	if flags&RenameNoReplace != 0 {
		if _, err := os.Lstat(d.scratchPath(newName)); err == nil {
			return syscall.EEXIST
		}
	}
	data, err := src.bytesLocked(ctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	over := d.moved[newName]
	d.mu.Unlock()
	if over != nil && !over.rebound && over.nb.ID != src.nb.ID {
		// The backup this one replaces was its notebook's only file.
		if err := d.deleteRemote(ctx, newName, over.nb, src); err != nil {
			return err
		}
	}
	if err := d.ensureScratchDir(); err != nil {
		return err
	}
	// Durable before the record that hides the notebook behind it: after
	// a power loss the backup holds the content, never nothing.
	if err := atomicfile.WriteBytes(d.fs.staging, d.scratchPath(newName), data, 0o644, atomicfile.Durable); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(d.scratchDir()); err != nil {
		return err
	}
	if src.nb.ID == "" && src.ref != "" {
		// A new notebook moved to a non-notebook name is no notebook.
		cctx, cancel := d.fs.saveCtx(ctx)
		gone, err := d.fs.saver.CancelCreated(cctx, src.ref)
		if gone.ID != "" {
			d.drop(gone.ID) // a listing may have shown it meanwhile
		}
		if err != nil {
			d.fs.log.WithError(err).WithField("path", d.Path(src.name)).Warn("could not delete a notebook moved away while it was being created")
		}
		cancel()
		d.fs.saving.drop(src.ref, src)
		src.pend = nil
	}
	d.mu.Lock()
	if src.nb.ID == "" {
		delete(d.pending, src.name)
		if over != nil && d.moved[newName] == over {
			// The backup replaced held another notebook, deleted above:
			// its record goes with it.
			delete(d.moved, newName)
			d.saveMovedLocked()
		}
	} else {
		d.moved[newName] = &movedAway{nb: src.nb, file: src.name}
		d.saveMovedLocked()
		d.hidden[src.nb.ID] = true
		d.names = nil
	}
	d.mu.Unlock()
	if src.nb.ID != "" {
		// Keep the content to recognise an unchanged backup renamed back.
		d.fs.store.Put(src.nb.ID, src.nb.Version, data)
	}
	d.fs.nodes.unbind(src.nb.ID, src)
	src.scratch, src.dirty, src.nb = true, false, remote.Notebook{}
	src.dropStagedLocked()
	return nil
}

// renameNotebook renames notebook to notebook. Onto an existing notebook it
// is a save of the source's content into the target, then a delete of the
// source: the target keeps its id and shares.
func (d *Namespace) renameNotebook(ctx context.Context, src *File, newName string, flags uint32) error {
	t, err := d.renameTarget(ctx, newName, flags)
	if err != nil {
		return err
	}
	if t.nb.ID == "" {
		return d.renameToFreeName(ctx, src, newName, t)
	}
	return d.renameOver(ctx, src, newName, t)
}

// renameToFreeName is a plain rename: nothing remote has the new name.
func (d *Namespace) renameToFreeName(ctx context.Context, src *File, newName string, t target) error {
	if t.pending != nil {
		d.mu.Lock()
		delete(d.pending, newName)
		d.mu.Unlock()
		d.discardPending(ctx, t.pending)
	}
	cctx, cancel := d.fs.saveCtx(ctx)
	defer cancel()
	if src.nb.ID == "" {
		if src.ref != "" {
			// Its create, queued or under way, takes the new name; one
			// just done is renamed now.
			nb, done, err := d.fs.saver.Rename(cctx, src.ref, notebookName(newName))
			if err != nil {
				return err
			}
			if done {
				d.upsert(nb)
			}
		}
		d.mu.Lock()
		delete(d.pending, src.name)
		d.pending[newName] = src
		d.mu.Unlock()
		return nil
	}
	nb, err := d.fs.client.Rename(cctx, d.ns, src.nb.ID, notebookName(newName))
	if err != nil {
		return err
	}
	src.nb.Name, src.nb.Version = nb.Name, nb.Version
	d.upsert(src.nb)
	return nil
}

// renameOver saves the source's content into the target notebook, then
// deletes the source.
func (d *Namespace) renameOver(ctx context.Context, src *File, newName string, t target) error {
	if !t.nb.Can(remote.ActionWrite) {
		return syscall.EACCES
	}
	data, err := src.bytesLocked(ctx)
	if err != nil {
		return err
	}
	srcID, srcName, srcRef := src.nb.ID, src.name, src.ref
	before, beforePend, beforeDirty := src.stateLocked(), src.pend, src.dirty
	p, err := src.becomeSaved(t.nb, newName, data)
	if err != nil {
		return err
	}
	nb := t.nb
	if srcID != "" {
		// The source goes first: if it cannot be deleted (offline), the
		// rename fails and changes nothing, the journaled save included.
		cctx, cancel := d.fs.saveCtx(ctx)
		err := d.fs.client.Delete(cctx, d.ns, srcID)
		cancel()
		if err != nil {
			p.Discard()
			d.fs.saving.drop(save.Ref(p.Entry.Key), src)
			src.restoreLocked(before)
			src.pend, src.dirty = beforePend, beforeDirty
			if beforePend != nil {
				d.fs.saving.set(save.Ref(beforePend.Key), src)
			}
			return err
		}
		d.drop(srcID)
		d.fs.saver.CancelNotebook(srcID)
	} else if srcRef != "" {
		cctx, cancel := d.fs.saveCtx(ctx)
		gone, err := d.fs.saver.CancelCreated(cctx, srcRef)
		if gone.ID != "" {
			d.drop(gone.ID)
		}
		if err != nil {
			d.fs.log.WithError(err).WithField("path", d.Path(srcName)).Warn("could not delete a notebook renamed over another while it was being created")
		}
		cancel()
	}
	p.Commit()
	d.mu.Lock()
	if srcID == "" {
		delete(d.pending, srcName)
	}
	if t.moved != nil {
		t.moved.rebound = true
		delete(d.hidden, t.nb.ID)
		d.names = nil
		d.saveMovedLocked()
	}
	d.mu.Unlock()
	d.replaceTargetFile(newName, src)
	d.fs.nodes.unbind(srcID, src)
	src.nb, src.dirty = nb, false
	d.fs.nodes.bind(nb.ID, src)
	src.dropStagedLocked()
	return nil
}
