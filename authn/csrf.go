package authn

import (
	"context"
	"crypto/subtle"
	"mime"
	"net/http"

	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/internal/slowbody"
)

// CSRFHeader carries the session's CSRF token on a browser's writes;
// CSRFField carries it in a form body.
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf_token"
)

// CSRFToken returns the CSRF token of the request's session, "" if none.
func CSRFToken(ctx context.Context) string {
	if s, ok := SessionFrom(ctx); ok {
		return s.CSRFToken()
	}
	return ""
}

// safeMethod reports whether method only reads: a cookie-authenticated
// request with any other method must prove it came from davgate's pages.
func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "PROPFIND", "REPORT":
		return true
	}
	return false
}

// serverOrigin is the origin a page of this server sends requests from.
func serverOrigin(r *http.Request) string {
	scheme := "http"
	if httplog.HTTPS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// foreignRequest returns why the request came from another site, or "":
// Sec-Fetch-Site, if sent, must be same-origin or none (same-site is
// another port or subdomain: the attacker's), Origin, if sent, must be
// this server's.
func foreignRequest(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site is " + site
	}
	if o := r.Header.Get("Origin"); o != "" && o != serverOrigin(r) {
		return "foreign Origin"
	}
	return ""
}

// csrfRefusal returns why a cookie-authenticated unsafe request is
// refused, or "": it must come from this origin and carry the session's
// CSRF token in CSRFHeader or, for a form POST, in CSRFField.
func csrfRefusal(w http.ResponseWriter, r *http.Request, want string) string {
	if why := foreignRequest(r); why != "" {
		return why
	}
	got := r.Header.Get(CSRFHeader)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if got == "" && r.Method == http.MethodPost && ct == "application/x-www-form-urlencoded" {
		slowbody.Bound(w, r)
		r.Body = http.MaxBytesReader(w, r.Body, maxLogonBody)
		if err := r.ParseForm(); err == nil {
			got = r.PostForm.Get(CSRFField)
		}
	}
	if got == "" {
		return "no CSRF token"
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return "wrong CSRF token"
	}
	return ""
}
