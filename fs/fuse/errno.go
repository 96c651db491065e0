package fuse

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// toErrno maps an error to the errno a syscall returns. It is the only
// mapping in notebookfs: go-fuse's ToErrno compares sentinels by equality
// and answers ENOTSUP for anything wrapped, which is wrong for a remote.
// Errors that become EIO, and authentication failures, are logged once here
// with the operation and path.
func toErrno(log *logrus.Entry, op, path string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno
	case errors.Is(err, remote.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, remote.ErrExist), errors.Is(err, os.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, remote.ErrUnauthenticated):
		log.WithFields(logrus.Fields{"op": op, "path": path}).WithError(err).
			Error("the remote refused our credentials: log in again (notebookfs login, or set TILEDB_REST_TOKEN)")
		return syscall.EACCES
	case errors.Is(err, remote.ErrPermission), errors.Is(err, os.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, remote.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, remote.ErrNameTooLong):
		return syscall.ENAMETOOLONG
	case errors.Is(err, remote.ErrUnsupported):
		return syscall.ENOTSUP
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, context.DeadlineExceeded):
		log.WithFields(logrus.Fields{"op": op, "path": path}).WithError(err).Warn("remote call timed out")
		return syscall.ETIMEDOUT
	}
	log.WithFields(logrus.Fields{"op": op, "path": path}).WithError(err).Error("I/O error")
	return syscall.EIO
}
