package authn

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/session"
)

// The approval page of a login flow: server-rendered, no script, styled
// by the web app's stylesheet, one form with Allow and Deny.

var flowTmpl = template.Must(template.New("flow").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>davgate – {{.Title}}</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/app.css"></head>
<body><main class="logon" id="main">
{{if .Pending}}<h1>Allow {{.Client}} to access your files?</h1>
<p>An app that calls itself <b>{{.Client}}</b> asks to use your davgate account: to read, change and delete your files on every share, until you revoke it on the <a href="/devices">Devices</a> page. It never sees your password.</p>
<dl class="fields">
<dt>Account</dt><dd>{{.User}}</dd>
<dt>App</dt><dd>{{.Client}}</dd>
<dt>Started</dt><dd><time datetime="{{.StartedISO}}">{{.Started}}</time> ({{.Ago}})</dd>
<dt>From</dt><dd>{{.From}}{{if .SameAddr}} (this browser's address too){{end}}</dd>
</dl>
<p class="meta">Allow only if you started this yourself, just now. If someone sent you this link, deny.</p>
<form method="post" action="{{.Action}}"><input type="hidden" name="csrf_token" value="{{.CSRF}}">
<button type="submit" name="decision" value="allow" class="primary" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>
<p class="meta">Logged on as <b>{{.User}}</b>. Not you? <a href="/">Go to davgate</a> and log out first.</p>
{{else}}<h1>{{.Title}}</h1>
<p{{if .Err}} class="err" role="alert"{{end}}>{{.Message}}</p>
<p><a href="/devices">Your devices</a> · <a href="/">Your files</a></p>{{end}}
</main></body></html>
`))

type flowPage struct {
	Pending                        bool
	Title, Message                 string
	Err                            bool
	User, Client, From, Action     string
	Started, StartedISO, Ago, CSRF string
	SameAddr                       bool
}

func renderFlow(w http.ResponseWriter, status int, d flowPage) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	flowTmpl.Execute(w, d)
}

var flowClosed = flowPage{Title: "This request is closed", Err: true,
	Message: "This log-on request has expired or was answered already. Start again from the app."}

// pendingFlow finds the flow of the request's code; if it is not pending
// it renders the page saying so and returns nil.
func (lf *LoginFlows) pendingFlow(w http.ResponseWriter, r *http.Request) *session.Flow {
	key, ok := flowKeyFromCode(r.PathValue("code"))
	if !ok {
		renderFlow(w, http.StatusNotFound, flowClosed)
		return nil
	}
	f, err := lf.readFlow(r.Context(), key)
	switch {
	case errors.Is(err, session.ErrNotFound):
		renderFlow(w, http.StatusNotFound, flowClosed)
		return nil
	case err != nil:
		lf.Logon.Log.ErrorContext(r.Context(), "read login flow", "err", err)
		renderFlow(w, http.StatusServiceUnavailable, flowPage{Title: "Try again", Err: true,
			Message: "davgate cannot answer this request now; reload the page shortly."})
		return nil
	case f.State != session.FlowPending:
		renderFlow(w, http.StatusConflict, flowClosed)
		return nil
	}
	return f
}

// HandlePage serves GET /login-flows/{code}: the approval page, for a
// logged-on browser (behind Middleware.Require with RedirectToLogin).
func (lf *LoginFlows) HandlePage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := SessionFrom(r.Context())
		f := lf.pendingFlow(w, r)
		if f == nil {
			return
		}
		renderFlow(w, http.StatusOK, flowPage{
			Pending: true, Title: "allow " + f.Client + "?", User: s.User, Client: f.Client, From: f.From,
			SameAddr: f.From == httplog.ClientAddr(r), Action: FlowPagePrefix + r.PathValue("code"),
			Started: f.Created.UTC().Format("2 Jan 2006, 15:04:05 UTC"), StartedISO: f.Created.UTC().Format(time.RFC3339),
			Ago: ago(lf.now().Sub(f.Created)), CSRF: s.CSRFToken(),
		})
	})
}

func ago(d time.Duration) string {
	switch m := int(d / time.Minute); {
	case d < time.Minute:
		return "less than a minute ago"
	case m == 1:
		return "1 minute ago"
	default:
		return fmt.Sprintf("%d minutes ago", m)
	}
}

// HandleAnswer serves POST /login-flows/{code} with decision=allow or
// deny: behind Middleware.Require, which checks the CSRF token.
func (lf *LoginFlows) HandleAnswer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := SessionFrom(r.Context())
		// (Require has parsed a cookie caller's form for its CSRF check.)
		r.Body = http.MaxBytesReader(w, r.Body, maxLogonBody)
		decision := r.PostFormValue("decision")
		if decision != "allow" && decision != "deny" {
			renderFlow(w, http.StatusBadRequest, flowPage{Title: "Allow or deny?", Err: true, Message: "Choose Allow or Deny on the request's page."})
			return
		}
		f := lf.pendingFlow(w, r)
		if f == nil {
			return
		}
		if decision == "deny" {
			lf.deny(w, r, s, f)
			return
		}
		lf.allow(w, r, s, f)
	})
}

func (lf *LoginFlows) deny(w http.ResponseWriter, r *http.Request, s *session.Session, f *session.Flow) {
	f.State, f.User = session.FlowDenied, s.User
	if !lf.settle(w, r, f) {
		return
	}
	lf.Logon.Log.InfoContext(r.Context(), "login flow denied", "client_name", f.Client)
	renderFlow(w, http.StatusOK, flowPage{Title: "Denied",
		Message: fmt.Sprintf("%s was denied access. It gets no token; you can close this page.", f.Client)})
}

// allow prepares the device session (session.Manager.PrepareFrom: sealed,
// not stored), seals its token and record to the flow's poll key and
// settles the flow. The session is minted only when the app collects it
// (collect); a flow never collected leaves nothing behind.
func (lf *LoginFlows) allow(w http.ResponseWriter, r *http.Request, s *session.Session, f *session.Flow) {
	ctx := r.Context()
	token, pending, info, err := lf.Logon.Sessions.PrepareFrom(ctx, s, session.KindDevice, f.Client)
	if err == nil {
		f.State, f.User, f.DeviceID = session.FlowApproved, s.User, info.ID
		f.Sealed, err = sealDevice(f.PollKey, f.Key, token, pending)
	}
	if err != nil {
		lf.Logon.Log.ErrorContext(ctx, "prepare device for login flow", "err", err)
		renderFlow(w, http.StatusServiceUnavailable, flowPage{Title: "Try again", Err: true, Message: "The device could not be created now; go back and try again shortly."})
		return
	}
	if !lf.settle(w, r, f) {
		return
	}
	lf.Logon.Log.InfoContext(ctx, "login flow approved", "client_name", f.Client, "session", info.ID)
	renderFlow(w, http.StatusOK, flowPage{Title: "Allowed",
		Message: fmt.Sprintf("%s can now access your files; return to it. Once it has connected it is listed on your Devices page as “%s”, where you can revoke it.", f.Client, f.Client)})
}

// settle stores the answer; if the flow was settled or ended meanwhile it
// renders the page saying so and returns false.
func (lf *LoginFlows) settle(w http.ResponseWriter, r *http.Request, f *session.Flow) bool {
	err := lf.bind(f)
	if err == nil {
		err = lf.Store.SettleFlow(r.Context(), f)
	}
	switch {
	case errors.Is(err, session.ErrNotFound):
		renderFlow(w, http.StatusConflict, flowClosed)
		return false
	case err != nil:
		lf.Logon.Log.ErrorContext(r.Context(), "settle login flow", "err", err)
		renderFlow(w, http.StatusServiceUnavailable, flowPage{Title: "Try again", Err: true, Message: "davgate cannot answer this request now; go back and try again shortly."})
		return false
	}
	return true
}
