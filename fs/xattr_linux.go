package fs

import "syscall"

// errNoAttr is "no such attribute".
const errNoAttr = syscall.ENODATA

// localXattrFlags are setxattr's flags for a local (scratch) file: ours
// are Linux's.
func localXattrFlags(flags uint32) int { return int(flags) }
