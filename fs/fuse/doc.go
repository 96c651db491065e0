// Package fuse serves a notebookfs file system (package fs) to the kernel
// through go-fuse, and is the only package of notebookfs that imports it.
// Each node method converts its arguments, calls the file system, fills
// the attributes and maps the error (toErrno); scratch directories and
// symlinks are go-fuse's loopback nodes over the scratch directory.
//
// Rules this package keeps, which go-fuse does not enforce:
//   - one inode number per file: the file system hands out numbers that
//     no other live file holds, since go-fuse dedupes inodes by number;
//   - no Notify call under a lock of the file system;
//   - nothing here runs a program with its working directory on the
//     mount (the kernel would wait on a FUSE request this process cannot
//     answer while forking).
package fuse
