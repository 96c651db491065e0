// Command gencorpus writes N generated notebooks (nbformat 4 JSON) into
// DIR for test/bench/bench.sh: gen-00001.ipynb ... gen-NNNNN.ipynb, sizes
// spread log-uniformly between 2 KB and 200 KB (so most are small, as real
// notebooks are), deterministic for a given -seed. Every notebook has
// "import" lines and the letter x, for the benchmark's grep and sed steps.
//
// Usage: gencorpus -n N [-seed S] DIR
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

type cell struct {
	CellType       string         `json:"cell_type"`
	ExecutionCount *int           `json:"execution_count,omitempty"`
	Metadata       map[string]any `json:"metadata"`
	Outputs        []any          `json:"outputs,omitempty"`
	Source         []string       `json:"source"`
}

type notebook struct {
	Cells         []cell         `json:"cells"`
	Metadata      map[string]any `json:"metadata"`
	NBFormat      int            `json:"nbformat"`
	NBFormatMinor int            `json:"nbformat_minor"`
}

var words = strings.Fields(`array tiledb dense sparse query schema domain dimension attribute
tile fragment consolidate vacuum cloud notebook dataframe numpy pandas matrix
index slice filter compress chunk buffer value result example plot figure`)

func main() {
	n := flag.Int("n", 1000, "how many notebooks")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gencorpus -n N [-seed S] DIR")
		os.Exit(2)
	}
	dir := flag.Arg(0)
	r := rand.New(rand.NewPCG(*seed, 7))
	for i := 1; i <= *n; i++ {
		size := int(2048 * math.Exp(r.Float64()*math.Log(100))) // 2 KB .. 200 KB
		b := gen(r, i, size)
		name := filepath.Join(dir, fmt.Sprintf("gen-%05d.ipynb", i))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gencorpus:", err)
			os.Exit(1)
		}
	}
}

func sentence(r *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = words[r.IntN(len(words))]
	}
	return strings.Join(w, " ")
}

// gen builds a notebook whose JSON is close to size bytes (at least 2 KB).
func gen(r *rand.Rand, i, size int) []byte {
	nb := notebook{
		Metadata: map[string]any{
			"kernelspec":    map[string]any{"display_name": "Python 3", "language": "python", "name": "python3"},
			"language_info": map[string]any{"name": "python", "version": "3.11.4"},
		},
		NBFormat: 4, NBFormatMinor: 5,
	}
	nb.Cells = append(nb.Cells, cell{CellType: "markdown", Metadata: map[string]any{},
		Source: []string{fmt.Sprintf("# Generated notebook %d\n", i), "\n", sentence(r, 20) + "\n"}})
	approx := 600
	for k := 1; approx < size*85/100; k++ { // indentation adds ~15%
		ec := k
		src := []string{
			"import numpy as np\n",
			"import tiledb\n",
			fmt.Sprintf("x = np.arange(%d)\n", r.IntN(100000)),
			fmt.Sprintf("# %s\n", sentence(r, 12)),
			fmt.Sprintf("with tiledb.open(\"tiledb://alice/array_%d\") as A:\n", r.IntN(1000)),
			"    df = A.df[:]\n",
		}
		var out []string
		for l := 0; l < 5+r.IntN(20); l++ {
			out = append(out, fmt.Sprintf("%d  %s  %.6f\n", l, sentence(r, 4), r.Float64()))
		}
		c := cell{CellType: "code", ExecutionCount: &ec, Metadata: map[string]any{}, Source: src,
			Outputs: []any{map[string]any{"name": "stdout", "output_type": "stream", "text": out}}}
		nb.Cells = append(nb.Cells, c)
		b, _ := json.Marshal(c)
		approx += len(b) + 40
		if k%3 == 0 {
			m := cell{CellType: "markdown", Metadata: map[string]any{}, Source: []string{"## " + sentence(r, 5) + "\n", sentence(r, 30) + "\n"}}
			nb.Cells = append(nb.Cells, m)
			b, _ := json.Marshal(m)
			approx += len(b) + 40
		}
	}
	b, err := json.MarshalIndent(nb, "", " ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}
