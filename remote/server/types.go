package server

import (
	"strconv"
	"time"

	"github.com/google/uuid"

	"notebookfs/remote"
)

// JSON shapes of the TileDB Cloud spec (its v1 definitions), with the
// fields this server fills. Field names are the spec's.

// userJSON is the User definition.
type userJSON struct {
	ID              string             `json:"id"`
	Username        string             `json:"username"`
	Name            string             `json:"name"`
	Email           string             `json:"email"`
	Organizations   []organizationUser `json:"organizations"`
	AllowedActions  []string           `json:"allowed_actions"`
	EnabledFeatures []string           `json:"enabled_features"`
	// UnpaidSubscription is x-omitempty: false in the spec.
	UnpaidSubscription bool `json:"unpaid_subscription"`
}

// organizationUser is the OrganizationUser definition.
type organizationUser struct {
	UserID           string   `json:"user_id"`
	OrganizationID   string   `json:"organization_id"`
	Username         string   `json:"username"`
	OrganizationName string   `json:"organization_name"`
	Role             string   `json:"role"`
	AllowedActions   []string `json:"allowed_actions"`
}

// organizationJSON is the Organization definition.
type organizationJSON struct {
	ID                 string   `json:"id"`
	Role               string   `json:"role"`
	Name               string   `json:"name"`
	AllowedActions     []string `json:"allowed_actions"`
	NumOfArrays        int      `json:"num_of_arrays"`
	EnabledFeatures    []string `json:"enabled_features"`
	UnpaidSubscription bool     `json:"unpaid_subscription"`
}

// paginationMetadata is the PaginationMetadata definition.
type paginationMetadata struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	TotalPages int `json:"total_pages"`
	TotalItems int `json:"total_items"`
}

// arrayInfo is the ArrayInfo definition.
type arrayInfo struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Namespace      string   `json:"namespace"`
	FileType       string   `json:"file_type"`
	TileDBURI      string   `json:"tiledb_uri"`
	URI            string   `json:"uri"`
	Type           string   `json:"type"`
	AllowedActions []string `json:"allowed_actions"`
	CreatedAt      string   `json:"created_at"`
	LastAccessed   string   `json:"last_accessed"`
	Size           int64    `json:"size"`
	PublicShare    bool     `json:"public_share"`
	ShareCount     int      `json:"share_count"`
	Tags           []string `json:"tags"` // x-omitempty: false
	// Metadata is present only with with_metadata=true.
	Metadata []metadataEntry `json:"metadata,omitempty"`
}

// metadataEntry is the MetadataStringifiedEntry definition.
type metadataEntry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Type  string `json:"type"`
}

// arrayBrowserData is the ArrayBrowserData definition.
type arrayBrowserData struct {
	Arrays             []arrayInfo        `json:"arrays"`
	PaginationMetadata paginationMetadata `json:"pagination_metadata"`
}

// arrayBrowserSidebar is the ArrayBrowserSidebar definition.
type arrayBrowserSidebar struct {
	Namespaces             []string       `json:"namespaces"`
	ResultCountForAll      int            `json:"result_count_for_all"`
	ResultCountByNamespace map[string]int `json:"result_count_by_namespace"`
}

// arrayEndTimestampData is the ArrayEndTimestampData definition.
type arrayEndTimestampData struct {
	EndTimestamps      []int64            `json:"end_timestamps"`
	PaginationMetadata paginationMetadata `json:"pagination_metadata"`
}

// arraySharing is the ArraySharing definition. Actions is not omitempty:
// an unshare is "actions": [].
type arraySharing struct {
	Namespace     string   `json:"namespace"`
	Actions       []string `json:"actions"`
	NamespaceType string   `json:"namespace_type,omitempty"`
}

// arrayInfoUpdate is the part of the ArrayInfoUpdate definition a rename
// reads.
type arrayInfoUpdate struct {
	Name string `json:"name"`
	URI  string `json:"uri"`
}

// notebookUploaded is the v2 NotebookUploaded definition.
type notebookUploaded struct {
	OutputURI string `json:"output_uri"`
	Name      string `json:"name"`
	ID        string `json:"id"`
}

// msTime formats a time as RFC 3339 in UTC with millisecond precision,
// the precision of the store's timestamps.
func msTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// stableID is a made-up, stable UUID for a user or organization, which the
// store does not keep ids for.
func stableID(kind, name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("notebookfs:"+kind+":"+name)).String()
}

// storageURI is the made-up storage location shown as ArrayInfo.uri.
func storageURI(nb remote.Notebook) string { return "local://" + nb.Namespace + "/" + nb.ID }

// arrayActions maps the store's actions to TileDB's ArrayActions: read and
// write as they are, and "edit" (edit the array's metadata) for the
// owner, which is who the store grants ActionShare to: the user whose
// namespace it is, and owners and admins of the owning organization.
func arrayActions(nb remote.Notebook) []string {
	out := []string{}
	if nb.Can(remote.ActionRead) {
		out = append(out, "read")
	}
	if nb.Can(remote.ActionWrite) {
		out = append(out, "write")
	}
	if nb.Can(remote.ActionShare) {
		out = append(out, "edit")
	}
	return out
}

// toArrayInfo builds ArrayInfo from a notebook and its shares.
func toArrayInfo(nb remote.Notebook, shares []remote.Share, withMetadata bool) arrayInfo {
	ai := arrayInfo{
		ID:             nb.ID,
		Name:           nb.Name,
		Namespace:      nb.Namespace,
		FileType:       "notebook",
		TileDBURI:      "tiledb://" + nb.Namespace + "/" + nb.Name,
		URI:            storageURI(nb),
		Type:           "dense",
		AllowedActions: arrayActions(nb),
		CreatedAt:      msTime(nb.Created),
		LastAccessed:   msTime(nb.Version),
		Size:           nb.Size,
		ShareCount:     len(shares),
		Tags:           []string{},
	}
	for _, sh := range shares {
		if sh.Namespace == remote.PublicNamespace && len(sh.Actions) > 0 {
			ai.PublicShare = true
		}
	}
	if withMetadata {
		ai.Metadata = notebookMetadata(nb.Size)
	}
	return ai
}

// notebookMetadata is the array metadata of a notebook of size bytes, as
// MetadataStringifiedEntry values: key, value as text, TileDB datatype.
func notebookMetadata(size int64) []metadataEntry {
	return []metadataEntry{
		{Key: "file_size", Value: strconv.FormatInt(size, 10), Type: "INT64"},
		{Key: "format", Value: "json", Type: "STRING_ASCII"},
		{Key: "type", Value: "notebook", Type: "STRING_ASCII"},
	}
}

// namespaceActions are TileDB's NamespaceActions a role grants (the spec
// lists the actions, not which role has which: this is our reading).
func namespaceActions(role string) []string {
	switch role {
	case "self":
		return []string{"read", "write", "create", "delete", "edit"}
	case "owner":
		return []string{"read", "write", "create", "delete", "edit", "delete_organization", "edit_organization", "edit_billing"}
	case "admin":
		return []string{"read", "write", "create", "delete", "edit", "edit_organization"}
	case "read_write_delete":
		return []string{"read", "write", "create", "delete"}
	case "read_write":
		return []string{"read", "write", "create"}
	}
	return []string{"read"}
}
