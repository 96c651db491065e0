package fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"notebookfs/fs/save"
	"notebookfs/remote"
)

// Saving goes through the write-back journal (ARCHITECTURE.md section 3):
// a close makes the staged copy durable as a journal entry and returns; the
// save.Uploader sends it in the background and tells uploaded() how
// it ended. Until then the node reads its pending content from the entry.

// wbNodes finds the node of a journal key when its upload ends.
type wbNodes struct {
	mu sync.Mutex
	m  map[string]*fileNode // GUARDED_BY(mu)
}

func (w *wbNodes) set(key string, n *fileNode) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.m[key] = n
}

func (w *wbNodes) get(key string) *fileNode {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[key]
}

func (w *wbNodes) drop(key string, n *fileNode) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[key] == n {
		delete(w.m, key)
	}
}

// openJournal opens the journal and starts the uploads, the entries a
// previous run left first.
func (r *Root) openJournal() error {
	j, entries, corrupt, err := save.Open(r.opts.JournalDir)
	if err != nil {
		return err
	}
	for _, c := range corrupt {
		r.log.WithField("entry", c.Seq).WithField("moved_to", c.Path).WithField("cause", c.Reason).
			Error("a journal entry is corrupt or incomplete; it is not uploaded")
	}
	r.corrupt = len(corrupt)
	if len(entries) > 0 {
		var bytes int64
		for _, e := range entries {
			bytes += e.Size
			r.log.WithFields(e.LogFields()).Debug("left in the journal")
		}
		r.log.WithField("saves", len(entries)).WithField("bytes", bytes).Info("uploading saves a previous run left in the journal")
	}
	r.journal = j
	r.wb = save.New(save.Options{
		Client:      r.client,
		Journal:     j,
		Log:         r.log.WithField("component", "writeback"),
		CallTimeout: r.opts.CallTimeout,
		Overwrite:   r.opts.OnConflictOverwrite,
		User: func(ctx context.Context) (string, error) {
			u, err := r.whoami(ctx)
			return u.Username, err
		},
		Done:       r.uploaded,
		Parallel:   r.opts.UploadParallel,
		Backoff:    r.opts.RetryBackoff,
		MaxBackoff: r.opts.MaxRetryBackoff,
	}, entries)
	return nil
}

func newKey() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "new:" + hex.EncodeToString(b)
}

// journalLocked makes the staged copy a journal entry and queues its
// upload: once it returns 0 the save survives a crash.
func (n *fileNode) journalLocked(op string) syscall.Errno {
	if !n.dirty || n.gone || n.scratch || n.staged == nil {
		return 0
	}
	fi, err := n.staged.Stat()
	if err != nil {
		return toErrno(n.dir.root.log, op, n.dir.path(n.name), err)
	}
	return n.addEntryLocked(op, n.staged, fi.Size())
}

// addEntryLocked journals size bytes of r as the node's next save.
func (n *fileNode) addEntryLocked(op string, r io.ReaderAt, size int64) syscall.Errno {
	e, errno := n.journalEntryLocked(op, r, size)
	if errno == 0 {
		n.dir.root.wb.Add(e)
	}
	return errno
}

// journalEntryLocked journals the node's next save without queueing its
// upload: a rename first deletes its source, and drops the entry if that
// fails.
func (n *fileNode) journalEntryLocked(op string, r io.ReaderAt, size int64) (save.Entry, syscall.Errno) {
	root := n.dir.root
	if n.wbKey == "" || (n.nb.ID != "" && n.wbKey != "id:"+n.nb.ID && n.pend == nil) {
		n.wbKey = newKey()
		if n.nb.ID != "" {
			n.wbKey = "id:" + n.nb.ID
		}
	}
	e := save.Entry{
		Key: n.wbKey, Category: string(n.dir.cat), Namespace: n.dir.ns, ID: n.nb.ID,
		Name: notebookName(n.name), Time: time.Now().UTC(), Base: n.base,
	}
	if n.baseSum != "" {
		e.AddPrev(n.baseSum)
	}
	if prev, ok := root.wb.Unfinished(n.wbKey, n.nb.ID); ok {
		// Our own earlier saves are still on their way: the remote will
		// hold one of them, which is no conflict.
		e.Base = prev.Base
		e.Prevs = append([]string(nil), prev.Prevs...)
		e.AddPrev(prev.Sum)
	}
	if n.nb.ID == "" {
		o := n.dir.createOptions()
		e.StoragePath, e.StorageCredential = o.StoragePath, o.StorageCredential
	}
	e, err := root.journal.Add(e, r, size)
	if err != nil {
		return e, toErrno(root.log, op, n.dir.path(n.name), err)
	}
	root.log.WithFields(e.LogFields()).Debug("journaled")
	n.pend = &e
	n.dirty = false
	n.setUnsavedLocked(false)
	root.wbn.set(e.Key, n)
	return e, 0
}

