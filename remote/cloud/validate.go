package cloud

import (
	"fmt"
	"slices"
	"strings"

	"notebookfs/remote"
)

// What the server sends is checked here, before any of it reaches a path,
// a file name, a URL or a terminal: ids must be UUIDs, namespaces and names
// must pass remote.ValidNamespace and remote.ValidName, sizes must be byte
// counts. An entry that fails is left out of its listing, with one warning
// naming it (once per client), and the rest of the listing is shown.

// maxFileSize is the largest file_size believed (1 TiB): a larger one is a
// broken or hostile reply, not a notebook.
const maxFileSize = 1 << 40

// maxWarned bounds the entries remembered as already warned about.
const maxWarned = 4096

// entryProblem says what is wrong with a listing entry or a metadata
// reply, or "" when it may be shown.
func entryProblem(a *arrayInfo) string {
	switch {
	case !uuidRE.MatchString(a.ID):
		return "id is not a UUID"
	case remote.ValidNamespace(a.Namespace) != nil:
		return "invalid namespace"
	case remote.ValidName(a.Name) != nil:
		return "name cannot be a file name"
	}
	return ""
}

// listingEntries turns the pages of a listing of ns into notebooks, in the
// server's order: entries of another namespace or file type are skipped
// (the server answers more than asked for), invalid ones are returned in
// bad (described for the log), a notebook seen twice is kept once. unsized
// holds the indexes of the notebooks whose entry has no usable file_size.
// exact[p] says the server marked page p's versions exact; newest reports
// it per notebook.
func listingEntries(pages [][]arrayInfo, exact []bool, ns string, u remote.User) (out []remote.Notebook, unsized []int, sized, newest map[string]bool, bad []string) {
	out = []remote.Notebook{}
	sized, newest = map[string]bool{}, map[string]bool{}
	seen := map[string]bool{}
	for p, page := range pages {
		for i := range page {
			a := &page[i]
			if a.Namespace != ns || (a.FileType != "" && a.FileType != "notebook") {
				continue
			}
			if why := entryProblem(a); why != "" {
				bad = append(bad, describe(a, why))
				continue
			}
			id := strings.ToLower(a.ID)
			if seen[id] {
				continue
			}
			seen[id] = true
			nb := notebookOf(a, u)
			if n, ok := fileSizeFromInfo(a); ok {
				nb.Size = n
				sized[nb.ID] = true
				newest[nb.ID] = p < len(exact) && exact[p]
			} else {
				unsized = append(unsized, len(out))
			}
			out = append(out, nb)
		}
	}
	return out, unsized, sized, newest, bad
}

// describe names a rejected entry for the log, quoted so that nothing of
// it reaches a terminal raw.
func describe(a *arrayInfo, why string) string {
	return fmt.Sprintf("%s (id %.64q, namespace %.64q, name %.80q)", why, a.ID, a.Namespace, a.Name)
}

// validNamespaces keeps the valid, distinct, non-empty names of a sidebar
// reply, in order, and describes the others.
func validNamespaces(names []string) (out, bad []string) {
	out = []string{}
	for _, ns := range names {
		switch {
		case ns == "" || slices.Contains(out, ns):
		case remote.ValidNamespace(ns) != nil:
			bad = append(bad, fmt.Sprintf("invalid namespace %.80q", ns))
		default:
			out = append(out, ns)
		}
	}
	return out, bad
}

// warnInvalid logs, once per client, the entries of a reply that were left
// out: what asked names the request.
func (c *Client) warnInvalid(what string, bad []string) {
	if len(bad) == 0 {
		return
	}
	c.warnMu.Lock()
	var fresh []string
	for _, b := range bad {
		k := what + "\x00" + b
		if _, done := c.warned[k]; done {
			continue
		}
		if len(c.warned) >= maxWarned {
			clear(c.warned)
		}
		c.warned[k] = struct{}{}
		fresh = append(fresh, b)
	}
	c.warnMu.Unlock()
	if len(fresh) == 0 {
		return
	}
	c.log.WithField("reply", what).WithField("left_out", len(fresh)).
		Warnf("the server sent entries that cannot be shown; they are left out: %s", strings.Join(fresh, "; "))
}

// checkReply validates a metadata reply about ns/id (asked by the client,
// so already valid): the reply must be about that notebook and carry a
// name that can be shown; else it is refused as not found.
func (c *Client) checkReply(info *arrayInfo, ns, id string) error {
	if info.ID == "" {
		info.ID = id
	}
	if info.Namespace == "" {
		info.Namespace = ns
	}
	why := ""
	switch {
	case !strings.EqualFold(info.ID, id) || info.Namespace != ns:
		why = "reply about another notebook"
	default:
		why = entryProblem(info)
	}
	if why != "" {
		c.warnInvalid("GET "+arrayPath(ns, id, "/metadata"), []string{describe(info, why)})
		return fmt.Errorf("GET %s: %s: %w", arrayPath(ns, id, "/metadata"), why, remote.ErrNotFound)
	}
	info.ID = id // the form asked for: one key per notebook in every cache
	return nil
}
