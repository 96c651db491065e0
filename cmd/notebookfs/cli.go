package main

// Shared plumbing of the command-line verbs: exit codes, common flags,
// logging, JSON output and tiledb:// URIs.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"notebookfs/config"
	"notebookfs/remote"
)

// Exit codes of every command, documented in --help and the README.
const (
	exitOK         = 0
	exitError      = 1
	exitUsage      = 2
	exitNotFound   = 3
	exitPermission = 4
)

const exitCodesHelp = `Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 permission denied or not logged in.
`

// exitCode maps an error to the process exit code: the one place that does.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, remote.ErrNotFound):
		return exitNotFound
	case errors.Is(err, remote.ErrPermission), errors.Is(err, remote.ErrUnauthenticated):
		return exitPermission
	}
	return exitError
}

// common are the flags every verb takes.
type common struct {
	remoteURL   string
	storeDir    string
	callTimeout time.Duration
	json        bool
	logLevel    string
	logFormat   string
}

// register adds the common flags to set. withBackend adds the backend ones
// (--remote, --store, --call-timeout).
func (c *common) register(set *pflag.FlagSet, withBackend bool) {
	if withBackend {
		cfg := config.Default()
		set.StringVar(&c.remoteURL, "remote", "", "TileDB Cloud (or notebookfs serve) URL; token from TILEDB_REST_TOKEN or ~/.tiledb/cloud.json")
		set.StringVar(&c.storeDir, "store", cfg.StoreDir, "embedded store directory (used when no TileDB credentials are configured)")
		set.DurationVar(&c.callTimeout, "call-timeout", cfg.CallTimeout, "deadline of one remote call")
	}
	set.BoolVar(&c.json, "json", false, "machine-readable JSON output on stdout")
	set.StringVar(&c.logLevel, "log-level", "warn", "log level: trace, debug, info, warn, error")
	set.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
}

// logger builds the stderr logger the flags ask for.
func (c *common) logger() (*logrus.Entry, error) {
	return newLogger(c.logLevel, c.logFormat, os.Stderr)
}

// newLogger is a logrus logger at level in format (text or json).
func newLogger(level, format string, w io.Writer) (*logrus.Entry, error) {
	lv, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want trace, debug, info, warn or error", level)}
	}
	l := logrus.New()
	l.SetOutput(w)
	l.SetLevel(lv)
	switch format {
	case "", "text":
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, usageError{fmt.Sprintf("--log-format %q: want text or json", format)}
	}
	return logrus.NewEntry(l), nil
}

// open opens the backend the flags and environment select.
func (c *common) open(ctx context.Context, log *logrus.Entry) (*backend, error) {
	cfg := config.Default()
	cfg.StoreDir = c.storeDir
	if c.callTimeout > 0 {
		cfg.CallTimeout = c.callTimeout
	}
	if c.remoteURL != "" {
		home, _ := os.UserHomeDir()
		creds, err := config.LoadCredentials(os.Getenv, home)
		if err != nil {
			return nil, err
		}
		if !creds.Configured() {
			return nil, fmt.Errorf("--remote %s needs credentials: run 'notebookfs login --host %s', or set TILEDB_REST_TOKEN: %w",
				c.remoteURL, c.remoteURL, remote.ErrUnauthenticated)
		}
	}
	return openBackend(ctx, cfg, c.remoteURL, log)
}

// commandContext is cancelled by SIGINT or SIGTERM.
func commandContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// printJSON writes v as indented JSON on w.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// uri is a parsed tiledb://namespace/name.
type uri struct {
	ns, name string
}

func (u uri) String() string { return "tiledb://" + u.ns + "/" + u.name }

