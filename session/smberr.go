package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/cloudsoda/go-smb2"
)

// NTSTATUS codes ([MS-ERREF] 2.3.1) that matter to the pool. go-smb2 keeps
// its table internal, so the values are repeated here.
const (
	statusNoSuchUser          = 0xC0000064
	statusWrongPassword       = 0xC000006A
	statusLogonFailure        = 0xC000006D
	statusAccountRestriction  = 0xC000006E
	statusInvalidLogonHours   = 0xC000006F
	statusInvalidWorkstation  = 0xC0000070
	statusPasswordExpired     = 0xC0000071
	statusAccountDisabled     = 0xC0000072
	statusNetworkNameDeleted  = 0xC00000C9
	statusBadNetworkName      = 0xC00000CC
	statusLogonTypeNotGranted = 0xC000015B
	statusAccountExpired      = 0xC0000193
	statusUserSessionDeleted  = 0xC0000203
	statusPasswordMustChange  = 0xC0000224
	statusAccountLockedOut    = 0xC0000234
	statusNetworkSessionExp   = 0xC000035C
	statusNTLMBlocked         = 0xC0000418
)

// logonStatuses are the session-setup answers that mean "these credentials
// will not do": retrying them can only lock the account.
var logonStatuses = []uint32{
	statusNoSuchUser, statusWrongPassword, statusLogonFailure,
	statusAccountRestriction, statusInvalidLogonHours, statusInvalidWorkstation,
	statusPasswordExpired, statusAccountDisabled, statusLogonTypeNotGranted,
	statusAccountExpired, statusPasswordMustChange, statusAccountLockedOut,
}

// statusText is go-smb2's description of code, as it appears in its errors.
func statusText(code uint32) string {
	return strings.TrimPrefix((&smb2.ResponseError{Code: code}).Error(), "response error: ")
}

// logonStatus reports the logon-failure NTSTATUS in a dial error, if any.
// go-smb2 reports a refused second session-setup leg as *ResponseError; a
// refusal of the first leg (e.g. by a Kerberos initiator) only as text in
// an *InvalidResponseError, so that is matched by the status's description.
func logonStatus(err error) (uint32, bool) {
	var re *smb2.ResponseError
	if errors.As(err, &re) {
		for _, c := range logonStatuses {
			if re.Code == c {
				return c, true
			}
		}
		return 0, false
	}
	var ie *smb2.InvalidResponseError
	if errors.As(err, &ie) && strings.Contains(ie.Message, "got ") {
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
	var re *smb2.ResponseError
	if errors.As(err, &re) && re.Code == statusNTLMBlocked {
		// A policy, not the password: not counted against the account.
		return fmt.Errorf("smb log-on to %s: the server refuses NTLM; log on with Kerberos: %w", addr, err)
	}
	return fmt.Errorf("smb connect to %s: %w", addr, err)
}

// connVerdict is what an error from an SMB operation says about the
// connection it came over.
type connVerdict int

const (
	connFine  connVerdict = iota // the server answered: keep the connection
	connCheck                    // unknown: check it with an echo
	connDead                     // the SMB session or tree is gone: drop it
)

// judge classifies err the way rclone's connection pool does: file-system
// answers keep the connection, session-level answers drop it, anything
// else (transport errors, timeouts, cancelled requests) needs a check.
func judge(err error) connVerdict {
	if err == nil {
		return connFine
	}
	var te *smb2.TransportError
	if errors.As(err, &te) { // before io.EOF: it may wrap one
		return connDead
	}
	var re *smb2.ResponseError
	if errors.As(err, &re) {
		switch re.Code {
		case statusUserSessionDeleted, statusNetworkSessionExp, statusNetworkNameDeleted:
			return connDead
		}
		return connFine
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// A request given up half way (a client went away) may leave the
		// connection in any state.
		return connCheck
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrExist),
		errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrInvalid),
		errors.Is(err, fs.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return connFine
	}
	return connCheck
}

// isBadShare reports whether a tree connect failed because the server has
// no such share.
func isBadShare(err error) bool {
	var re *smb2.ResponseError
	return errors.As(err, &re) && re.Code == statusBadNetworkName
}
