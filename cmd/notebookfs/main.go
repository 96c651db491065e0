// Command notebookfs mounts TileDB Cloud notebooks (or the embedded local
// store) as a folder of .ipynb files. This package only parses flags and
// wires the other packages together.
package main

import (
	"errors"
	"fmt"
	"os"
)

const usage = `notebookfs: TileDB Cloud notebooks as a local folder

Usage:
  notebookfs mount [flags] MOUNTPOINT   mount and serve until unmounted (Ctrl-C unmounts; --daemon returns once mounted)
  notebookfs unmount MOUNTPOINT         unmount a running mount
  notebookfs upload FILE|- URI          upload a notebook (--overwrite: a new version of an existing one)
  notebookfs download URI [FILE|-]      download a notebook (--at TIME: an older version)
  notebookfs ls [owned|shared|public] [NAMESPACE]   list namespaces, or the notebooks of one
  notebookfs versions URI               list a notebook's versions
  notebookfs rename URI NEWNAME         rename a notebook
  notebookfs rm URI                     delete a notebook and its history
  notebookfs share URI NAMESPACE|public [--actions read,write]   share a notebook
  notebookfs unshare URI NAMESPACE|public                          stop sharing it
  notebookfs shared-with URI            who a notebook is shared with
  notebookfs login [--host URL] [--token-file F | --username U --password-stdin]   write ~/.tiledb/cloud.json
  notebookfs logout                     remove ~/.tiledb/cloud.json
  notebookfs whoami                     who the backend says I am
  notebookfs doctor                     check fuse, credentials, clock and cache dir
  notebookfs status MOUNTPOINT          pending uploads, conflicts, errors and cache figures of a mount
  notebookfs completion bash            print a bash completion script
  notebookfs serve --data DIR [flags]   serve the TileDB Cloud API over a local store (for tests)
  notebookfs user add|token --data DIR NAME   add a user of that store, or issue a token

URI is tiledb://NAMESPACE/NAME (no .ipynb), or tiledb://NAMESPACE/<uuid>.
Every verb takes --json, --log-level, --log-format, and --remote URL /
--store DIR to pick the backend as mount does.
Run 'notebookfs COMMAND -h' for a command's flags and examples.

Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 permission denied or not logged in.
`

// commands maps each command name to its entry point.
var commands = map[string]func([]string) error{
	"mount":       runMount,
	"unmount":     runUnmount,
	"umount":      runUnmount,
	"serve":       runServe,
	"user":        runUser,
	"upload":      runUpload,
	"download":    runDownload,
	"ls":          runLs,
	"versions":    runVersions,
	"rename":      runRename,
	"rm":          runRm,
	"share":       runShare,
	"unshare":     runUnshare,
	"shared-with": runSharedWith,
	"login":       runLogin,
	"logout":      runLogout,
	"whoami":      runWhoami,
	"doctor":      runDoctor,
	"status":      runStatus,
	"completion":  runCompletion,
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch run, ok := commands[cmd]; {
	case ok:
		err = run(args)
	case cmd == "-h" || cmd == "--help" || cmd == "help":
		if len(args) == 1 && commands[args[0]] != nil {
			err = commands[args[0]]([]string{"-h"})
			break
		}
		fmt.Print(usage)
		return
	case isMountSource(cmd) && len(args) >= 1:
		// mount.fuse3 runs "notebookfs SOURCE MOUNTPOINT -o OPTIONS" for
		// an fstab line or mount -t fuse.notebookfs.
		cmd = "mount"
		err = runMount(os.Args[1:])
	default:
		fmt.Fprintf(os.Stderr, "notebookfs: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, errHelpShown) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "notebookfs %s: %s\n", cmd, termSafe(os.Stderr, err.Error()))
		os.Exit(exitCode(err))
	}
}

// usageError marks a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
