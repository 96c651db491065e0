// Package capnptext reads the text that "capnp decode" prints, so tests can
// compare two capnp messages field by field (the Go client's bodies with
// TileDB's JS client's, in remote/arrayproto and remote/cloud).
package capnptext

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Flatten parses capnp's text format into path -> scalar, e.g.
// "writer.subarrayRanges.ranges[0].type" -> `"UINT64"`. Empty lists are
// kept as "[]", empty structs as "()". Text fields equal to "" are dropped:
// go-capnp writes an empty Text as a null pointer, which capnp does not
// print, and TileDB reads both as "".
func Flatten(text string) (map[string]string, error) {
	p := &textParser{s: text}
	out := map[string]string{}
	p.value("", out)
	p.skipSpace()
	if p.err == nil && p.i != len(p.s) {
		p.err = fmt.Errorf("trailing text at %d", p.i)
	}
	if p.err != nil {
		return nil, fmt.Errorf("parsing capnp text: %w", p.err)
	}
	for k, v := range out {
		if v == `""` {
			delete(out, k)
		}
	}
	return out, nil
}

type textParser struct {
	s   string
	i   int
	err error
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_.+\-]+`)

func (p *textParser) skipSpace() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
}

func (p *textParser) expect(c byte) {
	p.skipSpace()
	if p.err == nil && (p.i >= len(p.s) || p.s[p.i] != c) {
		p.err = fmt.Errorf("want %q at %d", c, p.i)
	}
	p.i++
}

func (p *textParser) peek() byte {
	p.skipSpace()
	if p.i >= len(p.s) {
		return 0
	}
	return p.s[p.i]
}

func (p *textParser) value(path string, out map[string]string) {
	if p.err != nil {
		return
	}
	switch p.peek() {
	case '(':
		p.i++
		if p.peek() == ')' {
			p.i++
			out[path] = "()"
			return
		}
		for p.err == nil {
			p.skipSpace()
			name := tokenRE.FindString(p.s[p.i:])
			if name == "" {
				p.err = fmt.Errorf("want field name at %d", p.i)
				return
			}
			p.i += len(name)
			p.expect('=')
			sub := name
			if path != "" {
				sub = path + "." + name
			}
			p.value(sub, out)
			if p.peek() == ',' {
				p.i++
				continue
			}
			p.expect(')')
			return
		}
	case '[':
		p.i++
		if p.peek() == ']' {
			p.i++
			out[path] = "[]"
			return
		}
		for n := 0; p.err == nil; n++ {
			p.value(fmt.Sprintf("%s[%d]", path, n), out)
			if p.peek() == ',' {
				p.i++
				continue
			}
			p.expect(']')
			return
		}
	case '"':
		start := p.i
		p.i++
		for p.i < len(p.s) && p.s[p.i] != '"' {
			if p.s[p.i] == '\\' {
				p.i++
			}
			p.i++
		}
		p.i++
		if p.i > len(p.s) {
			p.err = fmt.Errorf("unterminated string")
			return
		}
		out[path] = p.s[start:p.i]
	default:
		tok := tokenRE.FindString(p.s[p.i:])
		if tok == "" {
			p.err = fmt.Errorf("unexpected %q at %d", p.s[p.i:min(len(p.s), p.i+10)], p.i)
			return
		}
		p.i += len(tok)
		out[path] = tok
	}
}

// Diff returns the paths whose values differ between a and b, sorted,
// formatted "path: a -> b" (a missing side is "<none>").
func Diff(a, b map[string]string) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		va, oka := a[k]
		vb, okb := b[k]
		if oka && okb && va == vb {
			continue
		}
		if !oka {
			va = "<none>"
		}
		if !okb {
			vb = "<none>"
		}
		out = append(out, fmt.Sprintf("%s: %s -> %s", k, va, vb))
	}
	sort.Strings(out)
	return out
}
