package cloud

import (
	"context"
	"fmt"
	"io"

	"notebookfs/remote"
)

// Write saves a new version of an existing notebook. TileDB Cloud's JSON
// REST API cannot do it (its uploads create new notebooks): it takes a
// write query over the capnp array protocol plus the file_size metadata,
// which a later piece implements by replacing this file. Until then Write
// checks its arguments and reports ErrUnsupported, without a request.
func (c *Client) Write(ctx context.Context, ns, id string, r io.Reader, size int64) (remote.Notebook, error) {
	if err := ctx.Err(); err != nil {
		return remote.Notebook{}, fmt.Errorf("write %s/%s: %w", ns, id, err)
	}
	if err := checkNotebook("write", ns, id); err != nil {
		return remote.Notebook{}, err
	}
	if size < 0 {
		return remote.Notebook{}, fmt.Errorf("write %s/%s: size %d: %w", ns, id, size, remote.ErrInvalid)
	}
	return remote.Notebook{}, fmt.Errorf("write %s/%s: saving a new version needs the array protocol: %w", ns, id, remote.ErrUnsupported)
}
