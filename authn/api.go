package authn

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"
	"unicode"

	"github.com/davgate/davgate/internal/audit"
	"github.com/davgate/davgate/internal/connlimit"
	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/internal/slowbody"
	"github.com/davgate/davgate/session"
)

// maxLogonBody bounds a log-on request body.
const maxLogonBody = 16 << 10

// Logon holds what log-on needs; the API and the log-on page share it.
type Logon struct {
	// Auth checks passwords. Required.
	Auth Authenticator
	// Sessions mints sessions. Required.
	Sessions *session.Manager
	// Limiter slows password guessing. Required.
	Limiter *Limiter
	// Log receives failures with their cause. Required.
	Log *slog.Logger
	// SecureCookie marks the session cookie Secure (set when serving TLS).
	SecureCookie bool
	// Observe, if set, hears how each log-on attempt ended (for metrics),
	// whether through the API, the log-on page or password Basic auth.
	Observe func(LogonResult)
	// Audit, if set, records every log-on attempt and rate-limit block.
	Audit *audit.Logger
}

// LogonResult is how a log-on attempt ended.
type LogonResult string

// The results a log-on attempt can have.
const (
	LogonOK          LogonResult = "ok"
	LogonRefused     LogonResult = "refused"      // the directory refused the credentials (401)
	LogonRateLimited LogonResult = "rate_limited" // too many failures (429)
	LogonError       LogonResult = "error"        // directory or store unavailable (503)
)

// logonRequest is the body of POST /api/v1/sessions (JSON or form).
type logonRequest struct {
	Username string `json:"username"`
	Password secret `json:"password"`
	Label    string `json:"label"`
	Kind     string `json:"kind"`
}

