package capnptext

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	stdOnce sync.Once
	stdDir  string
	stdErr  error
)

// Std returns go-capnp's std schema directory (go.capnp), for running
// "capnp decode" in a test, and skips the test when the capnp tool or the
// module is not available.
func Std(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("capnp"); err != nil {
		t.Skip("capnp not on PATH (apt-get install capnproto)")
	}
	stdOnce.Do(func() {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "capnproto.org/go/capnp/v3").Output()
		if err != nil {
			stdErr = err
			return
		}
		stdDir = filepath.Join(strings.TrimSpace(string(out)), "std")
		_, stdErr = os.Stat(filepath.Join(stdDir, "go.capnp"))
	})
	if stdErr != nil {
		t.Skipf("go-capnp std schemas not found: %v", stdErr)
	}
	return stdDir
}
