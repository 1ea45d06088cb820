package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/davgate/davgate/internal/audit"
	"github.com/davgate/davgate/session"
)

// The admin endpoint, on the metrics listener only (never the public
// one), for `davgate sessions`:
//
//	GET    /admin/v1/sessions?user=NAME          the user's sessions
//	DELETE /admin/v1/sessions?user=NAME[&id=ID]  end them (or one)
//
// Each request carries "Authorization: DavgateAdmin <token>", an admin
// token for exactly that request sealed with the master keyring
// (session.Keyring.SealAdmin): only who can read the keyring can list or
// end sessions, and a token seen on the wire is good for nothing else.
// It goes through the running instance, so the file store (locked by it)
// is reached, and the ended sessions' SMB connections close at once.

const adminPrefix = "/admin/v1/"

// adminSession is one session as the admin endpoint shows it.
type adminSession struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Label      string    `json:"label"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// withAdmin serves the admin endpoint beside next (the metrics
// listener's handler).
func (a *app) withAdmin(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(adminPrefix, a.adminAuth(http.HandlerFunc(a.handleAdminSessions)))
	mux.Handle("/", next)
	return mux
}

// adminAuth admits requests with a valid admin token for themselves.
func (a *app) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DavgateAdmin ")
		if !ok || a.sessions.OpenAdmin(tok, r.Method+" "+r.URL.RequestURI()) != nil {
			a.log.WarnContext(r.Context(), "admin request refused", "method", r.Method, "path", r.URL.Path,
				"client", r.RemoteAddr, "err", session.ErrBadAdminToken)
			writeAdminError(w, http.StatusUnauthorized, "admin token missing or invalid: use davgate sessions with the server's master keyring")
			return
		}
		next.ServeHTTP(w, r.WithContext(audit.WithActor(r.Context(), "admin")))
	})
}

func (a *app) handleAdminSessions(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != adminPrefix+"sessions" {
		writeAdminError(w, http.StatusNotFound, "no such admin endpoint")
		return
	}
	user, id := r.URL.Query().Get("user"), r.URL.Query().Get("id")
	if user == "" {
		writeAdminError(w, http.StatusBadRequest, "user is required")
		return
	}
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		infos, err := a.sessions.List(ctx, user)
		if err != nil {
			a.adminFailed(w, r, err)
			return
		}
		a.audit.Log(ctx, audit.AdminSessionsList, slog.String("user", user), slog.Int("count", len(infos)))
		out := make([]adminSession, 0, len(infos))
		for _, i := range infos {
			out = append(out, adminSession{ID: i.ID, Kind: string(i.Kind), Label: i.Label,
				CreatedAt: i.Created.UTC(), LastUsedAt: i.LastUsed.UTC(), ExpiresAt: i.Expires.UTC()})
		}
		writeAdminJSON(w, http.StatusOK, out)
	case http.MethodDelete:
		n, err := a.adminRevoke(r, user, id)
		if errors.Is(err, session.ErrNotFound) {
			writeAdminError(w, http.StatusNotFound, "the user has no session with that id")
			return
		}
		if err != nil {
			a.adminFailed(w, r, err)
			return
		}
		writeAdminJSON(w, http.StatusOK, map[string]int{"revoked": n})
	default:
		w.Header().Set("Allow", "GET, DELETE")
		writeAdminError(w, http.StatusMethodNotAllowed, "GET or DELETE")
	}
}

// adminRevoke ends the user's session id, or all of them when id is "".
func (a *app) adminRevoke(r *http.Request, user, id string) (int, error) {
	ctx := r.Context()
	if id != "" {
		if err := a.sessions.Revoke(ctx, user, id); err != nil {
			return 0, err
		}
		return 1, nil
	}
	infos, err := a.sessions.List(ctx, user)
	if err != nil {
		return 0, err
	}
	if err := a.sessions.RevokeAll(ctx, user); err != nil {
		return 0, err
	}
	a.log.InfoContext(ctx, "admin revoked sessions", "user", user, "count", len(infos))
	return len(infos), nil
}

func (a *app) adminFailed(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "admin sessions", "err", err)
	writeAdminError(w, http.StatusServiceUnavailable, "session store unavailable")
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeAdminError(w http.ResponseWriter, status int, msg string) {
	writeAdminJSON(w, status, map[string]string{"error": msg})
}
