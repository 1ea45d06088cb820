package davfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"

	"github.com/cloudsoda/go-smb2"
)

// Errors a ShareSource wraps its own errors in; the handler turns them into
// HTTP statuses (404, 401, 403, 503).
var (
	ErrNoShare      = errors.New("no such share")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("share refused to this user")
	ErrUnavailable  = errors.New("file server unavailable")
)

// Kinds of file system errors beyond those of io/fs. FS methods return them
// inside an *os.PathError, as io/fs sentinels are returned, so that
// x/net/webdav's os.IsNotExist checks keep working.
var (
	ErrLocked       = errors.New("file in use")             // 423 Locked
	ErrNoSpace      = errors.New("insufficient storage")    // 507
	ErrBadName      = errors.New("invalid name")            // 400
	ErrNotEmpty     = errors.New("directory not empty")     // 409
	ErrIsDir        = errors.New("is a directory")          // 405
	ErrNotSupported = errors.New("operation not supported") // 501
	ErrCrossDevice  = errors.New("not on the same device")  // 502; MOVE copies instead
)

// NTSTATUS values from [MS-ERREF] 2.3 that davgate tells apart. go-smb2
// keeps its own table internal, so the few we need are repeated here.
const (
	statusNoSuchFile            = 0xC000000F
	statusInvalidParameter      = 0xC000000D
	statusInvalidDeviceRequest  = 0xC0000010
	statusAccessDenied          = 0xC0000022
	statusObjectNameInvalid     = 0xC0000033
	statusObjectNameNotFound    = 0xC0000034
	statusObjectNameCollision   = 0xC0000035
	statusObjectPathInvalid     = 0xC0000039
	statusObjectPathNotFound    = 0xC000003A
	statusObjectPathSyntaxBad   = 0xC000003B
	statusSharingViolation      = 0xC0000043
	statusQuotaExceeded         = 0xC0000044
	statusFileLockConflict      = 0xC0000054
	statusLockNotGranted        = 0xC0000055
	statusDeletePending         = 0xC0000056
	statusPrivilegeNotHeld      = 0xC0000061
	statusDiskFull              = 0xC000007F
	statusInsufficientResources = 0xC000009A
	statusMediaWriteProtected   = 0xC00000A2
	statusIOTimeout             = 0xC00000B5
	statusFileIsADirectory      = 0xC00000BA
	statusNotSupported          = 0xC00000BB
	statusNotSameDevice         = 0xC00000D4
	statusNetworkNameDeleted    = 0xC00000C9
	statusBadNetworkName        = 0xC00000CC
	statusDirectoryNotEmpty     = 0xC0000101
	statusNotADirectory         = 0xC0000103
	statusNameTooLong           = 0xC0000106
	statusCannotDelete          = 0xC0000121
	statusFileClosed            = 0xC0000128
	statusUserSessionDeleted    = 0xC0000203
	statusConnectionDisconnect  = 0xC000020C
	statusConnectionReset       = 0xC000020D
	statusNetworkSessionExpired = 0xC000035C
	statusDiskQuotaExceeded     = 0xC0000802
	statusFileTooLarge          = 0xC0000904
)

// statusKinds is the single table from SMB status to error kind.
var statusKinds = map[uint32]error{
	statusNoSuchFile:            fs.ErrNotExist,
	statusObjectNameNotFound:    fs.ErrNotExist,
	statusObjectPathNotFound:    fs.ErrNotExist,
	statusNotADirectory:         fs.ErrNotExist,
	statusObjectNameCollision:   fs.ErrExist,
	statusAccessDenied:          fs.ErrPermission,
	statusCannotDelete:          fs.ErrPermission,
	statusPrivilegeNotHeld:      fs.ErrPermission,
	statusMediaWriteProtected:   fs.ErrPermission,
	statusSharingViolation:      ErrLocked,
	statusFileLockConflict:      ErrLocked,
	statusLockNotGranted:        ErrLocked,
	statusDeletePending:         ErrLocked,
	statusDiskFull:              ErrNoSpace,
	statusQuotaExceeded:         ErrNoSpace,
	statusDiskQuotaExceeded:     ErrNoSpace,
	statusFileTooLarge:          ErrNoSpace,
	statusObjectNameInvalid:     ErrBadName,
	statusObjectPathInvalid:     ErrBadName,
	statusObjectPathSyntaxBad:   ErrBadName,
	statusNameTooLong:           ErrBadName,
	statusDirectoryNotEmpty:     ErrNotEmpty,
	statusFileIsADirectory:      ErrIsDir,
	statusNotSupported:          ErrNotSupported,
	statusNotSameDevice:         ErrCrossDevice,
	statusInvalidDeviceRequest:  ErrNotSupported,
	statusInvalidParameter:      fs.ErrInvalid,
	statusInsufficientResources: ErrUnavailable,
	statusIOTimeout:             ErrUnavailable,
	statusNetworkNameDeleted:    ErrUnavailable,
	statusBadNetworkName:        ErrUnavailable,
	statusFileClosed:            ErrUnavailable,
	statusUserSessionDeleted:    ErrUnavailable,
	statusConnectionDisconnect:  ErrUnavailable,
	statusConnectionReset:       ErrUnavailable,
	statusNetworkSessionExpired: ErrUnavailable,
}

