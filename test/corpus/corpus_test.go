package corpus

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// The same seed makes the same corpus byte for byte; another seed another.
func TestCorpusDeterministic(t *testing.T) {
	a, b := Generate(Options{Seed: 7}), Generate(Options{Seed: 7})
	if len(a) != DefaultN || len(b) != DefaultN {
		t.Fatalf("%d and %d notebooks, want %d", len(a), len(b), DefaultN)
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Data, b[i].Data) {
			t.Errorf("notebook %d differs between two runs of seed 7", i)
		}
	}
	c := Generate(Options{Seed: 8})
	same := 0
	for i := range a {
		if bytes.Equal(a[i].Data, c[i].Data) {
			same++
		}
	}
	if same != 0 {
		t.Errorf("%d notebooks of seed 8 equal seed 7's", same)
	}
	if !bytes.Equal(Make(3, 5000), Make(3, 5000)) || bytes.Equal(Make(3, 5000), Make(4, 5000)) {
		t.Errorf("Make is not a function of its seed")
	}
}

type output struct {
	OutputType string          `json:"output_type"`
	Name       string          `json:"name"`
	Data       map[string]any  `json:"data"`
	Text       []string        `json:"text"`
	Count      json.RawMessage `json:"execution_count"`
}

type cell struct {
	CellType string          `json:"cell_type"`
	ID       string          `json:"id"`
	Source   []string        `json:"source"`
	Outputs  []output        `json:"outputs"`
	Count    json.RawMessage `json:"execution_count"`
}

type notebook struct {
	Cells    []cell         `json:"cells"`
	Metadata map[string]any `json:"metadata"`
	NBFormat int            `json:"nbformat"`
	Minor    int            `json:"nbformat_minor"`
}

// Every notebook is nbformat 4 as Jupyter writes it, and a corpus has what
// real ones have: markdown and code, each kind of output, a decodable PNG,
// non-ASCII text in several scripts, and sizes over the whole range.
func TestCorpusLooksReal(t *testing.T) {
	nbs := Generate(Options{Seed: 1, N: 40})
	kinds := map[string]int{}
	var small, large int
	var text strings.Builder
	for _, n := range nbs {
		if !utf8.Valid(n.Data) || !utf8.ValidString(n.Name) {
			t.Fatalf("%s: invalid UTF-8", n.Name)
		}
		var nb notebook
		if err := json.Unmarshal(n.Data, &nb); err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		if nb.NBFormat != 4 || nb.Minor < 4 || nb.Metadata["kernelspec"] == nil {
			t.Errorf("%s: nbformat %d.%d, metadata %v", n.Name, nb.NBFormat, nb.Minor, nb.Metadata)
		}
		// Jupyter's own serialization: indent 1, sorted keys, final newline.
		var v any
		_ = json.Unmarshal(n.Data, &v)
		if again := encode(v, ""); !bytes.Equal(again, n.Data) {
			t.Errorf("%s is not in Jupyter's canonical layout", n.Name)
		}
		if !bytes.HasPrefix(n.Data, []byte("{\n \"cells\": [\n  {\n")) || !bytes.HasSuffix(n.Data, []byte("}\n")) {
			t.Errorf("%s: starts %q", n.Name, n.Data[:20])
		}
		for _, c := range nb.Cells {
			kinds[c.CellType]++
			if (nb.Minor >= 5) != (c.ID != "") {
				t.Errorf("%s: nbformat 4.%d with cell id %q", n.Name, nb.Minor, c.ID)
			}
			text.WriteString(strings.Join(c.Source, ""))
			for _, o := range c.Outputs {
				kinds[o.OutputType]++
				text.WriteString(strings.Join(o.Text, ""))
				if s, ok := o.Data["image/png"].(string); ok {
					b, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(s, "\n"))
					if err != nil {
						t.Fatalf("%s: image/png: %v", n.Name, err)
					}
					if _, err := png.Decode(bytes.NewReader(b)); err != nil {
						t.Fatalf("%s: image/png: %v", n.Name, err)
					}
					kinds["png"]++
				}
				if o.Data["text/html"] != nil {
					kinds["html"]++
				}
			}
		}
		if !bytes.Contains(n.Data, []byte("import")) || !bytes.Contains(n.Data, []byte("x")) {
			t.Errorf("%s lacks the words the benchmark greps and edits", n.Name)
		}
		if len(n.Data) < 4<<10 {
			small++
		}
		if len(n.Data) > 100<<10 {
			large++
		}
		if len(n.Data) > DefaultMaxSize*3/2 {
			t.Errorf("%s: %d bytes, over the maximum %d", n.Name, len(n.Data), DefaultMaxSize)
		}
	}
	for _, k := range []string{"markdown", "code", "stream", "execute_result", "display_data", "error", "png", "html"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in 40 notebooks: %v", k, kinds)
		}
	}
	for _, s := range []string{"é", "ß", "数据", "データ", "🚀"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("no %q in the corpus text", s)
		}
	}
	if small == 0 || large == 0 {
		t.Errorf("%d notebooks under 4 KiB and %d over 100 KiB; want some of each", small, large)
	}
	t.Logf("40 notebooks: %v; %d under 4 KiB, %d over 100 KiB", kinds, small, large)
}

