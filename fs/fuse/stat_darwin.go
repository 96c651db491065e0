package fuse

import (
	"syscall"

	"notebookfs/fs"
)

func ctimeNano(st *syscall.Stat_t) int64 { return st.Ctimespec.Nano() }

// xattrFlags converts setxattr's flags (macOS: XATTR_CREATE 2,
// XATTR_REPLACE 4) to the file system's (Linux's: 1 and 2).
func xattrFlags(flags uint32) uint32 {
	var out uint32
	if flags&2 != 0 {
		out |= fs.XattrCreate
	}
	if flags&4 != 0 {
		out |= fs.XattrReplace
	}
	return out
}