// Error is a failed SMB operation with what the log needs: the operation,
// the WebDAV name, the SMB status (0 when the library did not keep it) and
// the error kind. It unwraps to both the kind and the library's error.
type Error struct {
	Op     string
	Path   string
	Status uint32
	Kind   error
	Err    error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s %s: smb status 0x%08X: %v", e.Op, e.Path, e.Status, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err)
}

func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// classify finds the error kind of an error from go-smb2 and the SMB status
// behind it, if the library kept it.
func classify(err error) (kind error, status uint32) {
	var iu *inUseError
	if errors.As(err, &iu) {
		return ErrLocked, 0
	}
	var re *smb2.ResponseError
	if errors.As(err, &re) {
		if k, ok := statusKinds[re.Code]; ok {
			return k, re.Code
		}
		return errUnknown, re.Code
	}
	for _, k := range []error{fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid,
		ErrLocked, ErrNoSpace, ErrBadName, ErrNotEmpty, ErrIsDir, ErrNotSupported, ErrCrossDevice, ErrUnavailable} {
		if errors.Is(err, k) {
			return k, 0
		}
	}
	var te *smb2.TransportError
	var ie *smb2.InvalidResponseError
	var ne net.Error
	if errors.As(err, &te) || errors.As(err, &ie) || errors.As(err, &ne) ||
		errors.Is(err, smb2.ErrRequestNotAccepted) {
		return ErrUnavailable, 0
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return context.Canceled, 0
	}
	return errUnknown, 0
}

// errUnknown is the kind of an error davgate has no better name for.
var errUnknown = errors.New("file server error")

// mapError turns an error from go-smb2 into the detailed *Error (for the log
// and Mount.Release) and the *os.PathError handed to x/net/webdav, whose Err
// is the bare kind.
func mapError(op, name string, err error) (detail *Error, pe *os.PathError) {
	kind, status := classify(err)
	detail = &Error{Op: op, Path: name, Status: status, Kind: kind, Err: err}
	return detail, &os.PathError{Op: op, Path: name, Err: kind}
}

// httpStatus is the single table from error kind to HTTP status. ok is
// false for errors that have no kind of their own.
func httpStatus(err error) (status int, ok bool) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound, true
	case errors.Is(err, fs.ErrPermission):
		return http.StatusForbidden, true
	case errors.Is(err, ErrLocked):
		return http.StatusLocked, true
	case errors.Is(err, ErrNoSpace):
		return http.StatusInsufficientStorage, true
	case errors.Is(err, ErrBadName), errors.Is(err, fs.ErrInvalid):
		return http.StatusBadRequest, true
	case errors.Is(err, ErrNotEmpty):
		return http.StatusConflict, true
	case errors.Is(err, ErrIsDir), errors.Is(err, fs.ErrExist):
		return http.StatusMethodNotAllowed, true
	case errors.Is(err, ErrCrossDevice):
		return http.StatusBadGateway, true
	case errors.Is(err, ErrNotSupported):
		return http.StatusNotImplemented, true
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, true
	case errors.Is(err, ErrNoShare):
		return http.StatusNotFound, true
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, true
	}
	return http.StatusInternalServerError, false
}
