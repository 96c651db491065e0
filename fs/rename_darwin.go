package fs

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// renameLocal renames a local (scratch) file: macOS has no renameat2, but
// renamex_np's RENAME_EXCL is RENAME_NOREPLACE.
func renameLocal(from, to string, flags uint32) error {
	switch flags {
	case 0:
		return os.Rename(from, to)
	case RenameNoReplace:
		return unix.RenamexNp(from, to, unix.RENAME_EXCL)
	}
	return syscall.EINVAL
}
