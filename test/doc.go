// Package test holds notebookfs's mounted end-to-end tests: each mounts a
// real file system in a temp dir (go-fuse's advice) over a real SQLite
// store and acts through the mountpoint with syscalls and real programs.
package test
