// Package server is an HTTP server speaking the subset of the TileDB Cloud
// REST API that notebook clients use, over the embedded store
// (remote/local), for any number of users with API tokens. notebookfs's
// TileDB Cloud client is tested against it, and so is TileDB's own JS client
// (@tiledb-inc/tiledb-cloud 1.0.8; see test/js). `notebookfs serve` runs it.
//
// # Authentication
//
// Every request but GET /metrics and GET /v4/capabilities needs either the
// header X-TILEDB-REST-API-KEY: <token>, or HTTP Basic auth whose password
// is a token issued to that user name (the header wins when both are
// sent). Tokens come from `notebookfs user add` and `notebookfs user
// token`. The request then runs as that user: the store's rights decide
// (own namespace, organization role, shares, public). Tokens and the
// Authorization header are never logged.
//
// # Routes
//
//	GET    /v1/user                                    User
//	GET    /v1/organizations                           [Organization]
//	GET    /v1/organizations/{organization}            Organization (404 unless a member)
//	GET    /v1/arrays/browser/{owned,shared,public}    ArrayBrowserData
//	GET    /v1/arrays/browser/{...}/sidebar            ArrayBrowserSidebar
//	GET    /v1/arrays/{ns}/{array}/metadata            ArrayInfo
//	GET    /v1/arrays/{ns}/{array}/metadata_json       {"file_size":N,"type":"notebook","format":"json"}
//	GET    /v1/arrays/{ns}/{array}/fragment_end_timestamp   bare integer (ms)
//	GET    /v1/arrays/{ns}/{array}/end_timestamps      ArrayEndTimestampData
//	GET    /v1/notebooks/{ns}/{array}/end_timestamps   ArrayEndTimestampData
//	GET    /v1/arrays/{ns}/{array}/share               [ArraySharing]
//	PATCH  /v1/arrays/{ns}/{array}/share               204
//	GET    /v1/arrays/{ns}/{array}/query/get_file      the bytes (application/x-ipynb+json)
//	DELETE /v1/arrays/{ns}/{array}                     204
//	DELETE /v1/arrays/{ns}/{array}/deregister          204 (deletes too: no storage to keep)
//	PATCH  /v1/notebooks/{ns}/{array}/rename           204
//	POST   /v2/notebooks/{ns}/{array}/upload           201 NotebookUploaded
//	GET    /v4/capabilities                            404 (libtiledb then uses the v1/v2 paths)
//	GET    /metrics                                    Prometheus text format
//
// New endpoints (the capnp array protocol) go in their own file as a method
// returning []route, listed in routes().
//
// # Errors
//
// Every error reply is TileDB's Error body {"code", "message",
// "request_id"}; the request id is fresh per request and is also sent as
// the X-Request-Id header of every reply. The code tells the kind exactly:
//
//	code  status  meaning
//	4000  400     invalid parameter or body (remote.ErrInvalid)
//	4001  401     missing or bad credentials (remote.ErrUnauthenticated)
//	4003  403     visible but not allowed, e.g. share without owning (remote.ErrPermission)
//	4004  404     no such notebook, namespace, organization or version (remote.ErrNotFound)
//	4005  405     the path exists, for other methods (Allow header lists them)
//	4009  409     already exists (remote.ErrExist)
//	4013  400     name too long (remote.ErrNameTooLong)
//	4014  413     upload larger than MaxUpload
//	4019  409     conflicting version (remote.ErrConflict)
//	4040  404     no such endpoint (a route, not a notebook)
//	5000  500     internal error; the message only names the request id, the log has the rest
//	5001  501     not supported (remote.ErrUnsupported)
//	5003  503     injected fault, or the request was cut short; retry (Retry-After: 0)
//
// A notebook the caller cannot read is 404, never 403, as in the store.
//
// # Decisions where the spec is silent
//
//   - {array} in a path is the notebook's UUID, our storage URI
//     (local://ns/uuid), or its name (URL-decoded). A UUID is tried as an id
//     first. A name picks the first notebook of that name in creation order
//     among those the caller sees in the namespace (its own notebooks when
//     it is the caller's namespace or organization, else the shared and
//     public ones).
//   - ArrayInfo: file_type "notebook"; tiledb_uri "tiledb://ns/name"; uri
//     "local://ns/uuid" (made up: there is no bucket); size is the byte
//     length of the latest version (not a storage size); created_at and
//     last_accessed are RFC 3339 UTC with milliseconds, and last_accessed is
//     defined here as the time of the LATEST VERSION (it never moves on
//     reads), so it is the notebook's modification time; allowed_actions
//     are "read", "write", plus "edit" for the owner (the user whose
//     namespace it is, or an owner or admin of the owning organization:
//     those who may share); public_share is true when shared with
//     "public"; share_count counts every share, "public" included; tags is
//     []. With with_metadata=true, metadata holds the array metadata as
//     MetadataStringifiedEntry values: {"key":"file_size","value":"<n>",
//     "type":"INT64"}, {"key":"format","value":"json","type":"STRING_ASCII"}
//     and {"key":"type","value":"notebook","type":"STRING_ASCII"}.
//   - Listings: page is 1-based (default 1), per_page defaults to 1000 and
//     is capped at 1000; 0 means the default, negative is 400. A page past
//     the end has "arrays": [] (never null or absent). Order: creation time
//     (the store's order within a namespace). Filters: file_type without
//     "notebook", exclude_file_type with it, any tag or file_property give
//     an empty list (notebooks here have no tags or properties); search is a
//     case-insensitive substring of the name; shared_to (shared only) keeps
//     notebooks shared to one of the namespaces; namespace limits to one
//     namespace (an owned listing of a namespace that is not the caller's is
//     empty); orderby and permissions are ignored.
//   - Sidebars count per namespace with the same file_type filters; the
//     owned sidebar names only the caller's namespaces that have notebooks
//     (clients list owned namespaces, even empty ones, from /v1/user).
//   - /v1/user and /v1/organizations include the implicit "public"
//     organization (role read_only, actions ["read"]), as the real service
//     does; clients skip it. User and organization ids are stable made-up
//     UUIDs (SHA-1 of the name). enabled_features is ["notebook_sharing"].
//     NamespaceActions per role are this server's reading: own namespace
//     and owner/admin read, write, create, delete, edit (+ organization
//     actions); read_write_delete read, write, create, delete; read_write
//     read, write, create; read_only read.
//   - metadata_json and fragment_end_timestamp with end_timestamp use the
//     latest version at or before it; none that early is 404.
//   - end_timestamps are ascending, paginated as listings.
//   - Upload always creates a new notebook (see uploadNotebook); output_uri
//     is "tiledb://ns/<uuid>". Saving a new version of an existing notebook
//     is the capnp write path, not this endpoint.
//   - Share: a missing "actions" is the same as [] (unshare), as a client
//     generated from the spec omits an empty list. Sharing needs ownership
//     (403 when the notebook is visible but the caller may not share).
//
// # Fault injection
//
// With Options.FaultRate f, a fraction f of API requests (seeded, so
// repeatable) fail before authentication and before their handler runs, so
// a faulted request never changes anything: half get 503 with Retry-After: 0
// and an Error body (code 5003), half have their connection dropped after a
// partial status line and headers. Options.Latency is slept before each API
// request (ending early if the client goes away). /metrics counts both.
package server
