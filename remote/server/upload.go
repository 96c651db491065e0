package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"

	"notebookfs/remote"
)

const (
	// MaxUpload is the largest notebook accepted by the upload endpoint.
	MaxUpload = 1 << 30
	// spoolInMemory is the largest upload spooled in memory; larger ones go
	// to a temporary file.
	spoolInMemory = 4 << 20
)

// uploadNotebook answers POST /v2/notebooks/{ns}/{array}/upload?filesize=N[&name=]
// with 201 NotebookUploaded. It always creates a new notebook, named name
// or else {array}; a name taken already makes a second notebook of that
// name, as TileDB allows. {array} may instead be a url-encoded storage URI
// (it contains "://"): it is then kept as the notebook's storage path and
// its last segment is the default name. The X-TILEDB-CLOUD-ACCESS-CREDENTIALS-NAME
// header is kept as the storage credential.
//
// The body is spooled (memory up to 4 MiB, else a temporary file) before
// the store is called, because the store holds its write lock while it
// reads. Its length must equal filesize (else 400); over MaxUpload is 413.
func (s *Server) uploadNotebook(w http.ResponseWriter, r *http.Request, c *call) error {
	ns, arr := r.PathValue("namespace"), r.PathValue("array")
	if err := remote.ValidNamespace(ns); err != nil {
		return err
	}
	q := r.URL.Query()
	fs := q.Get("filesize")
	if fs == "" {
		return badRequest("upload: parameter filesize is required")
	}
	size, err := strconv.ParseInt(fs, 10, 64)
	if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(fs, "-") {
		size, err = MaxUpload+1, nil // beyond int64: too large
	}
	if err != nil || size < 0 {
		return badRequest("upload: filesize=%q: want a non-negative integer", fs)
	}
	if size > MaxUpload || r.ContentLength > MaxUpload {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge,
			msg: fmt.Sprintf("upload: notebooks are limited to %d bytes", MaxUpload)}
	}
	if r.ContentLength >= 0 && r.ContentLength != size {
		return badRequest("upload: body is %d bytes, filesize says %d", r.ContentLength, size)
	}
	opts := remote.CreateOptions{StorageCredential: r.Header.Get("X-TILEDB-CLOUD-ACCESS-CREDENTIALS-NAME")}
	name := q.Get("name")
	if strings.Contains(arr, "://") {
		opts.StoragePath = arr
		if name == "" {
			name = path.Base(arr[strings.Index(arr, "://")+3:])
		}
	} else if name == "" {
		name = arr
	}
	if err := remote.ValidName(name); err != nil {
		return err
	}

	memory, received, release, err := s.limits.admit(c.user, size)
	if err != nil {
		return err
	}
	defer release()
	body, cleanup, err := spool(r.Body, size, memory)
	if err != nil {
		return err
	}
	received()
	defer cleanup()
	nb, err := c.client.Create(r.Context(), ns, name, body, size, opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, notebookUploaded{
		OutputURI: "tiledb://" + nb.Namespace + "/" + nb.ID,
		Name:      nb.Name,
		ID:        nb.ID,
	})
	return nil
}

// spool reads exactly size bytes of body into memory (when memory is set)
// or a temporary file and returns a reader of them. A body of another
// length is 400. The buffer grows with the bytes received: size is the
// client's word, and allocating it before the body arrives would let idle
// connections pin memory.
func spool(body io.Reader, size int64, memory bool) (io.Reader, func(), error) {
	limited := io.LimitReader(body, size+1) // one more shows a longer body
	if memory {
		var buf bytes.Buffer
		n, err := buf.ReadFrom(limited)
		if errors.Is(err, errSlowBody) {
			return nil, nil, errSlowBody
		}
		if err != nil {
			return nil, nil, badRequest("upload: reading the body: %v", err)
		}
		if n != size {
			return nil, nil, lengthMismatch(n, size)
		}
		return &buf, func() {}, nil
	}
	f, err := os.CreateTemp("", "notebookfs-upload-*")
	if err != nil {
		return nil, nil, fmt.Errorf("upload: spool: %w", err)
	}
	cleanup := func() {
		f.Close()
		os.Remove(f.Name())
	}
	src := &readErr{r: limited}
	n, err := io.Copy(f, src)
	if errors.Is(src.err, errSlowBody) {
		cleanup()
		return nil, nil, errSlowBody
	}
	if src.err != nil {
		cleanup()
		return nil, nil, badRequest("upload: reading the body: %v", src.err)
	}
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("upload: spool: %w", err)
	}
	if n != size {
		cleanup()
		return nil, nil, lengthMismatch(n, size)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("upload: spool: %w", err)
	}
	return f, cleanup, nil
}

func lengthMismatch(n, size int64) error {
	if n > size {
		return badRequest("upload: body is longer than filesize %d", size)
	}
	return badRequest("upload: body is %d bytes, filesize says %d", n, size)
}

// readErr remembers a read error, to tell it from a write error of io.Copy.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