// waitUploaded waits (without the node's lock) until the node's saves are
// uploaded, within the call deadline: fsync's promise.
func (n *fileNode) waitUploaded(ctx context.Context, key, id string) syscall.Errno {
	r := n.dir.root
	if key == "" {
		return 0
	}
	cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	err := r.wb.Wait(cctx, key, id)
	if err != nil && cctx.Err() != nil {
		r.log.WithField("op", "fsync").WithField("path", n.path()).
			Warn("the upload did not finish within the deadline; the save stays in the journal and is retried")
		return syscall.EIO
	}
	return toErrno(r.log, "fsync", n.path(), err)
}

// renameCreated gives a notebook we just created the name its file has now
// (it was renamed while the create was on its way).
func (r *Root) renameCreated(nb remote.Notebook, name string) (remote.Notebook, error) {
	ctx, cancel := context.WithTimeout(r.bg.ctx, r.opts.CallTimeout)
	defer cancel()
	return r.client.Rename(ctx, nb.Namespace, nb.ID, name)
}

// uploaded takes the outcome of one entry's upload.
func (r *Root) uploaded(res save.Result) {
	e := res.Entry
	n := r.wbn.get(e.Key)
	if n == nil && e.ID != "" {
		n = r.nodes.get(e.ID)
	}
	d := r.nsDirOf(remote.Category(e.Category), e.Namespace)
	if d != nil && e.ID == "" {
		d.mu.Lock()
		if re, ok := d.replayed[e.Name+".ipynb"]; ok && re.Key == e.Key {
			// Uploaded before anyone looked it up: the listing has it now
			// (the upsert below comes first in the listing's eyes).
			defer func() {
				d.mu.Lock()
				delete(d.replayed, e.Name+".ipynb")
				d.mu.Unlock()
			}()
		}
		d.mu.Unlock()
	}
	if res.Outcome == save.Saved && res.Notebook.ID == "" {
		if n != nil {
			n.uploaded(res)
		}
		return // cancelled: the notebook was deleted locally
	}
	if res.Outcome == save.Saved && e.ID == "" && n != nil {
		// A new notebook renamed while its create was under way: rename
		// it before the listing learns it under its first name.
		n.mu.Lock()
		want := notebookName(n.name)
		if n.scratch || n.gone {
			want = res.Notebook.Name
		}
		n.mu.Unlock()
		if want != res.Notebook.Name {
			if nb, err := r.renameCreated(res.Notebook, want); err == nil {
				res.Notebook = nb
			}
		}
	}
	// The listing learns the notebook before the node leaves the pending
	// set, so a readdir or lookup in between finds it in one of the two.
	defer func() {
		if n == nil {
			return
		}
		if name := n.uploaded(res); name != "" {
			// Created under the name it had when the upload started; the
			// file has been renamed since.
			nb, err := r.renameCreated(res.Notebook, name)
			if err != nil {
				r.log.WithError(err).WithField("path", e.Category+"/"+e.Namespace+"/"+name+".ipynb").
					Warn("a new notebook renamed during its upload keeps its first name remotely")
				return
			}
			n.mu.Lock()
			if n.nb.ID == nb.ID {
				n.nb.Name, n.nb.Version = nb.Name, nb.Version
			}
			n.mu.Unlock()
			if d != nil {
				d.upsert(nb)
			}
		}
	}()
	switch res.Outcome {
	case save.Saved:
		if d != nil {
			d.upsert(res.Notebook)
		} else {
			r.lists.Invalidate(e.Category + "/" + e.Namespace)
		}
		r.noteVersion(remote.Category(e.Category), res.Notebook)
		// Reading our own save back costs no download.
		switch {
		case r.disk != nil && e.Size > r.diskThreshold():
			r.disk.AddFile(cacheKey(res.Notebook), r.journal.DataPath(e), e.Size)
		case r.content != nil && e.Size <= r.content.Stats().MaxBytes/4:
			if data, err := r.journal.ReadAll(e); err == nil {
				r.content.Add(cacheKey(res.Notebook), data)
			}
		}
	case save.Conflict:
		if d != nil {
			d.upsert(res.Notebook)
		}
		for _, c := range remote.Categories {
			r.lists.Invalidate(string(c) + "/" + res.Copy.Namespace)
		}
		if d := r.nsDirOf(remote.Owned, res.Copy.Namespace); d != nil {
			d.upsert(res.Copy)
		}
	}
}

