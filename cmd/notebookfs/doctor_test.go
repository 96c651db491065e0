package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"notebookfs/config"
)

func TestDoctorFuseDeviceMissing(t *testing.T) {
	c := checkFuseDevice(filepath.Join(t.TempDir(), "fuse"))
	if c.OK || !strings.Contains(c.Detail, "does not exist") || !strings.Contains(c.Fix, "modprobe fuse") ||
		!strings.Contains(c.Fix, "--device /dev/fuse") {
		t.Errorf("missing device: %+v", c)
	}
	if s := c.String(); !strings.HasPrefix(s, "FAIL  fuse device: ") || !strings.Contains(s, "Fix: ") {
		t.Errorf("line: %q", s)
	}
	f := filepath.Join(t.TempDir(), "regular")
	os.WriteFile(f, nil, 0o600)
	if c := checkFuseDevice(f); c.OK || !strings.Contains(c.Detail, "not a character device") {
		t.Errorf("regular file: %+v", c)
	}
	if _, err := os.Stat("/dev/null"); err == nil {
		if c := checkFuseDevice("/dev/null"); !c.OK {
			t.Errorf("/dev/null (a usable char device): %+v", c)
		}
	}
}

func TestDoctorFusermount(t *testing.T) {
	none := func(string) (string, error) { return "", errors.New("not found") }
	if c := checkFusermount(none); c.OK || !strings.Contains(c.Fix, "apt-get install fuse3") {
		t.Errorf("no fusermount: %+v", c)
	}
	some := func(n string) (string, error) { return "/usr/bin/" + n, nil }
	if c := checkFusermount(some); !c.OK || !strings.Contains(c.Detail, "fusermount3") {
		t.Errorf("fusermount3: %+v", c)
	}
}

func TestDoctorCacheDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if c := checkCacheDir(dir); !c.OK {
		t.Errorf("fresh dir: %+v", c)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if c := checkCacheDir(filepath.Join(file, "sub")); c.OK || !strings.Contains(c.Fix, "--cache-dir") {
		t.Errorf("under a file: %+v", c)
	}
}

// On macOS doctor looks for macFUSE's mount helper (the one go-fuse runs)
// and names FUSE-T, which go-fuse cannot use.
func TestDoctorMacFUSE(t *testing.T) {
	root := t.TempDir()
	if c := checkMacFUSE(root); c.OK || !strings.Contains(c.Detail, "not installed") || !strings.Contains(c.Fix, "brew install --cask macfuse") {
		t.Errorf("nothing installed: %+v", c)
	}
	put := func(p, content string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	put(fuseTLibrary, "")
	if c := checkMacFUSE(root); c.OK || !strings.Contains(c.Detail, "FUSE-T") {
		t.Errorf("FUSE-T only: %+v", c)
	}
	put(macFUSEHelper, "#!/bin/sh\n")
	put(macFUSEBundle+"/Contents/Info.plist", "<dict>\n\t<key>CFBundleShortVersionString</key>\n\t<string>4.10.2</string>\n</dict>\n")
	if c := checkMacFUSE(root); !c.OK || !strings.Contains(c.Detail, "macFUSE 4.10.2") {
		t.Errorf("macFUSE installed: %+v", c)
	}
}

func TestDoctorTLSVerificationOff(t *testing.T) {
	if _, shown := checkTLS(config.Credentials{Host: "https://api.tiledb.com", VerifySSL: true}); shown {
		t.Error("a warning with verification on")
	}
	c, shown := checkTLS(config.Credentials{Host: "https://api.tiledb.com", VerifySSL: false})
	if !shown || !c.OK || !c.Warn || !strings.HasPrefix(c.String(), "WARN  tls: certificate verification is off") ||
		!strings.Contains(c.Fix, "TILEDB_REST_IGNORE_SSL_VALIDATION") {
		t.Errorf("verification off: %+v %q", c, c.String())
	}
}
