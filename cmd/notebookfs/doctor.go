package main

// notebookfs doctor: checks what a mount needs, one line per check with an
// actionable fix for each failure.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"notebookfs/config"
	"notebookfs/remote"
)

// doctorTimeout bounds each network check.
const doctorTimeout = 10 * time.Second

// maxClockSkew is the largest difference from the server's clock that
// passes: beyond it, token expiry and version times go wrong.
const maxClockSkew = time.Minute

// check is the result of one doctor check.
type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Warn   bool   `json:"warn,omitempty"` // passes, but weakens security: said on its own line
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

func (c check) String() string {
	if c.OK && c.Warn {
		return fmt.Sprintf("WARN  %s: %s. Fix: %s", c.Name, c.Detail, c.Fix)
	}
	if c.OK {
		return fmt.Sprintf("OK    %s: %s", c.Name, c.Detail)
	}
	return fmt.Sprintf("FAIL  %s: %s. Fix: %s", c.Name, c.Detail, c.Fix)
}

func pass(name, detail string) check      { return check{Name: name, OK: true, Detail: detail} }
func fail(name, detail, fix string) check { return check{Name: name, Detail: detail, Fix: fix} }

// checkFuseDevice checks that dev is a character device we may open.
func checkFuseDevice(dev string) check {
	const name = "fuse device"
	fi, err := os.Stat(dev)
	if errors.Is(err, fs.ErrNotExist) {
		return fail(name, dev+" does not exist",
			"load the module with 'sudo modprobe fuse' and install fuse3 (apt-get install fuse3); in a container, run it with --device /dev/fuse --cap-add SYS_ADMIN")
	}
	if err != nil {
		return fail(name, err.Error(), "check "+dev)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		return fail(name, dev+" is not a character device", "remove it and reload the fuse module: sudo rm "+dev+" && sudo modprobe fuse")
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fail(name, dev+": permission denied", "let users open it: sudo chmod 0666 "+dev+" (Debian's default), or run as a user in the fuse group")
		}
		return fail(name, err.Error(), "check that the fuse module is loaded: sudo modprobe fuse")
	}
	f.Close()
	return pass(name, dev+" can be opened")
}

// checkFusermount checks that fusermount3 (or fusermount) is on PATH.
func checkFusermount(lookPath func(string) (string, error)) check {
	const name = "fusermount3"
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if p, err := lookPath(bin); err == nil {
			return pass(name, "found "+p)
		}
	}
	return fail(name, "neither fusermount3 nor fusermount is on PATH", "install fuse3: sudo apt-get install fuse3")
}

// macFUSE's mount helper, which go-fuse runs, and its bundle; osxfuse is
// its name before version 4.
const (
	macFUSEBundle  = "Library/Filesystems/macfuse.fs"
	macFUSEHelper  = macFUSEBundle + "/Contents/Resources/mount_macfuse"
	osxFUSEBundle  = "Library/Filesystems/osxfuse.fs"
	osxFUSEHelper  = osxFUSEBundle + "/Contents/Resources/mount_osxfuse"
	fuseTLibrary   = "usr/local/lib/libfuse-t.dylib"
	macFUSEInstall = "install macFUSE: brew install --cask macfuse, then allow its system extension in System Settings > Privacy & Security and restart"
)

// checkMacFUSE checks that macFUSE's mount helper is installed under root
// ("/" but in tests).
func checkMacFUSE(root string) check {
	const name = "macFUSE"
	at := func(p string) string { return filepath.Join(root, p) }
	if _, err := os.Stat(at(macFUSEHelper)); err == nil {
		detail := "found " + at(macFUSEBundle)
		if v := bundleVersion(at(macFUSEBundle)); v != "" {
			detail = "macFUSE " + v + " in " + at(macFUSEBundle)
		}
		return pass(name, detail)
	}
	if _, err := os.Stat(at(osxFUSEHelper)); err == nil {
		return pass(name, "found the older osxfuse in "+at(osxFUSEBundle)+" (macFUSE 4 or later is current)")
	}
	if _, err := os.Stat(at(fuseTLibrary)); err == nil {
		return fail(name, "FUSE-T is installed, but not macFUSE: notebookfs speaks macFUSE's kernel protocol, which FUSE-T does not offer", macFUSEInstall)
	}
	return fail(name, "macFUSE is not installed (no "+at(macFUSEHelper)+")", macFUSEInstall)
}

