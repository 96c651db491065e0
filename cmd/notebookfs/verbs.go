package main

// The verbs that work on notebooks without a mount: upload, download, ls,
// versions, rename, rm, share, unshare, shared-with. Each runs against the
// backend openBackend selects (--remote URL, TileDB credentials, or the
// embedded store) and addresses notebooks as tiledb://NAMESPACE/NAME.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"notebookfs/remote"
)

const backendHelp = `
The backend is the one 'notebookfs mount' would use: --remote URL (token from
TILEDB_REST_TOKEN or ~/.tiledb/cloud.json), else TileDB credentials if any
are configured, else the embedded store. A name shared by several notebooks
means the oldest (a note on stderr lists the others); address any notebook
by id as tiledb://NAMESPACE/<uuid>.
`

// verb completes cmd, a verb on notebooks: the common and backend flags,
// the ones extra adds, and a run that opens the backend and calls fn with
// its client.
func verb(cmd *cobra.Command, extra func(*pflag.FlagSet),
	fn func(ctx context.Context, c *common, client remote.Client, pos []string) error) *cobra.Command {
	return verbBackend(cmd, extra, func(ctx context.Context, c *common, be *backend, pos []string) error {
		return fn(ctx, c, be.client, pos)
	})
}

// verbBackend is verb for commands that need the backend itself (its name).
func verbBackend(cmd *cobra.Command, extra func(*pflag.FlagSet),
	fn func(ctx context.Context, c *common, be *backend, pos []string) error) *cobra.Command {
	var c common
	cmd.Long += "\n" + backendHelp
	c.register(cmd.Flags(), true)
	if extra != nil {
		extra(cmd.Flags())
	}
	cmd.RunE = func(_ *cobra.Command, pos []string) error {
		log, err := c.logger()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext()
		defer cancel()
		be, err := c.open(ctx, log)
		if err != nil {
			return err
		}
		defer be.close()
		return fn(ctx, &c, be, pos)
	}
	completeCommon(cmd)
	return cmd
}

// say prints a human line on stdout unless --json.
func (c *common) say(format string, a ...any) {
	if !c.json {
		fmt.Println(termSafe(os.Stdout, fmt.Sprintf(format, a...)))
	}
}

func uploadCommand() *cobra.Command {
	var storagePath, storageCred string
	var overwrite bool
	return verb(&cobra.Command{
		Use:   "upload [flags] FILE|- tiledb://NAMESPACE/NAME",
		Short: "upload a notebook (--overwrite: a new version of an existing one)",
		Long: `Uploads a notebook file (- reads stdin) as a new notebook NAME in
NAMESPACE. If NAME exists already it fails, unless --overwrite: then the
file is saved as a new version of that notebook (same id, shares, history).`,
		Example: `  notebookfs upload analysis.ipynb tiledb://alice/analysis
  notebookfs upload --overwrite - tiledb://acme/report < report.ipynb`,
		Args:              positionals(2, 2),
		ValidArgsFunction: uriArg(1),
	}, func(set *pflag.FlagSet) {
		set.StringVar(&storagePath, "storage-path", "", "where a new notebook's data is stored (an S3 URI); default: the namespace's")
		set.StringVar(&storageCred, "storage-credential", "", "name of the storage credential for --storage-path")
		set.BoolVar(&overwrite, "overwrite", false, "save a new version when the notebook exists")
	}, func(ctx context.Context, c *common, client remote.Client, pos []string) error {
		u, err := parseURI(pos[1])
		if err != nil {
			return err
		}
		if storagePath != "" && !strings.Contains(storagePath, "://") {
			return usageError{fmt.Sprintf("--storage-path %q: want a URI such as s3://bucket/path", storagePath)}
		}
		r, size, closeFile, err := openInput(pos[0])
		if err != nil {
			return err
		}
		defer closeFile()
		existing, err := resolve(ctx, client, u, os.Stderr)
		switch {
		case err == nil && !overwrite:
			return fmt.Errorf("%s already exists (id %s): pass --overwrite to save a new version of it: %w", u, existing.ID, remote.ErrExist)
		case err != nil && !errors.Is(err, remote.ErrNotFound):
			return err
		}
		pr, finish := withProgress(r, size, "upload")
		var nb remote.Notebook
		if err == nil {
			if storagePath != "" || storageCred != "" {
				fmt.Fprintln(os.Stderr, "notebookfs: --storage-path and --storage-credential apply to new notebooks only; ignored")
			}
			nb, err = client.Write(ctx, existing.Namespace, existing.ID, pr, size)
		} else {
			nb, err = client.Create(ctx, u.ns, u.name, pr, size, remote.CreateOptions{StoragePath: storagePath, StorageCredential: storageCred})
		}
		finish()
		if err != nil {
			return fmt.Errorf("upload %s: %w", u, err)
		}
		if c.json {
			return printJSON(os.Stdout, toJSON(nb, ""))
		}
		c.say("uploaded %s (id %s, version %s, %d bytes)", uri{nb.Namespace, nb.Name}, nb.ID, fmtTime(nb.Version), nb.Size)
		return nil
	})
}

