package fs_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Minimizing a failing sequence by hand-off: rapid's shrinker often keeps
// steps that do not matter here (ticks, probes). With MODEL_DUMP=file a
// failing sequence of TestCoreModel is written to file; then
//
//	MODEL_MINIMIZE=file go test -run TestCoreModelMinimize ./fs/
//
// removes every step it can while the same failure (its first words, or
// MODEL_MINIMIZE_MSG) still happens, and prints the rest as a Go literal
// for coreRegressions.

type dumpedOp struct {
	Kind, Name, Dst, Mode string
	Data                  []byte
	N, H                  int
	Sync                  bool
}

func dumpOps(ops []cop) {
	path := os.Getenv("MODEL_DUMP")
	if path == "" {
		return
	}
	out := make([]dumpedOp, len(ops))
	for i, o := range ops {
		out[i] = dumpedOp{o.kind, o.name, o.dst, o.mode, o.data, o.n, o.h, o.sync}
	}
	if b, err := json.Marshal(out); err == nil {
		os.WriteFile(path, b, 0o644)
	}
}

// probeTB stops a replay at its first failure.
type probeTB struct{ msg string }

type probeStop struct{}

func (p *probeTB) Helper()                   {}
func (p *probeTB) Name() string              { return "probe" }
func (p *probeTB) Logf(string, ...any)       {}
func (p *probeTB) Log(...any)                {}
func (p *probeTB) Skipf(string, ...any)      { panic(probeStop{}) }
func (p *probeTB) Skip(...any)               { panic(probeStop{}) }
func (p *probeTB) SkipNow()                  { panic(probeStop{}) }
func (p *probeTB) Errorf(f string, a ...any) { p.Fatalf(f, a...) }
func (p *probeTB) Error(a ...any)            { p.Fatalf("%s", fmt.Sprint(a...)) }
func (p *probeTB) Fatalf(f string, a ...any) { p.msg = fmt.Sprintf(f, a...); panic(probeStop{}) }
func (p *probeTB) Fatal(a ...any)            { p.Fatalf("%s", fmt.Sprint(a...)) }
func (p *probeTB) FailNow()                  { p.Fatalf("FailNow") }
func (p *probeTB) Fail()                     { p.Fatalf("Fail") }
func (p *probeTB) Failed() bool              { return p.msg != "" }

// valid says whether a step still makes sense once others were removed.
func (m *coreModel) valid(o cop) bool {
	switch o.kind {
	case "hwrite", "hread", "htrunc", "close", "fsync":
		h := m.handles[o.h]
		return h != nil && (o.kind != "hwrite" && o.kind != "htrunc" || h.write) && !(o.kind == "htrunc" && !h.node.nb && h.node.gone)
	case "open":
		return m.handles[o.h] == nil
	case "release":
		return o.n < len(m.releases)
	case "job":
		return o.n < m.e.sched.len()
	case "rename":
		return m.renameOK(o.name, o.dst)
	case "remoteNew":
		return m.names[o.name] == nil && m.unseen[o.name] == nil && m.backupOf(o.name) == nil
	}
	return true
}

// tryOps replays ops (leaving out those no longer valid) and returns the
// failure, if any.
func tryOps(ops []cop) (msg string) {
	p := &probeTB{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(probeStop); !ok {
				panic(r)
			}
		}
		msg = p.msg
	}()
	m := newCoreModel(p)
	defer m.close()
	m.check()
	for _, o := range ops {
		if m.valid(o) {
			m.apply(o)
			m.check()
		}
	}
	m.finish()
	return ""
}

func TestCoreModelMinimize(t *testing.T) {
	path := os.Getenv("MODEL_MINIMIZE")
	if path == "" {
		t.Skip("MODEL_MINIMIZE names a sequence dumped by MODEL_DUMP")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in []dumpedOp
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	ops := make([]cop, len(in))
	for i, d := range in {
		ops[i] = cop{kind: d.Kind, name: d.Name, dst: d.Dst, mode: d.Mode, data: d.Data, n: d.N, h: d.H, sync: d.Sync}
	}
	first := tryOps(ops)
	if first == "" {
		t.Fatal("the sequence passes")
	}
	want := os.Getenv("MODEL_MINIMIZE_MSG")
	if want == "" {
		want = strings.Join(strings.Fields(first)[:min(3, len(strings.Fields(first)))], " ")
	}
	t.Logf("failure: %s (keeping %q)", first, want)
	fails := func(ops []cop) bool { return strings.Contains(tryOps(ops), want) }
	// ddmin, then single steps.
	for chunk := len(ops) / 2; chunk >= 1; chunk /= 2 {
		for i := 0; i < len(ops); {
			cand := append(append([]cop(nil), ops[:i]...), ops[min(i+chunk, len(ops)):]...)
			if fails(cand) {
				ops = cand
			} else {
				i += chunk
			}
		}
	}
	var lit strings.Builder
	for _, o := range ops {
		fmt.Fprintf(&lit, "\t\t%#v,\n", o)
	}
	t.Logf("%d steps: %s\n%s", len(ops), tryOps(ops), lit.String())
}
