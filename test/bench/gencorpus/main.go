// Command gencorpus writes generated notebooks (test/corpus) into DIR for
// test/bench/bench.sh, deterministic for a given -seed. Every notebook has
// "import" lines and the letter x, for the benchmark's grep and sed steps.
//
//   - -n N: gen-00001.ipynb ... gen-NNNNN.ipynb, sizes spread log-uniformly
//     between -min and -max (2 KB and 200 KB: most are small, as real
//     notebooks are);
//   - -handbook: the 136 notebooks of corpus.Handbook, shaped like a real
//     data-science handbook (34 MB, median 54 KB, 90th percentile 660 KB,
//     8 over 1 MiB, the largest 2.7 MB, figures as base64 PNGs).
//
// Usage: gencorpus [-n N] [-min BYTES] [-max BYTES] [-handbook] [-seed S] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"notebookfs/test/corpus"
)

func main() {
	n := flag.Int("n", 1000, "how many notebooks of -min to -max bytes")
	minSize := flag.Int("min", 2<<10, "smallest size in bytes (about)")
	maxSize := flag.Int("max", 200<<10, "largest size in bytes (about)")
	handbook := flag.Bool("handbook", false, "also write the 136 notebooks shaped like a data-science handbook")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gencorpus [-n N] [-min BYTES] [-max BYTES] [-handbook] [-seed S] DIR")
		os.Exit(2)
	}
	var sets []corpus.Options
	if *handbook {
		sets = append(sets, corpus.Handbook(*seed))
	}
	if *n > 0 {
		sets = append(sets, corpus.Options{
			Seed: *seed, N: *n, MinSize: *minSize, MaxSize: *maxSize,
			Name: func(i int) string { return fmt.Sprintf("gen-%05d", i+1) },
		})
	}
	for _, o := range sets {
		if _, err := corpus.Write(flag.Arg(0), o); err != nil {
			fmt.Fprintln(os.Stderr, "gencorpus:", err)
			os.Exit(1)
		}
	}
}