// openInput opens FILE or stdin (-) with its exact size.
func openInput(name string) (io.Reader, int64, func(), error) {
	if name == "-" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("reading stdin: %w", err)
		}
		return bytes.NewReader(b), int64(len(b)), func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, nil, usageError{fmt.Sprintf("%s is not a regular file", name)}
	}
	return f, fi.Size(), func() { f.Close() }, nil
}

func downloadCommand() *cobra.Command {
	var at string
	return verb(&cobra.Command{
		Use:   "download [flags] tiledb://NAMESPACE/NAME [FILE|-]",
		Short: "download a notebook (--at TIME: an older version)",
		Long: `Downloads a notebook to FILE (default NAME.ipynb in the current directory,
replaced atomically if it exists), or to stdout with -. --at picks the
version saved at or before TIME (see 'notebookfs versions').`,
		Example: `  notebookfs download tiledb://alice/analysis
  notebookfs download --at 2026-11-25T10:00:00Z tiledb://alice/analysis old.ipynb
  notebookfs download tiledb://alice/analysis - | jq .cells`,
		Args:              positionals(1, 2),
		ValidArgsFunction: uriArg(0),
	}, func(set *pflag.FlagSet) {
		set.StringVar(&at, "at", "", "version at or before `TIME` (RFC 3339 or Unix milliseconds); default the latest")
	}, func(ctx context.Context, c *common, client remote.Client, pos []string) error {
		u, err := parseURI(pos[0])
		if err != nil {
			return err
		}
		var when time.Time
		if at != "" {
			if when, err = parseTime(at); err != nil {
				return err
			}
		}
		out := u.name + ".ipynb"
		if len(pos) == 2 {
			out = pos[1]
		}
		if out == "-" && c.json {
			return usageError{"--json needs a FILE: stdout carries the notebook"}
		}
		nb, err := resolve(ctx, client, u, os.Stderr)
		if err != nil {
			return err
		}
		content, err := client.Read(ctx, nb.Namespace, nb.ID, when)
		if err != nil {
			if errors.Is(err, remote.ErrNotFound) && at != "" {
				return fmt.Errorf("%s has no version at or before %s: %w", u, at, err)
			}
			return fmt.Errorf("download %s: %w", u, err)
		}
		defer content.Close()
		r, finish := withProgress(content, content.Size, "download")
		if out == "-" {
			_, err = io.Copy(os.Stdout, r)
			finish()
			return err
		}
		n, err := writeAtomic(out, r)
		finish()
		if err != nil {
			return err
		}
		if c.json {
			j := toJSON(nb, "")
			return printJSON(os.Stdout, map[string]any{"notebook": j, "version": fmtTime(content.Version), "size": n, "file": out})
		}
		c.say("downloaded %s (version %s, %d bytes) to %s", u, fmtTime(content.Version), n, out)
		return nil
	})
}

