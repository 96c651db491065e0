package fuse

import "syscall"

func ctimeNano(st *syscall.Stat_t) int64 { return st.Ctim.Nano() }

// xattrFlags converts setxattr's flags to the file system's.
func xattrFlags(flags uint32) uint32 { return flags }
