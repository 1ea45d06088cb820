package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/davgate/davgate/session"
)

// LogonChecker performs an SMB session setup with credentials and ends it.
// session.Pool provides one; it returns an error wrapping
// session.ErrLogonFailure when the server refuses the credentials.
type LogonChecker interface {
	CheckLogon(ctx context.Context, addr string, c session.Creds) error
}

// SMB checks passwords by logging on to an SMB server.
type SMB struct {
	// Addr is the server's host:port. Required.
	Addr string
	// Domain is sent with the user name; "" for a standalone server.
	Domain string
	// Checker dials the server. Required.
	Checker LogonChecker
}

// Authenticate implements Authenticator.
func (a *SMB) Authenticate(ctx context.Context, user, password string) (Identity, error) {
	domain := a.Domain
	// DOMAIN\user and user@domain name the domain in the user name.
	if d, u, ok := strings.Cut(user, `\`); ok {
		domain, user = d, u
	}
	err := a.Checker.CheckLogon(ctx, a.Addr, session.Creds{User: user, Domain: domain, Password: password})
	switch {
	case err == nil:
		return Identity{User: user, Domain: domain}, nil
	case errors.Is(err, session.ErrLogonFailure):
		return Identity{}, fmt.Errorf("%w: %w", ErrBadCredentials, err)
	default:
		return Identity{}, fmt.Errorf("%w: smb log-on to %s: %w", ErrUnavailable, a.Addr, err)
	}
}
