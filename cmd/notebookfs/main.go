// Command notebookfs mounts TileDB Cloud notebooks (or the embedded local
// store) as a folder of .ipynb files. This package only parses flags and
// wires the other packages together.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	root := newRootCommand()
	root.SetArgs(compatArgs(root, os.Args[1:]))
	cmd, err := root.ExecuteC()
	if err == nil {
		return
	}
	var ue usageError
	if errors.As(err, &ue) && ue.msg == "" {
		os.Exit(exitUsage) // the usage is printed already
	}
	name := "notebookfs"
	if cmd != nil && cmd != root {
		name = cmd.CommandPath()
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n", name, termSafe(os.Stderr, err.Error()))
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "Run '%s --help' for usage.\n", name)
	}
	os.Exit(exitCode(err))
}

// usageError marks a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
