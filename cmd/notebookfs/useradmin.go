package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/local"
)

// The logic of the user verbs that end access: revoke, remove, and token
// expiry. Each function takes parsed arguments; the command line is read
// in user.go.

// parseExpiry reads a token lifetime: a Go duration ("36h", "90m") or a
// number of days or weeks ("30d", "2w"). "" is no expiry (the zero time).
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	var d time.Duration
	if n, unit := strings.TrimRight(s, "dw"), strings.TrimLeft(s, "0123456789"); unit == "d" || unit == "w" {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 36500 {
			return time.Time{}, fmt.Errorf("--expires %q: want a positive number of days (30d) or weeks (2w), or a duration (36h)", s)
		}
		if unit == "w" {
			days *= 7
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			return time.Time{}, fmt.Errorf("--expires %q: want a positive duration (36h), or days (30d) or weeks (2w)", s)
		}
	}
	return now.Add(d), nil
}

// issueToken prints a new token of user, alone on stdout, valid until
// expires (the zero time: forever); the expiry goes to stderr.
func issueToken(ctx context.Context, store *local.Store, user string, expires time.Time) error {
	tok, err := store.NewTokenUntil(ctx, user, expires)
	if err != nil {
		return err
	}
	if !expires.IsZero() {
		fmt.Fprintf(os.Stderr, "notebookfs: the token of %s expires at %s\n", user, expires.UTC().Format(time.RFC3339))
	}
	_, err = fmt.Println(tok)
	return err
}

// readTokenFile reads a token from a file ("-": stdin), never from argv:
// the first line, surrounding space dropped.
func readTokenFile(path string, stdin io.Reader) (string, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("reading the token: %w", err)
	}
	tok, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if tok = strings.TrimSpace(tok); tok == "" {
		return "", fmt.Errorf("no token in %s", path)
	}
	return tok, nil
}

// revokeToken revokes the token read from path; the server refuses it from
// its next request on.
func revokeToken(ctx context.Context, store *local.Store, path string, stdin io.Reader) error {
	tok, err := readTokenFile(path, stdin)
	if err != nil {
		return err
	}
	user, err := store.UserForToken(ctx, tok)
	if err != nil && !errors.Is(err, remote.ErrUnauthenticated) {
		return err
	}
	if err := store.RevokeToken(ctx, tok); err != nil {
		if errors.Is(err, remote.ErrNotFound) {
			return fmt.Errorf("that token is unknown to the store (already revoked, or from another store): %w", err)
		}
		return err
	}
	if user == "" {
		user = "its user" // expired: still revoked
	}
	fmt.Printf("revoked a token of %s\n", user)
	return nil
}

// revokeAll revokes every token of user.
func revokeAll(ctx context.Context, store *local.Store, user string) error {
	n, err := store.RevokeTokens(ctx, user)
	if err != nil {
		return err
	}
	fmt.Printf("revoked %d token(s) of %s\n", n, user)
	return nil
}

// removeUser takes user out of org when org is set, else deletes user
// (with their notebooks when deleteNotebooks).
func removeUser(ctx context.Context, store *local.Store, user, org string, deleteNotebooks bool) error {
	if org != "" {
		if err := store.RemoveMember(ctx, org, user); err != nil {
			return err
		}
		fmt.Printf("removed %s from %s\n", user, org)
		return nil
	}
	n, err := store.RemoveUser(ctx, user, deleteNotebooks)
	if err != nil {
		if errors.Is(err, remote.ErrExist) {
			return fmt.Errorf("%w (pass --delete-notebooks to delete them with the user)", err)
		}
		return err
	}
	fmt.Printf("removed user %s (%d notebook(s) deleted, tokens revoked)\n", user, n)
	return nil
}
