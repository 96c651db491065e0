//go:build linux

package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// startServeProcess runs "notebookfs serve" on dir, on a loopback port it
// picks, and returns the process and its URL; it is stopped at the end of
// the test.
func startServeProcess(t testing.TB, bin, dir string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data", dir, "--listen", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if addr, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
			go io.Copy(io.Discard, stderr)
			return cmd, addr
		}
	}
	t.Fatalf("notebookfs serve did not start: %v", lines.Err())
	return nil, ""
}

// apiGet sends GET path with a token and returns the status and body.
func apiGet(t testing.TB, url, token, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-TILEDB-REST-API-KEY", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// apiUpload creates a notebook through the upload endpoint.
func apiUpload(t testing.TB, url, token, ns, name string, data []byte) (up struct{ ID string }) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v2/notebooks/"+ns+"/"+name+"/upload?filesize="+strconv.Itoa(len(data)), bytes.NewReader(data))
	req.Header.Set("X-TILEDB-REST-API-KEY", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&up)
	if resp.StatusCode != 201 || up.ID == "" {
		t.Fatalf("upload %s/%s: %d %+v", ns, name, resp.StatusCode, up)
	}
	return up
}

// The verbs that end access act on a running server at its next request:
// a revoked token, a user taken out of an organization, a removed user.
func TestUserRevokeAndRemoveOnARunningServer(t *testing.T) {
	c := newCLI(t)
	dir := filepath.Join(t.TempDir(), "data")
	alice := strings.TrimSpace(c.ok("user", "add", "--data", dir, "--org", "acme:owner", "alice"))
	bob := strings.TrimSpace(c.ok("user", "add", "--data", dir, "--org", "acme:read_only", "bob"))
	res := c.run("user", "add", "--data", dir, "--expires", "30d", "carol")
	carol := strings.TrimSpace(res.stdout)
	if res.code != 0 || !strings.Contains(res.stderr, "expires at") {
		t.Fatalf("user add --expires: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	c.wantCode(2, "user", "add", "--data", dir, "--expires", "soon", "dave")
	_, url := startServeProcess(t, c.bin, dir)

	for name, tok := range map[string]string{"alice": alice, "bob": bob, "carol": carol} {
		if code, body := apiGet(t, url, tok, "/v1/user"); code != 200 || !strings.Contains(body, `"`+name+`"`) {
			t.Fatalf("%s: %d %s", name, code, body)
		}
	}
	// alice makes an acme notebook, which bob may read, and one of hers.
	up := apiUpload(t, url, alice, "acme", "plan", []byte("{}"))
	apiUpload(t, url, alice, "alice", "mine", []byte("{}"))
	if code, _ := apiGet(t, url, bob, "/v1/arrays/acme/"+up.ID+"/metadata"); code != 200 {
		t.Fatalf("bob reads acme's notebook: %d", code)
	}

	tokFile := filepath.Join(t.TempDir(), "alice.token")
	mustWrite(t, tokFile, []byte(alice+"\n"))
	if out := c.ok("user", "revoke", "--data", dir, tokFile); !strings.Contains(out, "revoked a token of alice") {
		t.Errorf("revoke: %q", out)
	}
	if code, _ := apiGet(t, url, alice, "/v1/user"); code != 401 {
		t.Errorf("revoked token: %d, want 401", code)
	}
	c.wantCode(3, "user", "revoke", "--data", dir, tokFile) // already revoked: not found

	c.ok("user", "remove", "--data", dir, "--org", "acme", "bob")
	if code, _ := apiGet(t, url, bob, "/v1/arrays/acme/"+up.ID+"/metadata"); code != 404 {
		t.Errorf("bob reads acme's notebook after leaving acme: %d, want 404", code)
	}
	if _, body := apiGet(t, url, bob, "/v1/user"); strings.Contains(body, "acme") {
		t.Errorf("bob still in acme: %s", body)
	}
	if out := c.ok("user", "revoke", "--data", dir, "--all", "bob"); !strings.Contains(out, "revoked 1 token(s) of bob") {
		t.Errorf("revoke --all: %q", out)
	}
	if code, _ := apiGet(t, url, bob, "/v1/user"); code != 401 {
		t.Errorf("bob after revoke --all: %d, want 401", code)
	}

	c.ok("user", "remove", "--data", dir, "carol")
	if code, _ := apiGet(t, url, carol, "/v1/user"); code != 401 {
		t.Errorf("removed user: %d, want 401", code)
	}
	if res := c.run("user", "remove", "--data", dir, "alice"); res.code != 1 || !strings.Contains(res.stderr, "--delete-notebooks") {
		t.Errorf("removing a user who owns notebooks: %d %s", res.code, res.stderr)
	}
}

// An expiry is checked at every request of a running server: the same
// token works, then is refused once the store's clock passes it.
func TestTokenExpiryOnEveryRequest(t *testing.T) {
	store, url, _ := servedStore(t)
	now := time.Now()
	store.SetClock(func() time.Time { return now })
	tok, err := store.NewTokenUntil(context.Background(), "alice", now.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := apiGet(t, url, tok, "/v1/user"); code != 200 {
		t.Fatalf("fresh token: %d", code)
	}
	now = now.Add(30 * 24 * time.Hour)
	if code, body := apiGet(t, url, tok, "/v1/user"); code != 401 || !strings.Contains(body, "expired") {
		t.Fatalf("expired token: %d %s", code, body)
	}
}
