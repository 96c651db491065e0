package fs

import (
	"bytes"
	"context"
	"io"
	"os"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"notebookfs/fs/save"
	"notebookfs/remote"
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
func (d *nsDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&gofs.RENAME_EXCHANGE != 0 {
		return syscall.EINVAL
	}
	if nd, ok := newParent.(*nsDir); !ok || nd != d {
		return syscall.EXDEV
	}
	if name == newName {
		return 0
	}
	if name == versionsDirName || newName == versionsDirName {
		return syscall.EROFS
	}
	ch := d.GetChild(name)
	if ch == nil {
		return syscall.ENOENT
	}
	src, ok := ch.Operations().(*fileNode)
	if !ok {
		// A scratch directory or symlink.
		if isNotebookName(newName) {
			return syscall.EPERM
		}
		return d.renameScratchPath(name, newName, flags)
	}
	if d.root.opts.ReadOnly && (isNotebookName(name) || isNotebookName(newName)) {
		return syscall.EROFS
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	var errno syscall.Errno
	switch {
	case src.scratch && !isNotebookName(newName):
		errno = d.renameScratchFile(ctx, src, newName, flags)
	case src.scratch:
		errno = d.saveScratchAs(ctx, src, newName, flags)
	case !isNotebookName(newName):
		errno = d.moveAway(ctx, src, newName, flags)
	default:
		errno = d.renameNotebook(ctx, src, newName, flags)
	}
	if errno != 0 {
		return errno
	}
	src.name = newName
	return 0
}

func (d *nsDir) renameScratchPath(name, newName string, flags uint32) syscall.Errno {
	err := unix.Renameat2(unix.AT_FDCWD, d.scratchPath(name), unix.AT_FDCWD, d.scratchPath(newName), uint(flags))
	return toErrno(d.root.log, "rename", d.path(name), err)
}

// target describes what a notebook file name currently stands for.
type target struct {
	nb      remote.Notebook // a notebook in the listing, or a moved-away one
	moved   *movedAway      // set when the name belongs to a moved-away notebook
	pending *fileNode       // a new notebook not uploaded yet
}

func (t target) exists() bool { return t.nb.ID != "" || t.pending != nil }

func (d *nsDir) targetOf(ctx context.Context, file string) (target, error) {
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
func (d *nsDir) renameTarget(ctx context.Context, op, newName string, flags uint32) (target, syscall.Errno) {
	if err := remote.ValidName(notebookName(newName)); err != nil {
		return target{}, toErrno(d.root.log, "rename", op, err)
	}
	t, err := d.targetOf(ctx, newName)
	if err != nil {
		return target{}, toErrno(d.root.log, "rename", op, err)
	}
	if t.exists() && flags&unix.RENAME_NOREPLACE != 0 {
		return target{}, syscall.EEXIST
	}
	return t, 0
}

// renameScratchFile renames scratch to scratch; a backup record follows
// its file, and a backup renamed over is removed as unlink would.
func (d *nsDir) renameScratchFile(ctx context.Context, src *fileNode, newName string, flags uint32) syscall.Errno {
	d.mu.Lock()
	over := d.moved[newName]
	d.mu.Unlock()
	if over != nil && !over.rebound && flags&unix.RENAME_NOREPLACE == 0 {
		// The backup renamed over was its notebook's only file: delete
		// that notebook first, so a failure changes nothing.
		if errno := d.deleteRemoteHeld(ctx, newName, over.nb, src); errno != 0 {
			return errno
		}
	}
	if errno := d.renameScratchPath(src.name, newName, flags); errno != 0 {
		return errno
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
	return 0
}

// saveScratchAs turns a scratch file renamed onto a notebook name into a
// save: a new version of the notebook of that name, else a new notebook.
func (d *nsDir) saveScratchAs(ctx context.Context, src *fileNode, newName string, flags uint32) syscall.Errno {
	op := d.path(newName)
	t, errno := d.renameTarget(ctx, op, newName, flags)
	if errno != 0 {
		return errno
	}
	data, err := os.ReadFile(d.scratchPath(src.name))
	if err != nil {
		return toErrno(d.root.log, "rename", op, err)
	}
	d.mu.Lock()
	own := d.moved[src.name]
	d.mu.Unlock()

	cctx, cancel := d.root.saveCtx(ctx)
	defer cancel()
	var nb remote.Notebook
	save := false // journal data as a new version of nb
	restore := own != nil && !own.rebound && (t.moved == own || !t.exists())
	switch {
	case restore:
		// A backup renamed back (vim restoring after a failed write, or
		// mv x.ipynb x.bak; mv x.bak y.ipynb): the same notebook again,
		// with a new version only if the backup was changed.
		t.moved = nil
		nb = own.nb
		if notebookName(newName) != nb.Name {
			nb, err = d.root.client.Rename(cctx, d.ns, nb.ID, notebookName(newName))
		}
		save = err == nil && !bytes.Equal(data, d.cachedBytes(own.nb))
	case t.nb.ID != "":
		if !t.nb.Can(remote.ActionWrite) {
			return syscall.EACCES
		}
		nb, save = t.nb, true
	default:
		if !d.canCreate(ctx) {
			return syscall.EACCES
		}
		nb, err = d.root.client.Create(cctx, d.ns, notebookName(newName), bytes.NewReader(data), int64(len(data)), d.createOptions())
	}
	if err != nil {
		return toErrno(d.root.log, "rename", op, err)
	}
	oldName, scratchFile := src.name, d.scratchPath(src.name)
	if own != nil && !own.rebound && !restore {
		// A backup renamed onto another notebook: its content goes there,
		// and its own notebook, whose only file it was, is deleted (as
		// mv a.ipynb b.ipynb deletes a).
		if errno := d.deleteRemoteHeld(ctx, oldName, own.nb, src); errno != 0 {
			return errno
		}
	}
	if save {
		e, errno := src.becomeSaved(nb, newName, data)
		if errno != 0 {
			return errno
		}
		d.root.wb.Add(e)
	}
	os.Remove(scratchFile)
	d.mu.Lock()
	delete(d.moved, oldName)
	if t.moved != nil {
		t.moved.rebound = true
	}
	d.saveMovedLocked()
	if own != nil {
		delete(d.hidden, own.nb.ID)
	}
	delete(d.hidden, nb.ID)
	if t.pending != nil {
		delete(d.pending, newName)
	}
	d.names = nil
	d.mu.Unlock()
	if t.pending != nil {
		d.discardPending(t.pending)
	}
	d.replaceTargetNode(newName, src)
	src.scratch, src.nb, src.dirty = false, nb, false
	d.root.nodes.bind(nb.ID, src)
	src.dropStagedLocked()
	d.upsert(nb)
	if d.root.content != nil && !save {
		d.root.content.Add(cacheKey(nb), data)
	}
	return 0
}

// becomeSaved turns src into notebook nb, named file, and journals data
// as its next save, for the caller to queue; on failure src is left as it
// was.
func (src *fileNode) becomeSaved(nb remote.Notebook, file string, data []byte) (save.Entry, syscall.Errno) {
	old := *src.stateLocked()
	src.scratch, src.nb, src.name, src.base, src.wbKey = false, nb, file, nb.Version, ""
	if prev := src.dir.root.nodes.get(nb.ID); prev != nil && prev != src {
		// The notebook's former node may hold unfinished saves of ours.
		prev.mu.Lock()
		if prev.pend != nil {
			src.base = prev.base
		}
		prev.mu.Unlock()
	}
	e, errno := src.journalBytesLocked("rename", data)
	if errno != 0 {
		src.restoreLocked(old)
	}
	return e, errno
}

type nodeState struct {
	scratch bool
	nb      remote.Notebook
	name    string
	base    time.Time
	wbKey   string
}

func (n *fileNode) stateLocked() *nodeState {
	return &nodeState{scratch: n.scratch, nb: n.nb, name: n.name, base: n.base, wbKey: n.wbKey}
}

func (n *fileNode) restoreLocked(s nodeState) {
	n.scratch, n.nb, n.name, n.base, n.wbKey = s.scratch, s.nb, s.name, s.base, s.wbKey
}

// cachedBytes is a moved-away notebook's content as materialized, if the
// content cache still has it.
func (d *nsDir) cachedBytes(nb remote.Notebook) []byte {
	if d.root.content == nil {
		return nil
	}
	data, _ := d.root.content.Get(cacheKey(nb))
	return data
}

// discardPending forgets a new notebook not uploaded yet whose name a
// rename took: its queued create is dropped (one under way is undone).
func (d *nsDir) discardPending(p *fileNode) {
	p.mu.Lock()
	key := p.wbKey
	p.mu.Unlock()
	if key != "" {
		d.root.wb.Cancel(key, "")
	}
	p.markGone()
}

// replaceTargetNode marks the node a rename is about to overwrite, so an
// open handle on it cannot upload over the new content.
func (d *nsDir) replaceTargetNode(file string, src *fileNode) {
	if ch := d.GetChild(file); ch != nil {
		if old, ok := ch.Operations().(*fileNode); ok && old != src {
			old.markGone()
		}
	}
}

// moveAway renames a notebook to a scratch name: its content is written to
// the scratch file and the notebook is hidden until a new file of its old
// name saves into it, or the backup is removed (then it is deleted).
func (d *nsDir) moveAway(ctx context.Context, src *fileNode, newName string, flags uint32) syscall.Errno {
	op := d.path(src.name)
	if flags&unix.RENAME_NOREPLACE != 0 {
		if _, err := os.Lstat(d.scratchPath(newName)); err == nil {
			return syscall.EEXIST
		}
	}
	data, err := src.bytesLocked(ctx)
	if err != nil {
		return toErrno(d.root.log, "rename", op, err)
	}
	d.mu.Lock()
	over := d.moved[newName]
	d.mu.Unlock()
	if over != nil && !over.rebound && over.nb.ID != src.nb.ID {
		// The backup this one replaces was its notebook's only file.
		if errno := d.deleteRemoteHeld(ctx, newName, over.nb, src); errno != 0 {
			return errno
		}
	}
	if err := d.ensureScratchDir(); err != nil {
		return toErrno(d.root.log, "rename", op, err)
	}
	if err := writeFileAtomic(d.root.staging, d.scratchPath(newName), data, 0o644, false); err != nil {
		return toErrno(d.root.log, "rename", op, err)
	}
	if src.nb.ID == "" && src.wbKey != "" {
		// A new notebook moved to a non-notebook name is no notebook.
		d.root.wb.Cancel(src.wbKey, "")
	}
	d.mu.Lock()
	if src.nb.ID == "" {
		delete(d.pending, src.name)
	} else {
		d.moved[newName] = &movedAway{nb: src.nb, file: src.name}
		d.saveMovedLocked()
		d.hidden[src.nb.ID] = true
		d.names = nil
	}
	d.mu.Unlock()
	if src.nb.ID != "" && d.root.content != nil {
		// Keep the content to recognise an unchanged backup renamed back.
		d.root.content.Add(cacheKey(src.nb), data)
	}
	d.root.nodes.unbind(src.nb.ID, src)
	src.scratch, src.dirty, src.nb = true, false, remote.Notebook{}
	src.dropStagedLocked()
	return 0
}

// renameNotebook renames notebook to notebook. Onto an existing notebook it
// is a save of the source's content into the target, then a delete of the
// source: the target keeps its id and shares.
func (d *nsDir) renameNotebook(ctx context.Context, src *fileNode, newName string, flags uint32) syscall.Errno {
	op := d.path(src.name)
	t, errno := d.renameTarget(ctx, op, newName, flags)
	if errno != 0 {
		return errno
	}
	cctx, cancel := d.root.saveCtx(ctx)
	defer cancel()
	if t.nb.ID == "" {
		// Nothing remote under the new name: a plain rename.
		if t.pending != nil {
			d.mu.Lock()
			delete(d.pending, newName)
			d.mu.Unlock()
			d.discardPending(t.pending)
		}
		if src.nb.ID == "" {
			d.mu.Lock()
			delete(d.pending, src.name)
			d.pending[newName] = src
			d.mu.Unlock()
			// Its create, still queued, takes the new name (one already
			// under way is renamed once it is done: see uploaded).
			if src.wbKey != "" {
				d.root.wb.SetName(src.wbKey, notebookName(newName))
			}
			return 0
		}
		nb, err := d.root.client.Rename(cctx, d.ns, src.nb.ID, notebookName(newName))
		if err != nil {
			return toErrno(d.root.log, "rename", op, err)
		}
		src.nb.Name, src.nb.Version = nb.Name, nb.Version
		d.upsert(src.nb)
		return 0
	}
	if !t.nb.Can(remote.ActionWrite) {
		return syscall.EACCES
	}
	data, err := src.bytesLocked(ctx)
	if err != nil {
		return toErrno(d.root.log, "rename", op, err)
	}
	srcID, srcName, srcKey := src.nb.ID, src.name, src.wbKey
	before, beforePend, beforeDirty := *src.stateLocked(), src.pend, src.dirty
	e, errno := src.becomeSaved(t.nb, newName, data)
	if errno != 0 {
		return errno
	}
	nb := t.nb
	if srcID != "" {
		// The source goes first: if it cannot be deleted (offline), the
		// rename fails and changes nothing, the journaled save included.
		if err := d.root.client.Delete(cctx, d.ns, srcID); err != nil {
			d.root.journal.Remove(e)
			d.root.wbn.drop(e.Key, src)
			src.restoreLocked(before)
			src.pend, src.dirty = beforePend, beforeDirty
			if beforePend != nil {
				d.root.wbn.set(beforePend.Key, src)
			}
			return toErrno(d.root.log, "rename", op, err)
		}
		d.drop(srcID)
		d.root.wb.Cancel("", srcID)
	} else if srcKey != "" {
		d.root.wb.Cancel(srcKey, "")
	}
	d.root.wb.Add(e)
	src.nb = remote.Notebook{ID: srcID}
	src.name = srcName
	d.mu.Lock()
	if src.nb.ID == "" {
		delete(d.pending, src.name)
	}
	if t.moved != nil {
		t.moved.rebound = true
		delete(d.hidden, t.nb.ID)
		d.names = nil
		d.saveMovedLocked()
	}
	d.mu.Unlock()
	d.replaceTargetNode(newName, src)
	d.root.nodes.unbind(src.nb.ID, src)
	src.nb, src.dirty = nb, false
	d.root.nodes.bind(nb.ID, src)
	src.dropStagedLocked()
	return 0
}

// bytesLocked is the node's current content: the staged copy if any, else
// the notebook's bytes.
func (n *fileNode) bytesLocked(ctx context.Context) ([]byte, error) {
	if n.staged != nil {
		fi, err := n.staged.Stat()
		if err != nil {
			return nil, err
		}
		data := make([]byte, fi.Size())
		if _, err := n.staged.ReadAt(data, 0); err != nil && err != io.EOF {
			return nil, err
		}
		return data, nil
	}
	if n.nb.ID == "" && n.pend == nil {
		return []byte{}, nil
	}
	return n.loadLocked(ctx) // a pending save first
}

// writeFileAtomic writes a file in tmpDir (same file system, not listed)
// and renames it into place, so a crash leaves the old file or the new one.
// With sync the content is fsynced before the rename (state that must
// survive a crash); without, a crash may lose it (caches, scratch files).
func writeFileAtomic(tmpDir, path string, data []byte, mode os.FileMode, sync bool) error {
	f, err := os.CreateTemp(tmpDir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), mode)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
