package fuse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"notebookfs/remote"
)

func TestToErrno(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("GET /v1/arrays/alice/x: %w", err) }
	tests := []struct {
		name   string
		err    error
		want   syscall.Errno
		logged bool
	}{
		{"nil", nil, 0, false},
		{"errno passes through", wrap(syscall.ENOSPC), syscall.ENOSPC, false},
		{"not found", wrap(remote.ErrNotFound), syscall.ENOENT, false},
		{"os not exist", &os.PathError{Op: "open", Path: "/x", Err: os.ErrNotExist}, syscall.ENOENT, false},
		{"exists", wrap(remote.ErrExist), syscall.EEXIST, false},
		{"permission", wrap(remote.ErrPermission), syscall.EACCES, false},
		{"unauthenticated logs how to log in", wrap(remote.ErrUnauthenticated), syscall.EACCES, true},
		{"invalid", wrap(remote.ErrInvalid), syscall.EINVAL, false},
		{"name too long", wrap(remote.ErrNameTooLong), syscall.ENAMETOOLONG, false},
		{"unsupported", wrap(remote.ErrUnsupported), syscall.ENOTSUP, false},
		{"canceled", wrap(context.Canceled), syscall.EINTR, false},
		{"deadline", wrap(context.DeadlineExceeded), syscall.ETIMEDOUT, true},
		{"anything else is EIO, logged", wrap(io.ErrUnexpectedEOF), syscall.EIO, true},
		{"plain error", errors.New("boom"), syscall.EIO, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, hook := test.NewNullLogger()
			got := toErrno(logrus.NewEntry(log), "read", "owned/alice/x.ipynb", tc.err)
			if got != tc.want {
				t.Errorf("toErrno(%v) = %v, want %v", tc.err, got, tc.want)
			}
			if n := len(hook.AllEntries()); (n == 1) != tc.logged || n > 1 {
				t.Errorf("%d log lines, want logged=%v", n, tc.logged)
			}
			for _, e := range hook.AllEntries() {
				if e.Data["op"] != "read" || e.Data["path"] != "owned/alice/x.ipynb" {
					t.Errorf("log line lacks op and path: %v", e.Data)
				}
			}
		})
	}
}
