// Package server is an HTTP server speaking the subset of the TileDB Cloud
// REST API (as its published spec, "the spec" below, defines it) that
// notebook clients use, over the embedded store (remote/local), for any
// number of users with API tokens. notebookfs's TileDB Cloud client is
// tested against it, and so is TileDB's own JS client
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
// The capnp array protocol (capnp*.go, see below):
//
//	GET    /v1/arrays/{ns}/{array}                     the notebook array schema (JSON or capnp ArraySchema)
//	POST   /v{1,2,3}/arrays/{ns}/{array}/query/submit  ?type=READ|WRITE: capnp Query, chunked reply
//	GET    /v1/arrays/{ns}/{array}/array_metadata      capnp ArrayMetadata (or its JSON)
//	POST   /v1/arrays/{ns}/{array}/array_metadata      200, empty body
//
// New endpoints go in their own file as a method returning []route, listed
// in routes().
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
//	4014  413     upload larger than MaxUpload, or a capnp body over its limit
//	4019  409     conflicting version (remote.ErrConflict): a WRITE or file_size that does not fit the history
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
// # The capnp array protocol
//
// TileDB's clients save and read a notebook as an array: a capnp WRITE or
// READ query/submit of the `contents` cells, and the array metadata
// file_size, type, format (bodies are coded by remote/arrayproto).
// TileDB's JS client (@tiledb-inc/tiledb-cloud 1.0.8: TileDBQuery.WriteQuery
// and ReadQuery, the array metadata calls, downloadNotebookContents) works
// against these routes (test/js/query.js). Versions are the store's
// versions: every WRITE is a new version of the same notebook (same id,
// shares, history).
// Decisions where TileDB's protocol leaves a choice or that differ from
// TileDB Cloud:
//
//   - Time. end_timestamp or its synonym open_at (start_timestamp,
//     default 0, bounds the window from below) picks the version: the
//     latest one at or before it. "Latest" (no timestamp, or MAX) is the
//     store's clock now, so a version written at a client time ahead of
//     the clock stays invisible to latest reads and metadata until the
//     clock reaches it. The JSON routes above (get_file,
//     metadata_json, listings, ArrayInfo) are unchanged: they show the
//     newest version whatever its time.
//   - WRITE. Only the whole notebook, cells [0, n-1] with n >= 1, of the
//     notebook array shape (the single attribute contents, one UINT64
//     range, a row-major/col-major/global-order layout); anything else is
//     400. The version's time is end_timestamp/open_at if given (the
//     body's array.endTimestamp is informational and ignored), else the
//     store's clock. A given time must be after the notebook's latest
//     version (409: versions are whole files in increasing time, so a
//     write into the past, which TileDB would accept and shadow, cannot be
//     placed), unless the version at exactly that time holds the very
//     same bytes: then the write is a retry and succeeds without a new
//     version. It may be at most 10 minutes ahead of the clock (400
//     beyond: clock skew). A server-chosen time bumped past the clock (a
//     save in the same millisecond as the previous version) is waited for
//     (at most 100 ms) before the reply, so that the latest reads that
//     follow see it. The reply carries the time in array.endTimestamp and
//     writtenFragmentInfo, with a fragment name derived from the id and
//     time (a retry gets the same name). Write needs the write right (403
//     before the body is read; 404 if the caller cannot read it).
//   - WRITE bodies: the message at most 8 MiB (413 from its header, before
//     it is received), contents at most MaxUpload (413), Content-Length
//     equal to message + n and, chunked, nothing after the contents (400).
//     The contents are spooled (memory up to 4 MiB, else a temporary file)
//     before the store, which holds its write lock while it reads, is
//     called.
//   - READ. Cells at or past the version's size read as the fill value 255,
//     and so does every cell before the notebook's first version or when
//     no version falls in the window. TileDB would show older, longer
//     fragments' bytes past file_size (a stale tail); versions here
//     are whole files, and 255 is what a reader that overshoots is better
//     served with (the JS client's downloadNotebookContents reads
//     [0, file_size] and strips the non-printable 255). A reply carries at
//     most min(client buffer, 64 MiB) bytes; if the range is longer it is
//     INCOMPLETE and keeps the rest of the range and the resolved time in
//     its reader and array.endTimestamp (arrayproto), so a continuation
//     (the reply posted back, as the JS client does) reads the same
//     version even if a save came in between. Whatever follows the
//     message in a READ body (the previous reply's data) is read and
//     dropped, up to 64 MiB + 8 MiB (413 beyond): a continuation may send
//     the message alone. read_all=true (libtiledb) streams every chunk in
//     one reply, without Content-Length, for at most MaxUpload + 64 MiB
//     cells (400 beyond). Single replies have a Content-Length.
//   - Array metadata. The store keeps no free-form metadata: GET returns
//     file_size (INT64, the size of the version at end_timestamp), type
//     "notebook" and format "json" (STRING_UTF8), or no entries when no
//     version falls in the window (as an array with no metadata yet). A
//     POST is one metadata write at end_timestamp (latest = now), entries
//     folded in order (the last of a key wins): file_size must equal the
//     size of the version at that time, which the save's WRITE has just
//     made (409 otherwise); file_size 0 on a non-empty version saves an
//     empty version (a WRITE cannot carry 0 cells), at
//     end_timestamp if given; type must stay "notebook" and format "json"
//     (400); deleting any of those three is 400; every other key (JC's
//     mimetype, TileDB-Py's __np_flat_* deletions) is accepted and not
//     kept, so a GET does not return it. A POST needs the write right
//     (403); its reply is 200 with an empty body.
//   - Formats. The schema is capnp when Content-Type or Accept is
//     application/capnp, else JSON (the JS client). array_metadata GET is
//     capnp unless the request asks for JSON (Content-Type
//     application/json, or no Content-Type and an Accept listing it): then
//     the spec's ArrayMetadata JSON, value as a list of bytes; a POST with
//     Content-Type application/json takes that JSON.
//   - Not served: libtiledb 2.26+'s array open (POST /v2/arrays/{ns}/{a}/)
//     and v3 directory and fragment metadata, query/finalize and
//     query/est_result_sizes (TileDB-Py): 404 (no such endpoint).
//   - Found while testing the JS client: its axios 0.21 refuses request
//     bodies over 10 MB (ERR_FR_MAX_BODY_LENGTH_EXCEEDED) unless
//     axios.defaults.maxBodyLength is raised, so a WriteQuery of a larger
//     notebook fails in the client; test/js/query.js raises it.
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
