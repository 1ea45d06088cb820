package session

import "errors"

var (
	// ErrInvalidToken means a token is malformed, was altered, or is sealed
	// under a master key that is not (or no longer) in the keyring.
	ErrInvalidToken = errors.New("invalid token")
	// ErrRevoked means the token was genuine but its session has ended:
	// revoked, expired (absolute lifetime or idle limit), or unknown to the
	// store.
	ErrRevoked = errors.New("session ended")
	// ErrNotFound means a record or a user's session does not exist.
	ErrNotFound = errors.New("not found")
	// ErrLogonFailure means a file server, or for Kerberos log-ons the
	// KDC, refused the credentials (logon failure, wrong password, password
	// expired or must change, account locked out, disabled or expired,
	// logon restrictions). It is never retried with the same credentials,
	// nor tried again with another mechanism.
	ErrLogonFailure = errors.New("smb logon refused")
)
