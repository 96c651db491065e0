package arrayproto

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"notebookfs/remote/arrayproto/capnptext"
)

const (
	ourSchema      = "schema/notebook.capnp"
	upstreamSchema = "testdata/upstream/tiledb-rest.capnp"
)

// capnpStd returns go-capnp's std directory (go.capnp, c++.capnp,
// compat/json.capnp), skipping the test when capnp or the module is not
// available.
func capnpStd(t *testing.T) string { return capnptext.Std(t) }

// capnpDecode runs `capnp decode --short schema Struct` on one message.
func capnpDecode(t *testing.T, schema, structName string, msg []byte) string {
	t.Helper()
	cmd := exec.Command("capnp", "decode", "--short", "-I"+capnpStd(t), schema, structName)
	cmd.Stdin = bytes.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("capnp decode %s %s: %v\n%s", schema, structName, err, stderr.String())
	}
	return string(out)
}

// messageLen returns the length of the framed message at the start of b
// (capnp's segment table: segment count - 1, the sizes in words, padding).
func messageLen(t *testing.T, b []byte) int {
	t.Helper()
	if len(b) < 8 {
		t.Fatalf("short message")
	}
	segs := int(b[0]) | int(b[1])<<8 | int(b[2])<<16 | int(b[3])<<24 + 1
	hdr := (4*(segs+1) + 7) &^ 7
	n := hdr
	for i := 0; i < segs; i++ {
		o := 4 + 4*i
		n += 8 * (int(b[o]) | int(b[o+1])<<8 | int(b[o+2])<<16 | int(b[o+3])<<24)
	}
	if n > len(b) {
		t.Fatalf("message of %d bytes in %d", n, len(b))
	}
	return n
}

// flatten parses capnp decode's text into path -> scalar (capnptext).
func flatten(t *testing.T, text string) map[string]string {
	t.Helper()
	out, err := capnptext.Flatten(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return out
}

// diffFlat lists the paths whose values differ (capnptext.Diff).
func diffFlat(a, b map[string]string) []string { return capnptext.Diff(a, b) }

// readHex reads a testdata file of whitespace-separated hex digits.
func readHex(t *testing.T, name string) []byte {
	t.Helper()
	s, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(s)), ""))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
