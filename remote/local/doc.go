// Package local is the embedded notebook store: a SQLite database (pure Go,
// modernc.org/sqlite) in one directory, implementing remote.Client for any
// number of users and organizations. It backs the single-user mount and the
// multi-user HTTP server.
//
// Storage: every version of a notebook is kept. Content is split into 1 MiB
// chunks in their own table, so a save streams its io.Reader into the
// database and a read streams chunk by chunk: memory stays bounded by a chunk
// whatever the notebook size. A save (create or write) is one IMMEDIATE write
// transaction with synchronous=FULL in WAL mode: a crash leaves either the
// whole version or nothing, and a reader never sees a partial one. Saves are
// also serialized in process (waiting honours ctx) so that concurrent writers
// queue instead of failing on SQLITE_BUSY.
//
// A consequence: a save holds the write lock while it reads its io.Reader, so
// a slow reader delays other saves. Callers with slow sources (an HTTP server
// receiving a body) should spool first.
//
// Rights (the effective actions are the union of all of these):
//   - the user whose namespace it is: read, write, share, rename and delete;
//   - members of the owning organization: owner and admin as the user above;
//     read_write_delete read, write, rename and delete; read_write read and
//     write; read_only read;
//   - a share to the user, or to an organization the user is a member of
//     (any role): its actions;
//   - a share to "public": read for everybody.
//
// A share is exactly the actions given: a write-only share grants no read,
// so its target still cannot see the notebook.
//
// "public" is the implicit organization every user belongs to: it has no
// row, cannot be created (ErrExist, as a taken name) and has no members.
//
// A notebook the caller cannot read does not exist for them (ErrNotFound,
// never ErrPermission), and neither does an id looked up under another
// namespace or a malformed id. List in Shared or Public of a namespace with
// nothing visible returns an empty list, not an error.
//
// Version timestamps are milliseconds and strictly increase per notebook: a
// save in the same millisecond as the previous version (or with a clock that
// went back) gets the previous timestamp plus one.
//
// Content returned by Read streams with the ctx given to Read, as an HTTP
// body would: cancel it and the next Read of the content fails.
package local