// Write makes NAME.ipynb files with distinct names.
func TestCorpusWrite(t *testing.T) {
	dir := t.TempDir()
	paths, err := Write(dir, Options{Seed: 2, N: 30, MaxSize: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(paths) != 30 || len(ents) != 30 {
		t.Fatalf("%d paths, %d files, want 30", len(paths), len(ents))
	}
	for _, p := range paths {
		if filepath.Ext(p) != ".ipynb" || filepath.Dir(p) != dir {
			t.Errorf("path %s", p)
		}
	}
	named, err := Write(t.TempDir(), Options{N: 3, Name: func(i int) string { return "same" }})
	if err != nil || len(named) != 3 || filepath.Base(named[0]) != "same-2.ipynb" || filepath.Base(named[2]) != "same.ipynb" {
		t.Errorf("clashing names: %v %v", named, err)
	}
}

// nbformat, Jupyter's own validator, accepts every notebook.
func TestCorpusNbformatValidates(t *testing.T) {
	py := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import nbformat").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 with nbformat not found (apt-get install python3-nbformat)")
		}
		t.Skip("python3 with nbformat not found (apt-get install python3-nbformat)")
	}
	paths, err := Write(t.TempDir(), Options{Seed: 1, N: 40})
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import sys, nbformat
for p in sys.argv[1:]:
    nb = nbformat.read(p, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    if nbformat.writes(nb) + "\n" != open(p, encoding="utf-8").read():
        sys.exit(p + ": nbformat writes it differently")
`
	if out, err := exec.Command(py, append([]string{"-c", script}, paths...)...).CombinedOutput(); err != nil {
		t.Fatalf("nbformat: %v\n%s", err, out)
	}
}

// Handbook's sizes follow the real handbook's distribution, and its
// notebooks reach their sizes mostly through figures of matplotlib's size.
func TestCorpusHandbookShape(t *testing.T) {
	o := Handbook(1)
	if len(o.Sizes) != HandbookN {
		t.Fatalf("%d sizes, want %d", len(o.Sizes), HandbookN)
	}
	s := append([]int(nil), o.Sizes...)
	sort.Ints(s)
	total, over := 0, 0
	for _, n := range s {
		total += n
		if n > 1<<20 {
			over++
		}
	}
	median, p90 := (s[67]+s[68])/2, s[HandbookN*9/10]
	t.Logf("targets: %d bytes, median %d, p90 %d, %d over 1 MiB, largest %d", total, median, p90, over, s[len(s)-1])
	if total < 32e6 || total > 37e6 || median < 45e3 || median > 65e3 || p90 < 560e3 || p90 > 760e3 ||
		over != 8 || s[len(s)-1] != HandbookMax {
		t.Errorf("the distribution is off the handbook's (34.4 MB, median 54 KB, p90 660 KB, 8 over 1 MiB, largest 2.7 MB)")
	}
	if !reflect.DeepEqual(Handbook(1).Sizes, o.Sizes) || reflect.DeepEqual(Handbook(2).Sizes, o.Sizes) {
		t.Errorf("Handbook is not a function of its seed")
	}
	// The largest notebook and a small one, as Generate makes them.
	for _, i := range []int{slices.Index(o.Sizes, HandbookMax), slices.Index(o.Sizes, s[10])} {
		data := build(rand.New(rand.NewPCG(o.Seed, uint64(i))), o.Sizes[i], true)
		if d := float64(len(data)) / float64(o.Sizes[i]); d < 0.95 || d > 1.1 {
			t.Errorf("%s: %d bytes for a target of %d", o.Name(i), len(data), o.Sizes[i])
		}
		var nb notebook
		if err := json.Unmarshal(data, &nb); err != nil {
			t.Fatalf("%s: %v", o.Name(i), err)
		}
		pngs := 0
		for _, c := range nb.Cells {
			for _, out := range c.Outputs {
				if s, ok := out.Data["image/png"].(string); ok {
					b, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(s, "\n"))
					if err != nil {
						t.Fatal(err)
					}
					if _, err := png.Decode(bytes.NewReader(b)); err != nil {
						t.Fatal(err)
					}
					pngs += len(s)
				}
			}
		}
		if o.Sizes[i] == HandbookMax && pngs < len(data)/2 {
			t.Errorf("%s: %d of %d bytes are PNGs; want most", o.Name(i), pngs, len(data))
		}
	}
}
