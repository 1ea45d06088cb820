package main

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/davfs"
	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/session"
	"github.com/davgate/davgate/web"
)

// davPrefix is where the shares are served; uploadsPrefix is tus's
// creation endpoint.
const (
	davPrefix     = "/dav"
	uploadsPrefix = "/api/v1/uploads"
)

// serverDeps are what the HTTP surface needs.
type serverDeps struct {
	log        *slog.Logger
	logon      *authn.Logon
	sessions   *session.Manager
	source     davfs.ShareSource
	shareNames func(context.Context) ([]string, error)
	locks      davfs.LockSystem
	metaGens   davfs.MetaGenerations // nil with one instance
	webdav     WebDAVConfig
	proxies    httplog.Proxies
	observer   httplog.Observer // counts requests for metrics; may be nil
	// watchBuffers, if set, is handed what the WebDAV handler's buffer
	// budget holds now, for metrics.
	watchBuffers func(inUseMiB func() int)
	// passwordBasic is nil unless auth.allow_password_basic is set.
	passwordBasic *authn.PasswordBasic
	// flows keeps the app log-on flows; nil keeps them in this process.
	flows session.FlowStore
	// flowTTL is how long a log-on flow lives; 0: authn.DefaultFlowTTL.
	flowTTL time.Duration
}

// newServer returns davgate's HTTP handler: every route is listed here.
func newServer(d serverDeps) http.Handler {
	api := &authn.Middleware{Sessions: d.sessions, Log: d.log}
	browser := &authn.Middleware{Sessions: d.sessions, Log: d.log, OnFail: authn.RedirectToLogin}
	dav := &authn.Middleware{Sessions: d.sessions, Log: d.log, OnFail: authn.RedirectToLogin, PasswordBasic: d.passwordBasic}
	davfsHandler := newDavHandler(d)
	if d.watchBuffers != nil {
		d.watchBuffers(davfsHandler.BufferMiB)
	}
	davHandler := dav.Require(sandboxFiles(davfsHandler))

	// /healthz and /readyz are served ahead of this handler (health.go).
	mux := http.NewServeMux()

	mux.Handle("POST /api/v1/sessions", d.logon.HandleCreate())
	mux.Handle("GET /api/v1/sessions", api.Require(d.logon.HandleList()))
	mux.Handle("DELETE /api/v1/sessions", api.Require(d.logon.HandleRevokeAll()))
	mux.Handle("DELETE /api/v1/sessions/{id}", api.Require(d.logon.HandleRevoke()))
	mux.Handle("POST /api/v1/devices", api.Require(d.logon.HandleCreateDevice()))
	// The log-on flow for apps: starting and polling need no session;
	// the approval page and its answer are a logged-on browser's.
	flows := loginFlows(d)
	mux.Handle("POST /api/v1/login-flows", flows.HandleStart())
	mux.Handle("POST "+authn.FlowPollPath, flows.HandlePoll())
	mux.Handle("GET "+authn.FlowPagePrefix+"{code}", authn.HideFlowCode(browser.Require(flows.HandlePage())))
	mux.Handle("POST "+authn.FlowPagePrefix+"{code}", authn.HideFlowCode(browser.Require(flows.HandleAnswer())))

	// The browser's resumable uploads (tus 1.0) and zip downloads, on
	// davfs's code path; OPTIONS (tus discovery) needs no session.
	uploads := sandboxFiles(davfsHandler.Uploads(davfs.UploadOptions{Prefix: uploadsPrefix, Sealer: d.sessions}))
	mux.Handle("OPTIONS "+uploadsPrefix, uploads)
	mux.Handle("OPTIONS "+uploadsPrefix+"/", uploads)
	mux.Handle(uploadsPrefix, api.Require(uploads))
	mux.Handle(uploadsPrefix+"/", api.Require(uploads))
	mux.Handle("GET /api/v1/zip", api.Require(sandboxFiles(davfsHandler.ZipHandler())))

	mux.Handle("GET /login", d.logon.HandleLoginPage())
	mux.Handle("POST /login", d.logon.HandleLoginForm())
	mux.Handle("POST /logout", browser.Require(d.logon.HandleLogout()))
	// The browser app; its scripts reach the files through /dav.
	app := web.New(web.Options{DavPrefix: davPrefix, Shares: d.shareNames, CSRFToken: (*session.Session).CSRFToken, Log: d.log})
	mux.Handle("GET "+web.StaticPrefix, app.HandleStatic())
	mux.Handle("GET /{$}", browser.Require(app.HandleFiles()))
	mux.Handle("GET /files/", browser.Require(app.HandleFiles()))
	mux.Handle("GET /devices", browser.Require(app.HandleDevices()))

	// WebDAV: /dav and everything under it, every method; and PROPFIND on
	// "/", which lists /dav/ for a client given only the server's address.
	mux.Handle(davPrefix+"/", davHandler)
	mux.Handle(davPrefix, davHandler)
	mux.Handle("PROPFIND /{$}", dav.Require(http.HandlerFunc(davfsHandler.ServeServerRoot)))
	return httplog.Middleware(d.log, d.proxies, d.observer, securityHeaders(davOptions(cleanDavPaths(mux, davHandler))))
}

// cleanDavPaths serves a WebDAV path with "//", "/./" or "/../" in it under
// its clean form, where ServeMux would redirect: a client does not follow
// a redirect for PUT, PROPFIND or MOVE. A path that cleans to one outside
// /dav still goes to the mux.
func cleanDavPaths(mux *http.ServeMux, dav http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		c := path.Clean(p)
		if strings.HasSuffix(p, "/") && c != "/" {
			c += "/"
		}
		if c == p || !underDav(c) {
			mux.ServeHTTP(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = c, ""
		r2.URL = &u
		dav.ServeHTTP(w, r2)
	})
}

// davOptions answers OPTIONS with the DAV headers where no session is
// needed to answer: on paths outside /dav (the Windows client sends
// OPTIONS /), and anywhere when the request carries no credentials (the
// Windows client and Office probe before they authenticate; clients mount
// read-only without class 2). With credentials, OPTIONS under /dav goes to
// the share, which names the methods the resource allows.
func davOptions(next http.Handler) http.Handler {
	opts := davfs.OptionsHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && !underUploads(r.URL.Path) && (!underDav(r.URL.Path) || !authn.HasCredentials(r)) {
			opts.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func underDav(p string) bool { return p == davPrefix || strings.HasPrefix(p, davPrefix+"/") }

// underUploads: tus's OPTIONS there names its version and extensions.
func underUploads(p string) bool {
	return p == uploadsPrefix || strings.HasPrefix(p, uploadsPrefix+"/")
}

// sandboxFiles serves what users stored under a sandbox CSP: an HTML or
// SVG file uploaded by one user and opened by another in a browser then
// runs without scripts and in an opaque origin, so it cannot act with the
// reader's session cookie (stored XSS). Every method gets it, not only GET
// and HEAD: an error body or a PROPFIND body carries stored names too.
func sandboxFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Content-Security-Policy", "sandbox")
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		// same-origin, not no-referrer: under no-referrer browsers send
		// "Origin: null" on davgate's own form posts, which the CSRF check
		// refuses; other sites still get no Referer
		h.Set("Referrer-Policy", "same-origin")
		// no page of davgate's, listing or file may be framed (clickjacking);
		// pages that Set their own policy say frame-ancestors themselves
		h.Add("Content-Security-Policy", "frame-ancestors 'none'")
		if httplog.HTTPS(r) {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}
