package authn

import (
	"errors"
	"net/http"

	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/session"
)

// HandleCreateDevice serves POST /api/v1/devices {"label": "..."}: a device
// token minted from the caller's session without asking the password again
// (session.Manager.CreateFrom). JSON only, so that a cross-site form cannot
// post it; behind Require (and the CSRF checks for cookie callers).
func (l *Logon) HandleCreateDevice() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := SessionFrom(r.Context())
		label, err := readDeviceRequest(w, r)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		token, info, err := l.Sessions.CreateFrom(session.WithClientAddr(r.Context(), httplog.ClientAddr(r)), s, session.KindDevice, label)
		if err != nil {
			l.Log.ErrorContext(r.Context(), "create device token", "err", err)
			writeJSONError(w, http.StatusServiceUnavailable, statusMessage(http.StatusServiceUnavailable))
			return
		}
		out := toJSON(info)
		out.Token = token
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusCreated, out)
	})
}

func readDeviceRequest(w http.ResponseWriter, r *http.Request) (string, error) {
	var req struct {
		Label string `json:"label"`
	}
	if err := readJSON(w, r, 4096, &req, "body must be a JSON object"); err != nil {
		return "", err
	}
	if len(req.Label) > 200 || !printable(req.Label) {
		return "", errors.New("label must be at most 200 printable characters")
	}
	return req.Label, nil
}
