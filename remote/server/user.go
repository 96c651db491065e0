package server

import (
	"errors"
	"fmt"
	"net/http"

	"notebookfs/remote"
)

// publicRole is the role every user has in the implicit "public"
// organization, which this server lists as the real service does (clients
// skip it).
const publicRole = "read_only"

func (s *Server) userRoutes() []route {
	return []route{
		{pattern: "GET /v1/user", h: s.getUser},
		{pattern: "GET /v1/organizations", h: s.getOrganizations},
		{pattern: "GET /v1/organizations/{organization}", h: s.getOrganization},
	}
}

// getUser answers GET /v1/user with the User definition.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := c.client.Whoami(r.Context())
	if err != nil {
		return err
	}
	uid := stableID("user", u.Username)
	out := userJSON{
		ID:              uid,
		Username:        u.Username,
		Name:            u.Username,
		Email:           "",
		Organizations:   []organizationUser{},
		AllowedActions:  namespaceActions("self"),
		EnabledFeatures: []string{"notebook_sharing"},
	}
	for _, o := range withPublic(u.Organizations) {
		out.Organizations = append(out.Organizations, organizationUser{
			UserID:           uid,
			OrganizationID:   stableID("organization", o.Name),
			Username:         u.Username,
			OrganizationName: o.Name,
			Role:             o.Role,
			AllowedActions:   namespaceActions(o.Role),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// withPublic appends the implicit "public" organization.
func withPublic(orgs []remote.Organization) []remote.Organization {
	out := make([]remote.Organization, 0, len(orgs)+1)
	for _, o := range orgs {
		if o.Name != remote.PublicNamespace {
			out = append(out, o)
		}
	}
	return append(out, remote.Organization{Name: remote.PublicNamespace, Role: publicRole})
}

// getOrganizations answers GET /v1/organizations: the caller's
// organizations, "public" last.
func (s *Server) getOrganizations(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := c.client.Whoami(r.Context())
	if err != nil {
		return err
	}
	out := []organizationJSON{}
	for _, o := range withPublic(u.Organizations) {
		oj, err := s.organization(r, c, o)
		if err != nil {
			return err
		}
		out = append(out, oj)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getOrganization answers GET /v1/organizations/{organization}; 404 unless
// the caller is a member.
func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("organization")
	if err := remote.ValidNamespace(name); err != nil {
		return err
	}
	u, err := c.client.Whoami(r.Context())
	if err != nil {
		return err
	}
	for _, o := range withPublic(u.Organizations) {
		if o.Name == name {
			oj, err := s.organization(r, c, o)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, oj)
			return nil
		}
	}
	return fmt.Errorf("organization %q (or you are not a member): %w", name, remote.ErrNotFound)
}

// organization builds the Organization definition; num_of_arrays counts
// the organization's notebooks ("public" owns none).
func (s *Server) organization(r *http.Request, c *call, o remote.Organization) (organizationJSON, error) {
	n := 0
	if o.Name != remote.PublicNamespace {
		nbs, err := c.client.List(r.Context(), remote.Owned, o.Name)
		if err != nil && !errors.Is(err, remote.ErrNotFound) {
			return organizationJSON{}, err
		}
		n = len(nbs)
	}
	return organizationJSON{
		ID:              stableID("organization", o.Name),
		Role:            o.Role,
		Name:            o.Name,
		AllowedActions:  namespaceActions(o.Role),
		NumOfArrays:     n,
		EnabledFeatures: []string{"notebook_sharing"},
	}, nil
}
