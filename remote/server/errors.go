package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sirupsen/logrus"

	"notebookfs/remote"
)

// Application codes of the Error body ({code, message, request_id}). Each
// kind of failure has its own, so a client maps a reply back to the exact
// remote sentinel whatever the HTTP status.
const (
	CodeInvalid         = 4000 // 400 remote.ErrInvalid: bad parameter or body
	CodeUnauthenticated = 4001 // 401 remote.ErrUnauthenticated: no or bad credentials
	CodePermission      = 4003 // 403 remote.ErrPermission: visible, but not allowed
	CodeNotFound        = 4004 // 404 remote.ErrNotFound: no such notebook, namespace or version
	CodeMethod          = 4005 // 405: the path exists for other methods
	CodeExist           = 4009 // 409 remote.ErrExist
	CodeNameTooLong     = 4013 // 400 remote.ErrNameTooLong
	CodeTooLarge        = 4014 // 413: upload over the size limit
	CodeConflict        = 4019 // 409 remote.ErrConflict
	CodeNoRoute         = 4040 // 404: no such endpoint (not a missing notebook)
	CodeInternal        = 5000 // 500: anything else (logged with the request id)
	CodeUnsupported     = 5001 // 501 remote.ErrUnsupported
	CodeUnavailable     = 5003 // 503: injected fault, or the request was cut short; retry
	CodeBusy            = 5033 // 503: too many uploads at once, or too many bytes spooled; retry after Retry-After
	CodeSlowBody        = 4008 // 408: the body came slower than the minimum rate
)

// httpError is an error with its reply already decided.
type httpError struct {
	status     int
	code       int
	msg        string
	retryAfter string // Retry-After of a 503 (default "0")
}

func (e *httpError) Error() string { return e.msg }

// errorBody is TileDB's Error definition.
type errorBody struct {
	Code      int64  `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// classify maps an error to its HTTP status and application code.
func classify(err error) (status, code int) {
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.status, he.code
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, CodeTooLarge
	case errors.Is(err, remote.ErrNotFound):
		return http.StatusNotFound, CodeNotFound
	case errors.Is(err, remote.ErrPermission):
		return http.StatusForbidden, CodePermission
	case errors.Is(err, remote.ErrUnauthenticated):
		return http.StatusUnauthorized, CodeUnauthenticated
	case errors.Is(err, remote.ErrNameTooLong):
		return http.StatusBadRequest, CodeNameTooLong
	case errors.Is(err, remote.ErrInvalid):
		return http.StatusBadRequest, CodeInvalid
	case errors.Is(err, remote.ErrExist):
		return http.StatusConflict, CodeExist
	case errors.Is(err, remote.ErrConflict):
		return http.StatusConflict, CodeConflict
	case errors.Is(err, remote.ErrUnsupported):
		return http.StatusNotImplemented, CodeUnsupported
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, CodeUnavailable
	}
	return http.StatusInternalServerError, CodeInternal
}

// writeError sends the Error body for err. Internal errors are logged and
// their text is not sent.
func writeError(w http.ResponseWriter, log *logrus.Entry, id string, err error) {
	status, code := classify(err)
	msg := err.Error()
	if code == CodeInternal {
		log.WithError(err).WithField("request_id", id).Error("internal error")
		msg = "internal server error (see the server log for request " + id + ")"
	}
	h := w.Header()
	h.Set("X-Request-Id", id)
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="notebookfs"`)
	}
	if status == http.StatusServiceUnavailable {
		ra := "0"
		var he *httpError
		if errors.As(err, &he) && he.retryAfter != "" {
			ra = he.retryAfter
		}
		h.Set("Retry-After", ra)
	}
	writeJSON(w, status, errorBody{Code: int64(code), Message: msg, RequestID: id})
}

// writeJSON sends v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // our own types: cannot happen
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// badRequest is a 400 with CodeInvalid.
func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, code: CodeInvalid, msg: fmt.Sprintf(format, args...)}
}
