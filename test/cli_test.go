//go:build linux

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"notebookfs/config"
	"notebookfs/remote"
	"notebookfs/remote/local"
)

// cliRunner runs the notebookfs binary as a user would: absolute paths,
// working directory /, a deadline, and an environment of its own (HOME,
// XDG dirs, TileDB variables) so nothing of the machine leaks in.
type cliRunner struct {
	t    *testing.T
	bin  string
	home string
	env  []string // extra variables
}

func newCLI(t *testing.T, env ...string) *cliRunner {
	t.Helper()
	return &cliRunner{t: t, bin: buildBinary(t), home: t.TempDir(), env: env}
}

// baseEnv is os.Environ without TileDB's variables, HOME and XDG dirs.
func (c *cliRunner) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TILEDB_") || k == "HOME" || strings.HasPrefix(k, "XDG_") || k == "NOTEBOOKFS_DAEMON_CHILD" {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "HOME="+c.home, "XDG_DATA_HOME="+filepath.Join(c.home, "data"), "XDG_CACHE_HOME="+filepath.Join(c.home, "cache"))
	return append(out, c.env...)
}

type cliResult struct {
	stdout, stderr string
	code           int
}

// run runs the binary with stdin and returns its outputs and exit code.
func (c *cliRunner) runIn(stdin []byte, args ...string) cliResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = "/"
	cmd.Env = c.environ()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("notebookfs %v: %v", args, err)
	}
	if strings.Contains(errb.String(), "panic") {
		c.t.Fatalf("notebookfs %v panicked:\n%s", args, errb.String())
	}
	return cliResult{out.String(), errb.String(), code}
}

func (c *cliRunner) run(args ...string) cliResult { c.t.Helper(); return c.runIn(nil, args...) }

// ok runs and fails the test on a non-zero exit.
func (c *cliRunner) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("notebookfs %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// wantCode runs and checks the exit code.
func (c *cliRunner) wantCode(want int, args ...string) cliResult {
	c.t.Helper()
	r := c.run(args...)
	if r.code != want {
		c.t.Errorf("notebookfs %v: exit %d, want %d\n%s%s", args, r.code, want, r.stdout, r.stderr)
	}
	return r
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON (%v):\n%s", err, s)
	}
}

