package cloud

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"notebookfs/remote"
)

// Error is an error reply of TileDB Cloud: the HTTP status and the parsed
// Error body {code, message, request_id}. It wraps the remote sentinel of
// its status (see sentinelFor), so errors.Is(err, remote.ErrNotFound) works.
// Its message names the call and never holds a credential.
type Error struct {
	Method, Path string // escaped path, no query
	Status       int
	Code         int64  // TileDB's application code, not the HTTP status
	Message      string // the server's message, or the start of a non-JSON body
	RequestID    string
	sentinel     error // nil: a plain I/O error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	switch {
	case e.Code != 0 && e.RequestID != "":
		fmt.Fprintf(&b, " (code %d, request_id %s)", e.Code, e.RequestID)
	case e.Code != 0:
		fmt.Fprintf(&b, " (code %d)", e.Code)
	case e.RequestID != "":
		fmt.Fprintf(&b, " (request_id %s)", e.RequestID)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.sentinel }

// sentinelFor maps an HTTP status to the remote error it means; nil for the
// rest (reported as an I/O error). TileDB's spec declares only 404 (also
// "no permission"), so the others follow HTTP's meaning.
func sentinelFor(status int) error {
	switch status {
	case http.StatusNotFound, http.StatusGone:
		return remote.ErrNotFound
	case http.StatusUnauthorized:
		return remote.ErrUnauthenticated
	case http.StatusForbidden:
		return remote.ErrPermission
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
		// 413: over the service's size limit; retrying cannot help.
		return remote.ErrInvalid
	case http.StatusConflict:
		return remote.ErrExist
	case http.StatusNotImplemented:
		return remote.ErrUnsupported
	}
	return nil
}

// statusError reads (a bounded part of) an error reply and closes it.
func (c *Client) statusError(cl *call, resp *http.Response) *Error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	drain(resp.Body)
	e := &Error{Method: cl.method, Path: cl.path, Status: resp.StatusCode, sentinel: sentinelFor(resp.StatusCode)}
	var body struct {
		Code      json.Number `json:"code"`
		Message   string      `json:"message"`
		RequestID string      `json:"request_id"`
	}
	if err := json.Unmarshal(data, &body); err == nil && (body.Message != "" || body.Code != "" || body.RequestID != "") {
		e.Message = body.Message
		if n, err := body.Code.Int64(); err == nil {
			e.Code = n
		}
		e.RequestID = body.RequestID
	} else {
		e.Message = firstLine(string(data))
	}
	e.Message = c.redact(clip(e.Message, 500))
	e.RequestID = c.redact(clip(e.RequestID, 100))
	return e
}

// firstLine is the start of a non-JSON body made printable: the first
// non-empty line, control characters dropped.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, clip(s, 200))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
