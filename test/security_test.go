//go:build linux

package test

import (
	"context"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"notebookfs/remote/local"
	"notebookfs/remote/server"
)

// servedStore is a store with user alice served over loopback, and a token
// of hers.
func servedStore(t *testing.T) (store *local.Store, url, token string) {
	t.Helper()
	store, err := local.Open(t.TempDir(), testLog(t).WithField("component", "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	if err := store.EnsureUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if token, err = store.NewToken(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	return store, serveStore(t, store, server.Options{}), token
}

// TLS verification switched off is said once in the mount's log and on
// its own line by doctor, which still passes.
func TestTLSVerificationOffIsSaid(t *testing.T) {
	needFuse(t)
	_, url, token := servedStore(t)
	bin := buildBinary(t)
	home := t.TempDir()
	t.Setenv("TILEDB_REST_TOKEN", token)
	t.Setenv("TILEDB_REST_IGNORE_SSL_VALIDATION", "true")
	cmd, _, logs := startDaemon(t, bin, home, "--remote", url)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, logs)
	if n := strings.Count(logs.String(), "TLS certificate verification is off"); n != 1 {
		t.Errorf("the mount's log says verification is off %d times, want 1:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the token is in the mount's log")
	}

	c := newCLI(t, "TILEDB_REST_TOKEN="+token, "TILEDB_REST_IGNORE_SSL_VALIDATION=true")
	out := c.ok("doctor", "--remote", url)
	if !regexp.MustCompile(`(?m)^WARN  tls: certificate verification is off.*Fix: `).MatchString(out) {
		t.Errorf("doctor with verification off:\n%s", out)
	}
	c = newCLI(t, "TILEDB_REST_TOKEN="+token)
	if out := c.ok("doctor", "--remote", url); strings.Contains(out, "WARN") {
		t.Errorf("doctor with verification on:\n%s", out)
	}
}
