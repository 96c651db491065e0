package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"notebookfs/remote"
)

// NewToken issues a fresh API token for user. Only its SHA-256 is stored:
// the token itself is shown once, here.
func (s *Store) NewToken(ctx context.Context, user string) (string, error) {
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
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, user, created) VALUES (?, ?, ?)`, sum[:], user, s.nowMS())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("new token for %q: %w", user, err)
	}
	return token, nil
}

// UserForToken returns the user a token was issued to, or
// ErrUnauthenticated. The lookup is by hash, so its timing says nothing
// about how much of a token matched.
func (s *Store) UserForToken(ctx context.Context, token string) (string, error) {
	sum := sha256.Sum256([]byte(token))
	var user string
	err := s.db.QueryRowContext(ctx, `SELECT user FROM tokens WHERE hash = ?`, sum[:]).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("unknown token: %w", remote.ErrUnauthenticated)
	}
	if err != nil {
		return "", ctxErr(ctx, fmt.Errorf("look up token: %w", err))
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
