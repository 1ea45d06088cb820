package authn

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/davgate/davgate/internal/connlimit"
	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/session"
)

// CookieName is the browser session cookie over plain HTTP;
// SecureCookieName over HTTPS (Secure, and bound to this host by its
// prefix).
const (
	CookieName       = "davgate_session"
	SecureCookieName = "__Host-davgate_session"
)

// cookieName is the session cookie's name for the request's scheme.
func cookieName(r *http.Request) string { return byScheme(r, CookieName, SecureCookieName) }

// byScheme is plain for a request over plain HTTP, secure over HTTPS
// (directly, or behind a trusted proxy that says so).
func byScheme(r *http.Request, plain, secure string) string {
	if httplog.HTTPS(r) {
		return secure
	}
	return plain
}

// Challenge is the WWW-Authenticate value of every 401: DAV clients (Finder,
// Explorer, mobile apps) then ask for a user name and a password, where the
// user pastes a device token.
const Challenge = `Basic realm="davgate", charset="UTF-8"`

// credential is what a request presents.
type credential struct {
	token, basicUser string
	cookie           bool // the token came from the session cookie
}

// tokenFrom finds the token a request presents and the Basic user name, if
// any. Authorization wins over the cookie.
func tokenFrom(r *http.Request) (credential, bool) {
	if user, pass, isBasic := r.BasicAuth(); isBasic {
		return credential{token: pass, basicUser: user}, pass != ""
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		t := strings.TrimSpace(h[7:])
		return credential{token: t}, t != ""
	}
	if c, err := r.Cookie(cookieName(r)); err == nil && c.Value != "" {
		return credential{token: c.Value, cookie: true}, true
	}
	return credential{}, false
}

// HasCredentials reports whether the request presents a token, a Basic
// user name and password, or a session cookie (valid or not).
func HasCredentials(r *http.Request) bool {
	_, ok := tokenFrom(r)
	return ok
}

// Middleware resolves the request's token into a session and hands the
// request on with the session in its context; without a valid token it
// answers 401 with the Basic challenge.
type Middleware struct {
	// Sessions opens tokens. Required.
	Sessions *session.Manager
	// Log receives store failures. Required.
	Log *slog.Logger
	// OnFail, if set, answers instead of the plain 401 (e.g. a redirect to
	// the log-on page for browsers).
	OnFail func(w http.ResponseWriter, r *http.Request)
	// PasswordBasic, if set, accepts the real directory password in Basic
	// auth where the password is not a token. Nil refuses it (the default).
	PasswordBasic *PasswordBasic
}

// Require returns next guarded by a valid session.
func (m *Middleware) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, cookie, status := m.open(w, r)
		if s != nil && cookie && !safeMethod(r.Method) {
			if why := csrfRefusal(w, r, s.CSRFToken()); why != "" {
				m.Log.InfoContext(r.Context(), "cross-site request refused", "reason", why)
				s, status = nil, http.StatusForbidden
			}
		}
		if s == nil {
			if status == http.StatusUnauthorized && m.OnFail != nil {
				m.OnFail(w, r)
				return
			}
			fail(w, r, status)
			return
		}
		httplog.SetUser(r.Context(), s.User)
		connlimit.MarkAuthenticated(r.Context())
		next.ServeHTTP(w, r.WithContext(WithSession(r.Context(), s)))
	})
}

// open returns the request's session and whether it came from the
// cookie, or nil and the status to answer.
func (m *Middleware) open(w http.ResponseWriter, r *http.Request) (*session.Session, bool, int) {
	cred, ok := tokenFrom(r)
	if !ok {
		return nil, false, http.StatusUnauthorized
	}
	s, status := m.openToken(w, r, cred.token, cred.basicUser)
	return s, cred.cookie, status
}

// openToken opens token, presented with basicUser if Basic auth.
func (m *Middleware) openToken(w http.ResponseWriter, r *http.Request, token, basicUser string) (*session.Session, int) {
	s, err := m.Sessions.Open(session.WithClientAddr(r.Context(), httplog.ClientAddr(r)), token)
	switch {
	case err == nil:
	case errors.Is(err, session.ErrInvalidToken) && basicUser != "" && m.PasswordBasic != nil:
		// Not a token: with password Basic allowed, it may be the password.
		return m.PasswordBasic.session(w, r, basicUser, token)
	case errors.Is(err, session.ErrInvalidToken), errors.Is(err, session.ErrRevoked):
		m.Log.InfoContext(r.Context(), "token refused", "reason", err.Error(), "basic_user", basicUser)
		return nil, http.StatusUnauthorized
	default:
		m.Log.ErrorContext(r.Context(), "open session", "err", err)
		return nil, http.StatusServiceUnavailable
	}
	// A token works only for its own user: Basic auth names the user too.
	if basicUser != "" && !sameUser(basicUser, s.User) {
		m.Log.InfoContext(r.Context(), "token refused", "reason", "basic user name is not the token's user", "basic_user", basicUser)
		return nil, http.StatusUnauthorized
	}
	return s, 0
}

// sameUser compares user names as the file servers do (foldName), with
// an optional DOMAIN\ or @domain part ignored: the token's user is the
// identity the log-on resolved to, and a Basic name may be any spelling
// of it.
func sameUser(given, user string) bool {
	if _, u, ok := strings.Cut(given, `\`); ok {
		given = u
	}
	if u, _, ok := strings.Cut(given, "@"); ok && !strings.Contains(user, "@") {
		given = u
	}
	g, ok := foldName(given)
	u, _ := foldName(user)
	return ok && g == u
}

// fail answers an authentication failure with a short safe message.
func fail(w http.ResponseWriter, r *http.Request, status int) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", Challenge)
	}
	msg := map[int]string{
		http.StatusUnauthorized:       "authentication required: log on and use your token",
		http.StatusForbidden:          "cross-site request refused: reload the page and try again",
		http.StatusTooManyRequests:    statusMessage(http.StatusTooManyRequests),
		http.StatusServiceUnavailable: "session service unavailable, try again shortly",
	}[status]
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSONError(w, status, msg)
		return
	}
	http.Error(w, msg, status)
}
