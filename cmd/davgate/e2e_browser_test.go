package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/davgate/davgate/authn"
)

// The browser path: the log-on form sets an HttpOnly, SameSite=Lax session
// cookie; the home page lists the shares; a share opens as an HTML listing;
// logging out ends the session.
func TestEndToEndBrowserLogonCookie(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	jar, _ := cookiejar.New(nil)
	br := &http.Client{Jar: jar}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", in.URL+path, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := br.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	// Not logged on: the home page and a share send the browser to /login,
	// which leads back to the share once logged on.
	for _, p := range []string{"/", "/dav/data/"} {
		if resp, body := get(p); resp.Request.URL.Path != "/login" || !strings.Contains(body, `name="password"`) {
			t.Fatalf("GET %s logged out ended at %s, want the log-on form", p, resp.Request.URL.Path)
		}
	}
	if resp, body := get("/dav/data/"); resp.Request.URL.Query().Get("next") != "/dav/data/" ||
		!strings.Contains(body, `<input type="hidden" name="next" value="/dav/data/">`) {
		t.Fatalf("log-on form for /dav/data/ at %s does not lead back:\n%s", resp.Request.URL, body)
	}

	resp := postLogin(t, br, in.URL, url.Values{"username": {"dgalice"}, "password": {"wrong"}})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(b), "invalid user name or password") {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, b)
	}

	// Log on without following the redirect, to see the cookie's flags.
	noFollow := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp = postLogin(t, noFollow, in.URL, url.Values{"username": {"dgalice"}, "password": {alicePass}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("log-on = %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == authn.CookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure {
		t.Fatalf("session cookie = %+v; want HttpOnly, SameSite=Lax, not Secure over plain HTTP", cookie)
	}

	// The form's next leads back to a page of this server, never elsewhere
	// (with sessions of their own, outside the jar).
	noJar := &http.Client{CheckRedirect: noFollow.CheckRedirect}
	for next, want := range map[string]string{"/dav/data/": "/dav/data/", "//evil.example/": "/", "https://evil.example/": "/", "/\\evil": "/"} {
		resp := postLogin(t, noJar, in.URL, url.Values{"username": {"dgalice"}, "password": {alicePass}, "next": {next}})
		resp.Body.Close()
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("log-on with next %q leads to %q, want %q", next, got, want)
		}
	}

	resp, body := get("/")
	if resp.StatusCode != 200 || !strings.Contains(body, "dgalice") || !strings.Contains(body, `href="/files/data/"`) || !strings.Contains(body, `href="/files/home/"`) {
		t.Fatalf("home page = %d %s", resp.StatusCode, body)
	}
	csrf := homeCSRF(t, br, in.URL, cookie)
	if resp, b := (client{t: t, base: in.URL}).do("PUT", "/dav/data/page.txt", strings.NewReader("hi"), func(r *http.Request) { r.AddCookie(cookie) }, authn.CSRFHeader, csrf); resp.StatusCode != 201 {
		t.Fatalf("PUT with the cookie = %d %s", resp.StatusCode, b)
	}
	resp, body = get("/dav/data/")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "page.txt") {
		t.Fatalf("share listing = %d %q %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, body := get("/dav/data/page.txt"); resp.StatusCode != 200 || body != "hi" {
		t.Fatalf("file = %d %q", resp.StatusCode, body)
	}

	resp, err := br.PostForm(in.URL+"/logout", url.Values{authn.CSRFField: {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("log-out ended at %s, want /login", resp.Request.URL.Path)
	}
	// The old cookie value no longer works, even if a client kept it.
	if resp, _ := (client{t: t, base: in.URL}).do("PROPFIND", "/dav/data/", nil, func(r *http.Request) { r.AddCookie(cookie) }, "Depth", "0"); resp.StatusCode != 401 {
		t.Errorf("cookie after log-out = %d, want 401", resp.StatusCode)
	}
	in.Stop()
	assertNoSecrets(t, in.Log.String(), alicePass, cookie.Value)
}

// A file one user stores is served to browsers in a CSP sandbox: its
// scripts cannot run with the reader's session (stored XSS).
func TestEndToEndUploadedHTMLIsSandboxed(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	bob := c.logon("dgbob", bobPass, http.StatusCreated)
	evil := `<script>fetch("/api/v1/sessions",{method:"DELETE"})</script>`
	if resp, _ := c.do("PUT", "/dav/data/evil.html", strings.NewReader(evil), bearer(bob.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d", resp.StatusCode)
	}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	resp, body := c.do("GET", "/dav/data/evil.html", nil, bearer(alice.Token))
	if resp.StatusCode != 200 || body != evil {
		t.Fatalf("GET = %d %q", resp.StatusCode, body)
	}
	if !cspHas(resp, "sandbox") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("uploaded HTML served with CSP %q, nosniff %q; want a sandbox", resp.Header.Values("Content-Security-Policy"), resp.Header.Get("X-Content-Type-Options"))
	}
	// a foreign page's form POST to the file is not served as a page
	resp, body = c.do("POST", "/dav/data/evil.html", strings.NewReader("a=b"), bearer(alice.Token), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusMethodNotAllowed || strings.Contains(body, "<script>") || resp.Header.Get("Allow") == "" {
		t.Errorf("POST = %d Allow %q %q, want 405 without the file", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
	// every /dav response is sandboxed, and nothing may be framed
	for _, m := range []string{"GET", "POST", "PROPFIND", "DELETE"} {
		resp, _ := c.do(m, "/dav/data/missing.html", nil, bearer(alice.Token))
		if !cspHas(resp, "sandbox") || !cspHas(resp, "frame-ancestors 'none'") {
			t.Errorf("%s missing = %d, CSP %q; want sandbox and frame-ancestors 'none'", m, resp.StatusCode, resp.Header.Values("Content-Security-Policy"))
		}
	}
	resp, _ = c.do("PROPFIND", "/dav/data/", nil, bearer(alice.Token), "Depth", "1")
	if !cspHas(resp, "sandbox") || !cspHas(resp, "frame-ancestors 'none'") {
		t.Errorf("listing CSP %q; want sandbox and frame-ancestors 'none'", resp.Header.Values("Content-Security-Policy"))
	}
}

// cspHas reports whether one of resp's Content-Security-Policy headers
// holds directive.
func cspHas(resp *http.Response, directive string) bool {
	for _, v := range resp.Header.Values("Content-Security-Policy") {
		for _, d := range strings.Split(v, ";") {
			if strings.TrimSpace(d) == directive {
				return true
			}
		}
	}
	return false
}
