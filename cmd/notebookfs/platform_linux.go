package main

// Linux: mounts are in /proc/self/mountinfo and fusermount3 unmounts them.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// errNoAttr is getxattr's "no such attribute".
const errNoAttr = unix.ENODATA

// isMountpoint reports whether dir is a mount point in
// /proc/self/mountinfo.
func isMountpoint(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && unescapeMountinfo(fields[4]) == dir {
			return true
		}
	}
	return false
}

// unmount asks fusermount3 (or fusermount) to unmount, retrying briefly
// while the mount is busy.
func unmount(dir string) error {
	bin := "fusermount3"
	if _, err := exec.LookPath(bin); err != nil {
		bin = "fusermount"
	}
	var out []byte
	var err error
	for i := 0; i < 5; i++ {
		out, err = exec.Command(bin, "-u", dir).CombinedOutput()
		if err == nil {
			return nil
		}
		time.Sleep(time.Duration(i+1) * 100 * time.Millisecond)
	}
	return fmt.Errorf("%s -u %s: %v: %s", bin, dir, err, out)
}

// fuseChecks are doctor's checks of the FUSE install.
func fuseChecks() []check {
	return []check{checkFuseDevice("/dev/fuse"), checkFusermount(exec.LookPath)}
}
