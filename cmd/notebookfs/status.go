package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"notebookfs/fs"
	"notebookfs/fs/fuse"
)

func statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   "status [--json] MOUNTPOINT",
		Short:                 "pending uploads, conflicts, errors and cache figures of a mount",
		Long: `Shows what a running mount is doing: saves waiting to upload (with their
last error), saves the remote refused, conflict copies made, recent upload
errors and the content cache's figures. It reads them from the daemon
through the mount root's user.notebookfs.status attribute; no remote call.`,
		Example: `  notebookfs status ~/notebooks
  notebookfs status --json ~/notebooks | jq .uploads.pending`,
		Args:              positionals(1, 1),
		ValidArgsFunction: completeDirs,
		RunE:              func(_ *cobra.Command, pos []string) error { return runStatus(pos[0], asJSON) },
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func runStatus(mountpoint string, asJSON bool) error {
	dir, err := filepath.Abs(mountpoint)
	if err != nil {
		return err
	}
	raw, err := readStatus(dir)
	if err != nil {
		return err
	}
	var st fs.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("status of %s: %w", dir, err)
	}
	if asJSON {
		return printJSON(os.Stdout, st)
	}
	printStatus(os.Stdout, dir, st)
	return nil
}

// readStatus reads the status attribute, growing the buffer while the
// value grows between the size query and the read.
func readStatus(dir string) ([]byte, error) {
	for i := 0; i < 5; i++ {
		n, err := unix.Getxattr(dir, fuse.StatusXattr, nil)
		if err == nil {
			buf := make([]byte, n+4096)
			n, err = unix.Getxattr(dir, fuse.StatusXattr, buf)
			if err == nil {
				return buf[:n], nil
			}
		}
		if err == syscall.ERANGE {
			continue
		}
		if err == errNoAttr || err == syscall.ENOTSUP {
			return nil, fmt.Errorf("%s is not a notebookfs mount (or its daemon is older)", dir)
		}
		return nil, fmt.Errorf("status of %s: %w", dir, err)
	}
	return nil, fmt.Errorf("status of %s: the value kept changing size", dir)
}

func printStatus(w io.Writer, dir string, st fs.Status) {
	u := st.Uploads
	fmt.Fprintf(w, "notebookfs at %s, mounted %s (up %s)\n", dir, st.Since.Local().Format(time.DateTime), time.Since(st.Since).Round(time.Second))
	fmt.Fprintf(w, "uploads: %d pending (%s), %d done, %d coalesced, %d retried, %d conflicts, %d refused\n",
		u.Pending, humanBytes(u.PendingBytes), u.Uploaded, u.Coalesced, u.Retries, u.ConflictCount, len(u.Failed))
	for _, p := range u.PendingFiles {
		fmt.Fprintf(w, "  pending  %s  %s  saved %s", p.Path, humanBytes(p.Size), p.Saved.Local().Format(time.TimeOnly))
		if p.Attempts > 0 {
			fmt.Fprintf(w, "  %d failed attempts, last: %s", p.Attempts, p.Error)
		}
		fmt.Fprintln(w)
	}
	for _, p := range u.Failed {
		fmt.Fprintf(w, "  refused  %s  %s: %s (kept in the journal, tried again at the next mount)\n", p.Path, humanBytes(p.Size), p.Error)
	}
	for _, c := range u.Conflicts {
		fmt.Fprintf(w, "  conflict copy  %s\n", c)
	}
	if len(u.LastErrors) > 0 {
		fmt.Fprintln(w, "last errors:")
		for _, e := range u.LastErrors {
			fmt.Fprintf(w, "  %s  %s: %s\n", e.Time.Local().Format(time.TimeOnly), e.Path, e.Error)
		}
	}
	if st.UnsavedFiles > 0 {
		fmt.Fprintf(w, "unsaved: %d files hold changes that could not be journaled or were refused (see the log)\n", st.UnsavedFiles)
	}
	if st.CorruptEntries > 0 {
		fmt.Fprintf(w, "journal: %d corrupt entries found at the start were set aside (see the log), not uploaded\n", st.CorruptEntries)
	}
	if c := st.Cache; c != nil {
		ratio := 0.0
		if c.Hits+c.Misses > 0 {
			ratio = 100 * float64(c.Hits) / float64(c.Hits+c.Misses)
		}
		fmt.Fprintf(w, "cache: %s of %s in %d notebooks, %.0f%% hits (%d hits, %d misses, %d evictions), %s prefetched\n",
			humanBytes(c.Bytes), humanBytes(c.MaxBytes), c.Entries, ratio, c.Hits, c.Misses, c.Evictions, humanBytes(st.Prefetched))
	}
	if c := st.DiskCache; c != nil {
		fmt.Fprintf(w, "disk cache (large notebooks): %s of %s in %d notebooks (%d hits, %d misses, %d evictions)\n",
			humanBytes(c.Bytes), humanBytes(c.MaxBytes), c.Entries, c.Hits, c.Misses, c.Evictions)
	}
}
