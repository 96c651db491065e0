package remote

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Backends wrap them with %w and context; callers test them
// with errors.Is.
var (
	ErrNotFound        = errors.New("not found")
	ErrExist           = errors.New("already exists")
	ErrPermission      = errors.New("permission denied")
	ErrUnauthenticated = errors.New("not logged in or token expired")
	ErrInvalid         = errors.New("invalid argument")
	ErrNameTooLong     = errors.New("name too long")
	ErrConflict        = errors.New("conflicting version")
	ErrUnsupported     = errors.New("not supported")
)

// MaxNameLen is the longest notebook name accepted, in bytes. The file name
// adds ".ipynb" and must fit in NAME_MAX (255).
const MaxNameLen = 255 - len(".ipynb")

// namespaceRE is TileDB Cloud's pattern for user and organization names.
var namespaceRE = regexp.MustCompile(`^[\w.\-]{1,63}$`)

// ValidNamespace checks a namespace name before it reaches a path or a URL.
func ValidNamespace(ns string) error {
	if !namespaceRE.MatchString(ns) || ns == "." || ns == ".." {
		return fmt.Errorf("namespace %q: %w", ns, ErrInvalid)
	}
	return nil
}

// ValidName checks a notebook name. TileDB's spec states no pattern, so we
// refuse only what cannot be a single file name or would act on a terminal
// or disguise the name: empty, ".", "..", a slash, control characters (C0,
// DEL and C1), bidirectional overrides and isolates, line and paragraph
// separators, invalid UTF-8, or more than MaxNameLen bytes.
func ValidName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("notebook name of %d bytes: %w", len(name), ErrNameTooLong)
	}
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || !utf8.ValidString(name) {
		return fmt.Errorf("notebook name %q: %w", name, ErrInvalid)
	}
	for _, r := range name {
		if forbiddenRune(r) {
			return fmt.Errorf("notebook name %q: %w", name, ErrInvalid)
		}
	}
	return nil
}

// forbiddenRune: C0 and C1 controls, DEL, the bidirectional marks,
// embeddings, overrides and isolates (which reorder what a listing shows),
// and U+2028/U+2029 (line breaks to some terminals and editors).
func forbiddenRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// NormalizeActions validates and sorts share actions: only "read" and
// "write" are accepted (case-insensitive, surrounding space ignored,
// duplicates folded). The result is exactly the set given, "read" first.
func NormalizeActions(actions []string) ([]string, error) {
	var read, write bool
	for _, a := range actions {
		switch strings.ToLower(strings.TrimSpace(a)) {
		case ActionRead:
			read = true
		case ActionWrite:
			write = true
		default:
			return nil, fmt.Errorf("share action %q (want read or write): %w", a, ErrInvalid)
		}
	}
	out := []string{}
	if read {
		out = append(out, ActionRead)
	}
	if write {
		out = append(out, ActionWrite)
	}
	return out, nil
}