func (e *env) token(name string) string {
	e.t.Helper()
	tok, err := e.store.NewToken(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type cliNotebook struct {
	URI, Namespace, Name, ID, Version string
	Size                              int64
	Actions                           []string
}

// Every verb end to end against a served store, checked through the store
// and through a mount of it.
func TestCLIVerbs(t *testing.T) {
	e := mount(t, envOptions{remote: true, setup: withUsers})
	c := newCLI(t, "TILEDB_REST_TOKEN="+e.token(user))
	r := func(args ...string) []string { return append(args, "--remote", e.url) }
	dir := t.TempDir()
	v1, v2 := nb("first"), nb("second")
	f1 := filepath.Join(dir, "one.ipynb")
	mustWrite(t, f1, v1)

	// upload: a new notebook, seen by the mount.
	var up cliNotebook
	decodeJSON(t, c.ok(r("upload", "--json", f1, "tiledb://alice/cli")...), &up)
	if up.Name != "cli" || up.Namespace != user || up.ID == "" || up.Size != int64(len(v1)) {
		t.Fatalf("upload --json: %+v", up)
	}
	if got := mustRead(t, e.ns("cli.ipynb")); !bytes.Equal(got, v1) {
		t.Fatalf("mount shows %q after upload", got)
	}

	// Again: refused without --overwrite, a second version with it (stdin).
	res := c.wantCode(1, r("upload", f1, "tiledb://alice/cli")...)
	if !strings.Contains(res.stderr, "--overwrite") {
		t.Errorf("upload over an existing notebook: %q does not say --overwrite", res.stderr)
	}
	res = c.runIn(v2, r("upload", "--overwrite", "-", "tiledb://alice/cli")...)
	if res.code != 0 {
		t.Fatalf("upload --overwrite -: exit %d\n%s", res.code, res.stderr)
	}
	checkVersions(t, c, r, e.notebook("cli"), e.storeBytes, e.versions, "alice", up.ID, v1, v2)

	// ls: namespaces, then notebooks.
	var nsj struct {
		Category   string   `json:"category"`
		Namespaces []string `json:"namespaces"`
	}
	decodeJSON(t, c.ok(r("ls", "--json")...), &nsj)
	if nsj.Category != "owned" || strings.Join(nsj.Namespaces, ",") != "acme,alice" && strings.Join(nsj.Namespaces, ",") != "alice,acme" {
		t.Errorf("ls --json: %+v", nsj)
	}
	var ls []cliNotebook
	decodeJSON(t, c.ok(r("ls", "--json", "owned", "alice")...), &ls)
	if len(ls) != 1 || ls[0].ID != up.ID || ls[0].URI != "tiledb://alice/cli" {
		t.Errorf("ls --json owned alice: %+v", ls)
	}

	// share: visible through getfattr on the mount and shared-with.
	c.ok(r("share", "tiledb://alice/cli", "bob", "--actions", "read")...)
	if got := mustTool(t, "getfattr", "--only-values", "-n", "user.tiledb.share.bob", e.ns("cli.ipynb")); got != "read" {
		t.Errorf("getfattr user.tiledb.share.bob after notebookfs share: %q", got)
	}
	c.ok(r("share", "tiledb://alice/cli", "public")...)
	var sw []struct {
		Namespace string   `json:"namespace"`
		Type      string   `json:"type"`
		Actions   []string `json:"actions"`
	}
	decodeJSON(t, c.ok(r("shared-with", "--json", "tiledb://alice/cli")...), &sw)
	if len(sw) != 2 || sw[0].Namespace != "bob" || strings.Join(sw[0].Actions, ",") != "read" || sw[1].Namespace != "public" {
		t.Errorf("shared-with --json: %+v", sw)
	}
	c.wantCode(2, r("share", "tiledb://alice/cli", "public", "--actions", "read,write")...)
	c.ok(r("unshare", "tiledb://alice/cli", "public")...)
	c.ok(r("unshare", "tiledb://alice/cli", "bob")...)
	c.wantCode(3, r("unshare", "tiledb://alice/cli", "bob")...)
	decodeJSON(t, c.ok(r("shared-with", "--json", "tiledb://alice/cli")...), &sw)
	if len(sw) != 0 {
		t.Errorf("shared-with after unsharing: %+v", sw)
	}

	// rename and rm, seen in the store.
	c.ok(r("rename", "tiledb://alice/cli", "renamed")...)
	if got := e.notebook("renamed"); got.ID != up.ID {
		t.Errorf("rename: id %s, want %s", got.ID, up.ID)
	}
	c.ok(r("rm", "tiledb://alice/renamed")...)
	if n := len(e.notebooks()); n != 0 {
		t.Errorf("%d notebooks left after rm", n)
	}
}

// Two notebooks with one name: the oldest is used and stderr says so.
func TestCLIDuplicateNames(t *testing.T) {
	e := mount(t, envOptions{remote: true})
	c := newCLI(t, "TILEDB_REST_TOKEN="+e.token(user))
	first := e.put("dup", nb("1"))
	second := e.put("dup", nb("2"))
	res := c.run("download", "--remote", e.url, "tiledb://alice/dup", "-")
	if res.code != 0 || res.stdout != string(nb("1")) {
		t.Fatalf("download of a duplicate name: exit %d, %q\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, first.ID) || !strings.Contains(res.stderr, second.ID) {
		t.Errorf("stderr does not name both ids: %q", res.stderr)
	}
	if got := c.ok("download", "--remote", e.url, "tiledb://alice/"+second.ID, "-"); got != string(nb("2")) {
		t.Errorf("download by id: %q", got)
	}
}

// Exit codes: 2 usage, 3 not found, 4 not logged in or not allowed.
func TestCLIExitCodes(t *testing.T) {
	e := mount(t, envOptions{remote: true, setup: withUsers})
	c := newCLI(t, "TILEDB_REST_TOKEN="+e.token(user))
	c.wantCode(2, "upload", "--remote", e.url, "/etc/hostname")
	c.wantCode(2, "download", "--remote", e.url, "alice/x")
	c.wantCode(2, "download", "--remote", e.url, "tiledb://bad namespace/x")
	c.wantCode(2, "ls", "--remote", e.url, "--bogus-flag")
	c.wantCode(3, "download", "--remote", e.url, "tiledb://alice/nope", "-")
	c.wantCode(3, "rm", "--remote", e.url, "tiledb://alice/nope")

	// bob may read alice's notebook but not delete it.
	nbk := e.put("private", nb("p"))
	if err := e.client().Share(context.Background(), user, nbk.ID, "bob", []string{"read"}); err != nil {
		t.Fatal(err)
	}
	bob := newCLI(t, "TILEDB_REST_TOKEN="+e.token("bob"))
	bob.ok("download", "--remote", e.url, "tiledb://alice/private", filepath.Join(t.TempDir(), "p.ipynb"))
	bob.wantCode(4, "rm", "--remote", e.url, "tiledb://alice/private")

	bogus := newCLI(t, "TILEDB_REST_TOKEN=bogus-token")
	res := bogus.wantCode(4, "ls", "--remote", e.url)
	if strings.Contains(res.stderr, "bogus-token") {
		t.Errorf("the token leaked into the error: %q", res.stderr)
	}
	bogus.wantCode(4, "whoami", "--remote", e.url)
	none := newCLI(t)
	none.wantCode(4, "ls", "--remote", e.url)

	if res := c.run("--help"); res.code != 0 || !strings.Contains(res.stdout, "3 not found") {
		t.Errorf("--help does not document the exit codes: %q", res.stdout)
	}
	for _, cmd := range []string{"upload", "download", "ls", "versions", "rename", "rm", "share", "unshare", "shared-with",
		"login", "logout", "whoami", "doctor", "mount", "completion"} {
		res := c.run(cmd, "--help")
		if res.code != 0 || !strings.Contains(res.stdout+res.stderr, "Usage: notebookfs "+cmd) || !strings.Contains(res.stdout+res.stderr, "Example") {
			t.Errorf("%s --help: exit %d\n%s%s", cmd, res.code, res.stdout, res.stderr)
		}
	}
	if out := c.ok("user", "--help"); !strings.Contains(out, "revoke") || !strings.Contains(out, "remove") || !strings.Contains(out, "--expires") {
		t.Errorf("user --help leaves out revoke, remove or --expires:\n%s", out)
	}
	for _, sub := range []string{"add", "token", "revoke", "remove"} {
		if out := c.ok("user", sub, "--help"); !strings.Contains(out, "Usage: notebookfs user "+sub) || !strings.Contains(out, "--data") {
			t.Errorf("user %s --help:\n%s", sub, out)
		}
	}
	if out := c.ok("completion", "bash"); !strings.Contains(out, "-F __start_notebookfs notebookfs") {
		t.Errorf("completion bash: %q", out)
	}
	c.wantCode(2, "completion", "powershell")
	// Go-style single-dash long flags, as the CLI took before.
	var nsOld struct{ Namespaces []string }
	decodeJSON(t, c.ok("ls", "-remote", e.url, "-json"), &nsOld)
	if len(nsOld.Namespaces) == 0 {
		t.Errorf("ls -remote URL -json: %+v", nsOld)
	}
}

// login writes the Python client's layout (0600), which whoami then reads;
// a file written by hand in that layout works too; logout removes it.
func TestCLILoginLogout(t *testing.T) {
	e := mount(t, envOptions{remote: true, setup: withUsers})
	c := newCLI(t)
	tok := e.token(user)
	tokFile := filepath.Join(t.TempDir(), "token")
	mustWrite(t, tokFile, []byte(tok+"\n"))
	login := config.LoginFile(c.home)

	// A refused token writes nothing.
	res := c.runIn([]byte("wrong\n"), "login", "--host", e.url)
	if res.code != 4 {
		t.Errorf("login with a bad token: exit %d, want 4\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(login); err == nil {
		t.Fatal("a refused login wrote the login file")
	}

	c.ok("login", "--host", e.url, "--token-file", tokFile)
	fi, err := os.Stat(login)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("login file mode %04o, want 0600", fi.Mode().Perm())
	}
	raw := mustRead(t, login)
	var doc map[string]any
	decodeJSON(t, string(raw), &doc)
	want := map[string]any{"api_key": map[string]any{"X-TILEDB-REST-API-KEY": tok}, "host": e.url, "verify_ssl": true}
	if fmt.Sprint(doc) != fmt.Sprint(want) {
		t.Errorf("login file %v, want %v", doc, want)
	}
	if !strings.HasPrefix(string(raw), "{\n    \"api_key\": {\n        \"X-TILEDB-REST-API-KEY\"") {
		t.Errorf("not Python's json.dump(indent=4, sort_keys=True) layout:\n%s", raw)
	}
	if strings.Contains(c.ok("login", "--help"), tok) {
		t.Error("token echoed")
	}
	var who struct {
		Username      string `json:"username"`
		Organizations []struct{ Name, Role string }
		Backend       string `json:"backend"`
	}
	decodeJSON(t, c.ok("whoami", "--json"), &who)
	if who.Username != user || who.Backend != e.url || len(who.Organizations) != 1 || who.Organizations[0].Name != "acme" {
		t.Errorf("whoami from the login file: %+v", who)
	}
	if out := c.ok("whoami"); !strings.Contains(out, "acme (owner)") {
		t.Errorf("whoami: %q", out)
	}

	// A file in the Python layout written by someone else.
	bobTok := e.token("bob")
	py := fmt.Sprintf("{\n    \"api_key\": {\n        \"X-TILEDB-REST-API-KEY\": %q\n    },\n    \"host\": %q,\n    \"verify_ssl\": true\n}", bobTok, e.url)
	if err := os.WriteFile(login, []byte(py), 0o600); err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, c.ok("whoami", "--json"), &who)
	if who.Username != "bob" {
		t.Errorf("whoami from a Python-written file: %+v", who)
	}
	// Others may read it: refused with the fix.
	os.Chmod(login, 0o644)
	if res := c.wantCode(1, "whoami"); !strings.Contains(res.stderr, "chmod 600") {
		t.Errorf("group-readable login file: %q", res.stderr)
	}
	os.Chmod(login, 0o600)

	// Username and password: this server has no /v1/session, so they are
	// stored (no_session mode); its Basic auth takes a token as password.
	res = c.runIn([]byte(tok+"\n"), "login", "--host", e.url, "--username", user, "--password-stdin")
	if res.code != 0 {
		t.Fatalf("login --username: exit %d\n%s", res.code, res.stderr)
	}
	decodeJSON(t, string(mustRead(t, login)), &doc)
	if doc["username"] != user || doc["password"] != tok {
		t.Errorf("no_session login file: %v", doc)
	}
	if fi, _ := os.Stat(login); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o", fi.Mode().Perm())
	}
	decodeJSON(t, c.ok("whoami", "--json"), &who)
	if who.Username != user {
		t.Errorf("whoami with username/password: %+v", who)
	}

	c.ok("logout")
	if _, err := os.Stat(login); !os.IsNotExist(err) {
		t.Errorf("login file still there after logout: %v", err)
	}
	if out := c.ok("logout"); !strings.Contains(out, "not logged in") {
		t.Errorf("second logout: %q", out)
	}
	c.wantCode(2, "login", "--token", tok) // never in argv: no such flag
}

// doctor names bad or missing credentials with the fix, and exits 1.
func TestCLIDoctor(t *testing.T) {
	e := mount(t, envOptions{remote: true})
	bogus := newCLI(t, "TILEDB_REST_TOKEN=bogus-token")
	res := bogus.wantCode(1, "doctor", "--remote", e.url)
	if !regexp.MustCompile(`(?m)^FAIL  credentials: .*refused.*Fix: .*TILEDB_REST_TOKEN`).MatchString(res.stdout) {
		t.Errorf("doctor with a bogus token:\n%s", res.stdout)
	}
	if !regexp.MustCompile(`(?m)^OK    cache dir: `).MatchString(res.stdout) || !regexp.MustCompile(`(?m)^OK    clock: `).MatchString(res.stdout) {
		t.Errorf("doctor's other checks:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout+res.stderr, "bogus-token") {
		t.Error("doctor printed the token")
	}
	none := newCLI(t)
	res = none.wantCode(1, "doctor", "--remote", e.url)
	if !regexp.MustCompile(`(?m)^FAIL  credentials: no TileDB credentials.*Fix: run 'notebookfs login --host `).MatchString(res.stdout) {
		t.Errorf("doctor without credentials:\n%s", res.stdout)
	}
	good := newCLI(t, "TILEDB_REST_TOKEN="+e.token(user))
	var checks []struct {
		Name string `json:"name"`
		OK   bool   `json:"ok"`
	}
	decodeJSON(t, good.ok("doctor", "--json", "--remote", e.url), &checks)
	if len(checks) != 5 {
		t.Errorf("doctor --json: %+v", checks)
	}
}

// mount --daemon returns once mounted; a failing daemon's log tail is
// reported with exit 1.
func TestCLIMountDaemon(t *testing.T) {
	needFuse(t)
	e := mount(t, envOptions{remote: true})
	e.put("seen", nb("s"))
	c := newCLI(t, "TILEDB_REST_TOKEN="+e.token(user))
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	res := c.run("mount", "--daemon", "--remote", e.url, "--log-format", "json", mnt, "-o", "ro,metadata_ttl=2s,unknown_opt")
	cleanupDaemon(t, mnt, res.stderr)
	if res.code != 0 {
		t.Fatalf("mount --daemon: exit %d\n%s", res.code, res.stderr)
	}
	if !isMounted(mnt) {
		t.Fatal("mount --daemon returned before the mount was ready")
	}
	if !strings.Contains(res.stderr, `unknown mount option "unknown_opt"`) {
		t.Errorf("no warning for an unknown -o option: %q", res.stderr)
	}
	if got := mustRead(t, filepath.Join(mnt, "owned", user, "seen.ipynb")); !bytes.Equal(got, nb("s")) {
		t.Errorf("through the daemon's mount: %q", got)
	}
	wantErrno(t, "write on -o ro", os.WriteFile(filepath.Join(mnt, "owned", user, "new.ipynb"), nb("x"), 0o644), syscall.EROFS)
	c.ok("unmount", mnt)
	waitFor(t, "unmount", func() bool { return !isMounted(mnt) })

	// No credentials and an unusable store: the daemon fails, and says why.
	none := newCLI(t)
	res = none.run("mount", "--daemon", "--store", "/proc/none", mnt)
	cleanupDaemon(t, mnt, res.stderr)
	if res.code != 1 || !strings.Contains(res.stderr, "/proc/none") {
		t.Errorf("failing daemon: exit %d\n%s", res.code, res.stderr)
	}
}

// cleanupDaemon unmounts and kills a daemon started with --daemon.
func cleanupDaemon(t *testing.T, mnt, stderr string) {
	m := regexp.MustCompile(`daemon pid (\d+)`).FindStringSubmatch(stderr)
	t.Cleanup(func() {
		if isMounted(mnt) {
			exec.Command("fusermount3", "-u", "-z", mnt).Run()
		}
		if m != nil {
			if pid, err := strconv.Atoi(m[1]); err == nil {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
}

// An /etc/fstab style mount: mount(8) runs mount.fuse3, which runs
// "notebookfs SOURCE MOUNTPOINT -o OPTIONS" and waits for it to return.
func TestCLIFstabMount(t *testing.T) {
	needFuse(t)
	if os.Geteuid() != 0 {
		t.Skip("mount(8) needs root")
	}
	if _, err := exec.LookPath("mount.fuse3"); err != nil {
		if _, err := exec.LookPath("mount.fuse"); err != nil {
			t.Skip("no mount.fuse3")
		}
	}
	e := mount(t, envOptions{remote: true})
	e.put("fstab", nb("f"))
	c := newCLI(t, "TILEDB_REST_TOKEN="+e.token(user))
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	// mount(8) drops PATH, so the fstab line names the binary:
	//   /usr/local/bin/notebookfs#notebookfs  /mnt  fuse  remote=URL,...
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mount", "-t", "fuse", "-o", "remote="+e.url+",metadata_ttl=5s,nofail,x-systemd.automount,allow_other",
		c.bin+"#notebookfs", mnt)
	cmd.Dir = "/"
	cmd.Env = c.environ()
	out, err := cmd.CombinedOutput()
	cleanupDaemon(t, mnt, string(out))
	if err != nil {
		t.Fatalf("mount -t fuse: %v\n%s", err, out)
	}
	if !isMounted(mnt) {
		t.Fatalf("not mounted after mount(8) returned\n%s", out)
	}
	if got := mustRead(t, filepath.Join(mnt, "owned", user, "fstab.ipynb")); !bytes.Equal(got, nb("f")) {
		t.Errorf("through the fstab mount: %q", got)
	}
	run(t, "umount", mnt)
	waitFor(t, "unmount", func() bool { return !isMounted(mnt) })

	// The fstab line by type name, as the README shows it:
	//   notebookfs  /mnt  fuse.notebookfs  remote=URL,...
	// mount.fuse3 then runs "notebookfs" from mount(8)'s default PATH, so
	// the binary must be installed: put it in /usr/local/bin for this test
	// unless a notebookfs is already there (a real install is left alone).
	const installed = "/usr/local/bin/notebookfs"
	if _, err := os.Lstat(installed); err == nil {
		t.Logf("%s exists; not testing -t fuse.notebookfs over a real install", installed)
		return
	}
	if err := os.Symlink(c.bin, installed); err != nil {
		t.Fatalf("installing the binary for mount(8): %v", err)
	}
	t.Cleanup(func() { os.Remove(installed) })
	cmd = exec.CommandContext(ctx, "mount", "-t", "fuse.notebookfs", "-o", "remote="+e.url+",metadata_ttl=5s", "notebookfs", mnt)
	cmd.Dir = "/"
	cmd.Env = c.environ()
	out, err = cmd.CombinedOutput()
	cleanupDaemon(t, mnt, string(out))
	if err != nil {
		t.Fatalf("mount -t fuse.notebookfs: %v\n%s", err, out)
	}
	if got := mustRead(t, filepath.Join(mnt, "owned", user, "fstab.ipynb")); !bytes.Equal(got, nb("f")) {
		t.Errorf("through mount -t fuse.notebookfs: %q", got)
	}
	run(t, "umount", mnt)
	waitFor(t, "unmount", func() bool { return !isMounted(mnt) })
}

// checkVersions checks, after an upload of v1 and an --overwrite with v2,
// that the notebook kept its id and has two versions, that versions --json
// lists them, and that download gives the latest and --at the first.
func checkVersions(t *testing.T, c *cliRunner, r func(...string) []string, nbk remote.Notebook,
	storeBytes func(string) []byte, versions func(string) []remote.Version, ns, id string, v1, v2 []byte) {
	t.Helper()
	u := "tiledb://" + ns + "/" + nbk.Name
	if nbk.ID != id || !bytes.Equal(storeBytes(nbk.ID), v2) {
		t.Fatalf("after --overwrite: id %s (was %s), content %q", nbk.ID, id, storeBytes(nbk.ID))
	}
	vs := versions(nbk.ID)
	if len(vs) != 2 {
		t.Fatalf("%d versions after the overwrite, want 2", len(vs))
	}
	var vj []struct {
		Time   string `json:"time"`
		UnixMS int64  `json:"unix_ms"`
		Size   int64  `json:"size"`
	}
	decodeJSON(t, c.ok(r("versions", "--json", u)...), &vj)
	if len(vj) != 2 || vj[0].UnixMS != vs[0].Time.UnixMilli() || vj[1].Size != int64(len(v2)) {
		t.Fatalf("versions --json: %+v, store %+v", vj, vs)
	}
	if got := c.ok(r("download", u, "-")...); got != string(v2) {
		t.Errorf("download -: %q", got)
	}
	out := filepath.Join(t.TempDir(), "old.ipynb")
	c.ok(r("download", "--at", vj[0].Time, u, out)...)
	if got := mustRead(t, out); !bytes.Equal(got, v1) {
		t.Errorf("download --at %s: %q", vj[0].Time, got)
	}
	if got := c.ok(r("download", "--at", strconv.FormatInt(vj[0].UnixMS, 10), "tiledb://"+ns+"/"+id, "-")...); got != string(v1) {
		t.Errorf("download --at unix ms by id: %q", got)
	}
	c.wantCode(3, r("download", "--at", "2000-01-01T00:00:00Z", u, "-")...)
}

// The verbs on the embedded store (no credentials, --store DIR),
// including versions, --overwrite and --at.
func TestCLIEmbeddedStore(t *testing.T) {
	c := newCLI(t)
	storeDir := filepath.Join(t.TempDir(), "store")
	r := func(args ...string) []string { return append(args, "--store", storeDir) }
	me := config.LocalUser()
	v1, v2 := nb("first"), nb("second")
	f1 := filepath.Join(t.TempDir(), "one.ipynb")
	mustWrite(t, f1, v1)
	var up cliNotebook
	decodeJSON(t, c.ok(r("upload", "--json", f1, "tiledb://"+me+"/emb")...), &up)
	c.wantCode(1, r("upload", f1, "tiledb://"+me+"/emb")...)
	if res := c.runIn(v2, r("upload", "--overwrite", "-", "tiledb://"+me+"/emb")...); res.code != 0 {
		t.Fatalf("upload --overwrite: exit %d\n%s", res.code, res.stderr)
	}
	store, err := local.Open(storeDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := store.As(me)
	ctx := context.Background()
	nbs, err := cl.List(ctx, remote.Owned, me)
	if err != nil || len(nbs) != 1 {
		t.Fatalf("store has %v, %v", nbs, err)
	}
	storeBytes := func(id string) []byte {
		rc, err := cl.Read(ctx, me, id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return b
	}
	versions := func(id string) []remote.Version {
		vs, err := cl.Versions(ctx, me, id)
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}
	checkVersions(t, c, r, nbs[0], storeBytes, versions, me, up.ID, v1, v2)
	store.Close()

	c.ok(r("rename", "tiledb://"+me+"/emb", "emb2")...)
	var ls []cliNotebook
	decodeJSON(t, c.ok(r("ls", "--json", me)...), &ls)
	if len(ls) != 1 || ls[0].Name != "emb2" || ls[0].ID != up.ID {
		t.Errorf("ls after rename: %+v", ls)
	}
	c.ok(r("rm", "tiledb://"+me+"/emb2")...)
	decodeJSON(t, c.ok(r("ls", "--json", me)...), &ls)
	if len(ls) != 0 {
		t.Errorf("ls after rm: %+v", ls)
	}
}
