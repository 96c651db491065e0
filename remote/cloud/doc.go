// Package cloud is a remote.Client for TileDB Cloud over its JSON REST API
// (openapi v1 and v2; see shared/reference/tiledb-cloud-api.md). Saving a new
// version of an existing notebook and reading an old version need TileDB's
// capnp array protocol: Write (write.go) and readAt (read.go) report
// remote.ErrUnsupported until that piece replaces them.
//
// # Addressing
//
// Every call on one notebook puts its UUID in the {array} path segment
// (names are not unique); a namespace or id that is malformed is
// remote.ErrNotFound without a request, so that a non-UUID can never
// address a notebook by name. Path segments are escaped with
// url.PathEscape, as TileDB's clients do.
//
// # Requests per operation
//
//	Whoami             1  GET /v1/user (refreshes the cached user)
//	Namespaces(owned)  0  from the cached user (1 the first time)
//	Namespaces(other)  1  GET /v1/arrays/browser/{cat}/sidebar?file_type=notebook
//	List (N notebooks) ceil(N/PerPage) pages, page 1 then the rest concurrently,
//	                   + 1 metadata_json per notebook whose listing lacks file_size
//	Stat               2  GET .../metadata and .../metadata_json, concurrently
//	Read (latest)      2  GET .../metadata, then .../query/get_file (streamed)
//	Create             3  POST /v2/notebooks/{ns}/{array}/upload, then a Stat
//	Rename             3  PATCH /v1/notebooks/{ns}/{id}/rename, then a Stat
//	Delete             1  DELETE /v1/arrays/{ns}/{id}
//	Versions           pages of end_timestamps + 1 metadata_json per version
//	Shares, Share      1  GET or PATCH /v1/arrays/{ns}/{id}/share
//
// The first call needing the user (share right, owned namespaces) adds one
// GET /v1/user; the user is then cached for the client's life, and fetched
// again only when a namespace is not found among the cached ones.
//
// # Transport
//
// One http.Client for all calls, with dial (10s) and TLS handshake (10s)
// timeouts, and a 30s wait for reply headers on idempotent requests (a
// POST waits for the call deadline: storing a large upload may take long).
// Every method call has a deadline, ctx's or CallTimeout (default 60s),
// covering all its requests and retries; Read's content streams under it.
//
// Retries (at most MaxRetries, default 5; backoff 100ms doubling to 5s,
// jittered; Retry-After honoured in seconds or as an HTTP date, and a wait
// that would pass the deadline is not started):
//   - 429, 502, 503 and 504 replies; for a POST (upload) only 429 and 503,
//     which mean the request was refused (a 502 or 504 may come after the
//     upload was stored), and only when the body can be sent again;
//   - connection errors of idempotent requests: GET, HEAD, PUT, DELETE and
//     our PATCHes (rename to a name and set a share to exactly some actions
//     give the same result however often they run); a reply cut short, for
//     JSON replies and for get_file (resumed, see below);
//   - for a POST, only errors proving the request never left (dial errors:
//     connection refused, unreachable, DNS). A POST whose connection broke
//     after sending is not retried: it may have created the notebook.
//   - a DELETE retried after its first attempt may have reached the server
//     and now answered 404 counts as done.
//
// Redirects (301, 302, 303, 307, 308) are followed by hand, at most 3, with
// the same method, headers (credentials included) and body; Go's automatic
// following would turn a POST into a GET. Only https targets are followed
// (http only on loopback). A redirect that moves the same path to another
// host (api.tiledb.com sending us to an array's region) is remembered: later
// calls go to the new host directly, as TileDB's JS client does.
//
// A request body is resent after a redirect or a retry when it can be
// rewound: JSON bodies always, an upload when its reader is an io.Seeker, or
// when nothing of it was read yet (such streams are sent with
// "Expect: 100-continue").
//
// # Errors
//
// Error replies become *Error ({code, message, request_id} parsed, non-JSON
// bodies tolerated), wrapping: 404 remote.ErrNotFound, 401
// ErrUnauthenticated, 403 ErrPermission, 400 and 422 ErrInvalid, 409
// ErrExist, 501 ErrUnsupported; any other status is a plain error (EIO).
// Messages read "GET /v1/arrays/alice/<id>/metadata: 404 Not Found: <message>
// (code N, request_id R)". Cancellation and deadlines wrap ctx's error.
// Credentials (the token, the password, the Basic header) never appear in an
// error or a log line: they are sent only as headers, headers are never
// logged, and server messages are scrubbed of them.
//
// # Decisions where TileDB's spec is silent
//
//   - Version is ArrayInfo.last_accessed (the notebookfs server sets it to
//     the latest version's time; on TileDB Cloud it is approximate, as it may
//     also move on reads). Times are truncated to milliseconds.
//   - Size is the file_size array metadata: from the listing's metadata
//     entries (with_metadata=true) when present, else metadata_json.
//   - Actions are read and write from allowed_actions, plus share for the
//     user's own namespace and organizations where the role is owner or
//     admin.
//   - Namespaces(Shared) and List(Shared) leave out the user's own
//     namespaces (their notebooks show under owned/); List(Owned) of a
//     namespace that is not the user's is ErrNotFound.
//   - Create with a StoragePath uploads to StoragePath/<stem>_<8 hex>
//     (url-encoded as the {array} segment) so that duplicate names do not
//     collide in storage; the registered name is the name parameter.
//   - Read without a Content-Length reads the reply whole before returning,
//     so Content.Size is exact. A get_file reply cut short is asked again:
//     with Range + If-Range when it had an ETag, else from the start,
//     checking that the bytes already delivered did not change.
package cloud
