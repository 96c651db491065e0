package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"notebookfs/remote"
	"notebookfs/remote/arrayproto"
)

// getArraySchema answers GET /v1/arrays/{ns}/{array}: the notebook array's
// schema (the same for every notebook), as capnp when Content-Type or
// Accept is application/capnp (libtiledb's legacy open), else as JSON (the
// JS client). 404 when the caller cannot read the notebook.
func (s *Server) getArraySchema(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := resolve(r, c); err != nil {
		return err
	}
	if !asksCapnp(r) {
		body := arrayproto.NotebookSchemaJSON()
		h := w.Header()
		h.Set("Content-Type", mimeJSON)
		h.Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body)
		return nil
	}
	var buf bytes.Buffer
	if err := arrayproto.EncodeNotebookSchema(&buf); err != nil {
		return err
	}
	writeCapnp(w, buf.Bytes())
	return nil
}

// versionIn returns the latest version with a time in [start, end] (ms).
func versionIn(vs []remote.Version, start, end uint64) (remote.Version, bool) {
	for i := len(vs) - 1; i >= 0; i-- {
		ts := timeMS(vs[i].Time)
		if ts <= end {
			return vs[i], ts >= start
		}
	}
	return remote.Version{}, false
}

// getArrayMetadata answers GET /v1/arrays/{ns}/{array}/array_metadata
// [?start_timestamp=&end_timestamp=]: file_size (INT64, the size of the
// version at end_timestamp, latest = the server's now), type "notebook" and
// format "json" (STRING_UTF8), as a bare capnp ArrayMetadata; as the spec's
// ArrayMetadata JSON when the request asks for JSON and not capnp. Before
// the notebook's first version (or with no version in the window) there
// are no entries, as an array with no metadata write yet.
func (s *Server) getArrayMetadata(w http.ResponseWriter, r *http.Request, c *call) error {
	tr, err := arrayproto.ParseTimeRange(r.URL.Query())
	if err != nil {
		return badRequest("array_metadata: %v", err)
	}
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	vs, err := c.client.Versions(r.Context(), nb.Namespace, nb.ID)
	if err != nil {
		return err
	}
	entries := []arrayproto.MetadataEntry{}
	if v, ok := versionIn(vs, tr.Start, min(tr.Resolve(s.nowMS()), maxTimestamp)); ok {
		entries = arrayproto.NotebookMetadata(v.Size)
	}
	if asksJSON(r) {
		out := metadataJSON{Entries: []metadataEntryJSON{}}
		for _, e := range entries {
			je := metadataEntryJSON{Key: e.Key, Type: e.Type, ValueNum: e.ValueNum, Value: []int{}, Del: e.Del}
			for _, b := range e.Value {
				je.Value = append(je.Value, int(b))
			}
			out.Entries = append(out.Entries, je)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	var buf bytes.Buffer
	if err := arrayproto.EncodeArrayMetadata(&buf, entries); err != nil {
		return err
	}
	writeCapnp(w, buf.Bytes())
	return nil
}

// metadataJSON is the spec's ArrayMetadata (its ArrayMetadataEntry value
// is a list of uint8).
type metadataJSON struct {
	Entries []metadataEntryJSON `json:"entries"`
}

type metadataEntryJSON struct {
	Key      string `json:"key"`
	Type     string `json:"type"`
	ValueNum uint32 `json:"valueNum"`
	Value    []int  `json:"value"`
	Del      bool   `json:"del"`
}

// postArrayMetadata answers POST /v1/arrays/{ns}/{array}/array_metadata
// [?end_timestamp=T] with a bare capnp ArrayMetadata (or its JSON): one
// metadata write at T (latest = the server's now). The store keeps no
// free-form metadata: the notebook's keys are derived from its versions.
//   - file_size must be the size of the version at T, which a save's WRITE
//     at T has just made (else 409); file_size 0 on a non-empty version
//     saves an empty version (a notebook of 0 bytes cannot be written with
//     a WRITE).
//   - type must be "notebook" and format "json" (else 400).
//   - deleting any of those three is 400; every other key, put or deleted,
//     is accepted and not kept.
//
// Entries apply in order: the last one of a key wins, as in libtiledb.
// Writing metadata needs the write right (403).
func (s *Server) postArrayMetadata(w http.ResponseWriter, r *http.Request, c *call) error {
	tr, err := arrayproto.ParseTimeRange(r.URL.Query())
	if err != nil {
		return badRequest("array_metadata: %v", err)
	}
	nb, err := resolve(r, c)
	if err != nil {
		return err
	}
	if !nb.Can(remote.ActionWrite) {
		return fmt.Errorf("write metadata of notebook %s/%s: %w", nb.Namespace, nb.ID, remote.ErrPermission)
	}
	entries, err := readMetadata(w, r)
	if err != nil {
		return err
	}
	last := map[string]arrayproto.MetadataEntry{}
	for _, e := range entries {
		last[e.Key] = e
	}
	var fileSize int64 = -1
	for key, e := range last {
		want := ""
		switch key {
		case arrayproto.KeyFileSize:
		case arrayproto.KeyType:
			want = arrayproto.NotebookType
		case arrayproto.KeyFormat:
			want = arrayproto.NotebookFormat
		default:
			continue // not kept (see doc.go)
		}
		if e.Del {
			return badRequest("array_metadata: %s cannot be deleted: it is derived from the notebook", key)
		}
		if want != "" {
			if v, err := e.Text(); err != nil || v != want {
				return badRequest("array_metadata: %s must be the string %q (this server stores notebooks only)", key, want)
			}
			continue
		}
		n, err := e.Int64()
		if err != nil || n < 0 {
			return badRequest("array_metadata: file_size must be one non-negative integer")
		}
		fileSize = n
	}
	if fileSize >= 0 {
		if err := s.checkFileSize(r, c, nb, tr, fileSize); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// checkFileSize applies a file_size put at tr's end: it must match the
// version there; 0 saves an empty version.
func (s *Server) checkFileSize(r *http.Request, c *call, nb remote.Notebook, tr arrayproto.TimeRange, size int64) error {
	ctx := r.Context()
	end := min(tr.Resolve(s.nowMS()), maxTimestamp)
	vs, err := c.client.Versions(ctx, nb.Namespace, nb.ID)
	if err != nil {
		return err
	}
	v, ok := versionIn(vs, 0, end)
	switch {
	case ok && v.Size == size:
		return nil
	case size == 0:
		at, err := s.writeTimestamp(tr)
		if err != nil {
			return err
		}
		_, err = s.save(ctx, c, nb, at, bytes.NewReader(nil), 0)
		return err
	case !ok:
		return fmt.Errorf("array_metadata: file_size %d at %d: notebook %s/%s has no version then (write the contents first): %w",
			size, end, nb.Namespace, nb.ID, remote.ErrConflict)
	}
	return fmt.Errorf("array_metadata: file_size %d at %d, but the version at %d has %d bytes "+
		"(file_size is derived from the contents: write them first, at the same timestamp): %w",
		size, end, timeMS(v.Time), v.Size, remote.ErrConflict)
}

// readMetadata decodes an array_metadata POST body: capnp, or the spec's
// JSON when Content-Type says application/json. Nothing may follow the
// capnp message.
func readMetadata(w http.ResponseWriter, r *http.Request) ([]arrayproto.MetadataEntry, error) {
	body := http.MaxBytesReader(w, r.Body, maxMetadataBody)
	if mediaType(r.Header.Get("Content-Type")) == mimeJSON {
		var in metadataJSON
		dec := json.NewDecoder(body)
		if err := dec.Decode(&in); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, protoError("array_metadata", err)
			}
			return nil, badRequest("array_metadata: JSON body: %v", err)
		}
		var out []arrayproto.MetadataEntry
		for i, je := range in.Entries {
			e := arrayproto.MetadataEntry{Key: je.Key, Type: strings.ToUpper(je.Type), ValueNum: je.ValueNum, Del: je.Del}
			for _, b := range je.Value {
				if b < 0 || b > 255 {
					return nil, badRequest("array_metadata: entry %d: value byte %d out of range", i, b)
				}
				e.Value = append(e.Value, byte(b))
			}
			if err := e.Validate(); err != nil {
				return nil, badRequest("array_metadata: entry %d: %v", i, err)
			}
			out = append(out, e)
		}
		return out, nil
	}
	entries, err := arrayproto.DecodeArrayMetadata(body, maxMetadataBody)
	if err != nil {
		return nil, protoError("array_metadata", err)
	}
	var one [1]byte
	if m, _ := io.ReadFull(body, one[:]); m > 0 {
		return nil, badRequest("array_metadata: bytes after the ArrayMetadata message")
	}
	return entries, nil
}