// writeAtomic writes r to path through a temp file renamed over it.
func writeAtomic(path string, r io.Reader) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return 0, err
	}
	return n, nil
}

func lsCommand() *cobra.Command {
	return verb(&cobra.Command{
		Use:   "ls [flags] [owned|shared|public] [NAMESPACE]",
		Short: "list namespaces, or the notebooks of one",
		Long: `Without NAMESPACE, lists the namespaces of a category (default owned: mine
and my organizations'). With NAMESPACE, lists its notebooks (in that
category, or in every category when none is given).`,
		Example: `  notebookfs ls                 # my namespaces
  notebookfs ls shared          # who shares notebooks with me
  notebookfs ls owned alice     # my notebooks
  notebookfs ls --json acme`,
		Args:              positionals(0, 2),
		ValidArgsFunction: categoryArg,
	}, nil, func(ctx context.Context, c *common, client remote.Client, pos []string) error {
		var cats []remote.Category
		var ns string
		switch {
		case len(pos) == 0:
			cats = []remote.Category{remote.Owned}
		case remote.Category(pos[0]).Valid():
			cats = []remote.Category{remote.Category(pos[0])}
			if len(pos) == 2 {
				ns = pos[1]
			}
		case len(pos) == 2:
			return usageError{fmt.Sprintf("%q: want owned, shared or public", pos[0])}
		default:
			cats, ns = remote.Categories, pos[0]
		}
		if ns == "" {
			names, err := client.Namespaces(ctx, cats[0])
			if err != nil {
				return err
			}
			if c.json {
				if names == nil {
					names = []string{}
				}
				return printJSON(os.Stdout, map[string]any{"category": cats[0], "namespaces": names})
			}
			for _, n := range names {
				fmt.Println(termSafe(os.Stdout, n))
			}
			return nil
		}
		if err := remote.ValidNamespace(ns); err != nil {
			return usageError{err.Error()}
		}
		out := []notebookJSON{}
		seen := map[string]bool{}
		found := false
		for _, cat := range cats {
			nbs, err := client.List(ctx, cat, ns)
			if errors.Is(err, remote.ErrNotFound) && len(cats) > 1 {
				continue
			}
			if err != nil {
				return err
			}
			found = true
			for _, nb := range nbs {
				if !seen[nb.ID] {
					seen[nb.ID] = true
					out = append(out, toJSON(nb, cat))
				}
			}
		}
		if !found {
			return fmt.Errorf("namespace %s: %w", ns, remote.ErrNotFound)
		}
		if c.json {
			return printJSON(os.Stdout, out)
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSIZE\tMODIFIED\tACCESS\tID")
		for _, nb := range out {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", termSafe(os.Stdout, nb.Name), nb.Size, nb.Version, strings.Join(nb.Actions, ","), termSafe(os.Stdout, nb.ID))
		}
		return tw.Flush()
	})
}

func versionsCommand() *cobra.Command {
	return verb(&cobra.Command{
		Use:   "versions [flags] tiledb://NAMESPACE/NAME",
		Short: "list a notebook's versions",
		Long: `Lists a notebook's versions, oldest first: the time (usable as
'notebookfs download --at'), the same in Unix milliseconds, and the size.`,
		Example:           `  notebookfs versions tiledb://alice/analysis`,
		Args:              positionals(1, 1),
		ValidArgsFunction: uriArg(0),
	}, nil, func(ctx context.Context, c *common, client remote.Client, pos []string) error {
		_, nb, err := notebookArg(ctx, client, pos[0])
		if err != nil {
			return err
		}
		vs, err := client.Versions(ctx, nb.Namespace, nb.ID)
		if err != nil {
			return err
		}
		type versionJSON struct {
			Time   string `json:"time"`
			UnixMS int64  `json:"unix_ms"`
			Size   int64  `json:"size"`
		}
		out := []versionJSON{}
		for _, v := range vs {
			out = append(out, versionJSON{fmtTime(v.Time), v.Time.UnixMilli(), v.Size})
		}
		if c.json {
			return printJSON(os.Stdout, out)
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tUNIX_MS\tSIZE")
		for _, v := range out {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", v.Time, v.UnixMS, v.Size)
		}
		return tw.Flush()
	})
}

func renameCommand() *cobra.Command {
	return verb(&cobra.Command{
		Use:               "rename [flags] tiledb://NAMESPACE/NAME NEWNAME",
		Short:             "rename a notebook",
		Long:              `Renames a notebook within its namespace; its id, history and shares stay.`,
		Example:           `  notebookfs rename tiledb://alice/draft final`,
		Args:              positionals(2, 2),
		ValidArgsFunction: uriArg(0),
	}, nil, func(ctx context.Context, c *common, client remote.Client, pos []string) error {
		u, err := parseURI(pos[0])
		if err != nil {
			return err
		}
		if err := remote.ValidName(pos[1]); err != nil {
			return usageError{fmt.Sprintf("new name: %v", err)}
		}
		nb, err := resolve(ctx, client, u, os.Stderr)
		if err != nil {
			return err
		}
		nb, err = client.Rename(ctx, nb.Namespace, nb.ID, pos[1])
		if err != nil {
			return fmt.Errorf("rename %s: %w", u, err)
		}
		if c.json {
			return printJSON(os.Stdout, toJSON(nb, ""))
		}
		c.say("renamed %s to %s", u, uri{nb.Namespace, nb.Name})
		return nil
	})
}

func rmCommand() *cobra.Command {
	return verb(&cobra.Command{
		Use:               "rm [flags] tiledb://NAMESPACE/NAME",
		Short:             "delete a notebook and its history",
		Long:              `Deletes a notebook and its history.`,
		Example:           `  notebookfs rm tiledb://alice/scratch`,
		Args:              positionals(1, 1),
		ValidArgsFunction: uriArg(0),
	}, nil, func(ctx context.Context, c *common, client remote.Client, pos []string) error {
		u, nb, err := notebookArg(ctx, client, pos[0])
		if err != nil {
			return err
		}
		if err := client.Delete(ctx, nb.Namespace, nb.ID); err != nil {
			return fmt.Errorf("rm %s: %w", u, err)
		}
		if c.json {
			return printJSON(os.Stdout, map[string]string{"deleted": u.String(), "id": nb.ID})
		}
		c.say("deleted %s (id %s)", u, nb.ID)
		return nil
	})
}

func shareCommand() *cobra.Command {
	var actions string
	return verb(&cobra.Command{
		Use:   "share [flags] tiledb://NAMESPACE/NAME NAMESPACE|public",
		Short: "share a notebook with a user, an organization or the public",
		Long: `Shares a notebook with a user or organization, with exactly --actions
(read, or read,write); sharing again replaces the actions. NAMESPACE
public makes the notebook public (read only).`,
		Example: `  notebookfs share tiledb://alice/analysis bob
  notebookfs share --actions read,write tiledb://alice/analysis acme
  notebookfs share tiledb://alice/analysis public`,
		Args:              positionals(2, 2),
		ValidArgsFunction: uriArg(0),
	}, func(set *pflag.FlagSet) {
		set.StringVar(&actions, "actions", "read", "actions to grant: read or read,write")
	}, func(ctx context.Context, c *common, client remote.Client, pos []string) error {
		u, err := parseURI(pos[0])
		if err != nil {
			return err
		}
		with := pos[1]
		if err := remote.ValidNamespace(with); err != nil {
			return usageError{err.Error()}
		}
		acts, err := remote.NormalizeActions(strings.Split(actions, ","))
		if err != nil || len(acts) == 0 {
			return usageError{fmt.Sprintf("--actions %q: want read or read,write", actions)}
		}
		if with == remote.PublicNamespace && !slices.Equal(acts, []string{remote.ActionRead}) {
			return usageError{"a public share is read only: --actions read"}
		}
		nb, err := resolve(ctx, client, u, os.Stderr)
		if err != nil {
			return err
		}
		if err := client.Share(ctx, nb.Namespace, nb.ID, with, acts); err != nil {
			return fmt.Errorf("share %s with %s: %w", u, with, err)
		}
		if c.json {
			return printJSON(os.Stdout, map[string]any{"uri": u.String(), "id": nb.ID, "namespace": with, "actions": acts})
		}
		c.say("shared %s with %s: %s", u, with, strings.Join(acts, ","))
		return nil
	})
}

func unshareCommand() *cobra.Command {
	return verb(&cobra.Command{
		Use:   "unshare [flags] tiledb://NAMESPACE/NAME NAMESPACE|public",
		Short: "stop sharing a notebook",
		Long: `Stops sharing a notebook with NAMESPACE (public: makes it private again).
Exits 3 if it was not shared with NAMESPACE.`,
		Example:           `  notebookfs unshare tiledb://alice/analysis bob`,
		Args:              positionals(2, 2),
		ValidArgsFunction: uriArg(0),
	}, nil, func(ctx context.Context, c *common, client remote.Client, pos []string) error {
		u, err := parseURI(pos[0])
		if err != nil {
			return err
		}
		with := pos[1]
		if err := remote.ValidNamespace(with); err != nil {
			return usageError{err.Error()}
		}
		nb, err := resolve(ctx, client, u, os.Stderr)
		if err != nil {
			return err
		}
		shares, err := client.Shares(ctx, nb.Namespace, nb.ID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(shares, func(s remote.Share) bool { return s.Namespace == with }) {
			return fmt.Errorf("%s is not shared with %s: %w", u, with, remote.ErrNotFound)
		}
		if err := client.Share(ctx, nb.Namespace, nb.ID, with, nil); err != nil {
			return fmt.Errorf("unshare %s from %s: %w", u, with, err)
		}
		if c.json {
			return printJSON(os.Stdout, map[string]any{"uri": u.String(), "id": nb.ID, "namespace": with, "actions": []string{}})
		}
		c.say("unshared %s from %s", u, with)
		return nil
	})
}

func sharedWithCommand() *cobra.Command {
	return verb(&cobra.Command{
		Use:   "shared-with [flags] tiledb://NAMESPACE/NAME",
		Short: "who a notebook is shared with",
		Long: `Lists who a notebook is shared with and their actions (public when it is
public).`,
		Example:           `  notebookfs shared-with --json tiledb://alice/analysis`,
		Args:              positionals(1, 1),
		ValidArgsFunction: uriArg(0),
	}, nil, func(ctx context.Context, c *common, client remote.Client, pos []string) error {
		_, nb, err := notebookArg(ctx, client, pos[0])
		if err != nil {
			return err
		}
		shares, err := client.Shares(ctx, nb.Namespace, nb.ID)
		if err != nil {
			return err
		}
		type shareJSON struct {
			Namespace string   `json:"namespace"`
			Type      string   `json:"type"`
			Actions   []string `json:"actions"`
		}
		out := []shareJSON{}
		for _, s := range shares {
			out = append(out, shareJSON{s.Namespace, s.Type, s.Actions})
		}
		if c.json {
			return printJSON(os.Stdout, out)
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAMESPACE\tTYPE\tACTIONS")
		for _, s := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", termSafe(os.Stdout, s.Namespace), termSafe(os.Stdout, s.Type), strings.Join(s.Actions, ","))
		}
		return tw.Flush()
	})
}
