package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// Extended attributes. Until sharing attributes exist, notebooks and
// namespace directories carry none: get and remove answer ENODATA (the
// kernel asks for security.capability on every write, at no remote cost),
// list is empty, and set is ENOTSUP, which cp -p, cp -a and rsync -X treat
// as "not supported here" and carry on.

var _ = (gofs.NodeSetxattrer)((*fileNode)(nil))
var _ = (gofs.NodeRemovexattrer)((*fileNode)(nil))
var _ = (gofs.NodeListxattrer)((*fileNode)(nil))
var _ = (gofs.NodeSetxattrer)((*nsDir)(nil))
var _ = (gofs.NodeRemovexattrer)((*nsDir)(nil))
var _ = (gofs.NodeListxattrer)((*nsDir)(nil))

// Setxattr is not supported on notebooks.
func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

// Removexattr finds nothing to remove.
func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return gofs.ENOATTR
}

// Listxattr lists nothing.
func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, 0
}

// Setxattr is not supported on namespace directories.
func (d *nsDir) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

// Removexattr finds nothing to remove.
func (d *nsDir) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return gofs.ENOATTR
}

// Listxattr lists nothing.
func (d *nsDir) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, 0
}
