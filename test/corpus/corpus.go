// Package corpus makes real-looking Jupyter notebooks for tests and
// benchmarks, so that the repository needs no notebooks from elsewhere.
//
// A notebook is nbformat 4 JSON written as Jupyter writes it (one-space
// indent, sorted keys, UTF-8 unescaped, a final newline): markdown cells
// with headings, lists, formulas and text in several scripts (accents, CJK,
// emoji), code cells with execution counts and outputs (stream text,
// execute_result with text/plain and an HTML table, display_data with a
// small base64 PNG, now and then an error with an ANSI traceback). Sizes
// are spread log-uniformly between a minimum and a maximum, so most are
// small, as real notebooks are; or taken from a list (Options.Sizes), as
// Handbook does to match a real data-science handbook's distribution.
// With LargeFigures the PNGs are plots of the size matplotlib draws (line
// charts, scatter plots, heat maps: a few KB to about 100 KB each), so that
// a large notebook is mostly base64 images, as real ones are.
//
// Everything is deterministic for a seed (with one Go toolchain: PNG
// compression may differ between Go releases). Notebook i of a seed does not
// depend on how many are generated, only its size does.
package corpus

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Defaults of Options.
const (
	DefaultN       = 16
	DefaultMinSize = 2 << 10
	DefaultMaxSize = 200 << 10
)

// Options says what Generate makes; zero fields take the defaults.
type Options struct {
	Seed    uint64
	N       int // how many notebooks
	MinSize int // bytes, at least about 2 KiB whatever is asked
	MaxSize int // bytes
	// Sizes, when not empty, gives notebook i about Sizes[i] bytes, and
	// their number (N, MinSize and MaxSize are then ignored).
	Sizes []int
	// LargeFigures draws image outputs at matplotlib's usual size rather
	// than as small thumbnails.
	LargeFigures bool
	// Name gives notebook i its name (without ".ipynb"); nil draws
	// real-looking names, some of them with non-ASCII letters or spaces.
	Name func(i int) string
}

// Notebook is one generated notebook.
type Notebook struct {
	Name string // without ".ipynb"
	Data []byte
}

// Generate makes o.N notebooks with distinct names, their sizes spread
// from o.MinSize to o.MaxSize (one per stratum of the log scale, in random
// order, so even a small corpus covers the range).
func Generate(o Options) []Notebook {
	var out []Notebook
	_ = each(o, func(nb Notebook) error { out = append(out, nb); return nil })
	return out
}

// Make returns one notebook of about size bytes, the same for the same seed
// and size.
func Make(seed uint64, size int) []byte {
	return build(rand.New(rand.NewPCG(seed, math.MaxUint64)), size, false)
}

