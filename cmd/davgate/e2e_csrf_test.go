package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/internal/testenv"
)

var (
	loginTokenRe = regexp.MustCompile(`name="login_token" value="([^"]+)"`)
	csrfMetaRe   = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
)

// postLogin posts the log-on form as a browser does: it fetches the form
// first for its login_token and log-on cookie.
func postLogin(t *testing.T, hc *http.Client, base string, v url.Values) *http.Response {
	t.Helper()
	resp, err := hc.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := loginTokenRe.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("log-on form has no login_token:\n%s", b)
	}
	form := url.Values{"login_token": {m[1]}}
	for k, vs := range v {
		form[k] = vs
	}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range resp.Cookies() {
		if (c.Name == authn.LoginCookieName || c.Name == authn.SecureLoginCookieName) && hc.Jar == nil {
			req.AddCookie(c)
		}
	}
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// sessionCookieOf returns the session cookie named name that resp sets.
func sessionCookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	return nil
}

// browserSession logs dgalice on through the form and returns her session
// cookie and the CSRF token of the home page.
func browserSession(t *testing.T, base string) (*http.Cookie, string) {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp := postLogin(t, noFollow, base, url.Values{"username": {"dgalice"}, "password": {alicePass}})
	resp.Body.Close()
	cookie := sessionCookieOf(resp, authn.CookieName)
	if resp.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("log-on = %d, cookie %v", resp.StatusCode, cookie)
	}
	return cookie, homeCSRF(t, http.DefaultClient, base, cookie)
}

// homeCSRF reads the CSRF token from the home page.
func homeCSRF(t *testing.T, hc *http.Client, base string, cookie *http.Cookie) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.AddCookie(cookie)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfMetaRe.FindStringSubmatch(string(b))
	if m == nil || !strings.Contains(string(b), `name="csrf_token" value="`+m[1]+`"`) {
		t.Fatalf("home page has no CSRF token in its meta and log-out form:\n%s", b)
	}
	return m[1]
}

