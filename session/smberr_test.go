package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/cloudsoda/go-smb2"
	"github.com/davgate/davgate/internal/smbstatus"
)

// firstLeg is how go-smb2 reports a status refused in the first
// session-setup leg.
func firstLeg(code uint32) error {
	return &smb2.InvalidResponseError{Message: fmt.Sprintf("expected status: %v or %v, got %v",
		statusText(0xC0000016), statusText(0), statusText(code))}
}

func TestDialError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		logon bool
	}{
		{"logon failure", &smb2.ResponseError{Code: smbstatus.LogonFailure}, true},
		{"wrong password", &smb2.ResponseError{Code: smbstatus.WrongPassword}, true},
		{"no such user", &smb2.ResponseError{Code: smbstatus.NoSuchUser}, true},
		{"password expired", &smb2.ResponseError{Code: smbstatus.PasswordExpired}, true},
		{"password must change", &smb2.ResponseError{Code: smbstatus.PasswordMustChange}, true},
		{"locked out", &smb2.ResponseError{Code: smbstatus.AccountLockedOut}, true},
		{"disabled", &smb2.ResponseError{Code: smbstatus.AccountDisabled}, true},
		{"account expired", &smb2.ResponseError{Code: smbstatus.AccountExpired}, true},
		{"logon hours", &smb2.ResponseError{Code: smbstatus.InvalidLogonHours}, true},
		{"workstation", &smb2.ResponseError{Code: smbstatus.InvalidWorkstation}, true},
		{"restriction", &smb2.ResponseError{Code: smbstatus.AccountRestriction}, true},
		{"logon type", &smb2.ResponseError{Code: smbstatus.LogonTypeNotGranted}, true},
		{"access denied (fs.ErrPermission)", os.ErrPermission, true},
		{"first leg locked out", firstLeg(smbstatus.AccountLockedOut), true},
		{"first leg logon failure", firstLeg(smbstatus.LogonFailure), true},
		{"first leg other", firstLeg(0xC0000001), false},
		{"wrapped", fmt.Errorf("x: %w", &smb2.ResponseError{Code: smbstatus.LogonFailure}), true},
		{"bad network name", &smb2.ResponseError{Code: smbstatus.BadNetworkName}, false},
		{"ntlm blocked", &smb2.ResponseError{Code: smbstatus.NTLMBlocked}, false},
		{"request not accepted", smb2.ErrRequestNotAccepted, false},
		{"tcp refused", fmt.Errorf("establishing TCP connection: %w", errors.New("connection refused")), false},
		{"transport", &smb2.TransportError{Err: io.EOF}, false},
		{"timeout", context.DeadlineExceeded, false},
		{"broken response", &smb2.InvalidResponseError{Message: "broken session setup response format"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dialError("srv:445", tc.err)
			if got := errors.Is(err, ErrLogonFailure); got != tc.logon {
				t.Errorf("dialError(%v) = %v; logon failure %v, want %v", tc.err, err, got, tc.logon)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	pathErr := func(err error) error { return &os.PathError{Op: "open", Path: "a", Err: err} }
	for _, tc := range []struct {
		name string
		err  error
		want connVerdict
	}{
		{"nil", nil, connFine},
		{"not exist", pathErr(fs.ErrNotExist), connFine},
		{"exist", pathErr(fs.ErrExist), connFine},
		{"permission", pathErr(fs.ErrPermission), connFine},
		{"invalid", fs.ErrInvalid, connFine},
		{"closed", fs.ErrClosed, connFine},
		{"eof", io.EOF, connFine},
		{"server answered", pathErr(&smb2.ResponseError{Code: 0xC0000043}), connFine}, // sharing violation
		{"session deleted", pathErr(&smb2.ResponseError{Code: smbstatus.UserSessionDeleted}), connDead},
		{"session expired", &smb2.ResponseError{Code: smbstatus.NetworkSessionExpired}, connDead},
		{"tree gone", &smb2.ResponseError{Code: smbstatus.NetworkNameDeleted}, connDead},
		{"transport", pathErr(&smb2.TransportError{Err: io.ErrClosedPipe}), connDead},
		{"transport eof", pathErr(&smb2.TransportError{Err: io.EOF}), connDead},
		{"cancelled", context.Canceled, connCheck},
		{"deadline", fmt.Errorf("read: %w", context.DeadlineExceeded), connCheck},
		{"invalid response", &smb2.InvalidResponseError{Message: "x"}, connCheck},
		{"unknown", errors.New("something"), connCheck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := judge(tc.err); got != tc.want {
				t.Errorf("judge(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
