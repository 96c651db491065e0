package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"

	"notebookfs/config"
	"notebookfs/remote"
	"notebookfs/remote/cloud"
	"notebookfs/remote/local"
)

// backend is the remote a command works on, and how to release it.
type backend struct {
	client remote.Client
	name   string // for df and logs: the host, or the embedded store's dir
	// identity keeps state (pending saves, backups, last-known listings)
	// apart per backend: never replayed to another host or store.
	identity string
	close    func()
}

// openBackend picks the backend: --remote URL, else TileDB credentials
// from the environment or ~/.tiledb/cloud.json, else the embedded store.
func openBackend(ctx context.Context, cfg config.Config, remoteURL string, log *logrus.Entry) (*backend, error) {
	home, _ := os.UserHomeDir()
	creds, err := config.LoadCredentials(os.Getenv, home)
	if err != nil {
		return nil, err
	}
	if remoteURL != "" {
		creds.Host = remoteURL
		if !creds.Configured() {
			return nil, errors.New("--remote needs credentials: set TILEDB_REST_TOKEN (or TILEDB_REST_USERNAME and TILEDB_REST_PASSWORD), or log in with TileDB's client so ~/.tiledb/cloud.json exists")
		}
	}
	if creds.Configured() {
		c, err := cloud.New(cloud.Options{
			Host:     creds.Host,
			Token:    creds.Token,
			Username: creds.Username,
			Password: creds.Password,
			CAFile:   creds.CAFile,
			// TILEDB_REST_IGNORE_SSL_VALIDATION / verify_ssl=false, as the
			// Python client honours them.
			InsecureSkipVerify: !creds.VerifySSL,
			Log:                log.WithField("component", "cloud"),
			CallTimeout:        cfg.CallTimeout,
			// Within the metadata TTL the file system shows a listed
			// version anyway: the client may read it without asking.
			ListingTTL: cfg.MetadataTTL,
		})
		if err != nil {
			return nil, err
		}
		log.WithField("host", creds.Host).WithField("credentials", creds.Source).Info("using TileDB Cloud")
		return &backend{client: c, name: creds.Host, identity: "tiledb " + strings.TrimRight(creds.Host, "/"), close: func() {}}, nil
	}
	store, err := local.Open(cfg.StoreDir, log.WithField("component", "store"))
	if err != nil {
		return nil, err
	}
	if err := store.EnsureUser(ctx, cfg.User); err != nil {
		store.Close()
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	log.WithField("store", cfg.StoreDir).WithField("user", cfg.User).Info("using the embedded store")
	abs, err := filepath.Abs(cfg.StoreDir)
	if err != nil {
		abs = cfg.StoreDir
	}
	return &backend{client: store.As(cfg.User), name: cfg.StoreDir, identity: "embedded " + abs, close: func() { store.Close() }}, nil
}