// uploaded updates the node after one of its saves was uploaded. It
// returns the name a notebook it created must be renamed to (the file was
// renamed during the upload), else "".
func (n *fileNode) uploaded(res save.Result) (rename string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := res.Entry
	last := n.pend != nil && n.pend.Seq == e.Seq
	switch res.Outcome {
	case save.Saved:
		if n.scratch || n.gone || res.Notebook.ID == "" {
			break
		}
		created := n.nb.ID == ""
		if created || n.nb.ID == res.Notebook.ID {
			n.nb = res.Notebook
			n.base, n.baseSum = res.Notebook.Version, e.Sum
		}
		if created {
			n.dir.root.nodes.bind(res.Notebook.ID, n)
			n.dir.mu.Lock()
			if n.dir.pending[n.name] == n {
				delete(n.dir.pending, n.name)
			}
			n.dir.mu.Unlock()
			if want := notebookName(n.name); want != res.Notebook.Name {
				rename = want
			}
		}
		if !created && e.ID != "" && res.Notebook.ID != e.ID {
			// The notebook was deleted remotely and the save made a new one.
			n.dir.root.nodes.unbind(e.ID, n)
			n.nb = res.Notebook
			n.base, n.baseSum = res.Notebook.Version, e.Sum
			n.dir.root.nodes.bind(res.Notebook.ID, n)
		}
	case save.Conflict:
		// The file shows the other writer's version; ours is the copy.
		// The base stays: further saves of this content conflict too.
		if !n.scratch && !n.gone && n.nb.ID == res.Notebook.ID {
			n.nb = res.Notebook
		}
	case save.Failed:
		n.setUnsavedLocked(true)
		return ""
	}
	if last {
		n.pend = nil
		n.dir.root.wbn.drop(e.Key, n)
	}
	return rename
}

// nsDirOf is the namespace directory of cat/ns if it has been looked up.
func (r *Root) nsDirOf(cat remote.Category, ns string) *nsDir {
	c := r.cats[cat]
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.children[ns]
}

// attachPending gives a node made after a restart the content of its
// notebook's pending save, so readers see it before the upload ends.
func (n *fileNode) attachPendingLocked() {
	if n.nb.ID == "" || n.pend != nil || n.dir.root.wb == nil {
		return
	}
	if e, ok := n.dir.root.wb.Unfinished("", n.nb.ID); ok {
		n.pend, n.wbKey, n.base = &e, e.Key, e.Base
		n.dir.root.wbn.set(e.Key, n)
	}
}

// pendingBytes reads the node's pending save.
func (n *fileNode) pendingBytesLocked() ([]byte, error) {
	data, err := n.dir.root.journal.ReadAll(*n.pend)
	if err != nil {
		return nil, fmt.Errorf("reading a pending save: %w", err)
	}
	return data, nil
}

// journalBytes journals data (a rename-over's content) as the node's next
// save, not yet queued.
func (n *fileNode) journalBytesLocked(op string, data []byte) (save.Entry, syscall.Errno) {
	return n.journalEntryLocked(op, bytes.NewReader(data), int64(len(data)))
}

// Drain waits until every journaled save is uploaded, or ctx ends (the
// journal keeps what is left).
func (r *Root) Drain(ctx context.Context) error {
	return r.wb.Drain(ctx)
}

// Status is what `notebookfs status` shows.
type Status struct {
	Uploads        save.Stats   `json:"uploads"`
	CorruptEntries int          `json:"corrupt_journal_entries"`
	Cache          *CacheStatus `json:"cache,omitempty"`
	DiskCache      *CacheStatus `json:"disk_cache,omitempty"`
	Prefetched     int64        `json:"prefetched_bytes"`
	// UnsavedFiles hold changes that could not be journaled (local disk
	// full or failing) or whose save the remote refused.
	UnsavedFiles int64     `json:"unsaved_files"`
	Since        time.Time `json:"mounted_since"`
}

// CacheStatus are the content cache's figures.
type CacheStatus struct {
	Bytes     int64 `json:"bytes"`
	MaxBytes  int64 `json:"max_bytes"`
	Entries   int64 `json:"entries"`
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Evictions int64 `json:"evictions"`
}

// Status reports the mount's state.
func (r *Root) Status() Status {
	s := Status{Uploads: r.wb.Stats(), CorruptEntries: r.corrupt, Prefetched: r.prefetched.Load(), UnsavedFiles: r.unsaved.Load(), Since: r.started.UTC()}
	if r.content != nil {
		c := r.content.Stats()
		s.Cache = &CacheStatus{Bytes: c.Bytes, MaxBytes: c.MaxBytes, Entries: c.Entries, Hits: c.Hits, Misses: c.Misses, Evictions: c.Evictions}
	}
	if r.disk != nil {
		c := r.disk.Stats()
		s.DiskCache = &CacheStatus{Bytes: c.Bytes, MaxBytes: c.MaxBytes, Entries: c.Entries, Hits: c.Hits, Misses: c.Misses, Evictions: c.Evictions}
	}
	return s
}
