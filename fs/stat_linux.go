package fs

import (
	"os"
	"syscall"
	"time"
)

// accessTime is a local file's atime.
func accessTime(fi os.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Atim.Unix())
	}
	return fi.ModTime()
}
