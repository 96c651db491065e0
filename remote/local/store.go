package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// chunkSize is the size of one stored content chunk (the last may be
// shorter). It bounds the memory a save or a read holds.
const chunkSize = 1 << 20

// busyTimeout is how long a connection waits for another process's lock.
const busyTimeout = 30 * time.Second

// maxConns bounds the pool: WAL lets readers run beside the one writer.
const maxConns = 16

// Store is the embedded notebook store. It is safe for concurrent use.
type Store struct {
	db  *sql.DB
	log *logrus.Entry
	dir string
	// writeSem serializes saves in this process: one token, taken with ctx.
	writeSem chan struct{}
	clock    atomic.Pointer[func() time.Time]
}

// Open opens the store in dir, creating dir (0700) and dir/store.db if
// missing and migrating the schema. log may be nil.
//
// The store holds every user's notebooks and token hashes: dir is made
// 0700 and the database and its -wal, -shm and -journal files 0600 (SQLite
// gives the files it creates the database's mode), and all are checked
// before use (private: see checkPrivate).
func Open(dir string, log *logrus.Entry) (*Store, error) {
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	abs, err := filepath.Abs(filepath.Join(dir, "store.db"))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := makePrivate(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), busyTimeout+10*time.Second)
	defer cancel()
	if err := checkPragmas(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	if err := checkFiles(abs); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{db: db, log: log.WithField("store", abs), dir: dir, writeSem: make(chan struct{}, 1)}
	s.SetClock(nil)
	s.log.Debug("store opened")
	return s, nil
}

// dsn builds the connection string: a file: URI (so "?" or "#" in the path
// are escaped) whose parameters every pooled connection applies.
func dsn(path string) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	q.Set("_journal_mode", "WAL")
	// FULL: a committed version survives power loss, not only a crash.
	q.Set("_synchronous", "FULL")
	// Read-write transactions take the write lock at BEGIN: a deferred one
	// that read first could fail with SQLITE_BUSY_SNAPSHOT on its first
	// write. Read-only transactions (TxOptions.ReadOnly) stay deferred.
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// checkPragmas fails if the connection settings did not take effect.
func checkPragmas(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	var fk int
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if fk != 1 {
		return errors.New("foreign keys are off")
	}
	var sync int
	if err := db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if sync != 2 { // FULL
		return fmt.Errorf("synchronous is %d, want 2 (FULL)", sync)
	}
	return nil
}

// Close closes the database. Content still being read fails afterwards.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// SetClock replaces the clock that stamps versions and records; nil restores
// time.Now. For tests.
func (s *Store) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.clock.Store(&now)
}

// nowMS is the clock in unix milliseconds.
func (s *Store) nowMS() int64 { return (*s.clock.Load())().UnixMilli() }

// lockWrite takes the in-process save token, or fails when ctx ends first.
func (s *Store) lockWrite(ctx context.Context) (release func(), err error) {
	select {
	case s.writeSem <- struct{}{}:
		return func() { <-s.writeSem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for write lock: %w", ctx.Err())
	}
}

// writeTx runs fn in one IMMEDIATE transaction under the save token and
// commits it if fn succeeds.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	release, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer release()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback() // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return ctxErr(ctx, fmt.Errorf("commit: %w", err))
	}
	return nil
}

// readTx runs fn in one deferred read-only transaction: one consistent
// snapshot that does not block writers (WAL).
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback() // read-only: nothing to commit
	return fn(tx)
}

// ctxErr makes a database error caused by ctx ending match context.Canceled
// or DeadlineExceeded with errors.Is (the driver may report "interrupted").
func ctxErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}
