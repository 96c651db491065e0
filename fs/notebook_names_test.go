package fs

import "testing"

func TestIsNotebookName(t *testing.T) {
	for name, want := range map[string]bool{
		"x.ipynb": true, "a b.ipynb": true, "x.ipynb.ipynb": true, "dup~1234abcd.ipynb": true,
		".ipynb": false, "x": false, "x.ipynb~": false, ".x.ipynb.swp": false, ".~x.ipynb": false,
		"#x.ipynb#": false, ".#x.ipynb": false, "4913": false, "sedAbC123": false, "x.IPYNB": false,
		"._x.ipynb": false, ".DS_Store": false,
	} {
		if got := isNotebookName(name); got != want {
			t.Errorf("isNotebookName(%q) = %v, want %v", name, got, want)
		}
	}
	if got := notebookName("x.ipynb.ipynb"); got != "x.ipynb" {
		t.Errorf("notebookName strips one suffix: got %q", got)
	}
}
