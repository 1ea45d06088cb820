// Package authn owns log-on: it checks a user's password once with the
// configured Authenticator, mints a session through the session package,
// and on every later request turns the token the client presents (Basic,
// Bearer or cookie) back into that session.
//
// It protects against: password guessing (each log-on attempt is reserved
// before the directory is asked, per identity and per client address, so
// no burst gets more than the limit; see Limiter); one account under many
// names (every spelling a directory accepts resolves to one identity, see
// identity.go); token confusion (a Basic user name must
// match the token's user); secrets in logs and responses (passwords and
// tokens are never logged, and clients get short fixed messages, never the
// directory's or file server's error text); and the real directory password
// in Basic auth on DAV requests, which is refused unless configured.
package authn

import (
	"context"
	"errors"

	"github.com/davgate/davgate/session"
)

// Identity is who an Authenticator found behind a user name and password.
type Identity struct {
	// User is the canonical user name used for sessions, revocation, rate
	// limits and share URLs: one per account, whatever spelling was typed.
	User string
	// Domain is the user's domain, "" if none.
	Domain string
	// Attrs holds directory attributes read at log-on (for share templates).
	Attrs map[string]string
}

// Authenticator checks a user name and password.
//
// Authenticate returns ErrBadCredentials when the directory refuses them and
// another error when it cannot be asked. The password is the caller's,
// who zeroes it afterwards: Authenticate must not keep it (nor any copy
// davgate owns) past its return.
type Authenticator interface {
	Authenticate(ctx context.Context, user string, password []byte) (Identity, error)
}

// Errors of log-on.
var (
	// ErrBadCredentials: the user name or password is wrong, or the account
	// cannot log on. Clients see one message for all of these.
	ErrBadCredentials = errors.New("invalid user name or password")
	// ErrUnavailable: the directory or file server could not be reached.
	ErrUnavailable = errors.New("authentication service unavailable")
)

type ctxKey struct{}

// WithSession returns ctx carrying s.
func WithSession(ctx context.Context, s *session.Session) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// SessionFrom returns the request's session, set by the token middleware.
func SessionFrom(ctx context.Context) (*session.Session, bool) {
	s, ok := ctx.Value(ctxKey{}).(*session.Session)
	return s, ok && s != nil
}
