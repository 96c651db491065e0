//go:build linux

package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the second local user of these tests.
const nobody = 65534

// asNobody runs a shell command as uid/gid 65534 and reports its output
// and whether it succeeded.
func asNobody(t *testing.T, script string) (string, bool) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// With allow_other, another local user gets nothing of the owner's
// notebooks, unless the owner opted in to reads with --allow-others-read,
// and even then no writes, deletes, creates or share changes. The mode
// bits shown match what is enforced. Acted out as uid 65534 through a
// real mount.
func TestAllowOtherOnlyOwner(t *testing.T) {
	needFuse(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as a second user")
	}
	needProgram(t, "getfattr")
	bin := buildBinary(t)
	for _, c := range []struct {
		name  string
		flags []string
		read  bool
	}{
		{"allow-other", []string{"--allow-other"}, false},
		{"allow-others-read", []string{"--allow-others-read"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			// The second user must reach the mountpoint.
			os.Chmod(home, 0o755)
			os.Chmod(filepath.Dir(home), 0o755)
			cmd, mnt, logs := startDaemon(t, bin, home, c.flags...)
			dir := filepath.Join(mnt, "owned", localUser())
			p := filepath.Join(dir, "mine.ipynb")
			mustWrite(t, p, nb("the owner's"))
			if got := mustRead(t, p); string(got) != string(nb("the owner's")) {
				t.Fatalf("the owner reads %q", got)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			wantPerm := os.FileMode(0o600)
			if c.read {
				wantPerm = 0o644
			}
			if st.Mode().Perm() != wantPerm {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), wantPerm)
			}

			q := func(s string) string { return "'" + s + "'" }
			reads := map[string]string{
				"cat":      "cat " + q(p),
				"ls":       "ls " + q(dir),
				"getfattr": "getfattr --only-values -n user.tiledb.id " + q(p),
			}
			for what, script := range reads {
				out, ok := asNobody(t, script)
				if ok != c.read {
					t.Errorf("nobody's %s: ok=%v, want %v: %s", what, ok, c.read, out)
				}
				if !ok && !strings.Contains(out, "ermission denied") {
					t.Errorf("nobody's %s fails with %q, want Permission denied", what, out)
				}
			}
			writes := map[string]string{
				"overwrite": "printf x > " + q(p),
				"create":    "touch " + q(filepath.Join(dir, "theirs.ipynb")),
				"rm":        "rm -f " + q(p),
				"share":     "setfattr -n user.tiledb.share.public -v read " + q(p),
				"rename":    "mv " + q(p) + " " + q(filepath.Join(dir, "moved.ipynb")),
				"mkdir":     "mkdir " + q(filepath.Join(dir, "d")),
			}
			for what, script := range writes {
				if out, ok := asNobody(t, script); ok {
					t.Errorf("nobody's %s succeeded: %s", what, out)
				}
			}
			// Nothing of it reached the notebook.
			if got := mustRead(t, p); string(got) != string(nb("the owner's")) {
				t.Errorf("after the other user: %q", got)
			}
			if _, err := os.Stat(filepath.Join(dir, "theirs.ipynb")); err == nil {
				t.Error("the other user created a notebook")
			}
			if out := mustTool(t, "getfattr", "-d", "-m", "user.tiledb.share", p); strings.Contains(out, "public") {
				t.Errorf("the other user shared it: %s", out)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitExit(t, cmd, logs)
		})
	}
}