// bundleVersion is CFBundleShortVersionString of a bundle's Info.plist
// (an XML plist), or "".
func bundleVersion(bundle string) string {
	b, err := os.ReadFile(filepath.Join(bundle, "Contents", "Info.plist"))
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(`<key>CFBundleShortVersionString</key>\s*<string>([^<]{1,32})</string>`).FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// checkCacheDir checks that dir exists (or can be made) and is writable.
func checkCacheDir(dir string) check {
	const name = "cache dir"
	fix := "make it writable (sudo chown -R $USER " + dir + "), or pass --cache-dir DIR or set XDG_CACHE_HOME"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(name, err.Error(), fix)
	}
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return fail(name, err.Error(), fix)
	}
	f.Close()
	os.Remove(f.Name())
	return pass(name, dir+" is writable")
}

// checkBackend loads the credentials and asks the backend who I am, within
// doctorTimeout. It returns the credentials when a remote is used.
func checkBackend(ctx context.Context, c *common, log *logrus.Entry) (check, *config.Credentials) {
	const name = "credentials"
	home, _ := os.UserHomeDir()
	creds, err := config.LoadCredentials(os.Getenv, home)
	if err != nil {
		return fail(name, err.Error(), "chmod 600 "+config.LoginFile(home)+", or run 'notebookfs login' again"), nil
	}
	useRemote := c.remoteURL != "" || creds.Configured()
	if c.remoteURL != "" {
		creds.Host = c.remoteURL
		if !creds.Configured() {
			return fail(name, "no TileDB credentials for "+c.remoteURL+" (no TILEDB_REST_TOKEN, no "+config.LoginFile(home)+")",
				"run 'notebookfs login --host "+c.remoteURL+"', or export TILEDB_REST_TOKEN"), nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	be, err := c.open(ctx, log)
	if err != nil {
		return fail(name, err.Error(), "fix the settings named above, or run 'notebookfs login'"), nil
	}
	defer be.close()
	u, err := be.client.Whoami(ctx)
	if err != nil {
		switch {
		case !useRemote:
			return fail("embedded store", err.Error(), "check that "+c.storeDir+" is writable, or pass --store DIR"), nil
		case errors.Is(err, remote.ErrUnauthenticated), errors.Is(err, remote.ErrPermission):
			fix := "run 'notebookfs login --host " + creds.Host + "' (or 'notebookfs logout' to use the embedded store)"
			if creds.Source == "env" {
				fix = "TILEDB_REST_TOKEN is refused: unset it or set a valid token (notebookfs login stores one in " + config.LoginFile(home) + ")"
			}
			return fail(name, fmt.Sprintf("%s refused the credentials from %s: %v", creds.Host, sourceName(creds), err), fix), &creds
		case errors.Is(err, context.DeadlineExceeded):
			return fail(name, fmt.Sprintf("%s did not answer within %v", creds.Host, doctorTimeout),
				"check the network (proxy, firewall) and the host URL (--remote, TILEDB_REST_HOST or the login file)"), &creds
		}
		return fail(name, fmt.Sprintf("asking %s who I am: %v", creds.Host, err),
			"check the network (proxy, firewall) and the host URL (--remote, TILEDB_REST_HOST or the login file)"), &creds
	}
	if !useRemote {
		return pass("embedded store", fmt.Sprintf("no TileDB credentials: mounts use the embedded store %s as %s (run 'notebookfs login' for TileDB Cloud)", be.name, u.Username)), nil
	}
	return pass(name, fmt.Sprintf("%s knows me as %s (credentials from %s)", creds.Host, u.Username, sourceName(creds))), &creds
}

func sourceName(c config.Credentials) string {
	switch c.Source {
	case "env":
		return "the environment"
	case "":
		return "nowhere"
	}
	return c.Source
}

// checkTLS warns when certificate verification is off: the mount then
// trusts whoever answers, and sends the token to them.
func checkTLS(creds config.Credentials) (check, bool) {
	if creds.VerifySSL {
		return check{}, false
	}
	return check{Name: "tls", OK: true, Warn: true,
		Detail: "certificate verification is off (verify_ssl false in the login file, or TILEDB_REST_IGNORE_SSL_VALIDATION): anyone on the network path can pose as " + creds.Host + " and read the token",
		Fix:    "unset TILEDB_REST_IGNORE_SSL_VALIDATION and log in again without --no-verify-ssl; for a private CA set TILEDB_SSL_CA_FILE"}, true
}

// checkClock compares the local clock with the server's Date header.
func checkClock(ctx context.Context, creds config.Credentials, now func() time.Time) check {
	const name = "clock"
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	hc, err := httpClient(creds)
	if err != nil {
		return fail(name, err.Error(), "fix TILEDB_SSL_CA_FILE or the login file's ca_file")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, creds.Host+"/v1/user", nil)
	if err != nil {
		return fail(name, err.Error(), "fix the host URL")
	}
	start := now()
	resp, err := hc.Do(req)
	if err != nil {
		return fail(name, "cannot reach "+creds.Host+": "+err.Error(), "check the network and the host URL")
	}
	resp.Body.Close()
	end := now()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return pass(name, creds.Host+" sent no Date header: not checked")
	}
	local := start.Add(end.Sub(start) / 2)
	skew := local.Sub(date)
	if skew < 0 {
		skew = -skew
	}
	if skew > maxClockSkew+time.Second { // Date has a 1 s resolution
		return fail(name, fmt.Sprintf("local clock is %v off %s's", skew.Round(time.Second), creds.Host),
			"turn on time synchronisation: sudo timedatectl set-ntp true (or install chrony)")
	}
	return pass(name, fmt.Sprintf("within %v of %s", skew.Round(time.Second)+time.Second, creds.Host))
}

func doctorCommand() *cobra.Command {
	var c common
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "doctor [flags]",
		Short: "check FUSE, credentials, clock and cache dir",
		Long: `Checks what a mount needs: on Linux the fuse device and fusermount3, on
macOS macFUSE; the credentials (login file permissions, and that the
backend answers who I am within 10 s), the clock against the server's
(when remote), and that the cache directory is writable. Prints one line
per check, OK or FAIL with a fix; exits 1 if any check fails.
` + backendHelp,
		Example: `  notebookfs doctor
  notebookfs doctor --remote https://api.tiledb.com --json`,
		Args: positionals(0, 0),
	}
	c.register(cmd.Flags(), true)
	cmd.Flags().StringVar(&cfg.CacheDir, "cache-dir", cfg.CacheDir, "cache directory to check")
	completeCommon(cmd)
	cmd.RunE = func(*cobra.Command, []string) error { return runDoctor(&c, cfg) }
	return cmd
}

