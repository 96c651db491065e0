package fs

import (
	"hash/fnv"
	"sort"
	"strings"

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

// fileNames maps a namespace listing to file names. Names are not unique
// remotely: the oldest notebook of a name keeps "name.ipynb", the others get
// "name~<first 8 hex of id>.ipynb". Ties of creation time keep the
// listing's order (the Client contract: oldest first), so the mapping is
// stable while those notebooks exist. Notebooks whose name cannot be a file
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
			file = nb.Name + "~" + shortID(nb.ID) + Suffix
		}
		out[file] = nb
	}
	return out
}

// shortID is the first 8 hex digits of a UUID.
func shortID(id string) string {
	h := strings.ReplaceAll(id, "-", "")
	if len(h) > 8 {
		h = h[:8]
	}
	return h
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
