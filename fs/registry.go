package fs

import (
	"sync"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// nodeRegistry keeps one live node per notebook id, and knows which node
// holds each notebook's stable inode number. go-fuse's bridge dedupes new
// nodes by (mode, ino, gen) and silently uses a known node instead, so a
// stable ino may only be handed out while no other live node holds it:
// after "mv x.ipynb x.ipynb~" the backup keeps x's ino, and a new x.ipynb
// must get another one, or the kernel would see one file with two names.
type nodeRegistry struct {
	mu   sync.Mutex
	byID map[string]*fileNode // GUARDED_BY(mu): the node showing each notebook
	inos map[uint64]*fileNode // GUARDED_BY(mu): holders of stable inos
}

func newNodeRegistry() *nodeRegistry {
	return &nodeRegistry{byID: map[string]*fileNode{}, inos: map[uint64]*fileNode{}}
}

func (r *nodeRegistry) get(id string) *fileNode {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// bind records n as the node of notebook id.
func (r *nodeRegistry) bind(id string, n *fileNode) {
	if id == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[id] = n
}

// unbind forgets n as the node of id, if it still is.
func (r *nodeRegistry) unbind(id string, n *fileNode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID[id] == n {
		delete(r.byID, id)
	}
}

// claimIno returns id's stable ino for n if no other live node holds it,
// else 0 (go-fuse then picks an automatic number).
func (r *nodeRegistry) claimIno(id string, n *fileNode) uint64 {
	ino := stableIno(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.inos[ino]; h != nil && h != n {
		return 0
	}
	r.inos[ino] = n
	return ino
}

// forget drops every trace of n once the kernel has forgotten it.
func (r *nodeRegistry) forget(n *fileNode) {
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

var _ = (gofs.NodeOnForgetter)((*fileNode)(nil))

// OnForget runs when the kernel forgot the node and it has no children.
func (n *fileNode) OnForget() { n.dir.root.nodes.forget(n) }
