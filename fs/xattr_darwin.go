package fs

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// errNoAttr is "no such attribute".
const errNoAttr = syscall.ENOATTR

// localXattrFlags are setxattr's flags for a local (scratch) file: ours
// (Linux's values) in macOS's.
func localXattrFlags(flags uint32) int {
	var out int
	if flags&XattrCreate != 0 {
		out |= unix.XATTR_CREATE
	}
	if flags&XattrReplace != 0 {
		out |= unix.XATTR_REPLACE
	}
	return out
}
