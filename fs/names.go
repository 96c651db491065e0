package fs

import (
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"notebookfs/remote"
)

// Suffix is what turns a notebook name into a file name.
const Suffix = ".ipynb"

// isNotebookName reports whether a file name created locally names a
// notebook. Everything else (editor swap and backup files, lock files,
// hidden files) is local scratch that is never uploaded.
func isNotebookName(file string) bool {
	if !strings.HasSuffix(file, Suffix) || len(file) == len(Suffix) {
		return false
	}
	return !strings.HasPrefix(file, ".") && !strings.HasPrefix(file, "#") && !strings.HasSuffix(file, "~")
}

// notebookName strips exactly one ".ipynb" from a file name.
func notebookName(file string) string { return strings.TrimSuffix(file, Suffix) }

// nameMax is the longest file name the kernel takes (NAME_MAX).
const nameMax = 255

// fileNames maps a namespace listing to file names. Names are not unique
// remotely: the oldest notebook of a name keeps "name.ipynb", the others get
// "name~<first 8 hex of id>.ipynb" (see suffixedName). Ties of creation
// time keep the listing's order (the Client contract: oldest first), so the
// mapping is stable while those notebooks exist, and a newer notebook never
// takes an older one's file name. Notebooks whose name cannot be a file
// name are left out.
func fileNames(nbs []remote.Notebook) map[string]remote.Notebook {
	sorted := append([]remote.Notebook(nil), nbs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Created.Before(sorted[j].Created) })
	out := make(map[string]remote.Notebook, len(sorted))
	for _, nb := range sorted {
		if remote.ValidName(nb.Name) != nil {
			continue
		}
		file := nb.Name + Suffix
		if _, taken := out[file]; taken {
			file = suffixedName(nb, out)
		}
		out[file] = nb
	}
	return out
}

// suffixedName is the file name of a notebook whose plain name is taken:
// "name~<id prefix>.ipynb", the prefix 8 hex digits of the id, longer
// while that name is taken too (a notebook may literally be named
// "x~abcdef12", or two ids share 8 digits), then the whole id and a
// counter. The name is cut at a rune boundary so that the file name fits
// in nameMax bytes.
func suffixedName(nb remote.Notebook, taken map[string]remote.Notebook) string {
	h := strings.ReplaceAll(nb.ID, "-", "")
	for n := 8; ; n++ {
		tag := ""
		switch {
		case n <= len(h):
			tag = h[:n]
		case h == "":
			tag = strconv.Itoa(n - 8)
		default:
			tag = h + "-" + strconv.Itoa(n-len(h))
		}
		tail := "~" + tag + Suffix
		file := cutName(nb.Name, nameMax-len(tail)) + tail
		if _, t := taken[file]; !t {
			return file
		}
	}
}

// cutName shortens s to at most n bytes without splitting a rune.
func cutName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// stableIno derives an inode number from a key (a notebook id, or a
// category/namespace path) so a notebook keeps its inode across lookups.
// Bit 62 is set and bit 63 clear: loopback scratch inodes are small numbers
// and go-fuse's automatic numbers start at 2^63, so neither collides.
func stableIno(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()&(1<<62-1) | 1<<62
}