// sessionJSON is one session as the API shows it.
type sessionJSON struct {
	ID         string    `json:"id"`
	Token      string    `json:"token,omitempty"`
	Kind       string    `json:"kind"`
	Label      string    `json:"label"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	LastFrom   string    `json:"last_used_from,omitempty"` // client address
	ExpiresAt  time.Time `json:"expires_at"`
	Current    *bool     `json:"current,omitempty"`
}

func toJSON(i session.Info) sessionJSON {
	return sessionJSON{ID: i.ID, Kind: string(i.Kind), Label: i.Label, CreatedAt: i.Created.UTC(),
		LastUsedAt: i.LastUsed.UTC(), LastFrom: i.LastAddr, ExpiresAt: i.Expires.UTC()}
}

// HandleCreate serves POST /api/v1/sessions.
func (l *Logon) HandleCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := readLogonRequest(w, r)
		if err != nil {
			writeBodyError(w, err)
			return
		}
		kind := session.KindDevice
		switch req.Kind {
		case "", "device":
		case "browser":
			kind = session.KindBrowser
		default:
			writeJSONError(w, http.StatusBadRequest, `kind must be "device" or "browser"`)
			return
		}
		token, info, status := l.logOn(w, r, req.Username, req.Password, kind, req.Label)
		clear(req.Password)
		if status != 0 {
			writeJSONError(w, status, statusMessage(status))
			return
		}
		if kind == session.KindBrowser {
			l.setCookie(w, r, token, info.Expires)
		}
		out := toJSON(info)
		out.Token = token
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusCreated, out)
	})
}

// logOn checks the rate limits and the password and mints a session. On
// failure it returns the status to answer (and has set Retry-After for 429).
func (l *Logon) logOn(w http.ResponseWriter, r *http.Request, user string, password []byte, kind session.Kind, label string) (string, session.Info, int) {
	token, info, status := l.checkAndCreate(w, r, user, password, kind, label)
	if status == 0 {
		// The connection has proved a password: it no longer counts
		// against max_unauthenticated_conns.
		connlimit.MarkAuthenticated(r.Context())
	}
	if l.Observe != nil {
		switch status {
		case 0:
			l.Observe(LogonOK)
		case http.StatusUnauthorized:
			l.Observe(LogonRefused)
		case http.StatusTooManyRequests:
			l.Observe(LogonRateLimited)
		default:
			l.Observe(LogonError)
		}
	}
	return token, info, status
}

// checkAndCreate is logOn without the observation. The attempt is
// reserved under the user's identity key and the client address before
// the directory is asked, and counts as a failure unless it succeeds.
func (l *Logon) checkAndCreate(w http.ResponseWriter, r *http.Request, user string, password []byte, kind session.Kind, label string) (string, session.Info, int) {
	ctx := r.Context()
	client := httplog.ClientAddr(r)
	key := identityKey(l.Auth, user)
	wait, err := l.Limiter.Reserve(ctx, key, client)
	if err != nil {
		l.Log.ErrorContext(ctx, "log-on", "logon_user", user, "err", err)
		l.auditLogon(ctx, false, key, client, "unavailable")
		return "", session.Info{}, http.StatusServiceUnavailable
	}
	if wait > 0 {
		w.Header().Set("Retry-After", retryAfter(wait))
		l.Log.WarnContext(ctx, "log-on rate limited", "logon_user", user, "retry_after_s", retryAfter(wait))
		l.auditBlocked(ctx, key, client, wait)
		return "", session.Info{}, http.StatusTooManyRequests
	}
	id, err := l.Auth.Authenticate(ctx, user, password)
	if err != nil {
		if errors.Is(err, ErrBadCredentials) {
			l.Log.InfoContext(ctx, "log-on refused", "logon_user", user, "err", err)
			l.auditLogon(ctx, false, key, client, "bad_credentials")
			return "", session.Info{}, http.StatusUnauthorized
		}
		if rerr := l.Limiter.Release(ctx, key, client); rerr != nil {
			l.Log.ErrorContext(ctx, "release log-on attempt", "logon_user", user, "err", rerr)
		}
		l.Log.ErrorContext(ctx, "log-on failed", "logon_user", user, "err", err)
		l.auditLogon(ctx, false, key, client, "unavailable")
		return "", session.Info{}, http.StatusServiceUnavailable
	}
	if err := l.Limiter.Succeed(ctx, client, key, identityKey(l.Auth, id.User)); err != nil {
		l.Log.ErrorContext(ctx, "clear failed log-ons", "logon_user", id.User, "err", err)
	}
	attrs := map[string]string{"domain": id.Domain}
	for k, v := range id.Attrs {
		attrs[k] = v
	}
	token, info, err := l.Sessions.Create(session.WithClientAddr(ctx, client), id.User, password, kind, label, attrs)
	if err != nil {
		l.Log.ErrorContext(ctx, "create session", "logon_user", id.User, "err", err)
		l.auditLogon(ctx, false, id.User, client, "session_error")
		return "", session.Info{}, http.StatusServiceUnavailable
	}
	l.Log.InfoContext(ctx, "logged on", "logon_user", id.User, "kind", string(kind), "session", info.ID)
	l.auditLogon(ctx, true, id.User, client, "ok", slog.String("session", info.ID), slog.String("kind", string(kind)))
	return token, info, 0
}

func statusMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "invalid user name or password"
	case http.StatusTooManyRequests:
		return "too many failed log-on attempts, try again later"
	default:
		return "log-on service unavailable, try again shortly"
	}
}

// errNotJSON refuses a log-on body that is not JSON: a form body would let
// another site's page post one without a CORS preflight.
var errNotJSON = errors.New("Content-Type must be application/json")

// errSlowBody is a log-on body not sent within slowbody's bounds.
var errSlowBody = errors.New("the request body was not sent in time")

// readJSON decodes r's JSON body of at most max bytes into v, under
// slowbody's bounds. Errors: errNotJSON for another content type,
// errSlowBody for a body not sent in time, badBody for anything else.
func readJSON(w http.ResponseWriter, r *http.Request, max int64, v any, badBody string) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return errNotJSON
	}
	slowbody.Bound(w, r)
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, max)).Decode(v); err != nil {
		if slowbody.TimedOut(err) {
			return errSlowBody
		}
		return errors.New(badBody)
	}
	return nil
}

// writeBodyError answers a body readJSON or readLogonRequest refused: 415
// for one that is not JSON, 408 for one not sent in time, else 400.
func writeBodyError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, errNotJSON):
		status = http.StatusUnsupportedMediaType
	case errors.Is(err, errSlowBody):
		status = http.StatusRequestTimeout
	}
	writeJSONError(w, status, err.Error())
}

// readLogonRequest reads a JSON body and checks its fields.
func readLogonRequest(w http.ResponseWriter, r *http.Request) (logonRequest, error) {
	slowbody.Bound(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, maxLogonBody)
	var req logonRequest
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return req, errNotJSON
	}
	// Read into a buffer of our own, zeroed after decoding, so the
	// password's only copy left is req.Password (see secret).
	body, err := io.ReadAll(r.Body)
	defer clear(body)
	if slowbody.TimedOut(err) {
		return req, errSlowBody
	}
	if err != nil {
		return req, errors.New("body must be a JSON object with username and password")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		clear(req.Password)
		return req, errors.New("body must be a JSON object with username and password")
	}
	switch {
	case req.Username == "" || len(req.Password) == 0:
		return req, errors.New("username and password are required")
	case len(req.Username) > 256 || !printable(req.Username):
		return req, errors.New("username is malformed")
	case len(req.Password) > 1024:
		return req, errors.New("password is too long")
	case len(req.Label) > 200 || !printable(req.Label):
		return req, errors.New("label must be at most 200 printable characters")
	}
	return req, nil
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// HandleList serves GET /api/v1/sessions: the caller's sessions.
func (l *Logon) HandleList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := SessionFrom(r.Context())
		infos, err := l.Sessions.List(r.Context(), s.User)
		if err != nil {
			l.Log.ErrorContext(r.Context(), "list sessions", "err", err)
			writeJSONError(w, http.StatusServiceUnavailable, statusMessage(http.StatusServiceUnavailable))
			return
		}
		out := make([]sessionJSON, 0, len(infos))
		for _, i := range infos {
			j := toJSON(i)
			cur := i.ID == s.ID
			j.Current = &cur
			out = append(out, j)
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, out)
	})
}

// HandleRevoke serves DELETE /api/v1/sessions/{id}; "current" names the
// calling session.
func (l *Logon) HandleRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := SessionFrom(r.Context())
		id := r.PathValue("id")
		if id == "current" {
			id = s.ID
		}
		err := l.Sessions.Revoke(r.Context(), s.User, id)
		switch {
		case err == nil:
		case errors.Is(err, session.ErrNotFound):
			writeJSONError(w, http.StatusNotFound, "no such session")
			return
		default:
			l.Log.ErrorContext(r.Context(), "revoke session", "err", err)
			writeJSONError(w, http.StatusServiceUnavailable, statusMessage(http.StatusServiceUnavailable))
			return
		}
		if id == s.ID {
			l.clearCookie(w, r)
		}
		l.Log.InfoContext(r.Context(), "session revoked", "session", id)
		w.WriteHeader(http.StatusNoContent)
	})
}

// HandleRevokeAll serves DELETE /api/v1/sessions: every session of the caller.
func (l *Logon) HandleRevokeAll() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := SessionFrom(r.Context())
		if err := l.Sessions.RevokeAll(r.Context(), s.User); err != nil {
			l.Log.ErrorContext(r.Context(), "revoke all sessions", "err", err)
			writeJSONError(w, http.StatusServiceUnavailable, statusMessage(http.StatusServiceUnavailable))
			return
		}
		l.clearCookie(w, r)
		l.Log.InfoContext(r.Context(), "all sessions revoked")
		w.WriteHeader(http.StatusNoContent)
	})
}

// setCookie sets the session cookie: over HTTPS (TLS here or at a trusted
// proxy) as SecureCookieName and Secure.
func (l *Logon) setCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: l.SecureCookie || httplog.HTTPS(r), SameSite: http.SameSiteLaxMode})
}

func (l *Logon) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: l.SecureCookie || httplog.HTTPS(r), SameSite: http.SameSiteLaxMode})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
