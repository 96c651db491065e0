package fs_test

import (
	"bytes"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// maxHandles bounds the handles a sequence keeps open at once.
const maxHandles = 4

func TestCoreModel(t *testing.T) {
	coreDefaults(t, map[string]string{"rapid.checks": "200", "rapid.steps": "40", "rapid.nofailfile": "true"})
	var runs, steps int
	var uploads, retries, coalesced int64
	kinds := map[string]int{}
	rapid.Check(t, func(rt *rapid.T) {
		m := newCoreModel(rt)
		defer m.close()
		m.check()
		rt.Repeat(m.actions())
		m.finish()
		runs++
		steps += m.steps
		uploads, retries, coalesced = uploads+m.uploads, retries+m.retries, coalesced+m.coalesced
		for k, n := range m.kinds {
			kinds[k] += n
		}
	})
	t.Logf("core model: %d runs, %d steps; uploads %d, retried %d, coalesced %d (in the last core of each run); steps by kind %v", runs, steps, uploads, retries, coalesced, kinds)
}

// finish ends a sequence: the editor's save under way completes, every
// handle is closed, everything settles and the store is compared with the
// model; then a new core on the same state shows the same.
func (m *coreModel) finish() {
	for len(m.script) > 0 {
		o := m.script[0]
		m.script = m.script[1:]
		m.apply(o)
	}
	for _, id := range m.sortedHandles() {
		m.apply(cop{kind: "close", h: id, mode: "now"})
	}
	m.apply(cop{kind: "settle"})
	m.check()
	st := m.e.fs.Saver().Stats()
	m.uploads, m.retries, m.coalesced = m.uploads+st.Uploaded, m.retries+st.Retries, m.coalesced+st.Coalesced
	m.apply(cop{kind: "restart"})
	m.check()
	m.apply(cop{kind: "settle"})
}

// replayCore runs a fixed sequence, checking after every step, then
// finishes as a random sequence does.
func replayCore(t *testing.T, ops []cop) {
	m := newCoreModel(t)
	defer m.close()
	m.check()
	for _, o := range ops {
		m.apply(o)
		m.check()
	}
	m.finish()
}

func (m *coreModel) drawName(rt *rapid.T, label string) string {
	if len(m.names) > 0 && rapid.IntRange(0, 3).Draw(rt, label+"Any") > 0 {
		return rapid.SampledFrom(m.sortedNames()).Draw(rt, label)
	}
	return rapid.SampledFrom(corePool).Draw(rt, label)
}

// drawNotebook picks a notebook name, mostly one that exists.
func (m *coreModel) drawNotebook(rt *rapid.T, label string) string {
	var nbs []string
	for _, n := range m.sortedNames() {
		if isNB(n) {
			nbs = append(nbs, n)
		}
	}
	if len(nbs) > 0 && rapid.IntRange(0, 3).Draw(rt, label+"Any") > 0 {
		return rapid.SampledFrom(nbs).Draw(rt, label)
	}
	return rapid.SampledFrom(coreNotebooks).Draw(rt, label)
}

func drawContent(rt *rapid.T, label string) []byte {
	// Small and readable, now and then longer than the disk threshold.
	if rapid.IntRange(0, 9).Draw(rt, label+"Long") == 0 {
		return bytes.Repeat([]byte{rapid.ByteRange('A', 'Z').Draw(rt, label+"Fill")}, rapid.IntRange(4000, 9000).Draw(rt, label+"Len"))
	}
	return []byte(rapid.StringMatching(`[a-e]{0,12}`).Draw(rt, label))
}

// drawHandle picks an open handle, or nil.
func (m *coreModel) drawHandle(rt *rapid.T) *mhandle {
	hs := m.sortedHandles()
	if len(hs) == 0 {
		return nil
	}
	return m.handles[rapid.SampledFrom(hs).Draw(rt, "h")]
}

func (m *coreModel) newHandleID() int {
	m.nextH++
	return m.nextH
}

// editorSave is the syscalls of one editor's save of name, or nil when
// the model does not cover it now.
func (m *coreModel) editorSave(kind, name string, data []byte, fsync bool) []cop {
	n := m.names[name]
	if n != nil && (!n.nb || m.users(n) > 0) {
		return nil
	}
	h := m.newHandleID()
	write := []cop{{kind: "open", name: name, mode: "trunc", h: h}, {kind: "hwrite", h: h, data: data}}
	if fsync {
		write = append(write, cop{kind: "fsync", h: h})
	}
	write = append(write, cop{kind: "close", h: h, mode: "now"})
	switch kind {
	case "vim", "emacs":
		if n == nil {
			return write // a new file is written in place
		}
		backup := name + "~"
		if b := m.names[backup]; b != nil && m.users(b) > 0 || !m.renameOK(name, backup) {
			return nil
		}
		ops := append([]cop{{kind: "rename", name: name, dst: backup}}, write...)
		if kind == "vim" {
			// vim's writebackup: the backup goes once the write is done.
			ops = append(ops, cop{kind: "unlink", name: backup})
		}
		return ops
	case "atomic":
		tmp := ".tmp1"
		if t := m.names[tmp]; t != nil && m.users(t) > 0 || !m.renameOK(tmp, name) {
			return nil
		}
		ops := []cop{{kind: "open", name: tmp, mode: "trunc", h: h}, {kind: "hwrite", h: h, data: data}, {kind: "close", h: h, mode: "now"}}
		return append(ops, cop{kind: "rename", name: tmp, dst: name})
	}
	return nil
}

func (m *coreModel) actions() map[string]func(*rapid.T) {
	// Each generator returns the step to take, or nil when it has none now
	// (then the step is a probe, or a tick for background work: rapid ends
	// a sequence that skips too often). While an editor's save is under
	// way, a foreground step is its next syscall (one user does one thing
	// at a time); background work and probes still come in between.
	type gen func(rt *rapid.T) *cop
	fg := func(g gen) func(*rapid.T) {
		return func(rt *rapid.T) {
			if len(m.script) > 0 {
				o := m.script[0]
				m.script = m.script[1:]
				m.apply(o)
				return
			}
			if o := g(rt); o != nil {
				m.apply(*o)
				return
			}
			m.apply(cop{kind: "stat", name: m.drawName(rt, "name")})
		}
	}
	probe := func(g gen) func(*rapid.T) {
		return func(rt *rapid.T) {
			if o := g(rt); o != nil {
				m.apply(*o)
				return
			}
			m.apply(cop{kind: "tick", n: 1})
		}
	}
	editor := func(kind string) gen {
		return func(rt *rapid.T) *cop {
			ops := m.editorSave(kind, m.drawNotebook(rt, "name"), drawContent(rt, "data"), kind == "vim" && rapid.Bool().Draw(rt, "fsync"))
			if ops == nil {
				return nil
			}
			m.script = ops[1:]
			return &ops[0]
		}
	}
	handle := func(rt *rapid.T, writer bool) *mhandle {
		h := m.drawHandle(rt)
		if h == nil || writer && !h.write {
			return nil
		}
		return h
	}
	kinds := map[string]func(*rapid.T){
		"write": fg(func(rt *rapid.T) *cop {
			return &cop{kind: "write", name: m.drawName(rt, "name"), data: drawContent(rt, "data")}
		}),
		"open": fg(func(rt *rapid.T) *cop {
			if len(m.handles) >= maxHandles {
				return nil
			}
			return &cop{kind: "open", name: m.drawName(rt, "name"), mode: rapid.SampledFrom([]string{"r", "rw", "trunc"}).Draw(rt, "mode"), h: m.newHandleID()}
		}),
		"hwrite": fg(func(rt *rapid.T) *cop {
			h := handle(rt, true)
			if h == nil {
				return nil
			}
			return &cop{kind: "hwrite", h: h.id, n: rapid.IntRange(0, len(h.node.content)+10).Draw(rt, "off"), data: drawContent(rt, "data")}
		}),
		"hread": probe(func(rt *rapid.T) *cop {
			if h := handle(rt, false); h != nil {
				return &cop{kind: "hread", h: h.id}
			}
			return nil
		}),
		"htrunc": fg(func(rt *rapid.T) *cop {
			h := handle(rt, true)
			if h == nil || !h.node.nb && h.node.gone {
				return nil
			}
			return &cop{kind: "htrunc", h: h.id, n: rapid.IntRange(0, len(h.node.content)+10).Draw(rt, "size")}
		}),
		"close": fg(func(rt *rapid.T) *cop {
			if h := handle(rt, false); h != nil {
				return &cop{kind: "close", h: h.id, mode: rapid.SampledFrom([]string{"now", "later"}).Draw(rt, "release")}
			}
			return nil
		}),
		"fsync": fg(func(rt *rapid.T) *cop {
			if h := handle(rt, false); h != nil {
				return &cop{kind: "fsync", h: h.id}
			}
			return nil
		}),
		"truncate": fg(func(rt *rapid.T) *cop {
			name := m.drawName(rt, "name")
			size := 0
			if n := m.names[name]; n != nil {
				size = len(n.content)
			}
			return &cop{kind: "truncate", name: name, n: rapid.IntRange(0, size+10).Draw(rt, "size")}
		}),
		"rename": fg(func(rt *rapid.T) *cop {
			src, dst := m.drawName(rt, "src"), m.drawName(rt, "dst")
			if !m.renameOK(src, dst) {
				return nil
			}
			return &cop{kind: "rename", name: src, dst: dst}
		}),
		"unlink":     fg(func(rt *rapid.T) *cop { return &cop{kind: "unlink", name: m.drawName(rt, "name")} }),
		"touch":      fg(func(rt *rapid.T) *cop { return &cop{kind: "touch", name: m.drawName(rt, "name")} }),
		"truncClose": fg(func(rt *rapid.T) *cop { return &cop{kind: "truncClose", name: m.drawName(rt, "name")} }),
		"redirect": fg(func(rt *rapid.T) *cop {
			return &cop{kind: "redirect", name: m.drawName(rt, "name"), data: drawContent(rt, "data")}
		}),
		"forget":  fg(func(rt *rapid.T) *cop { return &cop{kind: "forget", name: m.drawName(rt, "name")} }),
		"restart": fg(func(rt *rapid.T) *cop { return &cop{kind: "restart"} }),
		"settle":  fg(func(rt *rapid.T) *cop { return &cop{kind: "settle"} }),
		"vim":     fg(editor("vim")),
		"emacs":   fg(editor("emacs")),
		"atomic":  fg(editor("atomic")),

		"remoteNew": probe(func(rt *rapid.T) *cop {
			name := rapid.SampledFrom(coreRemoteNames).Draw(rt, "name")
			if m.names[name] != nil || m.unseen[name] != nil || m.backupOf(name) != nil {
				return nil
			}
			return &cop{kind: "remoteNew", name: name, data: drawContent(rt, "data")}
		}),
		"stat":    probe(func(rt *rapid.T) *cop { return &cop{kind: "stat", name: m.drawName(rt, "name")} }),
		"readdir": probe(func(rt *rapid.T) *cop { return &cop{kind: "readdir"} }),
		"xattr": probe(func(rt *rapid.T) *cop {
			attr := rapid.SampledFrom([]string{"user.tiledb.id", "user.tiledb.uri", "user.tiledb.shares", "user.tiledb.permissions"}).Draw(rt, "attr")
			return &cop{kind: "xattr", name: m.drawName(rt, "name"), mode: attr}
		}),
		"daemon2": probe(func(rt *rapid.T) *cop { return &cop{kind: "daemon2"} }),

		"upload": probe(func(rt *rapid.T) *cop { return &cop{kind: "upload"} }),
		"apply":  probe(func(rt *rapid.T) *cop { return &cop{kind: "apply"} }),
		"job": probe(func(rt *rapid.T) *cop {
			if k := m.e.sched.len(); k > 0 {
				return &cop{kind: "job", n: rapid.IntRange(0, k-1).Draw(rt, "job")}
			}
			return nil
		}),
		"tick": probe(func(rt *rapid.T) *cop { return &cop{kind: "tick", n: rapid.IntRange(1, 2000).Draw(rt, "ms")} }),
		"ttl":  probe(func(rt *rapid.T) *cop { return &cop{kind: "ttl"} }),
		"fault": probe(func(rt *rapid.T) *cop {
			return &cop{kind: "fault", mode: rapid.SampledFrom([]string{"Write", "Create", "Latest"}).Draw(rt, "method")}
		}),
		"release": probe(func(rt *rapid.T) *cop {
			if len(m.releases) > 0 {
				return &cop{kind: "release", n: rapid.IntRange(0, len(m.releases)-1).Draw(rt, "release")}
			}
			return nil
		}),
	}
	// rapid draws small indexes far more often than large ones (it
	// shrinks towards them), so the actions are grouped, most frequent
	// first, and each group draws one of its own, likewise ordered.
	groups := [][]string{
		{"upload", "apply", "job", "tick", "ttl", "release", "fault"},
		{"write", "rename", "unlink", "redirect", "truncate", "truncClose", "touch"},
		{"open", "hwrite", "close", "hread", "fsync", "htrunc"},
		{"vim", "atomic", "emacs"},
		{"xattr", "stat", "readdir", "forget"},
		{"remoteNew", "restart", "settle", "daemon2"},
	}
	actions := map[string]func(*rapid.T){"": func(*rapid.T) { m.check() }}
	for i, g := range groups {
		actions[fmt.Sprintf("%d-%s", i, g[0])] = func(rt *rapid.T) {
			kinds[rapid.SampledFrom(g).Draw(rt, "kind")](rt)
		}
	}
	return actions
}