// Write generates o's notebooks into dir as NAME.ipynb, one at a time, and
// returns their paths, sorted.
func Write(dir string, o Options) ([]string, error) {
	var paths []string
	err := each(o, func(nb Notebook) error {
		p := filepath.Join(dir, nb.Name+".ipynb")
		paths = append(paths, p)
		return os.WriteFile(p, nb.Data, 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	sort.Strings(paths)
	return paths, nil
}

// each makes o's notebooks in order and hands each to f.
func each(o Options, f func(Notebook) error) error {
	if len(o.Sizes) > 0 {
		o.N = len(o.Sizes)
	}
	if o.N <= 0 {
		o.N = DefaultN
	}
	if o.MinSize <= 0 {
		o.MinSize = DefaultMinSize
	}
	if o.MaxSize < o.MinSize {
		o.MaxSize = max(DefaultMaxSize, o.MinSize)
	}
	seen := map[string]bool{}
	span := math.Log(float64(o.MaxSize) / float64(o.MinSize))
	// Each notebook gets its own stratum of sizes, in shuffled order, so
	// that the first few are not all the smallest.
	strata := rand.New(rand.NewPCG(o.Seed, math.MaxUint64-1)).Perm(o.N)
	for i := range o.N {
		r := rand.New(rand.NewPCG(o.Seed, uint64(i)))
		size := int(float64(o.MinSize) * math.Exp(span*(float64(strata[i])+r.Float64())/float64(o.N)))
		if len(o.Sizes) > 0 {
			size = o.Sizes[i]
		}
		var name string
		if o.Name != nil {
			name = o.Name(i)
		} else {
			name = drawName(r)
		}
		for base, k := name, 2; seen[name]; k++ {
			name = fmt.Sprintf("%s-%d", base, k)
		}
		seen[name] = true
		if err := f(Notebook{Name: name, Data: build(r, size, o.LargeFigures)}); err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------- names

var (
	topics = []string{"vcf", "sparse", "dense", "arrays", "query", "schema", "delayed",
		"sql", "udf", "geo", "ships", "lidar", "imaging", "genomics", "timeseries", "sar", "raster"}
	titles = []string{"Quickstart", "Tutorial", "Capella", "Ships", "Genomics", "Basics",
		"Delayed", "SpatialQueries", "Template", "Change-Detection", "Time-Series", "Example"}
	suffixes = []string{"cli", "python", "basics", "demo", "draft", "v2", "old", "final", "R", "api"}
	intl     = []string{"Análisis", "données", "Übersicht", "résumé", "数据分析", "データ", "Ελλάδα", "naïve", "café"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// drawName makes a name shaped like the ones people give notebooks.
func drawName(r *rand.Rand) string {
	switch r.IntN(10) {
	case 0:
		return fmt.Sprintf("%02d-%s-%s", 1+r.IntN(20), pick(r, topics), pick(r, suffixes))
	case 1:
		return pick(r, titles) + "-" + pick(r, titles)
	case 2:
		return pick(r, topics) + "_" + pick(r, suffixes)
	case 3:
		t := pick(r, topics)
		return fmt.Sprintf("%s-%s-Example-TileDB", pick(r, titles), strings.ToUpper(t[:1])+t[1:])
	case 4:
		return "tutorial-" + pick(r, topics)
	case 5:
		return pick(r, intl) + "-" + pick(r, topics)
	case 6:
		return fmt.Sprintf("Untitled%d", r.IntN(12))
	case 7:
		return pick(r, titles) + " " + pick(r, topics) + " " + pick(r, suffixes)
	case 8:
		return pick(r, topics) + "-" + pick(r, intl)
	default:
		return pick(r, titles) + "_" + pick(r, topics)
	}
}

// ---------------------------------------------------------------- text

var (
	words = strings.Fields(`array tiledb dense sparse query schema domain dimension attribute
tile fragment consolidate vacuum cloud notebook dataframe numpy pandas matrix index slice
filter compress chunk buffer value result example plot figure sample variant region`)
	prose = []string{
		"This notebook walks through creating, writing and reading a TileDB array.",
		"We start with the high-level API and finish with a quick look at the lower level.",
		"Les données sont stockées dans un tableau dense ; la requête lit une tranche à la fois.",
		"Résumé : création, écriture et lecture d'un tableau — très rapide, même à distance.",
		"Die Größe der Kacheln wählen und die Fragmente danach konsolidieren.",
		"Análisis rápido de las señales con pandas; la conversión a dB tarda unos segundos.",
		"本节介绍如何创建稀疏数组并写入数据。",
		"データフレームを読み込んで、結果をプロットします。",
		"배열 스키마를 정의하고 데이터를 씁니다.",
		"Η ανάλυση τρέχει στο cloud.",
		"✅ Done! The query returned in under a second 🚀",
		"⚠️ This step takes a while ⏳ — grab a coffee ☕",
		"📊 Results below; 👉 compare with the previous run.",
		"Time step Δt = 0.5 µs, tolerance ε ≤ 10⁻⁶, angle θ ≈ 45°.",
	}
	formulas = []string{`$$\sum_{i=0}^{n} x_i^2$$`, `$\sigma = \sqrt{\frac{1}{N}\sum (x_i - \mu)^2}$`,
		`$10 \log_{10}(|a|^2)$`, `$$\hat{y} = X\beta + \varepsilon$$`}
)

func sentence(r *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = pick(r, words)
	}
	return strings.Join(w, " ")
}

// title is n words, the first capitalized.
func title(r *rand.Rand, n int) string {
	s := sentence(r, n)
	return strings.ToUpper(s[:1]) + s[1:]
}

// lines splits text into Jupyter's list of lines, each keeping its "\n".
func lines(text string) []string {
	var out []string
	for text != "" {
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	if out == nil {
		out = []string{}
	}
	return out
}

func markdown(r *rand.Rand, k int) string {
	var b strings.Builder
	switch r.IntN(6) {
	case 0:
		fmt.Fprintf(&b, "## %d. %s\n\n", k, title(r, 3))
		b.WriteString(pick(r, prose))
	case 1:
		fmt.Fprintf(&b, "### %s\n\n%s\n\n%s", title(r, 2), pick(r, prose), pick(r, formulas))
	case 2:
		b.WriteString(pick(r, prose) + "\n\n")
		for range 2 + r.IntN(4) {
			fmt.Fprintf(&b, "- `%s`: %s\n", pick(r, words), pick(r, prose))
		}
		b.WriteString("\n[TileDB docs](https://docs.tiledb.com) · **" + pick(r, words) + "**")
	case 3:
		b.WriteString("| name | value | note |\n| --- | ---: | --- |\n")
		for range 2 + r.IntN(5) {
			fmt.Fprintf(&b, "| %s | %.3f | %s |\n", pick(r, words), r.Float64()*100, pick(r, []string{"ok", "très bien", "良い", "👍", "—"}))
		}
	default:
		b.WriteString(pick(r, prose) + " " + sentence(r, 10+r.IntN(30)) + ".")
	}
	return strings.TrimRight(b.String(), "\n")
}

func code(r *rand.Rand) string {
	uri := fmt.Sprintf("tiledb://%s/%s_%d", pick(r, []string{"alice", "TileDB-Inc", "acme"}), pick(r, words), r.IntN(1000))
	switch r.IntN(6) {
	case 0:
		return fmt.Sprintf("with tiledb.open(%q) as A:\n    df = A.df[%d:%d]\ndf.head()", uri, r.IntN(100), 100+r.IntN(10000))
	case 1:
		return fmt.Sprintf("x = np.arange(%d)\ny = np.sin(x / %d.0)  # %s\nplt.plot(x, y)\nplt.title(%q)\nplt.show()",
			10+r.IntN(1000), 1+r.IntN(20), pick(r, prose), pick(r, words))
	case 2:
		return fmt.Sprintf("dom = tiledb.Domain(tiledb.Dim(name=\"rows\", domain=(1, %d), tile=%d, dtype=np.int32))\n"+
			"schema = tiledb.ArraySchema(domain=dom, sparse=%s, attrs=[tiledb.Attr(name=\"a\", dtype=np.float64)])\n"+
			"tiledb.Array.create(%q, schema)", 1000*(1+r.IntN(9)), 1+r.IntN(100), pick(r, []string{"True", "False"}), uri)
	case 3:
		return fmt.Sprintf("for i in range(%d):\n    print(i, %q, round(np.random.random(), 4))", 3+r.IntN(12), pick(r, words))
	case 4:
		return fmt.Sprintf("def %s(a, b=%d):\n    \"\"\"%s\"\"\"\n    return a * b\n\n%s(%d)",
			pick(r, words), r.IntN(10), pick(r, prose), pick(r, words), r.IntN(100))
	default:
		return fmt.Sprintf("res = tiledb.cloud.sql.exec(\"SELECT %s, COUNT(*) FROM `%s` GROUP BY 1\")\nres", pick(r, words), uri)
	}
}

// ---------------------------------------------------------------- outputs

func stream(r *rand.Rand) map[string]any {
	var b strings.Builder
	name := "stdout"
	if r.IntN(6) == 0 {
		name = "stderr"
		fmt.Fprintf(&b, "/usr/lib/python3/dist-packages/tiledb/%s.py:%d: UserWarning: %s\n  warnings.warn(\n",
			pick(r, words), 10+r.IntN(900), pick(r, prose))
	} else {
		for l := range 2 + r.IntN(20) {
			fmt.Fprintf(&b, "%d  %s  %.6f  %s\n", l, sentence(r, 3), r.Float64(), pick(r, []string{"", "✓", "ok", "é", "完成"}))
		}
	}
	return map[string]any{"name": name, "output_type": "stream", "text": lines(b.String())}
}

func executeResult(r *rand.Rand, count int) map[string]any {
	data := map[string]any{}
	if r.IntN(2) == 0 {
		data["text/plain"] = lines(fmt.Sprintf("%.4f", r.Float64()*1000))
	} else {
		cols := []string{pick(r, words), pick(r, words), "note"}
		var txt, html strings.Builder
		fmt.Fprintf(&txt, "   %10s %10s %8s\n", cols[0], cols[1], cols[2])
		html.WriteString("<div>\n<style scoped>\n    .dataframe tbody tr th:only-of-type {\n        vertical-align: middle;\n    }\n</style>\n")
		html.WriteString("<table border=\"1\" class=\"dataframe\">\n  <thead>\n    <tr style=\"text-align: right;\">\n      <th></th>\n")
		for _, c := range cols {
			fmt.Fprintf(&html, "      <th>%s</th>\n", c)
		}
		html.WriteString("    </tr>\n  </thead>\n  <tbody>\n")
		for i := range 3 + r.IntN(10) {
			a, b, n := r.IntN(100000), r.Float64(), pick(r, []string{"a", "é", "数据", "ß", "🙂"})
			fmt.Fprintf(&txt, "%-2d %10d %10.4f %8s\n", i, a, b, n)
			fmt.Fprintf(&html, "    <tr>\n      <th>%d</th>\n      <td>%d</td>\n      <td>%.4f</td>\n      <td>%s</td>\n    </tr>\n", i, a, b, n)
		}
		html.WriteString("  </tbody>\n</table>\n</div>")
		data["text/plain"] = lines(strings.TrimRight(txt.String(), "\n"))
		data["text/html"] = lines(html.String())
	}
	return map[string]any{"data": data, "execution_count": count, "metadata": map[string]any{}, "output_type": "execute_result"}
}

func displayData(r *rand.Rand) map[string]any {
	return map[string]any{
		"data": map[string]any{
			"image/png":  base64.StdEncoding.EncodeToString(plot(r)) + "\n",
			"text/plain": []string{"<Figure size 640x480 with 1 Axes>"},
		},
		"metadata":    map[string]any{"needs_background": "light"},
		"output_type": "display_data",
	}
}

func errorOutput(r *rand.Rand, count int) map[string]any {
	ename := pick(r, []string{"KeyError", "ValueError", "TileDBError", "ZeroDivisionError"})
	evalue := pick(r, []string{"'" + pick(r, words) + "'", "[TileDB::Query] Error: subarray out of domain", "division by zero"})
	return map[string]any{
		"ename": ename, "evalue": evalue, "output_type": "error",
		"traceback": []string{
			"\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
			fmt.Sprintf("\x1b[0;31m%s\x1b[0m                                  Traceback (most recent call last)", ename),
			fmt.Sprintf("Cell \x1b[0;32mIn[%d], line %d\x1b[0m\n\x1b[0;32m----> 1\x1b[0m \x1b[43mA\x1b[49m[\x1b[38;5;241m%d\x1b[39m]", count, 1+r.IntN(5), r.IntN(100)),
			fmt.Sprintf("\x1b[0;31m%s\x1b[0m: %s", ename, evalue),
		},
	}
}

// plot draws a small line chart and returns it as PNG.
func plot(r *rand.Rand) []byte {
	w, h := 48+r.IntN(112), 32+r.IntN(88)
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	axis := color.NRGBA{0x40, 0x40, 0x40, 0xff}
	for x := 4; x < w-2; x++ {
		img.Set(x, h-5, axis)
	}
	for y := 2; y < h-4; y++ {
		img.Set(4, y, axis)
	}
	line := color.NRGBA{uint8(r.IntN(200)), uint8(r.IntN(200)), uint8(55 + r.IntN(200)), 0xff}
	freq, phase, amp := 1+r.Float64()*4, r.Float64()*math.Pi, float64(h-12)/2
	for x := 5; x < w-2; x++ {
		y := float64(h)/2 - 2 + amp*0.9*math.Sin(phase+freq*2*math.Pi*float64(x)/float64(w))
		img.Set(x, int(y), line)
		img.Set(x, int(y)+1, line)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // a bytes.Buffer does not fail
	}
	return b.Bytes()
}

// ---------------------------------------------------------------- notebook

// build makes a notebook of about size bytes from r.
func build(r *rand.Rand, size int, large bool) []byte {
	minor := pick(r, []int{4, 5, 5})
	kernel := pick(r, []string{"Python 3", "Python 3 (ipykernel)"})
	nb := map[string]any{
		"metadata": map[string]any{
			"kernelspec": map[string]any{"display_name": kernel, "language": "python", "name": "python3"},
			"language_info": map[string]any{
				"codemirror_mode":    map[string]any{"name": "ipython", "version": 3},
				"file_extension":     ".py",
				"mimetype":           "text/x-python",
				"name":               "python",
				"nbconvert_exporter": "python",
				"pygments_lexer":     "ipython3",
				"version":            fmt.Sprintf("3.%d.%d", 7+r.IntN(6), r.IntN(12)),
			},
		},
		"nbformat":       4,
		"nbformat_minor": minor,
	}
	ids := map[string]bool{}
	var cells []any
	add := func(c map[string]any) int {
		if minor >= 5 {
			var id string
			for id == "" || ids[id] {
				id = fmt.Sprintf("%08x", r.Uint32())
			}
			ids[id] = true
			c["id"] = id
		}
		cells = append(cells, c)
		return len(encode(c, "  "))
	}

	approx := 900 // the metadata and the brackets
	approx += add(map[string]any{"cell_type": "markdown", "metadata": map[string]any{},
		"source": lines(fmt.Sprintf("# %s\n\n%s", title(r, 4), pick(r, prose)))})
	approx += add(map[string]any{"cell_type": "code", "execution_count": 1, "metadata": map[string]any{}, "outputs": []any{},
		"source": lines("import numpy as np\nimport tiledb\nimport matplotlib.pyplot as plt")})
	count := 1
	for approx < size {
		if r.IntN(3) == 0 {
			approx += add(map[string]any{"cell_type": "markdown", "metadata": map[string]any{}, "source": lines(markdown(r, len(cells)))})
			continue
		}
		c := map[string]any{"cell_type": "code", "metadata": map[string]any{}, "source": lines(code(r))}
		if r.IntN(8) == 0 { // never run
			c["execution_count"] = nil
			c["outputs"] = []any{}
		} else {
			count++
			c["execution_count"] = count
			var outs []any
			switch k := r.IntN(20); {
			case k < 7:
				outs = append(outs, stream(r))
			case k < 12:
				outs = append(outs, executeResult(r, count))
			case k < 16 && large:
				outs = append(outs, figure(r, size-approx))
			case k < 16:
				outs = append(outs, displayData(r))
			case k < 17:
				outs = append(outs, stream(r), errorOutput(r, count))
			default: // no output
			}
			if outs == nil {
				outs = []any{}
			}
			c["outputs"] = outs
		}
		if r.IntN(10) == 0 {
			c["metadata"] = map[string]any{"scrolled": true}
		}
		approx += add(c)
	}
	nb["cells"] = cells
	return encode(nb, "")
}

// encode writes v as Jupyter does: indent 1, sorted keys, no HTML or
// non-ASCII escaping, a final newline.
func encode(v any, prefix string) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.SetIndent(prefix, " ")
	if err := e.Encode(v); err != nil {
		panic(err) // maps of strings, numbers and slices always encode
	}
	return b.Bytes()
}
