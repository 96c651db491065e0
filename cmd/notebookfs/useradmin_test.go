package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		got, err := parseExpiry(in, now)
		if err != nil || got.Sub(now) != want {
			t.Errorf("parseExpiry(%q) = %v, %v; want now+%v", in, got, err, want)
		}
	}
	if got, err := parseExpiry("", now); err != nil || !got.IsZero() {
		t.Errorf("no expiry: %v %v", got, err)
	}
	for _, bad := range []string{"0d", "-1d", "d", "1.5d", "soon", "-3h", "0s", "99999999d"} {
		if _, err := parseExpiry(bad, now); err == nil || !strings.Contains(err.Error(), "--expires") {
			t.Errorf("parseExpiry(%q): %v", bad, err)
		}
	}
}

func TestReadTokenFile(t *testing.T) {
	if tok, err := readTokenFile("-", strings.NewReader("  abc123 \nrest\n")); err != nil || tok != "abc123" {
		t.Errorf("stdin: %q %v", tok, err)
	}
	if _, err := readTokenFile("-", strings.NewReader(" \n")); err == nil {
		t.Error("an empty token file was accepted")
	}
}
