package davfs

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/davgate/davgate/internal/smbstatus"
)

// Errors a ShareSource wraps its own errors in; the handler turns them into
// HTTP statuses (404, 401, 403, 503).
var (
	ErrNoShare      = errors.New("no such share")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("share refused to this user")
	ErrUnavailable  = smbstatus.ErrUnavailable
)

// Kinds of file system errors beyond those of io/fs, from the one SMB
// status table (package smbstatus). An *Error unwraps to its kind.
var (
	ErrLocked       = smbstatus.ErrLocked       // 423 Locked
	ErrNoSpace      = smbstatus.ErrNoSpace      // 507
	ErrBadName      = smbstatus.ErrBadName      // 400
	ErrNotEmpty     = smbstatus.ErrNotEmpty     // 409
	ErrIsDir        = smbstatus.ErrIsDir        // 405
	ErrNotSupported = smbstatus.ErrNotSupported // 501
	ErrCrossDevice  = smbstatus.ErrCrossDevice  // 502; MOVE copies instead

	errUnknown = smbstatus.ErrUnknown
)

// Error is a failed SMB operation with what the log and the connection
// pool need: the operation, the WebDAV name, the SMB status (0 when the
// library did not keep it), the error kind and the verdict on the
// connection. It unwraps to both the kind and the library's error.
type Error struct {
	Op     string
	Path   string
	Status uint32
	Kind   error
	Err    error

	verdict smbstatus.Verdict
	http    int
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s %s: smb status 0x%08X: %v", e.Op, e.Path, e.Status, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err)
}

func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// Verdict is what the failure says about the SMB connection; the
// session's pool asks it (smbstatus.VerdictOf).
func (e *Error) Verdict() smbstatus.Verdict { return e.verdict }

// mapError turns an error from go-smb2 into an *Error by the one table.
func mapError(op, name string, err error) *Error {
	m, status := smbstatus.Classify(err)
	return &Error{Op: op, Path: name, Status: status, Kind: m.Kind, Err: err, verdict: m.Verdict, http: m.HTTP}
}

// httpStatus is the HTTP status of an error by its kind, from the one
// table; ok is false for errors that have no kind of their own.
func httpStatus(err error) (status int, ok bool) {
	switch {
	case errors.Is(err, ErrNoShare):
		return http.StatusNotFound, true
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, true
	}
	if e, ok := errors.AsType[*Error](err); ok && e.http != 0 {
		return e.http, e.Kind != errUnknown && e.http != http.StatusInternalServerError
	}
	m, _ := smbstatus.Classify(err)
	return m.HTTP, m.Kind != errUnknown && m.HTTP != http.StatusInternalServerError
}

// errorKind is the kind of an error from go-smb2, by the one table.
func errorKind(err error) error {
	m, _ := smbstatus.Classify(err)
	return m.Kind
}