// A cookie-authenticated write must come from davgate's own origin and
// carry the session's CSRF token; Bearer and Basic writes need neither.
func TestEndToEndCSRF(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	cookie, csrf := browserSession(t, in.URL)
	withCookie := func(r *http.Request) { r.AddCookie(cookie) }
	if resp, b := c.do("PUT", "/dav/data/keep.txt", strings.NewReader("keep"), bearer(alice.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT keep.txt = %d %s", resp.StatusCode, b)
	}
	form := "application/x-www-form-urlencoded"
	type op struct {
		method, path, body, ctype string
		hdr                       []string
		ok                        int
	}
	ops := []op{
		{"PUT", "/dav/data/new.txt", "new", "text/plain", nil, 201},
		{"MKCOL", "/dav/data/newdir", "", "", nil, 201},
		{"MOVE", "/dav/data/keep.txt", "", "", []string{"Destination", in.URL + "/dav/data/moved.txt"}, 201},
		{"DELETE", "/dav/data/moved.txt", "", "", nil, 204},
		{"POST", "/api/v1/devices", `{"label":"csrf"}`, "application/json", nil, 201},
		{"DELETE", "/api/v1/sessions", "", "", nil, 204},
	}
	other := "http://127.0.0.1:1"
	refused := []struct {
		name string
		hdr  []string
	}{
		{"no token", []string{"Origin", in.URL}},
		{"wrong token", []string{authn.CSRFHeader, csrf + "x"}},
		{"another port's Origin", []string{authn.CSRFHeader, csrf, "Origin", other}},
		{"Sec-Fetch-Site same-site", []string{authn.CSRFHeader, csrf, "Sec-Fetch-Site", "same-site"}},
		{"Sec-Fetch-Site cross-site", []string{authn.CSRFHeader, csrf, "Sec-Fetch-Site", "cross-site"}},
	}
	send := func(o op, auth func(*http.Request), extra []string) (*http.Response, string) {
		hdr := append(append([]string{}, o.hdr...), extra...)
		if o.ctype != "" {
			hdr = append(hdr, "Content-Type", o.ctype)
		}
		return c.do(o.method, o.path, strings.NewReader(o.body), auth, hdr...)
	}
	logout := op{"POST", "/logout", authn.CSRFField + "=" + url.QueryEscape(csrf), form, nil, 200}
	for _, o := range append(ops, logout) {
		for _, r := range refused {
			extra := r.hdr
			if o.path == "/logout" && r.name != "no token" && r.name != "wrong token" {
				extra = extra[2:] // the token is in the form body
			}
			if o.path == "/logout" && r.name == "no token" {
				o.body = ""
			}
			if resp, b := send(o, withCookie, extra); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s with the cookie, %s = %d %s; want 403", o.method, o.path, r.name, resp.StatusCode, b)
			}
		}
	}
	// Nothing changed: keep.txt is where it was, nothing new, alice's
	// browser session alive.
	for p, want := range map[string]int{"/dav/data/keep.txt": 200, "/dav/data/new.txt": 404, "/dav/data/newdir": 404, "/dav/data/moved.txt": 404} {
		if resp, _ := c.do("GET", p, nil, bearer(alice.Token)); resp.StatusCode != want {
			t.Errorf("after refused writes GET %s = %d, want %d", p, resp.StatusCode, want)
		}
	}
	if resp, _ := c.do("GET", "/api/v1/sessions", nil, withCookie); resp.StatusCode != 200 {
		t.Fatalf("browser session after refused writes = %d, want alive", resp.StatusCode)
	}

	// Bearer and Basic writes need no token, even with a foreign Origin.
	if resp, b := c.do("PUT", "/dav/data/bearer.txt", strings.NewReader("b"), bearer(alice.Token), "Origin", other, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != 201 {
		t.Errorf("Bearer PUT = %d %s, want 201", resp.StatusCode, b)
	}
	if resp, b := c.do("DELETE", "/dav/data/bearer.txt", nil, basic("dgalice", alice.Token), "Origin", other); resp.StatusCode != 204 {
		t.Errorf("Basic DELETE = %d %s, want 204", resp.StatusCode, b)
	}

	// From davgate's own origin with the token, every write works.
	for _, o := range ops {
		if resp, b := send(o, withCookie, []string{authn.CSRFHeader, csrf, "Origin", in.URL, "Sec-Fetch-Site", "same-origin"}); resp.StatusCode != o.ok {
			t.Errorf("%s %s with the cookie and the token = %d %s; want %d", o.method, o.path, resp.StatusCode, b, o.ok)
		}
	}
	cookie2, csrf2 := browserSession(t, in.URL)
	logout.body = authn.CSRFField + "=" + url.QueryEscape(csrf2)
	if resp, b := send(logout, func(r *http.Request) { r.AddCookie(cookie2) }, []string{"Origin", in.URL}); resp.StatusCode != 200 || resp.Request.URL.Path != "/login" {
		t.Errorf("log-out with the token = %d at %s %s", resp.StatusCode, resp.Request.URL.Path, b)
	}
	if resp, _ := c.do("GET", "/api/v1/sessions", nil, func(r *http.Request) { r.AddCookie(cookie2) }); resp.StatusCode != 401 {
		t.Errorf("session after log-out = %d, want 401", resp.StatusCode)
	}
}

// The log-on form is refused from another site and without its
// double-submit token (login CSRF); the JSON API refuses form bodies.
func TestEndToEndLoginCSRF(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	creds := url.Values{"username": {"dgalice"}, "password": {alicePass}}
	post := func(name string, hdr ...string) {
		t.Helper()
		resp, err := http.Get(in.URL + "/login")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		form := url.Values{"username": creds["username"], "password": creds["password"]}
		var lc *http.Cookie
		if name != "no login token" {
			form.Set("login_token", loginTokenRe.FindStringSubmatch(string(b))[1])
			lc = sessionCookieOf(resp, "davgate_login")
		}
		if name == "token without its cookie" {
			lc = nil
		}
		req, _ := http.NewRequest("POST", in.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		if lc != nil {
			req.AddCookie(lc)
		}
		resp, err = noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || sessionCookieOf(resp, authn.CookieName) != nil || !strings.Contains(string(b), `name="password"`) {
			t.Errorf("POST /login, %s = %d, cookies %v; want 403, the form and no session cookie", name, resp.StatusCode, resp.Cookies())
		}
	}
	post("foreign Origin", "Origin", "http://127.0.0.1:1")
	post("Sec-Fetch-Site cross-site", "Sec-Fetch-Site", "cross-site")
	post("Sec-Fetch-Site same-site", "Sec-Fetch-Site", "same-site")
	post("no login token")
	post("token without its cookie")
	if resp := postLogin(t, noFollow, in.URL, creds); resp.StatusCode != http.StatusSeeOther || sessionCookieOf(resp, authn.CookieName) == nil {
		t.Errorf("POST /login from the form = %d, want 303 with a session cookie", resp.StatusCode)
	}

	c := client{t: t, base: in.URL}
	resp, b := c.do("POST", "/api/v1/sessions", strings.NewReader(creds.Encode()+"&kind=browser"), nil, "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(resp.Header.Get("Content-Type"), "json") || sessionCookieOf(resp, authn.CookieName) != nil {
		t.Errorf("form body on the JSON API = %d %q %s; want 415 JSON", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

// forwardedHTTPS sends every request as a TLS-terminating proxy would.
type forwardedHTTPS struct{}

func (forwardedHTTPS) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-Proto", "https")
	return http.DefaultTransport.RoundTrip(r)
}

// Behind a trusted TLS-terminating proxy the session cookie is __Host- and
// Secure and HSTS is sent; over plain HTTP, or when the proxy header comes
// from a peer that is not trusted, neither.
func TestEndToEndCookieAndHSTSBehindProxy(t *testing.T) {
	f := newFixture(t, "memory")
	plain := startDavgate(t, f.cfgPath)
	b, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	proxied := filepath.Join(f.dir, "proxied.yaml")
	if err := os.WriteFile(proxied, append(b, "trusted_proxies: [127.0.0.1]\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	behind := startDavgate(t, proxied)
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc := &http.Client{Transport: forwardedHTTPS{}, CheckRedirect: noRedirect}
	creds := url.Values{"username": {"dgalice"}, "password": {alicePass}}
	for _, tc := range []struct {
		name   string
		base   string
		hc     *http.Client
		secure bool
	}{
		{"plain HTTP", plain.URL, &http.Client{CheckRedirect: noRedirect}, false},
		{"X-Forwarded-Proto from an untrusted peer", plain.URL, hc, false},
		{"X-Forwarded-Proto from a trusted proxy", behind.URL, hc, true},
	} {
		resp := postLogin(t, tc.hc, tc.base, creds)
		resp.Body.Close()
		name, other := authn.CookieName, authn.SecureCookieName
		if tc.secure {
			name, other = other, name
		}
		cookie := sessionCookieOf(resp, name)
		if resp.StatusCode != http.StatusSeeOther || cookie == nil || cookie.Secure != tc.secure || sessionCookieOf(resp, other) != nil {
			t.Errorf("%s: log-on = %d, cookies %v; want %s, Secure %v", tc.name, resp.StatusCode, resp.Cookies(), name, tc.secure)
			continue
		}
		if hsts := resp.Header.Get("Strict-Transport-Security"); (hsts != "") != tc.secure {
			t.Errorf("%s: HSTS %q, want it only under HTTPS", tc.name, hsts)
		}
		if !tc.secure {
			continue
		}
		// The Origin check follows the proxy's scheme.
		csrf := homeCSRF(t, hc, tc.base, cookie)
		host := strings.TrimPrefix(tc.base, "http://")
		for origin, want := range map[string]int{"http://" + host: 403, "https://" + host: 201} {
			req, _ := http.NewRequest("PUT", tc.base+"/dav/data/proxied.txt", strings.NewReader("x"))
			req.AddCookie(cookie)
			req.Header.Set(authn.CSRFHeader, csrf)
			req.Header.Set("Origin", origin)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("PUT behind the proxy with Origin %s = %d, want %d", origin, resp.StatusCode, want)
			}
		}
	}
}

// In a real browser, a page on another port of the same host (same-site,
// so the Lax session cookie goes along) that auto-submits a log-out form
// to davgate is refused: the victim's session stays alive.
func TestEndToEndBrowserCrossSiteFormRefused(t *testing.T) {
	testenv.Need(t, "chromium")
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/logout">
<input type="hidden" name="csrf_token" value="guessed"></form>
<script>document.forms[0].submit()</script>`, in.URL)
	}))
	t.Cleanup(evil.Close)

	p := startChromium(t)
	p.open("the log-on page", in.URL+"/login", `location.pathname === "/login"`)
	p.act("log on", fillAndSubmit("dgalice", alicePass), `location.pathname === "/"`)
	cookie := p.sessionCookie(in.URL)
	if cookie == nil {
		t.Fatalf("no session cookie after logging on; log:\n%s", in.Log)
	}
	u, _ := url.Parse(in.URL)
	p.open("the attacker's page", evil.URL+"/", fmt.Sprintf(`location.host === %q`, u.Host))
	var after struct {
		Path, Text string
		Status     int
	}
	p.eval(`({Path: location.pathname, Text: document.body.innerText,
		Status: performance.getEntriesByType("navigation")[0].responseStatus})`, &after)
	if after.Status != http.StatusForbidden || after.Path != "/logout" {
		t.Errorf("the attacker's log-out form ended at %s with %d %q; want 403 at /logout", after.Path, after.Status, after.Text)
	}
	c := client{t: t, base: in.URL}
	if resp, b := c.do("GET", "/api/v1/sessions", nil, func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: authn.CookieName, Value: cookie.Value})
	}); resp.StatusCode != http.StatusOK {
		t.Errorf("the victim's session after the attack = %d %s, want alive", resp.StatusCode, b)
	}
}
