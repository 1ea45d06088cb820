// Package web owns the browser app: the file manager and the Devices page,
// one HTML shell with embedded scripts and styles, served by davgate itself.
// It holds no file handling of its own: the pages' scripts do every file
// operation through davgate's WebDAV under the DAV prefix (the same davfs
// code path as every other client) and manage sessions through /api/v1.
//
// It protects against script injection into the pages (a strict
// Content-Security-Policy: no inline script or style, nothing from another
// origin, no framing by other sites) and cross-site writes (each page
// carries the session's CSRF token, which its scripts send in X-CSRF-Token
// on every unsafe request; the server side checks it). The pages never see
// a password or the session cookie, which is HttpOnly.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/session"
)

//go:embed page.html
var pageHTML string

//go:embed static
var staticFiles embed.FS

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// StaticPrefix is where the app's scripts, styles and icons are served.
const StaticPrefix = "/static/"

// CSP is the pages' Content-Security-Policy. Scripts and styles come only
// from StaticPrefix on this origin; previews show files from /dav (same
// origin, served there under "sandbox") in <img>, <audio>, <video> and, for
// PDF, a frame or object of a blob: copy; forms post only here.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
	"media-src 'self' blob:; frame-src 'self' blob:; object-src 'self' blob:; connect-src 'self'; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// Options are what the app needs. All fields are required.
type Options struct {
	// DavPrefix is where the shares are served ("/dav").
	DavPrefix string
	// Shares lists the share names of the request's user.
	Shares func(context.Context) ([]string, error)
	// CSRFToken returns the session's CSRF token, which the pages send in
	// X-CSRF-Token and the log-out form in csrf_token.
	CSRFToken func(*session.Session) string
	// Log receives failures with their cause.
	Log *slog.Logger
}

// App serves the browser pages.
type App struct {
	o      Options
	static fs.FS
	etags  map[string]string // static file name -> ETag
}

// New returns the app.
func New(o Options) *App {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	a := &App{o: o, static: sub, etags: map[string]string{}}
	fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(sub, p)
			sum := sha256.Sum256(b)
			a.etags[p] = `"` + hex.EncodeToString(sum[:12]) + `"`
		}
		return nil
	})
	return a
}

type shareLink struct{ Name, Href string }

type pageData struct {
	Page, Title, User, CSRF, DavPrefix, Error string
	Shares                                    []shareLink
}

// HandleFiles serves the file manager: GET / (the shares) and GET
// /files/<share>/<path>, which the page's script lists by PROPFIND. It
// needs a session in the request's context (authn's Middleware).
func (a *App) HandleFiles() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := a.pageData(w, r, "files", "files")
		if !ok {
			return
		}
		names, err := a.o.Shares(r.Context())
		if err != nil {
			a.o.Log.ErrorContext(r.Context(), "list shares", "err", err)
			d.Error = "The shares cannot be listed now; try again shortly."
			a.render(w, http.StatusServiceUnavailable, d)
			return
		}
		for _, n := range names {
			d.Shares = append(d.Shares, shareLink{Name: n, Href: "/files/" + url.PathEscape(n) + "/"})
		}
		a.render(w, http.StatusOK, d)
	})
}

// HandleDevices serves GET /devices: the user's sessions and device
// tokens, through /api/v1/sessions and /api/v1/devices.
func (a *App) HandleDevices() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := a.pageData(w, r, "devices", "devices")
		if !ok {
			return
		}
		names, err := a.o.Shares(r.Context())
		if err != nil {
			a.o.Log.WarnContext(r.Context(), "list shares for the instructions", "err", err)
		}
		for _, n := range names {
			d.Shares = append(d.Shares, shareLink{Name: n, Href: a.o.DavPrefix + "/" + url.PathEscape(n) + "/"})
		}
		a.render(w, http.StatusOK, d)
	})
}

// pageData fills what every page shows from the request's session; without
// one it answers 401 (authn's Middleware normally redirects first).
func (a *App) pageData(w http.ResponseWriter, r *http.Request, page, title string) (pageData, bool) {
	s, ok := authn.SessionFrom(r.Context())
	if !ok {
		http.Error(w, "log on first", http.StatusUnauthorized)
		return pageData{}, false
	}
	return pageData{Page: page, Title: title, User: s.User, CSRF: a.o.CSRFToken(s), DavPrefix: a.o.DavPrefix}, true
}

func (a *App) render(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, d); err != nil {
		a.o.Log.Error("render page", "page", d.Page, "err", err)
	}
}

// HandleStatic serves the app's scripts, styles and icons under
// StaticPrefix, to anyone (they hold nothing of a user's), revalidated by
// ETag so that a new binary's files are fetched at once.
func (a *App) HandleStatic() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, StaticPrefix)
		etag, ok := a.etags[name]
		if !ok || name != path.Clean(name) {
			http.NotFound(w, r)
			return
		}
		f, err := a.static.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", CSP)
		http.ServeContent(w, r, name, time.Time{}, f.(io.ReadSeeker))
	})
}
