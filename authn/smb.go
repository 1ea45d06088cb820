package authn

import (
	"context"
	"errors"
	"fmt"

	"github.com/davgate/davgate/session"
)

// LogonChecker performs an SMB session setup with credentials and ends it.
// session.Pool provides one; it returns an error wrapping
// session.ErrLogonFailure when the server refuses the credentials.
type LogonChecker interface {
	CheckLogon(ctx context.Context, addr string, c session.Creds) error
}

// SMB checks passwords by logging on to an SMB server.
//
// The identity is the user name folded to lower case as Windows and Samba
// compare names (see foldName), in Domain as configured. A user may type
// DOMAIN\user or user@domain where the domain is Domain in NetBIOS or DNS
// form (see sameDomain); any other domain, or any domain when Domain is
// empty, is refused before the server is asked: accounts of other
// (trusted) domains are not served, so that one name is one account.
type SMB struct {
	// Addr is the server's host:port. Required.
	Addr string
	// Domain is sent with the user name; "" for a standalone server.
	Domain string
	// Checker dials the server. Required.
	Checker LogonChecker
}

var _ userKeyer = (*SMB)(nil)

// identity resolves a typed name into the account's name and domain.
func (a *SMB) identity(typed string) (Identity, error) {
	if err := checkUserName(typed); err != nil {
		return Identity{}, err
	}
	name, domain := splitDomainUser(typed)
	if domain != "" && !sameDomain(domain, a.Domain) {
		return Identity{}, fmt.Errorf("smb: user %q is not in domain %q: %w", typed, a.Domain, errBadUserName)
	}
	name, ok := foldName(name)
	if !ok || name == "" {
		return Identity{}, errBadUserName
	}
	return Identity{User: name, Domain: a.Domain}, nil
}

// UserKey implements userKeyer.
func (a *SMB) UserKey(typed string) string {
	if id, err := a.identity(typed); err == nil {
		return id.User
	}
	return bareKey(typed)
}

// Authenticate implements Authenticator.
func (a *SMB) Authenticate(ctx context.Context, user string, password []byte) (Identity, error) {
	id, err := a.identity(user)
	if err != nil {
		return Identity{}, err
	}
	err = a.Checker.CheckLogon(ctx, a.Addr, session.Creds{User: id.User, Domain: id.Domain, Password: string(password)})
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, session.ErrLogonFailure):
		return Identity{}, fmt.Errorf("%w: %w", ErrBadCredentials, err)
	default:
		return Identity{}, fmt.Errorf("%w: smb log-on to %s: %w", ErrUnavailable, a.Addr, err)
	}
}
