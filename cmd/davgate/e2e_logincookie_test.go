package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/davgate/davgate/authn"
)

// The log-on form's cookie (its login-CSRF token) is __Host- and Secure
// whenever the session cookie is: over TLS, and behind a trusted
// TLS-terminating proxy; plain over plain HTTP or when X-Forwarded-Proto
// comes from an untrusted peer. Over HTTPS a plain davgate_login cookie,
// which a sibling subdomain or a plain-HTTP response could plant, does
// not pass for the form's token.
func TestEndToEndLoginCookiePrefix(t *testing.T) {
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
	tlsCfg := filepath.Join(f.dir, "tls.yaml")
	if err := os.WriteFile(tlsCfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	tlsClient := withTLS(t, tlsCfg)
	overTLS := startDavgateWith(t, tlsCfg, tlsClient)

	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	fwd := &http.Client{Transport: forwardedHTTPS{}, CheckRedirect: noRedirect}
	for _, tc := range []struct {
		name   string
		base   string
		hc     *http.Client
		secure bool
	}{
		{"plain HTTP", plain.URL, &http.Client{CheckRedirect: noRedirect}, false},
		{"X-Forwarded-Proto from an untrusted peer", plain.URL, fwd, false},
		{"X-Forwarded-Proto from a trusted proxy", behind.URL, fwd, true},
		{"TLS", overTLS.URL, tlsClient, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := getLoginForm(t, tc.hc, tc.base)
			name, other, path := authn.LoginCookieName, authn.SecureLoginCookieName, "/login"
			if tc.secure {
				name, other, path = other, name, "/"
			}
			c := sessionCookieOf(form.resp, name)
			if c == nil || sessionCookieOf(form.resp, other) != nil {
				t.Fatalf("log-on form sets %v, want %s only", form.resp.Cookies(), name)
			}
			if c.Secure != tc.secure || !c.HttpOnly || c.Path != path || c.Domain != "" || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("%s = %+v; want Secure %v, HttpOnly, Path %s, no Domain, SameSite=Strict", name, c, tc.secure, path)
			}
			creds := url.Values{"username": {"dgalice"}, "password": {alicePass}}
			if tc.secure {
				// A planted plain cookie with the form's token is not it.
				planted := &http.Cookie{Name: authn.LoginCookieName, Value: form.token}
				if got := postLoginForm(t, tc.hc, tc.base, form.token, creds, planted); got.StatusCode != http.StatusForbidden {
					t.Errorf("HTTPS log-on with only a plain %s: %d, want 403", authn.LoginCookieName, got.StatusCode)
				}
			}
			resp := postLoginForm(t, tc.hc, tc.base, form.token, creds, c)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("log-on with the form's cookie: %d", resp.StatusCode)
			}
			// The cookie is dropped after log-on, with the same name and
			// attributes (else the browser keeps it).
			var gone *http.Cookie
			for _, rc := range resp.Cookies() {
				if rc.Name == name {
					gone = rc
				}
			}
			if gone == nil || gone.MaxAge >= 0 || gone.Path != path || gone.Secure != tc.secure {
				t.Errorf("after log-on %s is not deleted: %+v", name, gone)
			}
		})
	}
}

type loginForm struct {
	resp  *http.Response
	token string
}

// getLoginForm fetches the log-on form and its login_token.
func getLoginForm(t *testing.T, hc *http.Client, base string) loginForm {
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
	return loginForm{resp, m[1]}
}

// postLoginForm posts the form with token and the given cookies.
func postLoginForm(t *testing.T, hc *http.Client, base, token string, v url.Values, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	form := url.Values{"login_token": {token}}
	for k, vs := range v {
		form[k] = vs
	}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
