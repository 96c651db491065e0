package arrayproto

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

const (
	ourSchema      = "schema/notebook.capnp"
	upstreamSchema = "testdata/upstream/tiledb-rest.capnp"
)

var (
	stdOnce sync.Once
	stdDir  string
	stdErr  error
)

// capnpStd returns go-capnp's std directory (go.capnp, c++.capnp,
// compat/json.capnp), skipping the test when capnp or the module is not
// available.
func capnpStd(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("capnp"); err != nil {
		t.Skip("capnp not on PATH (apt-get install capnproto)")
	}
	stdOnce.Do(func() {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "capnproto.org/go/capnp/v3").Output()
		if err != nil {
			stdErr = err
			return
		}
		stdDir = filepath.Join(strings.TrimSpace(string(out)), "std")
		if _, err := os.Stat(filepath.Join(stdDir, "go.capnp")); err != nil {
			stdErr = err
		}
	})
	if stdErr != nil {
		t.Skipf("go-capnp std schemas not found: %v", stdErr)
	}
	return stdDir
}

// capnpDecode runs `capnp decode --short schema Struct` on one message.
func capnpDecode(t *testing.T, schema, structName string, msg []byte) string {
	t.Helper()
	cmd := exec.Command("capnp", "decode", "--short", "-I"+capnpStd(t), schema, structName)
	cmd.Stdin = bytes.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("capnp decode %s %s: %v\n%s", schema, structName, err, stderr.String())
	}
	return string(out)
}

// messageLen returns the length of the framed message at the start of b
// (tiledb-array-protocol.md §3.1).
func messageLen(t *testing.T, b []byte) int {
	t.Helper()
	if len(b) < 8 {
		t.Fatalf("short message")
	}
	segs := int(b[0]) | int(b[1])<<8 | int(b[2])<<16 | int(b[3])<<24 + 1
	hdr := (4*(segs+1) + 7) &^ 7
	n := hdr
	for i := 0; i < segs; i++ {
		o := 4 + 4*i
		n += 8 * (int(b[o]) | int(b[o+1])<<8 | int(b[o+2])<<16 | int(b[o+3])<<24)
	}
	if n > len(b) {
		t.Fatalf("message of %d bytes in %d", n, len(b))
	}
	return n
}

// flatten parses capnp's text format into path -> scalar, e.g.
// "writer.subarrayRanges.ranges[0].type" -> `"UINT64"`. Empty lists are
// kept as "[]", empty structs as "()". Text fields equal to "" are dropped:
// go-capnp writes an empty Text as a null pointer, which capnp does not
// print, and TileDB reads both as "".
func flatten(t *testing.T, text string) map[string]string {
	t.Helper()
	p := &textParser{s: text}
	out := map[string]string{}
	p.value("", out)
	p.skipSpace()
	if p.err == nil && p.i != len(p.s) {
		p.err = fmt.Errorf("trailing text at %d", p.i)
	}
	if p.err != nil {
		t.Fatalf("parsing capnp text: %v\n%s", p.err, text)
	}
	for k, v := range out {
		if v == `""` {
			delete(out, k)
		}
	}
	return out
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

// diffFlat returns the paths whose values differ between a and b, sorted,
// formatted "path: a -> b" (a missing side is "<none>").
func diffFlat(a, b map[string]string) []string {
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

// readHex reads a testdata file of whitespace-separated hex digits.
func readHex(t *testing.T, name string) []byte {
	t.Helper()
	s, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(s)), ""))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
