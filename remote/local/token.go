package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"notebookfs/remote"
)

// NewToken issues a fresh API token for user that never expires. Only its
// SHA-256 is stored: the token itself is shown once, here.
func (s *Store) NewToken(ctx context.Context, user string) (string, error) {
	return s.NewTokenUntil(ctx, user, time.Time{})
}

// NewTokenUntil issues a token that is refused from expires on (by the
// store's clock, at every request); a zero expires never comes.
func (s *Store) NewTokenUntil(ctx context.Context, user string, expires time.Time) (string, error) {
	var until int64
	if !expires.IsZero() {
		until = max(expires.UnixMilli(), 1)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	token := hex.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(token))
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := wantKind(ctx, tx, user, kindUser); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, user, created, expires) VALUES (?, ?, ?, ?)`, sum[:], user, s.nowMS(), until)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("new token for %q: %w", user, err)
	}
	return token, nil
}

// UserForToken returns the user a token was issued to, or
// ErrUnauthenticated (unknown, revoked, or expired). The lookup is by hash,
// so its timing says nothing about how much of a token matched. The server
// calls it on every request: a revocation or an expiry takes effect at the
// next request.
func (s *Store) UserForToken(ctx context.Context, token string) (string, error) {
	sum := sha256.Sum256([]byte(token))
	var (
		user    string
		expires int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT user, expires FROM tokens WHERE hash = ?`, sum[:]).Scan(&user, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("unknown token: %w", remote.ErrUnauthenticated)
	}
	if err != nil {
		return "", ctxErr(ctx, fmt.Errorf("look up token: %w", err))
	}
	if expires != 0 && s.nowMS() >= expires {
		return "", fmt.Errorf("token expired at %s: %w", time.UnixMilli(expires).UTC().Format(time.RFC3339), remote.ErrUnauthenticated)
	}
	return user, nil
}

// RevokeToken makes a token unknown from now on (ErrUnauthenticated for
// every request that presents it); revoking an unknown token is ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, token string) error {
	sum := sha256.Sum256([]byte(token))
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, sum[:])
		if err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("revoke token: %w", remote.ErrNotFound)
		}
		return nil
	})
}

// RevokeTokens revokes every token of user and returns how many there were.
func (s *Store) RevokeTokens(ctx context.Context, user string) (int, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := wantKind(ctx, tx, user, kindUser); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user = ?`, user)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke the tokens of %q: %w", user, err)
	}
	s.log.WithField("user", user).WithField("tokens", n).Info("tokens revoked")
	return int(n), nil
}
