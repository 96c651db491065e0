package main

import (
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names, namespaces and messages come from the server. Written raw to a
// terminal, control characters in them (C0, C1: CSI, OSC...) would be
// obeyed by it (clear the screen, set the title, write the clipboard), and
// bidi overrides would reorder what is shown. On a terminal every rune that
// is not graphic, and every invalid byte, is written escaped instead, as
// \u009b or \xff; pipes and files get the bytes as they are.

// escapeNonGraphic returns s with its non-graphic runes escaped, and the
// invisible format characters (Cf: bidi controls, zero-width ones); only a
// newline is kept, for multi-line messages (a name holds none: see
// remote.ValidName).
func escapeNonGraphic(s string) string {
	if isAllGraphic(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == ' ' || r == '\n' || unicode.IsGraphic(r) && !unicode.Is(unicode.Cf, r):
			b.WriteString(s[i : i+n])
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += n
	}
	return b.String()
}

func isAllGraphic(s string) bool {
	for _, r := range s {
		if r >= 0x7f || r < 0x20 && r != '\n' {
			return false
		}
	}
	return true
}

// termSafe escapes s when f is a terminal.
func termSafe(f *os.File, s string) string {
	if isTerminal(f) {
		return escapeNonGraphic(s)
	}
	return s
}
