package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"notebookfs/remote"
)

// Create is the v2 notebook upload: POST /v2/notebooks/{ns}/{array}/upload
// ?filesize=N&name=NAME, Content-Type application/octet-stream, the raw
// bytes streamed from r with Content-Length N, and the header
// X-TILEDB-CLOUD-ACCESS-CREDENTIALS-NAME when opts.StorageCredential is
// set. {array} is the name, or, when opts.StoragePath is set, the
// url-encoded storage URI StoragePath/<stem>_<8 hex> (the name reduced to
// [A-Za-z0-9_-] as TileDB-Cloud-Py's sanitize_filename does, plus a random
// suffix, since names need not be unique but storage locations must); the
// registered name is always the name query parameter.
//
// The reply {output_uri, name, id} is followed by a Stat of the new id:
// three requests in all, two of them concurrent. If that Stat fails, the
// notebook nevertheless exists: Create then returns what it knows (times
// from the local clock) and no error, so that the caller does not upload it
// twice.
//
// r is sent as it is read. The upload is re-sent (after a redirect, a 429
// or a 503) only when r can be rewound (an io.Seeker) or nothing of it was
// read yet; a connection lost after the request may have reached the server
// is never retried, since a second upload would make a second notebook. A
// stream that cannot be rewound is sent with "Expect: 100-continue", so that
// a redirect or refusal comes before the body. r must hold exactly size
// bytes: when it can tell (a Seeker) the size is checked before sending,
// otherwise the upload is aborted before its last byte (ErrInvalid).
func (c *Client) Create(ctx context.Context, ns, name string, r io.Reader, size int64, opts remote.CreateOptions) (remote.Notebook, error) {
	if err := ctx.Err(); err != nil {
		return remote.Notebook{}, fmt.Errorf("create %s/%s: %w", ns, name, err)
	}
	if err := remote.ValidNamespace(ns); err != nil {
		return remote.Notebook{}, fmt.Errorf("create %s/%s: %w", ns, name, remote.ErrNotFound)
	}
	if err := remote.ValidName(name); err != nil {
		return remote.Notebook{}, fmt.Errorf("create %s/%s: %w", ns, name, err)
	}
	if size < 0 {
		return remote.Notebook{}, fmt.Errorf("create %s/%s: size %d: %w", ns, name, size, remote.ErrInvalid)
	}
	b := newBody(r, size)
	if n := b.remaining(); n >= 0 && n != size {
		return remote.Notebook{}, fmt.Errorf("create %s/%s: reader holds %d bytes, not %d: %w", ns, name, n, size, remote.ErrInvalid)
	}
	array := name
	if opts.StoragePath != "" {
		p, err := storageURI(opts.StoragePath, name)
		if err != nil {
			return remote.Notebook{}, fmt.Errorf("create %s/%s: %w", ns, name, err)
		}
		array = p
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()

	cl := &call{
		method: http.MethodPost,
		path:   "/v2/notebooks/" + seg(ns) + "/" + seg(array) + "/upload",
		query:  url.Values{"filesize": {strconv.FormatInt(size, 10)}, "name": {name}},
		header: http.Header{"Content-Type": {"application/octet-stream"}},
		body:   b,
	}
	if opts.StorageCredential != "" {
		cl.header.Set("X-TILEDB-CLOUD-ACCESS-CREDENTIALS-NAME", opts.StorageCredential)
	}
	_, data, err := c.send(ctx, cl, true)
	if err != nil {
		return remote.Notebook{}, err
	}
	var up notebookUploaded
	if err := decode(cl, data, &up); err != nil {
		return remote.Notebook{}, err
	}
	if !uuidRE.MatchString(up.ID) {
		return remote.Notebook{}, fmt.Errorf("%s: reply without a notebook id", cl.label())
	}
	nb, err := c.stat(ctx, ns, up.ID)
	if err == nil {
		return nb, nil
	}
	c.log.WithField("notebook", ns+"/"+up.ID).Warnf("created, but reading it back failed: %v", err)
	now := c.now().UTC().Truncate(time.Millisecond)
	c.mu.Lock()
	u := c.user
	c.mu.Unlock()
	return remote.Notebook{
		ID: up.ID, Namespace: ns, Name: name, Size: size, Version: now, Created: now,
		Actions: actionsOf([]string{remote.ActionRead, remote.ActionWrite}, canShare(u, ns)),
	}, nil
}

var notStem = regexp.MustCompile(`[^\w\s-]`)
var runs = regexp.MustCompile(`[-_\s]+`)

// storageURI is where a notebook named name goes under a storage path.
func storageURI(path, name string) (string, error) {
	if !strings.Contains(path, "://") {
		return "", fmt.Errorf("storage path %q is not a URI (want e.g. s3://bucket/notebooks): %w", path, remote.ErrInvalid)
	}
	stem := strings.Trim(runs.ReplaceAllString(notStem.ReplaceAllString(name, ""), "_"), "_")
	if stem == "" {
		stem = "notebook"
	}
	if len(stem) > 100 {
		stem = stem[:100]
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", errors.New("no randomness for a storage name")
	}
	return strings.TrimRight(path, "/") + "/" + stem + "_" + hex.EncodeToString(rnd[:]), nil
}
