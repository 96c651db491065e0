package main

// macOS: macFUSE mounts; statfs names a mount point, umount(8) unmounts.

import (
	"fmt"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// errNoAttr is getxattr's "no such attribute".
const errNoAttr = unix.ENOATTR

// isMountpoint reports whether dir is the root of a mounted file system.
func isMountpoint(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return unix.ByteSliceToString(st.Mntonname[:]) == dir
}

// unmount runs umount(8) (diskutil when that fails), retrying briefly
// while the mount is busy.
func unmount(dir string) error {
	var out []byte
	var err error
	for i := 0; i < 5; i++ {
		if out, err = exec.Command("umount", dir).CombinedOutput(); err == nil {
			return nil
		}
		if out, err = exec.Command("diskutil", "unmount", dir).CombinedOutput(); err == nil {
			return nil
		}
		time.Sleep(time.Duration(i+1) * 100 * time.Millisecond)
	}
	return fmt.Errorf("umount %s: %v: %s", dir, err, out)
}

// fuseChecks are doctor's checks of the FUSE install.
func fuseChecks() []check {
	return []check{checkMacFUSE("/")}
}
