package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// DefaultHost is TileDB Cloud's API host, used when neither the environment
// nor the login file names one.
const DefaultHost = "https://api.tiledb.com"

// apiKeyHeader is the header TileDB Cloud reads the API token from, and the
// key of the login file's api_key object.
const apiKeyHeader = "X-TILEDB-REST-API-KEY"

// Credentials is how to reach and authenticate to TileDB Cloud. String and
// GoString redact Token and Password, so printing it with %v, %+v or %#v,
// or handing it to a logger, never shows the secrets.
type Credentials struct {
	Host      string // e.g. https://api.tiledb.com (no /v1)
	Token     string // API token, sent as X-TILEDB-REST-API-KEY
	Username  string // Basic auth, alone or with Token
	Password  string
	VerifySSL bool
	CAFile    string // extra CA bundle (PEM); "" = system roots
	Source    string // where the token (else the username) came from: "env", "file <path>", or ""
}

// Configured reports whether there is anything to log in with: a token or
// a username.
func (c Credentials) Configured() bool { return c.Token != "" || c.Username != "" }

// redacted shows whether a secret is set without showing it.
func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}

// String describes c with the token and password redacted.
func (c Credentials) String() string {
	return fmt.Sprintf("{Host:%s Token:%s Username:%s Password:%s VerifySSL:%t CAFile:%s Source:%s}",
		c.Host, redacted(c.Token), c.Username, redacted(c.Password), c.VerifySSL, c.CAFile, c.Source)
}

// GoString is String in Go syntax, also redacted (for %#v).
func (c Credentials) GoString() string {
	return fmt.Sprintf("config.Credentials{Host:%q, Token:%s, Username:%q, Password:%s, VerifySSL:%t, CAFile:%q, Source:%q}",
		c.Host, redacted(c.Token), c.Username, redacted(c.Password), c.VerifySSL, c.CAFile, c.Source)
}

// MarshalJSON redacts the secrets too, so that a JSON logger given a
// Credentials does not leak them. The login file is written by
// WriteLoginFile, not through this.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"host": c.Host, "token": redacted(c.Token), "username": c.Username,
		"password": redacted(c.Password), "verify_ssl": c.VerifySSL, "ca_file": c.CAFile, "source": c.Source,
	})
}

// LoginFile is the path of TileDB's login file under home:
// ~/.tiledb/cloud.json, the file TileDB-Cloud-Py's login() writes.
func LoginFile(home string) string { return filepath.Join(home, ".tiledb", "cloud.json") }

// parseBool is TileDB-Cloud-Py's parse_bool: true, 1 or on, any case.
func parseBool(s string) bool {
	switch strings.ToLower(s) {
	case "true", "1", "on":
		return true
	}
	return false
}

// LoadCredentials reads the credentials as TileDB-Cloud-Py's
// load_configuration does (config.py), from getenv and the login file
// LoginFile(home):
//
//   - token: a non-empty TILEDB_REST_TOKEN wins, else the file's api_key
//     (the object {"X-TILEDB-REST-API-KEY": token} Py writes, or a string);
//   - host: a non-empty TILEDB_REST_HOST wins, else the file's host, else
//     DefaultHost (Py raises KeyError on a file without host; we use the
//     default);
//   - username and password: the file's non-empty values win over
//     TILEDB_REST_USERNAME / TILEDB_REST_PASSWORD;
//   - verify_ssl and ca_file: the file's values win over
//     TILEDB_REST_IGNORE_SSL_VALIDATION (true/1/on: do not verify) and
//     TILEDB_SSL_CA_FILE.
//
// A missing login file (or a path that is not a regular file, as Py's
// os.path.isfile) is not an error: the result may then be unconfigured. A
// login file that others may read or write (mode & 0o077) is refused with a
// message saying to chmod 600 it, whether or not its token is used: it holds
// a secret. A malformed file is an error naming the file, never its content.
func LoadCredentials(getenv func(string) string, home string) (Credentials, error) {
	c := Credentials{
		Token:     getenv("TILEDB_REST_TOKEN"),
		Host:      getenv("TILEDB_REST_HOST"),
		Username:  getenv("TILEDB_REST_USERNAME"),
		Password:  getenv("TILEDB_REST_PASSWORD"),
		VerifySSL: !parseBool(getenv("TILEDB_REST_IGNORE_SSL_VALIDATION")),
		CAFile:    getenv("TILEDB_SSL_CA_FILE"),
	}
	tokenSource, userSource := "", ""
	if c.Token != "" {
		tokenSource = "env"
	}
	if c.Username != "" {
		userSource = "env"
	}
	if home != "" {
		path := LoginFile(home)
		f, err := readLoginFile(path)
		if err != nil {
			return Credentials{}, err
		}
		if f != nil {
			src := "file " + path
			if f.username != "" {
				c.Username, userSource = f.username, src
			}
			if f.password != "" {
				c.Password = f.password
			}
			if c.Host == "" {
				c.Host = f.host
			}
			if c.Token == "" && f.token != "" {
				c.Token, tokenSource = f.token, src
			}
			if f.verifySSL != nil {
				c.VerifySSL = *f.verifySSL
			}
			if f.caFile != nil {
				c.CAFile = *f.caFile
			}
		}
	}
	if c.Host == "" {
		c.Host = DefaultHost
	}
	switch {
	case c.Token != "":
		c.Source = tokenSource
	case c.Username != "":
		c.Source = userSource
	}
	return c, nil
}

