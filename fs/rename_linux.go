package fs

import "golang.org/x/sys/unix"

// renameLocal renames a local (scratch) file with the kernel's flags.
func renameLocal(from, to string, flags uint32) error {
	return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, uint(flags))
}
