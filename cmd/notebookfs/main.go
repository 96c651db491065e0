// Command notebookfs mounts TileDB Cloud notebooks (or the embedded local
// store) as a folder of .ipynb files. This package only parses flags and
// wires the other packages together.
package main

import (
	"fmt"
	"os"
)

const usage = `notebookfs: TileDB Cloud notebooks as a local folder

Usage:
  notebookfs mount [flags] MOUNTPOINT   mount and serve until unmounted (Ctrl-C unmounts)
  notebookfs unmount MOUNTPOINT         unmount a running mount
  notebookfs serve --data DIR [flags]   serve the TileDB Cloud API over a local store (for tests)
  notebookfs user add|token --data DIR NAME   add a user of that store, or issue a token

Run 'notebookfs COMMAND -h' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "mount":
		err = runMount(os.Args[2:])
	case "unmount", "umount":
		err = runUnmount(os.Args[2:])
	case "serve":
		err = runServe(os.Args[2:])
	case "user":
		err = runUser(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "notebookfs: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "notebookfs %s: %v\n", os.Args[1], err)
		if _, ok := err.(usageError); ok {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
