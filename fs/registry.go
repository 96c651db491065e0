package fs

import (
	"sync"

	"notebookfs/fs/save"
)

// registry keeps one live File per notebook id, and knows which File holds
// each notebook's stable inode number. The kernel bridge dedupes inodes by
// number and silently uses a known one, so a stable number may only be
// handed out while no other live File holds it: after "mv x.ipynb
// x.ipynb~" the backup keeps x's number, and a new x.ipynb must get
// another one, or the kernel would see one file with two names.
type registry struct {
	mu   sync.Mutex
	byID map[string]*File // GUARDED_BY(mu): the File showing each notebook
	inos map[uint64]*File // GUARDED_BY(mu): holders of stable inos
	next uint64           // GUARDED_BY(mu): the last generated ino
}

func newRegistry() *registry {
	return &registry{byID: map[string]*File{}, inos: map[uint64]*File{}}
}

// generatedIno marks inode numbers made up for files without a stable
// one: stable numbers have bit 62 set, local scratch inodes are small, and
// go-fuse's automatic numbers start at 2^63, so none collide.
const generatedIno = 1 << 61

// newIno is a number never given before in this mount.
func (r *registry) newIno() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	return generatedIno | r.next
}

func (r *registry) get(id string) *File {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// bind records n as the File of notebook id.
func (r *registry) bind(id string, n *File) {
	if id == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[id] = n
}

// unbind forgets n as the File of id, if it still is.
func (r *registry) unbind(id string, n *File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID[id] == n {
		delete(r.byID, id)
	}
}

// ino returns id's stable ino for n if no other live File holds it, else
// a generated one.
func (r *registry) ino(id string, n *File) uint64 {
	ino := stableIno(id)
	r.mu.Lock()
	if h := r.inos[ino]; h == nil || h == n {
		r.inos[ino] = n
		r.mu.Unlock()
		return ino
	}
	r.next++
	ino = generatedIno | r.next
	r.mu.Unlock()
	return ino
}

// forget drops every trace of n once the kernel has forgotten it.
func (r *registry) forget(n *File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, m := range r.byID {
		if m == n {
			delete(r.byID, id)
		}
	}
	for ino, m := range r.inos {
		if m == n {
			delete(r.inos, ino)
		}
	}
}

// savingFiles finds the File whose saves a ref names, when their outcome
// comes back.
type savingFiles struct {
	mu sync.Mutex
	m  map[save.Ref]*File // GUARDED_BY(mu)
}

func (w *savingFiles) set(ref save.Ref, n *File) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.m[ref] = n
}

func (w *savingFiles) get(ref save.Ref) *File {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[ref]
}

func (w *savingFiles) drop(ref save.Ref, n *File) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[ref] == n {
		delete(w.m, ref)
	}
}
