package test

import (
	"os/exec"
	"strings"
	"testing"
)

// The import rules of the layout: a DAG where config and remote import
// nothing of ours, remote/* import remote, cache imports remote, the save
// engine fs/save imports remote, the core fs imports cache, fs/save and
// remote, the adapter fs/fuse imports fs, only cmd knows everything, and
// only fs/fuse and test import go-fuse.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", "{{.ImportPath}}:{{join .Imports \" \"}}:{{join .TestImports \" \"}}", "notebookfs/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string][]string{
		"notebookfs/config":            {},
		"notebookfs/remote":            {},
		"notebookfs/remote/local":      {"notebookfs/remote"},
		"notebookfs/remote/remotetest": {"notebookfs/remote"},
		"notebookfs/remote/instrument": {"notebookfs/remote"},
		"notebookfs/remote/cloud":      {"notebookfs/remote", "notebookfs/remote/arrayproto/..."},
		"notebookfs/remote/server":     {"notebookfs/remote", "notebookfs/remote/local", "notebookfs/remote/arrayproto/..."},
		// TileDB's capnp array protocol, shared by the cloud client and the
		// server; the generated code lives in a subpackage.
		"notebookfs/remote/arrayproto/...": {"notebookfs/remote", "notebookfs/remote/arrayproto/..."},
		"notebookfs/cache":                 {"notebookfs/remote"},
		// The save engine: journal, ordering, retries, conflicts.
		"notebookfs/fs/save": {"notebookfs/remote", "notebookfs/fs/internal/atomicfile"},
		// The FUSE-free file system core.
		"notebookfs/fs": {"notebookfs/cache", "notebookfs/fs/save", "notebookfs/remote", "notebookfs/fs/internal/atomicfile"},
		// The go-fuse adapter.
		"notebookfs/fs/fuse":                {"notebookfs/fs", "notebookfs/remote"},
		"notebookfs/fs/internal/atomicfile": {},
		"notebookfs/cmd/notebookfs":         {"*"},
		"notebookfs/test":                   {"*"},
	}
	fuseOK := map[string]bool{"notebookfs/fs/fuse": true, "notebookfs/test": true}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		pkg, imports := parts[0], strings.Fields(parts[1])
		testImports := strings.Fields(parts[2])
		rules, known := allowed[pkg]
		if !known && strings.HasPrefix(pkg, "notebookfs/remote/arrayproto") {
			rules, known = allowed["notebookfs/remote/arrayproto/..."]
		}
		if !known && strings.HasPrefix(pkg, "notebookfs/cache/") {
			rules, known = allowed["notebookfs/cache/..."]
		}
		// Benchmark tools under test/ are part of test (go-fuse included).
		if !known && strings.HasPrefix(pkg, "notebookfs/test/") {
			rules, known = allowed["notebookfs/test"]
		}
		if !known {
			t.Errorf("package %s is not in the layout (add it to allowed here and to the README's Layout)", pkg)
			continue
		}
		seen++
		check := func(imp string, inTest bool) {
			if strings.HasPrefix(imp, "github.com/hanwen/go-fuse") && !fuseOK[pkg] && !strings.HasPrefix(pkg, "notebookfs/test/") {
				t.Errorf("%s imports go-fuse; only fs/fuse and test may", pkg)
			}
			if !strings.HasPrefix(imp, "notebookfs/") || imp == pkg {
				return
			}
			if imp == "notebookfs/test" || (imp == "notebookfs/cmd/notebookfs") {
				t.Errorf("%s imports %s; nothing may", pkg, imp)
			}
			if len(rules) == 1 && rules[0] == "*" {
				if pkg == "notebookfs/cmd/notebookfs" && imp == "notebookfs/remote/remotetest" && !inTest {
					t.Errorf("cmd imports remotetest")
				}
				return
			}
			// A package's own tests may use the contract suite, and tests
			// under remote/ and of the uploader the real store as a backend.
			if inTest && (imp == "notebookfs/remote/remotetest" ||
				(imp == "notebookfs/remote/local" && (strings.HasPrefix(pkg, "notebookfs/remote/") || pkg == "notebookfs/fs/save" || pkg == "notebookfs/fs"))) {
				return
			}
			for _, a := range rules {
				if a == imp || (strings.HasSuffix(a, "/...") && strings.HasPrefix(imp+"/", strings.TrimSuffix(a, "..."))) {
					return
				}
			}
			t.Errorf("%s imports %s; allowed: %v", pkg, imp, rules)
		}
		for _, imp := range imports {
			check(imp, false)
		}
		for _, imp := range testImports {
			check(imp, true)
		}
	}
	if seen < 7 {
		t.Errorf("only %d packages checked; go list output:\n%s", seen, out)
	}
}