// loginFile is what a login file says; nil pointers are absent keys.
type loginFile struct {
	token, host, username, password string
	verifySSL                       *bool
	caFile                          *string
}

// readLoginFile reads and checks the login file at path; (nil, nil) when
// there is none.
func readLoginFile(path string) (*loginFile, error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("login file %s: %w", path, err)
	}
	defer file.Close()
	fi, err := file.Stat() // of the file opened: no race with a swap
	if err != nil {
		return nil, fmt.Errorf("login file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("login file %s holds a secret but has mode %04o (others may access it): run chmod 600 %s",
			path, perm, path)
	}
	data, err := readAllLimited(file, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("login file %s: %w", path, err)
	}
	return parseLoginFile(path, data)
}

// readAllLimited reads at most limit bytes: a login file is small.
func readAllLimited(f *os.File, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// parseLoginFile decodes a login file. Error messages name the file and the
// key at fault but never quote the content: it holds the token.
func parseLoginFile(path string, data []byte) (*loginFile, error) {
	bad := func(what string) error {
		return fmt.Errorf("login file %s is malformed: %s (fix it, or log in again)", path, what)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, bad(fmt.Sprintf("not valid JSON (at byte %d)", se.Offset))
		}
		return nil, bad("not a JSON object")
	}
	str := func(key string) (string, error) {
		v, ok := raw[key]
		if !ok || isNull(v) {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", bad(key + " is not a string")
		}
		return s, nil
	}
	f := &loginFile{}
	var err error
	if f.host, err = str("host"); err != nil {
		return nil, err
	}
	if f.username, err = str("username"); err != nil {
		return nil, err
	}
	if f.password, err = str("password"); err != nil {
		return nil, err
	}
	if v, ok := raw["ca_file"]; ok && !isNull(v) {
		s, err := str("ca_file")
		if err != nil {
			return nil, err
		}
		f.caFile = &s
	}
	if v, ok := raw["verify_ssl"]; ok && !isNull(v) {
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return nil, bad("verify_ssl is not true or false")
		}
		f.verifySSL = &b
	}
	if v, ok := raw["api_key"]; ok && !isNull(v) {
		switch t := bytes.TrimSpace(v); {
		case len(t) > 0 && t[0] == '"':
			if err := json.Unmarshal(t, &f.token); err != nil {
				return nil, bad("api_key is not a string")
			}
		case len(t) > 0 && t[0] == '{':
			var m map[string]json.RawMessage
			if err := json.Unmarshal(t, &m); err != nil {
				return nil, bad("api_key is not an object")
			}
			if tv, ok := m[apiKeyHeader]; ok && !isNull(tv) {
				if err := json.Unmarshal(tv, &f.token); err != nil {
					return nil, bad("api_key." + apiKeyHeader + " is not a string")
				}
			}
		default:
			return nil, bad(`api_key is neither a string nor an object {"` + apiKeyHeader + `": token}`)
		}
	}
	return f, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// WriteLoginFile writes c to LoginFile(home) as TileDB-Cloud-Py's login()
// does (json.dump with indent=4 and sort_keys=True, ASCII only): the keys
// api_key ({"X-TILEDB-REST-API-KEY": token}, or {} without a token), host
// and verify_ssl, plus username and password when set (Py's
// login(no_session=True)). A host without a scheme gets https://, as
// login(host=...) does; an empty one is DefaultHost.
//
// The file is created with mode 0600 in a directory made with 0700, written
// to a temporary file in that directory, synced and renamed over the old
// one: a reader never sees half a file, and the token is never readable by
// others, even for a moment.
func WriteLoginFile(home string, c Credentials) error {
	if home == "" {
		return errors.New("login file: no home directory")
	}
	host := c.Host
	switch {
	case host == "":
		host = DefaultHost
	case !strings.Contains(host, "://"):
		host = "https://" + host
	}
	apiKey := map[string]string{}
	if c.Token != "" {
		apiKey[apiKeyHeader] = c.Token
	}
	doc := map[string]any{"api_key": apiKey, "host": host, "verify_ssl": c.VerifySSL}
	if c.Username != "" {
		doc["username"] = c.Username
	}
	if c.Password != "" {
		doc["password"] = c.Password
	}
	data, err := pythonJSON(doc)
	if err != nil {
		return fmt.Errorf("login file: %w", err)
	}

	path := LoginFile(home)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("login file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".cloud.json.*")
	if err != nil {
		return fmt.Errorf("login file: %w", err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	// CreateTemp already uses 0600; chmod anyway, whatever the umask did.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("login file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("login file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("login file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("login file: %w", err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("login file: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}

// pythonJSON renders v as Python's json.dumps(v, indent=4, sort_keys=True):
// keys sorted, 4-space indent, ": " between key and value, no HTML escaping,
// every non-ASCII character as a \uXXXX escape (ensure_ascii, UTF-16
// surrogate pairs above U+FFFF), no trailing newline.
func pythonJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	var ascii bytes.Buffer
	for _, r := range string(out) {
		switch {
		case r < 0x80:
			ascii.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&ascii, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&ascii, `\u%04x`, r)
		}
	}
	return ascii.Bytes(), nil
}
