package main

// login, logout and whoami: the login file ~/.tiledb/cloud.json, shared
// with TileDB's Python client.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"notebookfs/config"
	"notebookfs/remote"
	"notebookfs/remote/cloud"
)

// loginTimeout bounds the session call and the check of new credentials.
const loginTimeout = 10 * time.Second

func loginCommand() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   "login [--host URL] [--token-file FILE | --username USER --password-stdin]",
		Short:                 "log in to TileDB Cloud: write ~/.tiledb/cloud.json",
		Long: `Logs in to TileDB Cloud (or a 'notebookfs serve') and writes
~/.tiledb/cloud.json (mode 0600) exactly as TileDB's Python client does, so
both tools share one login. The token is read from --token-file (- for
stdin) or, without it, from stdin (a prompt without echo on a terminal):
never from the command line. With --username, the password is read from
stdin and exchanged for a 30-day token (GET /v1/session?remember_me=true);
a server without sessions gets the username and password stored instead
(the Python client's no_session mode). The credentials are checked with a
call to /v1/user before anything is written (--no-check skips it).`,
		Example: `  notebookfs login --token-file ~/tiledb.token
  pass show tiledb | notebookfs login --username alice --password-stdin
  notebookfs login --host http://127.0.0.1:8181 --token-file - < alice.token`,
		Args: positionals(0, 0),
	}
	set := cmd.Flags()
	c.register(set, false)
	host := set.String("host", "", "API host (default: TILEDB_REST_HOST, else the login file's, else "+config.DefaultHost+")")
	tokenFile := set.String("token-file", "", "read the API token from `FILE` (- for stdin)")
	username := set.String("username", "", "log in as `USER` with a password (read from stdin)")
	passwordStdin := set.Bool("password-stdin", false, "read the password from stdin (with --username)")
	noVerify := set.Bool("no-verify-ssl", false, "do not verify the server's TLS certificate (stored as verify_ssl: false)")
	noCheck := set.Bool("no-check", false, "write the login file without checking the credentials against the server")
	completeCommon(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		return runLogin(&c, *host, *tokenFile, *username, *passwordStdin, *noVerify, *noCheck)
	}
	return cmd
}

func runLogin(c *common, host, tokenFile, username string, passwordStdin, noVerify, noCheck bool) error {
	if _, err := c.logger(); err != nil {
		return err
	}
	if username != "" && tokenFile != "" {
		return usageError{"--token-file and --username exclude each other"}
	}
	if passwordStdin && username == "" {
		return usageError{"--password-stdin needs --username"}
	}
	if username != "" && !passwordStdin && !isTerminal(os.Stdin) {
		return usageError{"--username needs --password-stdin (or a terminal to prompt on)"}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return err
	}
	h := host
	if h == "" {
		h = os.Getenv("TILEDB_REST_HOST")
	}
	if h == "" {
		if old, err := config.LoadCredentials(func(string) string { return "" }, home); err == nil {
			h = old.Host
		}
	}
	if h == "" {
		h = config.DefaultHost
	}
	if !strings.Contains(h, "://") {
		h = "https://" + h
	}
	if err := checkHostURL(h); err != nil {
		return usageError{err.Error()}
	}
	creds := config.Credentials{Host: strings.TrimRight(h, "/"), VerifySSL: !noVerify, CAFile: os.Getenv("TILEDB_SSL_CA_FILE")}

	ctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
	defer cancel()
	if username != "" {
		password, err := readSecret(os.Stdin, "Password: ")
		if err != nil {
			return err
		}
		token, err := sessionToken(ctx, creds, username, password)
		switch {
		case err == nil:
			creds.Token = token
		case errors.Is(err, errNoSessions):
			fmt.Fprintf(os.Stderr, "notebookfs: %s has no session endpoint; storing the username and password in the login file (mode 0600), as TileDB's client does with no_session=True\n", creds.Host)
			creds.Username, creds.Password = username, password
		default:
			return err
		}
	} else {
		in, name := io.Reader(os.Stdin), "stdin"
		if tokenFile != "" && tokenFile != "-" {
			f, err := os.Open(tokenFile)
			if err != nil {
				return err
			}
			defer f.Close()
			in, name = f, tokenFile
		}
		tok, err := readSecret(in, "API token: ")
		if err != nil {
			return fmt.Errorf("reading the token from %s: %w", name, err)
		}
		creds.Token = tok
	}

	user := ""
	if !noCheck {
		cl, err := cloud.New(cloud.Options{Host: creds.Host, Token: creds.Token, Username: creds.Username, Password: creds.Password,
			InsecureSkipVerify: !creds.VerifySSL, CAFile: creds.CAFile, CallTimeout: loginTimeout, MaxRetries: 1})
		if err != nil {
			return err
		}
		u, err := cl.Whoami(ctx)
		if err != nil {
			return fmt.Errorf("checking the credentials with %s (nothing written): %w", creds.Host, err)
		}
		user = u.Username
	}
	if err := config.WriteLoginFile(home, creds); err != nil {
		return err
	}
	if os.Getenv("TILEDB_REST_TOKEN") != "" {
		fmt.Fprintln(os.Stderr, "notebookfs: note: TILEDB_REST_TOKEN is set and wins over the login file; unset it to use this login")
	}
	if c.json {
		return printJSON(os.Stdout, map[string]any{"host": creds.Host, "username": user, "file": config.LoginFile(home)})
	}
	if user != "" {
		fmt.Printf("logged in to %s as %s; wrote %s\n", creds.Host, user, config.LoginFile(home))
	} else {
		fmt.Printf("wrote %s for %s (not checked)\n", config.LoginFile(home), creds.Host)
	}
	return nil
}