// parseURI parses tiledb://namespace/name (the name may be a notebook id).
func parseURI(s string) (uri, error) {
	rest, ok := strings.CutPrefix(s, "tiledb://")
	if !ok {
		return uri{}, usageError{fmt.Sprintf("%q: want a URI tiledb://NAMESPACE/NAME", s)}
	}
	ns, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return uri{}, usageError{fmt.Sprintf("%q: want tiledb://NAMESPACE/NAME (no notebook name)", s)}
	}
	if err := remote.ValidNamespace(ns); err != nil {
		return uri{}, usageError{fmt.Sprintf("%q: bad namespace %q (letters, digits, '_', '.', '-', at most 63)", s, ns)}
	}
	if err := remote.ValidName(name); err != nil {
		return uri{}, usageError{fmt.Sprintf("%q: bad notebook name: %v", s, err)}
	}
	return uri{ns: ns, name: name}, nil
}

// notebookArg parses a tiledb:// argument and finds its notebook.
func notebookArg(ctx context.Context, c remote.Client, arg string) (uri, remote.Notebook, error) {
	u, err := parseURI(arg)
	if err != nil {
		return uri{}, remote.Notebook{}, err
	}
	nb, err := resolve(ctx, c, u, os.Stderr)
	return u, nb, err
}

// resolve finds the notebook u names: by id when the name is a UUID and
// such a notebook exists, else by name in the namespace (owned, then
// shared, then public). Of duplicate names it takes the oldest and says
// so on warn.
func resolve(ctx context.Context, c remote.Client, u uri, warn io.Writer) (remote.Notebook, error) {
	if _, err := uuid.Parse(u.name); err == nil {
		nb, err := c.Stat(ctx, u.ns, u.name)
		if err == nil {
			return nb, nil
		}
		if !errors.Is(err, remote.ErrNotFound) {
			return remote.Notebook{}, err
		}
	}
	for _, cat := range remote.Categories {
		nbs, err := c.List(ctx, cat, u.ns)
		if errors.Is(err, remote.ErrNotFound) {
			continue
		}
		if err != nil {
			return remote.Notebook{}, err
		}
		var found []remote.Notebook
		for _, nb := range nbs {
			if nb.Namespace == u.ns && nb.Name == u.name {
				found = append(found, nb)
			}
		}
		if len(found) == 0 {
			continue
		}
		if len(found) > 1 {
			fmt.Fprintf(warn, "notebookfs: %d notebooks are named %s; using the oldest (id %s); address another as tiledb://%s/<id>:",
				len(found), u, found[0].ID, u.ns)
			for _, nb := range found[1:] {
				fmt.Fprintf(warn, " %s", nb.ID)
			}
			fmt.Fprintln(warn)
		}
		return found[0], nil
	}
	hint := ""
	if strings.HasSuffix(u.name, ".ipynb") {
		hint = " (URIs name the notebook without .ipynb)"
	}
	return remote.Notebook{}, fmt.Errorf("%s%s: %w", u, hint, remote.ErrNotFound)
}

// notebookJSON is a notebook in --json output.
type notebookJSON struct {
	URI       string   `json:"uri"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	ID        string   `json:"id"`
	Size      int64    `json:"size"`
	Version   string   `json:"version"`
	Created   string   `json:"created"`
	Actions   []string `json:"actions"`
	Category  string   `json:"category,omitempty"`
}

func toJSON(nb remote.Notebook, cat remote.Category) notebookJSON {
	actions := nb.Actions
	if actions == nil {
		actions = []string{}
	}
	return notebookJSON{
		URI:       uri{nb.Namespace, nb.Name}.String(),
		Namespace: nb.Namespace, Name: nb.Name, ID: nb.ID, Size: nb.Size,
		Version: fmtTime(nb.Version), Created: fmtTime(nb.Created),
		Actions: actions, Category: string(cat),
	}
}

// fmtTime is a UTC RFC 3339 time with milliseconds, as versions are named.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// parseTime accepts RFC 3339 (with or without fraction) or Unix milliseconds.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	var ms int64
	if _, err := fmt.Sscanf(s, "%d", &ms); err == nil && fmt.Sprint(ms) == s {
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, usageError{fmt.Sprintf("time %q: want RFC 3339 (2026-11-25T10:00:00.123Z) or Unix milliseconds", s)}
}
