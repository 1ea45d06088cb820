package davfs

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"

	"golang.org/x/net/webdav"
)

// Every method handler returns an error; respond is the one adapter that
// renders it, as Tailscale's tsweb and x/net/webdav's handleX do: the
// client gets the status and a safe text (or the RFC 4918 section 16
// precondition element), the log gets one line with the cause, and the
// mount's release gets the SMB failure behind it.

// httpError is a failed request as respond renders it.
type httpError struct {
	status int
	cond   string // precondition element of RFC 4918 section 16, "" if none
	href   string // the resource cond names, "" if none
	text   string // safe text for the client, "" for the status's own
	err    error  // the cause, for the log and the mount's release; may be nil
	msg    string // the log message, "" for "webdav request failed"
	// header holds fields the refusal carries (Allow with a 405, tus's
	// Upload-Offset with a 409); respond sets them on the response.
	header http.Header
	// sent: the response is out already (a body cut short, a 207
	// naming failed members); respond only logs.
	sent bool
	// abort: a streamed response must not look whole; the connection is
	// dropped once the mount is released (serveMounted).
	abort bool
}

func (e *httpError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return http.StatusText(e.status)
}

func (e *httpError) Unwrap() error { return e.err }

// fail is a response with status, for the cause err.
func fail(status int, err error) error { return &httpError{status: status, err: err} }

// failFS answers a file system error with the status of its kind.
func failFS(err error) error {
	st, _ := httpStatus(err)
	return &httpError{status: st, err: err}
}

// failHeader is a response with status for the cause err that carries the
// header fields kv (name, value, name, value, ...).
func failHeader(status int, err error, kv ...string) error {
	he := &httpError{status: status, err: err, header: http.Header{}}
	for i := 0; i+1 < len(kv); i += 2 {
		he.header.Set(kv[i], kv[i+1])
	}
	return he
}

// failParent answers a write whose target's parent collection is missing
// with 409 (RFC 4918 sections 9.3.1, 9.7.1, 9.8.5, 9.9.4), and any other
// file system error with the status of its kind.
func failParent(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fail(http.StatusConflict, err)
	}
	return failFS(err)
}

// failCond answers status with the precondition element cond (RFC 4918
// section 16), naming the resource at href when it is not "".
func failCond(status int, cond, href string, err error) error {
	return &httpError{status: status, cond: cond, href: href, err: err}
}

// sent marks a failure whose response is already written: it is logged
// with status, and err goes to the mount's release.
func sent(status int, err error) error { return &httpError{status: status, err: err, sent: true} }

// respond renders err (nil: the handler answered) and returns the SMB
// failure behind it, for the mount's release.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, err error) error {
	if err == nil {
		return nil
	}
	he, ok := errors.AsType[*httpError](err)
	if !ok {
		st, _ := httpStatus(err)
		he = &httpError{status: st, err: err}
	}
	h.logFailure(r, he.status, he.msg, he.err)
	if !he.sent {
		writeError(w, he)
	}
	return smbCause(he.err)
}

func writeError(w http.ResponseWriter, he *httpError) {
	hdr := w.Header()
	for k, v := range he.header {
		hdr[k] = v
	}
	if he.status == http.StatusUnauthorized {
		hdr.Set("WWW-Authenticate", `Basic realm="davgate", charset="UTF-8"`)
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	if he.cond != "" {
		hdr.Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(he.status)
		elem := "<D:" + he.cond + "/>"
		if he.href != "" {
			elem = "<D:" + he.cond + "><D:href>" + xmlEscape(he.href) + "</D:href></D:" + he.cond + ">"
		}
		fmt.Fprintf(w, "%s<D:error xmlns:D=\"DAV:\">%s</D:error>\n", xmlHeader, elem)
		return
	}
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(he.status)
	text := he.text
	if text == "" {
		text = webdav.StatusText(he.status)
	}
	fmt.Fprintln(w, text)
}

func (h *Handler) logFailure(r *http.Request, status int, msg string, err error) {
	if err == nil {
		return
	}
	if msg == "" {
		msg = "webdav request failed"
	}
	level := slog.LevelDebug
	switch {
	case status == http.StatusLocked || status == http.StatusInsufficientStorage:
		// a file in use, a full disk: the share's state, not a fault
		level = slog.LevelWarn
	case status >= 500 && status != http.StatusBadGateway:
		level = slog.LevelError
	case status == http.StatusForbidden || status == http.StatusConflict || status == http.StatusBadRequest,
		status == http.StatusBadGateway,  // a Destination davgate does not serve
		status == http.StatusMultiStatus: // members of a collection that failed
		level = slog.LevelInfo
	}
	h.log.LogAttrs(r.Context(), level, msg,
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("error", err.Error()))
}

// sourceStatus maps a ShareSource error to its status.
func sourceStatus(err error) int {
	switch {
	case errors.Is(err, ErrNoShare):
		return http.StatusNotFound
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

const xmlHeader = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

// statusOf is the status respond gives err.
func statusOf(err error) int {
	if he, ok := errors.AsType[*httpError](err); ok {
		return he.status
	}
	st, _ := httpStatus(err)
	return st
}

// smbCause is the SMB failure in err, nil if there is none: what the
// mount's release is told.
func smbCause(err error) error {
	if se, ok := errors.AsType[*Error](err); ok {
		return se
	}
	return nil
}
