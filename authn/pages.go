package authn

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/internal/slowbody"
	"github.com/davgate/davgate/session"
)

// The log-on form, styled by the web app's stylesheet (/static/app.css);
// the pages after log-on are package web's. HandleHome's plain page of
// share links is kept for a server without the web app.

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
{{with .CSRF}}<meta name="csrf-token" content="{{.}}">{{end}}
<meta name="color-scheme" content="light dark"><title>davgate{{with .Title}} – {{.}}{{end}}</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/app.css"></head>
<body>{{if .Home}}<h1>davgate</h1>
<p>Logged on as <b>{{.User}}</b>.</p>
{{with .Error}}<p class="err" role="alert">{{.}}</p>{{end}}
<h2>Shares</h2>{{if .Shares}}<ul>{{range .Shares}}<li><a href="{{.Href}}">{{.Name}}</a></li>{{end}}</ul>{{else}}<p>No shares for you here.</p>{{end}}
<p>To mount a share, use the WebDAV address of this server and a device token
(<code>POST /api/v1/sessions</code> with <code>"kind":"device"</code>) as the password.</p>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{.CSRF}}"><button type="submit">Log out</button></form>
{{else}}<main class="logon"><h1>Log on to davgate</h1>
{{with .Error}}<p class="err" role="alert">{{.}}</p>{{end}}{{if .ForFlow}}<p class="meta">An app asks to connect to your account: log on to see its request, then allow or deny it.</p>{{end}}
<form method="post" action="/login"><input type="hidden" name="login_token" value="{{.LoginToken}}">{{with .Next}}<input type="hidden" name="next" value="{{.}}">{{end}}
<label>User name <input name="username" autocomplete="username" required autofocus value="{{.User}}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit" class="primary">Log on</button></form></main>{{end}}
</body></html>
`))

type shareLink struct{ Name, Href string }

type pageData struct {
	Home               bool // the logged-on page, else the log-on form
	Title, User, Error string
	Next               string // where the log-on form leads, if not home
	ForFlow            bool   // the form leads to an app log-on flow's page
	CSRF               string // the session's CSRF token, on the home page
	LoginToken         string // the log-on form's double-submit token
	Shares             []shareLink
}

// localTarget returns next if it is a path on this server to go to after
// log-on, else "/": never another site (no "//host", no backslash, no
// scheme), so the form cannot be made an open redirect.
func localTarget(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") || len(next) > 2048 {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

func render(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	pageTmpl.Execute(w, d)
}

// HandleLoginPage serves GET /login.
func (l *Logon) HandleLoginPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next := localTarget(r.URL.Query().Get("next"))
		if next == "/" {
			next = ""
		}
		l.renderLogin(w, r, http.StatusOK, pageData{Title: "log on", Next: next})
	})
}

// renderLogin renders the log-on form with a fresh double-submit token,
// which POST /login wants back both in its field and in its cookie.
func (l *Logon) renderLogin(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	var b [18]byte
	rand.Read(b[:])
	d.LoginToken = base64.RawURLEncoding.EncodeToString(b[:])
	d.ForFlow = strings.HasPrefix(d.Next, FlowPagePrefix)
	http.SetCookie(w, loginCookie(r, d.LoginToken, 0))
	render(w, status, d)
}

// The log-on form's double-submit token is kept in LoginCookieName over
// plain HTTP and in SecureLoginCookieName over HTTPS (directly or behind a
// trusted proxy, as for the session cookie): Secure, and by its __Host-
// prefix bound to this host and path "/", so that a sibling subdomain or a
// plain-HTTP response cannot plant a token of its own choosing.
const (
	LoginCookieName       = "davgate_login"
	SecureLoginCookieName = "__Host-davgate_login"
)

// loginCookieName is the log-on cookie's name for the request's scheme.
func loginCookieName(r *http.Request) string {
	return byScheme(r, LoginCookieName, SecureLoginCookieName)
}

// loginCookie is the log-on cookie holding value; maxAge < 0 deletes it.
// Over plain HTTP it is scoped to /login; the __Host- form must have path
// "/".
func loginCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: loginCookieName(r), Value: value, Path: "/login", MaxAge: maxAge,
		HttpOnly: true, Secure: httplog.HTTPS(r), SameSite: http.SameSiteStrictMode}
	if c.Secure {
		c.Path = "/"
	}
	return c
}

// loginForgery returns why POST /login did not come from davgate's own
// log-on form, or "": no foreign Origin or Sec-Fetch-Site, and the form's
// login_token equal to the davgate_login cookie (login CSRF would log the
// victim on as the attacker).
func loginForgery(r *http.Request) string {
	if why := foreignRequest(r); why != "" {
		return why
	}
	c, err := r.Cookie(loginCookieName(r))
	if err != nil || c.Value == "" {
		return "no log-on cookie"
	}
	if subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("login_token"))) != 1 {
		return "log-on token does not match"
	}
	return ""
}

// HandleLoginForm serves POST /login: a browser session in a cookie, then a
// redirect to the page the browser asked for before (the form's next), or
// the home page.
func (l *Logon) HandleLoginForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowbody.Bound(w, r)
		r.Body = http.MaxBytesReader(w, r.Body, maxLogonBody)
		if err := r.ParseForm(); slowbody.TimedOut(err) {
			l.renderLogin(w, r, http.StatusRequestTimeout, pageData{Title: "log on", Error: "The form was not sent in time."})
			return
		} else if err != nil {
			l.renderLogin(w, r, http.StatusBadRequest, pageData{Title: "log on", Error: "The form could not be read."})
			return
		}
		if why := loginForgery(r); why != "" {
			l.Log.InfoContext(r.Context(), "log-on form refused", "reason", why)
			l.renderLogin(w, r, http.StatusForbidden, pageData{Title: "log on", Error: "The log-on form was out of date or sent from another site; log on again."})
			return
		}
		user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
		next := localTarget(r.PostForm.Get("next"))
		if user == "" || pass == "" || len(user) > 256 || len(pass) > 1024 || !printable(user) {
			l.renderLogin(w, r, http.StatusBadRequest, pageData{Title: "log on", User: user, Next: next, Error: "Enter your user name and password."})
			return
		}
		// The form's values are strings net/http keeps; the copy is zeroed.
		pw := []byte(pass)
		token, info, status := l.logOn(w, r, user, pw, session.KindBrowser, "browser")
		clear(pw)
		if status != 0 {
			l.renderLogin(w, r, status, pageData{Title: "log on", User: user, Next: next, Error: statusMessage(status) + "."})
			return
		}
		l.setCookie(w, r, token, info.Expires)
		http.SetCookie(w, loginCookie(r, "", -1))
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
}

// HandleHome serves GET / for a logged-on browser: the user's shares.
// shares lists the share names for the request's user, each served under
// davPrefix.
func (l *Logon) HandleHome(davPrefix string, shares func(context.Context) ([]string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := SessionFrom(r.Context())
		names, err := shares(r.Context())
		if err != nil {
			l.Log.ErrorContext(r.Context(), "list shares", "err", err)
			render(w, http.StatusServiceUnavailable, pageData{Home: true, User: s.User, CSRF: s.CSRFToken(), Error: "The shares cannot be listed now; try again shortly."})
			return
		}
		d := pageData{Home: true, User: s.User, CSRF: s.CSRFToken()}
		for _, n := range names {
			d.Shares = append(d.Shares, shareLink{Name: n, Href: davPrefix + "/" + url.PathEscape(n) + "/"})
		}
		render(w, http.StatusOK, d)
	})
}

// HandleLogout serves POST /logout: ends the calling session.
func (l *Logon) HandleLogout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := SessionFrom(r.Context()); ok {
			if err := l.Sessions.RevokeSession(r.Context(), s); err != nil {
				l.Log.ErrorContext(r.Context(), "log out", "err", err)
			}
		}
		l.clearCookie(w, r)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})
}

// RedirectToLogin answers an unauthenticated browser GET (one that accepts
// HTML) with a redirect to the log-on page; other requests, DAV clients'
// included, get the Basic challenge.
func RedirectToLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
		target := "/login"
		if next := r.URL.RequestURI(); next != "/" {
			target += "?next=" + url.QueryEscape(next)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	fail(w, r, http.StatusUnauthorized)
}
