package davfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"testing"

	"github.com/cloudsoda/go-smb2"
)

// TestErrorTable checks the one table from SMB status to error kind and
// HTTP status (issue 3: not found 404, access denied 403, sharing violation
// 423, disk full or quota 507, bad name 400, directory not empty 409).
func TestErrorTable(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantKind   error
		wantStatus int
	}{
		{"object name not found", &smb2.ResponseError{Code: statusObjectNameNotFound}, fs.ErrNotExist, 404},
		{"bare not exist from go-smb2", os.ErrNotExist, fs.ErrNotExist, 404},
		{"path not found", &smb2.ResponseError{Code: statusObjectPathNotFound}, fs.ErrNotExist, 404},
		{"not a directory", &smb2.ResponseError{Code: statusNotADirectory}, fs.ErrNotExist, 404},
		{"name collision", os.ErrExist, fs.ErrExist, 405},
		{"access denied", os.ErrPermission, fs.ErrPermission, 403},
		{"access denied status", &smb2.ResponseError{Code: statusAccessDenied}, fs.ErrPermission, 403},
		{"sharing violation", &smb2.ResponseError{Code: statusSharingViolation}, ErrLocked, http.StatusLocked},
		{"file lock conflict", &smb2.ResponseError{Code: statusFileLockConflict}, ErrLocked, http.StatusLocked},
		{"disk full", &smb2.ResponseError{Code: statusDiskFull}, ErrNoSpace, http.StatusInsufficientStorage},
		{"quota exceeded", &smb2.ResponseError{Code: statusDiskQuotaExceeded}, ErrNoSpace, http.StatusInsufficientStorage},
		{"bad name", &smb2.ResponseError{Code: statusObjectNameInvalid}, ErrBadName, 400},
		{"name too long", &smb2.ResponseError{Code: statusNameTooLong}, ErrBadName, 400},
		{"directory not empty", &smb2.ResponseError{Code: statusDirectoryNotEmpty}, ErrNotEmpty, 409},
		{"is a directory", &smb2.ResponseError{Code: statusFileIsADirectory}, ErrIsDir, 405},
		{"session deleted", &smb2.ResponseError{Code: statusUserSessionDeleted}, ErrUnavailable, 503},
		{"transport", &smb2.TransportError{Err: errors.New("EOF")}, ErrUnavailable, 503},
		{"wrapped in path error", &os.PathError{Op: "open", Path: "x", Err: &smb2.ResponseError{Code: statusSharingViolation}}, ErrLocked, http.StatusLocked},
		{"rename over a file in use", &inUseError{os.ErrPermission}, ErrLocked, http.StatusLocked},
		{"unknown status", &smb2.ResponseError{Code: 0xC0009999}, errUnknown, 500},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), context.Canceled, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			detail, pe := mapError("op", "/n", tt.err)
			if pe.Err != tt.wantKind {
				t.Errorf("kind = %v, want %v", pe.Err, tt.wantKind)
			}
			if !errors.Is(detail, tt.wantKind) || !errors.Is(detail, tt.err) {
				t.Errorf("detail %v does not wrap both kind and cause", detail)
			}
			if got, _ := httpStatus(pe); got != tt.wantStatus {
				t.Errorf("status = %d, want %d", got, tt.wantStatus)
			}
			if tt.wantKind == fs.ErrNotExist && !os.IsNotExist(pe) {
				t.Errorf("os.IsNotExist false for %v", pe)
			}
		})
	}
}
