package session

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/cloudsoda/go-smb2"

	"github.com/davgate/davgate/internal/smbstatus"
)

// logonStatuses are the session-setup answers that mean "these
// credentials will not do" (smbstatus.ErrLogon in the one SMB status
// table): retrying them can only lock the account.
var logonStatuses = smbstatus.Codes(smbstatus.ErrLogon)

// statusText is go-smb2's description of code, as it appears in its errors.
func statusText(code uint32) string {
	return strings.TrimPrefix((&smb2.ResponseError{Code: code}).Error(), "response error: ")
}

// logonStatus reports the logon-failure NTSTATUS in a dial error, if any.
// go-smb2 reports a refused second session-setup leg as *ResponseError; a
// refusal of the first leg (e.g. by a Kerberos initiator) only as text in
// an *InvalidResponseError, so that is matched by the status's description.
func logonStatus(err error) (uint32, bool) {
	if re, ok := errors.AsType[*smb2.ResponseError](err); ok {
		return re.Code, slices.Contains(logonStatuses, re.Code)
	}
	if ie, ok := errors.AsType[*smb2.InvalidResponseError](err); ok && strings.Contains(ie.Message, "got ") {
		_, got, _ := strings.Cut(ie.Message, "got ")
		for _, c := range logonStatuses {
			if got == statusText(c) {
				return c, true
			}
		}
	}
	return 0, false
}

// dialError wraps an error from smb2.Dialer.Dial. Refused credentials wrap
// ErrLogonFailure; so does ACCESS_DENIED in session setup (go-smb2 turns
// it into fs.ErrPermission), which retrying would not cure either. A
// server that blocks NTLM gets a message that says so.
func dialError(addr string, err error) error {
	if _, ok := logonStatus(err); ok {
		return fmt.Errorf("smb log-on to %s: %w: %w", addr, ErrLogonFailure, err)
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("smb log-on to %s: %w: access denied", addr, ErrLogonFailure)
	}
	if re, ok := errors.AsType[*smb2.ResponseError](err); ok && re.Code == smbstatus.NTLMBlocked {
		// A policy, not the password: not counted against the account.
		return fmt.Errorf("smb log-on to %s: the server refuses NTLM; log on with Kerberos: %w", addr, err)
	}
	return fmt.Errorf("smb connect to %s: %w", addr, err)
}

// connVerdict is what an error from an SMB operation says about the
// connection it came over, from the one SMB status table.
type connVerdict = smbstatus.Verdict

const (
	connFine  = smbstatus.Keep  // the server answered: keep the connection
	connCheck = smbstatus.Check // unknown: check it with an echo
	connDead  = smbstatus.Drop  // the SMB session or tree is gone: drop it
)

// judge asks err for its verdict (a davfs error carries one) or looks it
// up, as rclone's connection pool does: file-system answers keep the
// connection, session-level answers drop it, anything else (transport
// errors, timeouts, cancelled requests) needs a check.
func judge(err error) connVerdict { return smbstatus.VerdictOf(err) }

// isBadShare reports whether a tree connect failed because the server has
// no such share.
func isBadShare(err error) bool {
	re, ok := errors.AsType[*smb2.ResponseError](err)
	return ok && re.Code == smbstatus.BadNetworkName
}
