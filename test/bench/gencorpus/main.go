// Command gencorpus writes N generated notebooks (test/corpus) into DIR for
// test/bench/bench.sh: gen-00001.ipynb ... gen-NNNNN.ipynb, sizes spread
// log-uniformly between 2 KB and 200 KB (so most are small, as real
// notebooks are), deterministic for a given -seed. Every notebook has
// "import" lines and the letter x, for the benchmark's grep and sed steps.
//
// Usage: gencorpus -n N [-seed S] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"notebookfs/test/corpus"
)

func main() {
	n := flag.Int("n", 1000, "how many notebooks")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gencorpus -n N [-seed S] DIR")
		os.Exit(2)
	}
	if *n <= 0 {
		return
	}
	_, err := corpus.Write(flag.Arg(0), corpus.Options{
		Seed: *seed, N: *n, MinSize: 2 << 10, MaxSize: 200 << 10,
		Name: func(i int) string { return fmt.Sprintf("gen-%05d", i+1) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}
