package smbstatus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"testing"

	"github.com/cloudsoda/go-smb2"
)

// Every status of the table answers with the HTTP status of its kind, so
// that an error keeps its status whether go-smb2 kept the SMB status or
// only the kind.
func TestTableAgreesWithKinds(t *testing.T) {
	byKind := map[error]int{}
	for _, m := range kinds {
		byKind[m.Kind] = m.HTTP
	}
	for code, m := range table {
		if want, ok := byKind[m.Kind]; !ok || want != m.HTTP {
			t.Errorf("status 0x%08X: kind %v answers %d, the kind %d", code, m.Kind, m.HTTP, want)
		}
	}
}

// What an error means, by the SMB status when go-smb2 kept it, else by its
// kind or its type (MS-ERREF 2.3; rclone's pool keeps a connection after
// an answer and checks it after anything else).
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Meaning
		code uint32
	}{
		{"not found", &smb2.ResponseError{Code: ObjectNameNotFound}, Meaning{fs.ErrNotExist, 404, Keep}, ObjectNameNotFound},
		{"sharing violation in a path error", &os.PathError{Err: &smb2.ResponseError{Code: SharingViolation}}, Meaning{ErrLocked, 423, Keep}, SharingViolation},
		{"session gone", &smb2.ResponseError{Code: UserSessionDeleted}, Meaning{ErrUnavailable, 503, Drop}, UserSessionDeleted},
		{"unknown status", &smb2.ResponseError{Code: 0xC0009999}, Meaning{ErrUnknown, 500, Keep}, 0xC0009999},
		{"logon refused", &smb2.ResponseError{Code: LogonFailure}, Meaning{ErrLogon, 401, Keep}, LogonFailure},
		{"bare permission", os.ErrPermission, Meaning{fs.ErrPermission, 403, Keep}, 0},
		{"transport", &smb2.TransportError{Err: io.EOF}, Meaning{ErrUnavailable, 503, Drop}, 0},
		{"invalid response", &smb2.InvalidResponseError{Message: "x"}, Meaning{ErrUnavailable, 503, Check}, 0},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), Meaning{context.Canceled, 500, Check}, 0},
		{"eof", io.EOF, Meaning{io.EOF, 500, Keep}, 0},
		{"other", errors.New("x"), Meaning{ErrUnknown, 500, Check}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, code := Classify(tc.err)
			if m != tc.want || code != tc.code {
				t.Errorf("Classify = %v, 0x%08X; want %v, 0x%08X", m, code, tc.want, tc.code)
			}
		})
	}
	if m, _ := Classify(&smb2.ResponseError{Code: DiskFull}); m.HTTP != http.StatusInsufficientStorage {
		t.Errorf("disk full: %d", m.HTTP)
	}
}

type judged struct{ v Verdict }

func (j judged) Error() string    { return "judged" }
func (j judged) Verdict() Verdict { return j.v }
func (j judged) Unwrap() error    { return &smb2.TransportError{Err: io.EOF} }

// VerdictOf asks the error first: an error that knows its verdict is not
// classified again.
func TestVerdictOf(t *testing.T) {
	if v := VerdictOf(nil); v != Keep {
		t.Errorf("nil: %v", v)
	}
	if v := VerdictOf(fmt.Errorf("w: %w", judged{Check})); v != Check {
		t.Errorf("an error with its own verdict: %v, want Check", v)
	}
	if v := VerdictOf(&smb2.ResponseError{Code: NetworkNameDeleted}); v != Drop {
		t.Errorf("tree gone: %v", v)
	}
}
