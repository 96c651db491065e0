package remote

import (
	"errors"
	"strings"
	"testing"
)

// Names that would act on a terminal or disguise themselves are refused:
// C0 and C1 controls, DEL, bidi marks, overrides and isolates, line
// separators. Ordinary Unicode stays valid.
func TestValidNameRefusesControlsAndBidi(t *testing.T) {
	for _, name := range []string{
		"a\u009b2Jb", "x\u009d0;owned\u009c", "\u0085next", "tab\tname", "del\u007f",
		"cod\u202eexe.bat", "a\u2066b\u2069", "rlm\u200f", "alm\u061c", "ls\u2028ps",
		"", ".", "..", "a/b", "nul\x00", "\xff", strings.Repeat("x", MaxNameLen+1),
	} {
		if err := ValidName(name); err == nil {
			t.Errorf("ValidName(%q) accepted", name)
		} else if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNameTooLong) {
			t.Errorf("ValidName(%q): %v", name, err)
		}
	}
	for _, name := range []string{"report", "Résumé 2026", "日本語のノート", "x~abcdef12", "emoji 🙂", "a.b.c", strings.Repeat("é", MaxNameLen/2)} {
		if err := ValidName(name); err != nil {
			t.Errorf("ValidName(%q): %v", name, err)
		}
	}
}
