package local

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations()[i] takes the schema from user_version i to i+1. Append only:
// never edit a released step. A function, not a var, so nothing can mutate it.
func migrations() []string {
	return []string{
		`
CREATE TABLE namespaces (
	name    TEXT PRIMARY KEY,
	kind    TEXT NOT NULL CHECK (kind IN ('user', 'organization')),
	created INTEGER NOT NULL
);
CREATE TABLE members (
	org  TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
	user TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
	role TEXT NOT NULL,
	PRIMARY KEY (org, user)
);
CREATE INDEX members_user ON members(user, org);
CREATE TABLE tokens (
	hash    BLOB PRIMARY KEY,
	user    TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
	created INTEGER NOT NULL
);
CREATE TABLE notebooks (
	id                 TEXT PRIMARY KEY,
	namespace          TEXT NOT NULL REFERENCES namespaces(name),
	name               TEXT NOT NULL,
	created            INTEGER NOT NULL,
	storage_path       TEXT NOT NULL DEFAULT '',
	storage_credential TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notebooks_namespace ON notebooks(namespace, created, id);
CREATE TABLE versions (
	id       INTEGER PRIMARY KEY,
	notebook TEXT NOT NULL REFERENCES notebooks(id) ON DELETE CASCADE,
	ts       INTEGER NOT NULL,
	size     INTEGER NOT NULL CHECK (size >= 0),
	UNIQUE (notebook, ts)
);
-- A rowid table on purpose: WITHOUT ROWID is a poor fit for 1 MiB rows.
CREATE TABLE chunks (
	version INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
	seq     INTEGER NOT NULL,
	data    BLOB NOT NULL,
	PRIMARY KEY (version, seq)
);
-- namespace is a user, an organization or "public", which has no row: no
-- foreign key on it.
CREATE TABLE shares (
	notebook  TEXT NOT NULL REFERENCES notebooks(id) ON DELETE CASCADE,
	namespace TEXT NOT NULL,
	can_read  INTEGER NOT NULL,
	can_write INTEGER NOT NULL,
	PRIMARY KEY (notebook, namespace)
);
CREATE INDEX shares_namespace ON shares(namespace, notebook);
`,
		// Tokens may expire: unix ms, 0 for never.
		`
ALTER TABLE tokens ADD COLUMN expires INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tokens_user ON tokens(user);
`,
	}
}

// migrate brings the schema to the latest version, one transaction per step.
// Each step re-reads user_version under the write lock, so two processes
// opening a new store at once do not both run it.
func migrate(ctx context.Context, db *sql.DB) error {
	steps := migrations()
	for {
		done, err := migrateStep(ctx, db, steps)
		if err != nil || done {
			return err
		}
	}
}

func migrateStep(ctx context.Context, db *sql.DB, steps []string) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil) // IMMEDIATE: see dsn
	if err != nil {
		return false, fmt.Errorf("migrate schema: begin: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case v > len(steps):
		return false, fmt.Errorf("schema version %d is newer than this program's %d", v, len(steps))
	case v == len(steps):
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
		return false, fmt.Errorf("migrate to schema %d: %w", v+1, err)
	}
	// user_version lives in the database header and is transactional.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
		return false, fmt.Errorf("migrate to schema %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to schema %d: commit: %w", v+1, err)
	}
	return false, nil
}
