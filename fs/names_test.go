package fs

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"notebookfs/remote"
)

func nbAt(id, name string, sec int) remote.Notebook {
	return remote.Notebook{ID: id, Namespace: "alice", Name: name, Created: time.Unix(int64(sec), 0)}
}

// checkNames fails unless every notebook of nbs with a valid name has its
// own file name, each at most NAME_MAX bytes of valid UTF-8 ending .ipynb.
func checkNames(t *testing.T, nbs []remote.Notebook) map[string]remote.Notebook {
	t.Helper()
	names := fileNames(nbs)
	ids := map[string]bool{}
	for file, nb := range names {
		if len(file) > 255 || !utf8.ValidString(file) || !strings.HasSuffix(file, Suffix) || !isNotebookName(file) {
			t.Errorf("file name of %d bytes %q", len(file), file)
		}
		ids[nb.ID] = true
	}
	for _, nb := range nbs {
		if !ids[nb.ID] {
			t.Errorf("notebook %s %q has no file name: %v", nb.ID, nb.Name, keys(names))
		}
	}
	return names
}

func keys(m map[string]remote.Notebook) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Duplicates of the longest names fit in NAME_MAX, cut at a rune boundary.
func TestFileNamesFitNameMax(t *testing.T) {
	for _, long := range []string{
		strings.Repeat("L", remote.MaxNameLen),
		strings.Repeat("é", remote.MaxNameLen/2),
		strings.Repeat("日", remote.MaxNameLen/3),
		strings.Repeat("L", 239) + "é" + strings.Repeat("L", 8), // the cut falls inside é
	} {
		nbs := []remote.Notebook{
			nbAt("abcdef12-0000-4000-8000-000000000001", long, 1),
			nbAt("abcdef12-0000-4000-8000-000000000002", long, 2),
			nbAt("12345678-0000-4000-8000-000000000003", long, 3),
		}
		names := checkNames(t, nbs)
		if nb, ok := names[long+Suffix]; !ok || nb.ID != nbs[0].ID {
			t.Errorf("the oldest lost the plain name: %v", keys(names))
		}
	}
}

// A notebook literally named like another's suffixed name never makes
// either vanish, whichever is older; ids sharing their first 8 digits get
// longer prefixes.
func TestFileNamesNeverCollide(t *testing.T) {
	const a, b, c = "11111111-0000-4000-8000-000000000001", "abcdef12-0000-4000-8000-000000000002", "abcdef12-9999-4000-8000-000000000003"
	for _, tc := range []struct {
		name string
		nbs  []remote.Notebook
		want map[string]string // file -> id
	}{
		{"literal older", []remote.Notebook{nbAt(a, "x", 1), nbAt("22222222-0000-4000-8000-000000000004", "x~abcdef12", 2), nbAt(b, "x", 3)},
			map[string]string{"x.ipynb": a, "x~abcdef12.ipynb": "22222222-0000-4000-8000-000000000004", "x~abcdef120.ipynb": b}},
		{"literal newer", []remote.Notebook{nbAt(a, "x", 1), nbAt(b, "x", 2), nbAt("22222222-0000-4000-8000-000000000004", "x~abcdef12", 3)},
			map[string]string{"x.ipynb": a, "x~abcdef12.ipynb": b, "x~abcdef12~22222222.ipynb": "22222222-0000-4000-8000-000000000004"}},
		{"shared prefix", []remote.Notebook{nbAt(a, "x", 1), nbAt(b, "x", 2), nbAt(c, "x", 3)},
			map[string]string{"x.ipynb": a, "x~abcdef12.ipynb": b, "x~abcdef129.ipynb": c}},
		{"same id twice", []remote.Notebook{nbAt(b, "x", 1), nbAt(b, "x", 2), nbAt(b, "x", 3)},
			map[string]string{"x.ipynb": b, "x~abcdef12.ipynb": b, "x~abcdef120.ipynb": b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names := checkNames(t, tc.nbs)
			if len(names) != len(tc.want) {
				t.Fatalf("%d files, want %d: %v", len(names), len(tc.want), keys(names))
			}
			for file, id := range tc.want {
				if nb, ok := names[file]; !ok || nb.ID != id {
					t.Errorf("%s: %+v (have %v)", file, nb, keys(names))
				}
			}
		})
	}
}

// Adding a newer notebook changes no older notebook's file name.
func TestFileNamesStableWhenOneIsAdded(t *testing.T) {
	nbs := []remote.Notebook{
		nbAt("11111111-0000-4000-8000-000000000001", "x", 1),
		nbAt("abcdef12-0000-4000-8000-000000000002", "x", 2),
		nbAt("abcdef12-0000-4000-8000-000000000003", "x", 3),
	}
	before := checkNames(t, nbs)
	after := checkNames(t, append(nbs, nbAt("99999999-0000-4000-8000-000000000004", "x~abcdef12", 4)))
	for file, nb := range before {
		if after[file].ID != nb.ID {
			t.Errorf("%s changed from %s to %s", file, nb.ID, after[file].ID)
		}
	}
}