func runDoctor(c *common, cfg config.Config) error {
	log, err := c.logger()
	if err != nil {
		return err
	}
	// The backend's own log lines would interleave with the report.
	if log.Logger.GetLevel() < logrus.ErrorLevel {
		log.Logger.SetLevel(logrus.ErrorLevel)
	}
	ctx, cancel := commandContext()
	defer cancel()
	checks := fuseChecks()
	cred, creds := checkBackend(ctx, c, log)
	checks = append(checks, cred)
	if creds != nil {
		if ch, ok := checkTLS(*creds); ok {
			checks = append(checks, ch)
		}
		checks = append(checks, checkClock(ctx, *creds, time.Now))
	}
	checks = append(checks, checkCacheDir(filepath.Clean(cfg.CacheDir)))
	failed := 0
	for _, ch := range checks {
		if !ch.OK {
			failed++
		}
	}
	if c.json {
		if err := printJSON(os.Stdout, checks); err != nil {
			return err
		}
	} else {
		for _, ch := range checks {
			fmt.Println(ch)
		}
	}
	if failed > 0 {
		return doctorFailed{failed}
	}
	return nil
}

// doctorFailed is doctor's exit 1, already reported on stdout.
type doctorFailed struct{ n int }

func (d doctorFailed) Error() string { return fmt.Sprintf("%d check(s) failed", d.n) }
