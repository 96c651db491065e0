//go:build linux

package test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPty returns the two ends of a new pseudo-terminal.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// A name the server sends that holds invisible or reordering characters
// (which remote.ValidName lets through: they are no control characters)
// reaches a terminal escaped, and a pipe as it is.
func TestCLIEscapesNamesOnTerminal(t *testing.T) {
	const name = "spoof\u200bname\u00ad"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/user":
			io.WriteString(w, `{"username":"alice","organizations":[]}`)
		case "/v1/arrays/browser/owned":
			io.WriteString(w, `{"arrays":[{"id":"0b6f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b","namespace":"alice","name":"`+name+`",`+
				`"file_type":"notebook","created_at":"2026-12-01T00:00:00Z","last_accessed":"2026-12-01T00:00:00Z",`+
				`"allowed_actions":["read"],"metadata":[{"key":"file_size","value":"3","type":"INT64"}]}],`+
				`"pagination_metadata":{"page":1,"per_page":100,"total_pages":1,"total_items":1}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"code":404,"message":"no"}`)
		}
	}))
	defer srv.Close()
	c := newCLI(t, "TILEDB_REST_TOKEN=t0k")
	args := []string{"ls", "--remote", srv.URL, "owned", "alice"}

	if out := c.ok(args...); !strings.Contains(out, name) {
		t.Errorf("through a pipe the name is not as sent:\n%q", out)
	}

	master, slave := openPty(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.environ()
	cmd.Stdout, cmd.Stderr = slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var got bytes.Buffer
	io.Copy(&got, master) // ends with EIO once the child is gone
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ls on a terminal: %v\n%s", err, got.String())
	}
	out := got.String()
	if strings.Contains(out, "\u200b") || strings.Contains(out, "\u00ad") || !strings.Contains(out, `spoof\u200bname\u00ad`) {
		t.Errorf("on a terminal the name is not escaped:\n%q", out)
	}
}