// checkHostURL accepts https anywhere and http on loopback only: the
// password or token would otherwise cross the network in the clear.
func checkHostURL(h string) error {
	u, err := url.Parse(h)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--host %q: want https://HOST[:PORT]", h)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("--host %q: plain http is allowed only for loopback hosts; use https", h)
	}
	return fmt.Errorf("--host %q: want an https URL", h)
}

// readSecret reads one line from in: a prompt without echo when in is a
// terminal. Surrounding space is dropped; an empty secret is an error.
func readSecret(in io.Reader, prompt string) (string, error) {
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(os.Stderr, prompt)
		// x/term knows each platform's termios calls (TCGETS on Linux,
		// TIOCGETA on macOS).
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(os.Stderr)
		if err == nil {
			return secretLine(string(b))
		}
	}
	line, err := bufio.NewReader(io.LimitReader(in, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return secretLine(line)
}

// secretLine is a secret without surrounding space; empty is an error.
func secretLine(line string) (string, error) {
	s := strings.TrimSpace(line)
	if s == "" {
		return "", usageError{"empty secret: nothing read"}
	}
	return s, nil
}

// errNoSessions: the server has no /v1/session endpoint.
var errNoSessions = errors.New("no session endpoint")

// sessionToken exchanges a username and password for a token with
// GET /v1/session?remember_me=true, as TileDB's Python login() does.
func sessionToken(ctx context.Context, creds config.Credentials, user, password string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, creds.Host+"/v1/session?remember_me=true", nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(user, password)
	req.Header.Set("Accept", "application/json")
	hc, err := httpClient(creds)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("login to %s: %w", creds.Host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusOK:
		var tok struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" {
			return "", fmt.Errorf("login to %s: the session reply holds no token", creds.Host)
		}
		return tok.Token, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return "", fmt.Errorf("login to %s as %s: wrong username or password: %w", creds.Host, user, remote.ErrUnauthenticated)
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return "", errNoSessions
	}
	return "", fmt.Errorf("login to %s: session request answered %s", creds.Host, resp.Status)
}

// httpClient is a plain HTTP client with the credentials' TLS settings
// and no redirects (a redirect would carry the Basic auth elsewhere).
func httpClient(creds config.Credentials) (*http.Client, error) {
	tlsConf := &tls.Config{InsecureSkipVerify: !creds.VerifySSL}
	if creds.CAFile != "" {
		pem, err := os.ReadFile(creds.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(pem)
		tlsConf.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	return &http.Client{
		Transport:     tr,
		Timeout:       loginTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

func logoutCommand() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "log out: remove ~/.tiledb/cloud.json",
		Long: `Removes the login file ~/.tiledb/cloud.json (TileDB's Python client then
is logged out too). Not being logged in is not an error.`,
		Example: "  notebookfs logout",
		Args:    positionals(0, 0),
		RunE:    func(*cobra.Command, []string) error { return runLogout(&c) },
	}
	c.register(cmd.Flags(), false)
	completeCommon(cmd)
	return cmd
}

func runLogout(c *common) error {
	home, err := os.UserHomeDir()
	if err != nil {
		return err
	}
	path := config.LoginFile(home)
	err = os.Remove(path)
	removed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if os.Getenv("TILEDB_REST_TOKEN") != "" {
		fmt.Fprintln(os.Stderr, "notebookfs: note: TILEDB_REST_TOKEN is still set in the environment")
	}
	if c.json {
		return printJSON(os.Stdout, map[string]any{"file": path, "removed": removed})
	}
	if removed {
		fmt.Printf("removed %s\n", path)
	} else {
		fmt.Printf("not logged in (no %s)\n", path)
	}
	return nil
}

func whoamiCommand() *cobra.Command {
	return verbBackend(&cobra.Command{
		Use:   "whoami [flags]",
		Short: "who the backend says I am",
		Long: `Prints who the backend says I am, and my organizations with my role in
each, then the backend (host or embedded store).`,
		Example: `  notebookfs whoami
  notebookfs whoami --json --remote http://127.0.0.1:8181`,
		Args: positionals(0, 0),
	}, nil, whoami)
}

func whoami(ctx context.Context, c *common, be *backend, _ []string) error {
	u, err := be.client.Whoami(ctx)
	if err != nil {
		return err
	}
	if c.json {
		type orgJSON struct {
			Name string `json:"name"`
			Role string `json:"role"`
		}
		orgs := []orgJSON{}
		for _, o := range u.Organizations {
			orgs = append(orgs, orgJSON{o.Name, o.Role})
		}
		return printJSON(os.Stdout, map[string]any{"username": u.Username, "organizations": orgs, "backend": be.name})
	}
	fmt.Printf("user: %s\n", u.Username)
	var orgs []string
	for _, o := range u.Organizations {
		orgs = append(orgs, o.Name+" ("+o.Role+")")
	}
	if len(orgs) == 0 {
		orgs = []string{"none"}
	}
	fmt.Printf("organizations: %s\n", strings.Join(orgs, ", "))
	fmt.Printf("backend: %s\n", be.name)
	return nil
}
