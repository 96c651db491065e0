package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"notebookfs/remote"
)

func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("boom"), 1},
		{usageError{"bad"}, 2},
		{fmt.Errorf("wrapped: %w", usageError{"bad"}), 2},
		{fmt.Errorf("x: %w", remote.ErrNotFound), 3},
		{fmt.Errorf("x: %w", remote.ErrPermission), 4},
		{fmt.Errorf("x: %w", remote.ErrUnauthenticated), 4},
		{fmt.Errorf("x: %w", remote.ErrExist), 1},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestParseURI(t *testing.T) {
	u, err := parseURI("tiledb://alice/my notebook")
	if err != nil || u.ns != "alice" || u.name != "my notebook" || u.String() != "tiledb://alice/my notebook" {
		t.Errorf("parseURI: %+v, %v", u, err)
	}
	for _, bad := range []string{"alice/x", "tiledb://alice", "tiledb://alice/", "tiledb://bad ns/x", "tiledb://a/b/c", "s3://a/b",
		"tiledb://../x", "tiledb://a/" + strings.Repeat("x", 300)} {
		if _, err := parseURI(bad); exitCode(err) != 2 {
			t.Errorf("parseURI(%q): %v, want a usage error", bad, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)
	for _, s := range []string{"2026-11-25T10:00:00.123Z", "2026-11-25T11:00:00.123+01:00", fmt.Sprint(want.UnixMilli())} {
		got, err := parseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "yesterday", "12x", "2026-11-25"} {
		if _, err := parseTime(bad); exitCode(err) != 2 {
			t.Errorf("parseTime(%q): %v", bad, err)
		}
	}
}

func TestApplyMountOptions(t *testing.T) {
	set := pflag.NewFlagSet("mount", pflag.ContinueOnError)
	ro := set.Bool("read-only", false, "")
	ao := set.Bool("allow-other", false, "")
	size := set.String("cache-size", "1", "")
	ttl := set.Duration("metadata-ttl", time.Second, "")
	rem := set.String("remote", "", "")
	set.String("store", "", "")
	set.String("log-level", "info", "")
	set.String("log-format", "text", "")
	set.String("cache-dir", "", "")
	set.Duration("call-timeout", time.Second, "")
	set.Bool("fuse-debug", false, "")
	var o optsFlag
	o.Set("ro,allow_other,cache_size=64M")
	o.Set("metadata_ttl=30s,remote=https://api.tiledb.com,nofail,_netdev,x-systemd.automount,dev,suid,frobnicate")
	var warn strings.Builder
	daemon, fg, err := applyMountOptions(set, o, &warn)
	if err != nil || daemon || fg {
		t.Fatal(err)
	}
	if !*ro || !*ao || *size != "64M" || *ttl != 30*time.Second || *rem != "https://api.tiledb.com" {
		t.Errorf("flags: ro %v allow_other %v size %s ttl %v remote %s", *ro, *ao, *size, *ttl, *rem)
	}
	if w := warn.String(); !strings.Contains(w, `"frobnicate"`) || strings.Contains(w, "nofail") || strings.Contains(w, "x-systemd") {
		t.Errorf("warnings: %q", w)
	}
	if _, _, err := applyMountOptions(set, optsFlag{"metadata_ttl=soon"}, io.Discard); exitCode(err) != 2 {
		t.Errorf("bad value: %v", err)
	}
	if _, _, err := applyMountOptions(set, optsFlag{"cache_size"}, io.Discard); exitCode(err) != 2 {
		t.Errorf("missing value: %v", err)
	}
	if d, _, _ := applyMountOptions(set, optsFlag{"daemon"}, io.Discard); !d {
		t.Error("-o daemon")
	}
}

func TestMountSource(t *testing.T) {
	for s, want := range map[string]bool{"notebookfs": true, "none": true, "https://api.tiledb.com": true, "http://127.0.0.1:8181": true,
		"frobnicate": false, "a": false, "/tmp": false} {
		if isMountSource(s) != want {
			t.Errorf("isMountSource(%q) != %v", s, want)
		}
	}
	if got := unescapeMountinfo(`/tmp/a\040b\011c`); got != "/tmp/a b\tc" {
		t.Errorf("unescape: %q", got)
	}
	if got := unescapeMountinfo(`/tmp/x\04`); got != `/tmp/x\04` {
		t.Errorf("short escape: %q", got)
	}
}

// The old command lines still parse: Go-style single-dash long flags, and
// mount.fuse3's "notebookfs SOURCE MOUNTPOINT -o OPTIONS".
func TestCompatArgs(t *testing.T) {
	root := newRootCommand()
	for _, c := range []struct{ in, want string }{
		{"mount -metadata-ttl 1s -read-only /mnt -o ro", "mount --metadata-ttl 1s --read-only /mnt -o ro"},
		{"mount -cache-size=64M /mnt", "mount --cache-size=64M /mnt"},
		{"notebookfs /mnt -o rw,metadata_ttl=5s", "mount notebookfs /mnt -o rw,metadata_ttl=5s"},
		{"https://api.tiledb.com /mnt -o ro", "mount https://api.tiledb.com /mnt -o ro"},
		{"user add -data /d -org acme:owner alice", "user add --data /d --org acme:owner alice"},
		{"upload - tiledb://a/b -overwrite", "upload - tiledb://a/b --overwrite"},
		{"ls -json -help", "ls --json --help"},
		{"ls -h -bogus", "ls -h -bogus"},                                         // unknown: pflag refuses it
		{"download --at -json tiledb://a/b", "download --at -json tiledb://a/b"}, // a value stays
		{"ls -- -json", "ls -- -json"},
		{"notebookfs", "notebookfs"},
		{"__complete mount -cache", "__complete mount -cache"},
	} {
		if got := strings.Join(compatArgs(root, strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("compatArgs(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// Help shows GNU-style long flags, and every verb has a summary, an
// example and the exit codes.
func TestHelpGNUFlags(t *testing.T) {
	root := newRootCommand()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() {
				continue
			}
			walk(sub)
			if sub.HasAvailableSubCommands() {
				continue
			}
			if sub.Short == "" || sub.Example == "" {
				t.Errorf("%s: no summary or example", sub.CommandPath())
			}
			sub.InitDefaultHelpFlag()
			help := sub.UsageString()
			if !strings.HasPrefix(help, "Usage: "+sub.CommandPath()) || !strings.Contains(help, "Exit codes: ") ||
				!strings.Contains(help, "  -h, --help") {
				t.Errorf("%s help:\n%s", sub.CommandPath(), help)
			}
			sub.Flags().VisitAll(func(f *pflag.Flag) {
				if !strings.Contains(help, "--"+f.Name) {
					t.Errorf("%s help does not show --%s", sub.CommandPath(), f.Name)
				}
			})
		}
	}
	walk(root)
}
