// Package cloud is a remote.Client for TileDB Cloud over its JSON REST API
// (v1 and v2, as its published spec defines them) and, for a notebook's
// contents, TileDB's capnp array protocol (bodies from remote/arrayproto),
// as TileDB's JS client speaks it plus what that lacks: timestamps
// (versions) and the array metadata. Read (read.go, readarray.go) and Write
// (write.go) go through it; Create stays the v2 upload.
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
//	Read (latest)      3  GET .../fragment_end_timestamp -> V, then
//	                      GET .../array_metadata?start_timestamp=0&end_timestamp=V
//	                      (capnp), then POST /v2/arrays/{ns}/{id}/query/submit
//	                      ?type=READ&read_all=true&start_timestamp=0&end_timestamp=V
//	                      (capnp, streamed); no READ when file_size is 0;
//	                   2  when V is still the version whose size the client
//	                      knows (a listing entry, its own save, an earlier read
//	                      of V): no array_metadata
//	Read (at A)        3  fragment_end_timestamp?end_timestamp=A and
//	                      array_metadata at A concurrently, then the READ at A;
//	                      for A within the last minute (or later), as latest
//	                      with end_timestamp=A on fragment_end_timestamp
//	                   +1 READ continuation per INCOMPLETE reply from a server
//	                      that ignores read_all
//	Write              2  POST .../query/submit?type=WRITE&read_all=true
//	                      &start_timestamp=0&end_timestamp=T (capnp message +
//	                      the bytes, streamed), then POST .../array_metadata at T;
//	                   3  when the client has not seen the notebook yet
//	                      (GET .../metadata first);
//	                   +2 after a 409 (a newer version: fragment_end_timestamp,
//	                      the WRITE again above it)
//	Write (empty)      2  POST .../array_metadata (file_size 0) at T, then
//	                      fragment_end_timestamp; +1 WRITE of one fill cell at T
//	                      when the metadata made no version (TileDB)
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
//     Array-protocol POSTs are the exception (retried as idempotent: 429,
//     502, 503, 504, lost connections): a READ changes nothing, and a WRITE
//     or metadata POST carries its timestamp T, so sending it again stores
//     the same cells or entries at the same T, i.e. the same version;
//   - a READ reply cut short is asked again from its last whole chunk
//     (readarray.go);
//   - a DELETE retried after its first attempt may have reached the server
//     and now answered 404 counts as done.
//
// Redirects (301, 302, 303, 307, 308) are followed by hand, at most 3, with
// the same method, headers and body; Go's automatic following would turn a
// POST into a GET. Only https targets are followed (http only on loopback).
// Credentials (X-TILEDB-REST-API-KEY, Authorization) go only to the
// configured origin and to https hosts of its registrable domain on the same
// port (golang.org/x/net/publicsuffix): a redirect anywhere else is followed
// without them. A redirect that moves the same path to another host of that
// site (api.tiledb.com sending us to an array's region) is remembered: later
// calls go to the new host directly, as TileDB's JS client does; a redirect
// to another site never moves the client.
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
// # The array protocol
//
// Read pins everything at one timestamp, so that the bytes, Content.Size
// and Content.Version always belong together (the FUSE layer caches by
// id and version): the version V comes first, from fragment_end_timestamp
// (the newest fragment at or before the time asked; a fragment is a
// version), then file_size as of V, then contents [0, file_size-1] as of V.
// A save landing meanwhile is a newer fragment, invisible at V. Latest is
// the server's latest fragment, not the client's clock, so clock skew
// cannot hide a save. The notebook's schema is constant and never fetched.
// The size may come from the client's memory instead of array_metadata,
// but only paired with its version (rememberSize) and only once
// fragment_end_timestamp has confirmed that version is still the one to
// read, or when a listing that the server marks exact (reply header
// X-Notebookfs-Exact-Versions: true, sent by notebookfs serve, whose
// last_accessed is the newest version's time) named it the newest less
// than ListingTTL ago: then the READ at V is the only request. TileDB
// Cloud's listings are never taken so: its last_accessed is approximate.
//
// Notebooks over 1 MiB are read as concurrent READs of consecutive ranges
// (512 KiB to 2 MiB, at most Parallel at a time, delivered in order), so
// one connection's window does not bound the read.
//
// Connections: up to 96 per host are kept idle and at most 96 open (the
// concurrency of prefetch and of a call's parallel requests); HTTP/2 is
// used where TLS offers it, and a READ's reply is read to its end so its
// connection is reused.
//
// A READ asks for at most 8 MiB per reply chunk; chunks are decoded as the
// caller reads, so a streamed read holds at most two chunks (about 40 MiB of heap
// at the peak, garbage included, for a 200 MB notebook; a save streams
// with no buffer of its own).
//
// get_file remains only as a fallback for latest reads from a server
// without the array protocol (501 from fragment_end_timestamp: the old
// ArrayInfo + get_file pair; 404 or 501 from array_metadata or the READ:
// get_file labelled V, then fragment_end_timestamp again, a different
// answer failing the read with ErrConflict). It would not save a request:
// get_file has no timestamp, so labelling its bytes exactly needs a version
// before and a check after.
//
// Limits: a writer that stamps its metadata after its fragment (TileDB-
// Cloud-Py without a timestamp) makes file_size as of V the
// previous one; this client, JupyterLab's contents manager and libtiledb
// opened at T write both at T. Versions reads sizes the same way
// (metadata_json at V).
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
//   - get_file (fallback) without a Content-Length reads the reply whole
//     before returning, so Content.Size is exact. A get_file reply cut
//     short is asked again: with Range + If-Range when it had an ETag, else
//     from the start, checking that the bytes already delivered did not
//     change.
//   - Write's timestamp T is the client's now in ms, raised to one more
//     than the newest version this client wrote or saw of the notebook;
//     if the WRITE reply's writtenFragmentInfo names another timestamp,
//     the server's wins (metadata and Version follow it). A 409 (the
//     notebookfs server refuses a version before its newest) is retried
//     once above the newest version, then reported as ErrConflict.
//   - An empty save (TileDB cannot write an empty range) is file_size 0 at
//     T; where metadata alone is no version (TileDB: versions are
//     fragments), cell 0 = 255 (the fill value) is written at T too, so
//     that reads pinned at the newest fragment see it.
//   - Write returns Name, Created and Actions as last seen by the client
//     (List, Stat, Create, Rename, Write; up to 10000 notebooks
//     remembered), else from GET .../metadata.
package cloud
