package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	secretToken = "tok-SECRET-0123456789abcdef"
	secretPass  = "pw-SECRET-hunter2"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile puts a login file with the given content and mode under a new
// home directory.
func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, ".tiledb")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cloud.json")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return home
}

func TestLoadCredentialsPrecedence(t *testing.T) {
	fullFile := `{"api_key": {"X-TILEDB-REST-API-KEY": "filetoken"}, "host": "https://file.example",
		"username": "fileuser", "password": "filepass", "verify_ssl": false, "ca_file": "/file/ca.pem"}`
	for _, tc := range []struct {
		name string
		env  map[string]string
		file string // "" = no file
		want Credentials
	}{
		{
			name: "nothing",
			want: Credentials{Host: DefaultHost, VerifySSL: true},
		},
		{
			name: "env only",
			env: map[string]string{"TILEDB_REST_TOKEN": "envtoken", "TILEDB_REST_HOST": "http://127.0.0.1:9",
				"TILEDB_REST_IGNORE_SSL_VALIDATION": "ON", "TILEDB_SSL_CA_FILE": "/env/ca.pem"},
			want: Credentials{Host: "http://127.0.0.1:9", Token: "envtoken", VerifySSL: false, CAFile: "/env/ca.pem", Source: "env"},
		},
		{
			name: "file only, object api_key",
			file: fullFile,
			want: Credentials{Host: "https://file.example", Token: "filetoken", Username: "fileuser", Password: "filepass",
				VerifySSL: false, CAFile: "/file/ca.pem", Source: "file"},
		},
		{
			name: "file only, string api_key",
			file: `{"api_key": "plaintoken", "host": "https://file.example", "verify_ssl": true}`,
			want: Credentials{Host: "https://file.example", Token: "plaintoken", VerifySSL: true, Source: "file"},
		},
		{
			name: "env token and host win over the file",
			env:  map[string]string{"TILEDB_REST_TOKEN": "envtoken", "TILEDB_REST_HOST": "https://env.example"},
			file: fullFile,
			want: Credentials{Host: "https://env.example", Token: "envtoken", Username: "fileuser", Password: "filepass",
				VerifySSL: false, CAFile: "/file/ca.pem", Source: "env"},
		},
		{
			name: "file username, password, verify_ssl and ca_file win over env",
			env: map[string]string{"TILEDB_REST_USERNAME": "envuser", "TILEDB_REST_PASSWORD": "envpass",
				"TILEDB_REST_IGNORE_SSL_VALIDATION": "false", "TILEDB_SSL_CA_FILE": "/env/ca.pem"},
			file: fullFile,
			want: Credentials{Host: "https://file.example", Token: "filetoken", Username: "fileuser", Password: "filepass",
				VerifySSL: false, CAFile: "/file/ca.pem", Source: "file"},
		},
		{
			name: "empty file values do not override env",
			env: map[string]string{"TILEDB_REST_USERNAME": "envuser", "TILEDB_REST_PASSWORD": "envpass",
				"TILEDB_REST_IGNORE_SSL_VALIDATION": "1"},
			file: `{"api_key": {}, "host": "", "username": "", "password": null}`,
			want: Credentials{Host: DefaultHost, Username: "envuser", Password: "envpass", VerifySSL: false, Source: "env"},
		},
		{
			name: "empty env token falls back to the file",
			env:  map[string]string{"TILEDB_REST_TOKEN": "", "TILEDB_REST_HOST": ""},
			file: `{"api_key": {"X-TILEDB-REST-API-KEY": "filetoken"}, "host": "https://file.example"}`,
			want: Credentials{Host: "https://file.example", Token: "filetoken", VerifySSL: true, Source: "file"},
		},
		{
			name: "file without host gets the default",
			file: `{"api_key": {"X-TILEDB-REST-API-KEY": "filetoken"}}`,
			want: Credentials{Host: DefaultHost, Token: "filetoken", VerifySSL: true, Source: "file"},
		},
		{
			name: "username from env, token nowhere",
			env:  map[string]string{"TILEDB_REST_USERNAME": "envuser", "TILEDB_REST_PASSWORD": "envpass"},
			want: Credentials{Host: DefaultHost, Username: "envuser", Password: "envpass", VerifySSL: true, Source: "env"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			if tc.file != "" {
				home = writeFile(t, tc.file, 0o600)
			}
			got, err := LoadCredentials(envOf(tc.env), home)
			if err != nil {
				t.Fatalf("LoadCredentials: %v", err)
			}
			want := tc.want
			if want.Source == "file" {
				want.Source = "file " + LoginFile(home)
			}
			if got != want {
				t.Fatalf("got  %#v\nwant %#v (secrets: %v %v / %v %v)", got, want, got.Token, got.Password, want.Token, want.Password)
			}
			if got.Configured() != (want.Token != "" || want.Username != "") {
				t.Fatalf("Configured() = %v", got.Configured())
			}
		})
	}
}

func TestLoadCredentialsFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          []string // substrings of the error
	}{
		{"group readable", `{"api_key": "` + secretToken + `"}`, 0o640, []string{"chmod 600", "0640"}},
		{"world readable", `{"api_key": "` + secretToken + `"}`, 0o604, []string{"chmod 600"}},
		{"group writable", `{"api_key": "` + secretToken + `"}`, 0o620, []string{"chmod 600"}},
		{"not JSON", `{"api_key": "` + secretToken + `",,}`, 0o600, []string{"malformed", "not valid JSON"}},
		{"not an object", `["` + secretToken + `"]`, 0o600, []string{"malformed"}},
		{"api_key number", `{"api_key": 42}`, 0o600, []string{"api_key"}},
		{"api_key header not a string", `{"api_key": {"X-TILEDB-REST-API-KEY": ["` + secretToken + `"]}}`, 0o600, []string{"api_key"}},
		{"verify_ssl string", `{"api_key": "` + secretToken + `", "verify_ssl": "yes"}`, 0o600, []string{"verify_ssl"}},
		{"host number", `{"api_key": "` + secretToken + `", "host": 1}`, 0o600, []string{"host"}},
		{"token truncated", `{"api_key": "` + secretToken, 0o600, []string{"malformed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := writeFile(t, tc.content, tc.mode)
			_, err := LoadCredentials(envOf(nil), home)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, LoginFile(home)) {
				t.Errorf("error does not name the file: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, secretToken) || strings.Contains(msg, "SECRET") {
				t.Errorf("error leaks the token: %s", msg)
			}
		})
	}
}

func TestLoadCredentialsMissingOrNotAFile(t *testing.T) {
	// No .tiledb at all.
	c, err := LoadCredentials(envOf(nil), t.TempDir())
	if err != nil || c.Configured() || c.Host != DefaultHost {
		t.Fatalf("no file: %v %v", c, err)
	}
	// A directory where the file would be is skipped, as os.path.isfile.
	home := t.TempDir()
	if err := os.MkdirAll(LoginFile(home), 0o700); err != nil {
		t.Fatal(err)
	}
	c, err = LoadCredentials(envOf(nil), home)
	if err != nil || c.Configured() {
		t.Fatalf("directory: %v %v", c, err)
	}
	// No home: the environment only.
	c, err = LoadCredentials(envOf(map[string]string{"TILEDB_REST_TOKEN": "x"}), "")
	if err != nil || c.Token != "x" || c.Source != "env" {
		t.Fatalf("no home: %v %v", c, err)
	}
}

func TestWriteLoginFile(t *testing.T) {
	home := t.TempDir()
	in := Credentials{Host: "https://eu-west-1.aws.api.tiledb.com", Token: secretToken, VerifySSL: true}
	if err := WriteLoginFile(home, in); err != nil {
		t.Fatal(err)
	}
	path := LoginFile(home)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Byte for byte what Python's json.dump(indent=4, sort_keys=True) writes.
	want := "{\n" +
		"    \"api_key\": {\n" +
		"        \"X-TILEDB-REST-API-KEY\": \"" + secretToken + "\"\n" +
		"    },\n" +
		"    \"host\": \"https://eu-west-1.aws.api.tiledb.com\",\n" +
		"    \"verify_ssl\": true\n" +
		"}"
	if string(data) != want {
		t.Fatalf("file:\n%s\nwant:\n%s", data, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, want 0700", di.Mode().Perm())
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want 1", len(entries))
	}

	got, err := LoadCredentials(envOf(nil), home)
	if err != nil {
		t.Fatal(err)
	}
	in.Source = "file " + path
	if got != in {
		t.Fatalf("round trip: got %#v, want %#v", got, in)
	}
}

func TestWriteLoginFileRoundTrips(t *testing.T) {
	for _, in := range []Credentials{
		{Host: "bare.example", Token: "t", VerifySSL: false},                // gets https://
		{Host: "", Username: "ü-user", Password: "p<&>ä😀", VerifySSL: true}, // no token: api_key {}
		{Host: "http://127.0.0.1:8080", Token: "a", Username: "b", Password: "c", VerifySSL: true},
	} {
		home := t.TempDir()
		// An existing, insecure file is replaced by a 0600 one.
		if err := os.MkdirAll(filepath.Dir(LoginFile(home)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(LoginFile(home), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteLoginFile(home, in); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(LoginFile(home))
		for _, b := range data {
			if b >= 0x80 {
				t.Fatalf("file is not ASCII (Python's ensure_ascii): %s", data)
			}
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("written file is not JSON: %v", err)
		}
		if _, ok := doc["api_key"].(map[string]any); !ok {
			t.Fatalf("api_key is not an object: %s", data)
		}
		got, err := LoadCredentials(envOf(nil), home)
		if err != nil {
			t.Fatal(err)
		}
		want := in
		switch want.Host {
		case "":
			want.Host = DefaultHost
		case "bare.example":
			want.Host = "https://bare.example"
		}
		want.Source = "file " + LoginFile(home)
		if got != want {
			t.Fatalf("round trip: got %#v, want %#v", got, want)
		}
	}
	if err := WriteLoginFile("", Credentials{Token: "x"}); err == nil {
		t.Fatal("WriteLoginFile without home: no error")
	}
}

func TestCredentialsRedaction(t *testing.T) {
	c := Credentials{Host: "https://api.tiledb.com", Token: secretToken, Username: "alice", Password: secretPass, VerifySSL: true, Source: "env"}
	type wrapper struct {
		Creds Credentials
		Ptr   *Credentials
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		fmt.Sprint(c), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s", c),
		fmt.Sprintf("%q", c), fmt.Sprintf("%v", &c), fmt.Sprintf("%+v", wrapper{c, &c}), fmt.Sprintf("%#v", wrapper{c, &c}),
		c.String(), c.GoString(), string(js),
	} {
		if strings.Contains(s, secretToken) || strings.Contains(s, secretPass) || strings.Contains(s, "SECRET") {
			t.Errorf("leak: %s", s)
		}
		if !strings.Contains(s, "alice") || !strings.Contains(s, "REDACTED") {
			t.Errorf("redacted form lost the useful parts: %s", s)
		}
	}
	if s := (Credentials{Host: "h"}).String(); strings.Contains(s, "REDACTED") {
		t.Errorf("empty secrets shown as set: %s", s)
	}
}
