package cloud

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"notebookfs/remote"
)

// Shares is GET /v1/arrays/{ns}/{id}/share: one request. Actions are
// reduced to read and write (TileDB's other ArrayActions mean nothing to a
// file system) and sorted; shares are sorted by namespace.
func (c *Client) Shares(ctx context.Context, ns, id string) ([]remote.Share, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("shares %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("shares", ns, id); err != nil {
		return nil, err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	var list []arraySharing
	if err := c.getJSON(ctx, arrayPath(ns, id, "/share"), nil, &list); err != nil {
		return nil, err
	}
	out := []remote.Share{}
	var bad []string
	for _, s := range list {
		if s.Namespace == "" {
			continue
		}
		if s.Namespace != remote.PublicNamespace && remote.ValidNamespace(s.Namespace) != nil {
			bad = append(bad, fmt.Sprintf("invalid namespace %.80q", s.Namespace))
			continue
		}
		out = append(out, remote.Share{
			Namespace: s.Namespace,
			Actions:   actionsOf(s.Actions, false),
			Type:      strings.ToLower(s.NamespaceType),
		})
	}
	c.warnInvalid("GET "+arrayPath(ns, id, "/share"), bad)
	slices.SortStableFunc(out, func(a, b remote.Share) int { return strings.Compare(a.Namespace, b.Namespace) })
	return out, nil
}

// Share is PATCH /v1/arrays/{ns}/{id}/share {"namespace": with, "actions":
// [...]} (204): one request. The actions are normalized first
// (remote.NormalizeActions); an empty set is sent as "actions": [], which
// removes the share. A public share may only be read (checked here too).
func (c *Client) Share(ctx context.Context, ns, id, with string, actions []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("share %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("share", ns, id); err != nil {
		return err
	}
	if err := remote.ValidNamespace(with); err != nil {
		return fmt.Errorf("share %s/%s: %w", ns, id, err)
	}
	acts, err := remote.NormalizeActions(actions)
	if err != nil {
		return fmt.Errorf("share %s/%s: %w", ns, id, err)
	}
	if with == remote.PublicNamespace && slices.Contains(acts, remote.ActionWrite) {
		return fmt.Errorf("share %s/%s: public shares are read-only: %w", ns, id, remote.ErrInvalid)
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	return c.sendJSON(ctx, http.MethodPatch, arrayPath(ns, id, "/share"), arraySharing{Namespace: with, Actions: acts})
}
