package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/davgate/davgate/authn"
)

// Cookie tossing over HTTPS: a sibling subdomain, or anyone on the path of
// a plain-HTTP request to the same host, can plant a cookie without the
// __Host- prefix. Over HTTPS davgate reads only the prefixed one, so a
// planted session (the attacker's own account, so that the victim's
// browser uploads into it) is not used; a request smuggled as HTTP/2 with
// another :authority does not make login_url point elsewhere for anyone
// but its sender.
func TestEndToEndTLSCookieTossing(t *testing.T) {
	f := newFixture(t, "memory")
	hc := withTLS(t, f.cfgPath)
	in := startDavgateWith(t, f.cfgPath, hc)

	// The attacker's own browser session, planted without the prefix.
	resp := postLogin(t, hc, in.URL, map[string][]string{"username": {"dgbob"}, "password": {bobPass}})
	resp.Body.Close()
	bob := sessionCookieOf(resp, authn.SecureCookieName)
	if bob == nil {
		t.Fatalf("no %s over TLS", authn.SecureCookieName)
	}
	get := func(path string, c *http.Cookie) (*http.Response, string) {
		req, _ := http.NewRequest("GET", in.URL+path, nil)
		req.Header.Set("Accept", "text/html")
		req.AddCookie(c)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	tossed := &http.Cookie{Name: authn.CookieName, Value: bob.Value}
	if resp, b := get("/api/v1/sessions", tossed); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a session planted as %s over HTTPS = %d %.200s; want 401", authn.CookieName, resp.StatusCode, b)
	}
	if resp, _ := get("/", tossed); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("the home page with a planted %s = %d %s; want the log-on page", authn.CookieName, resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get("/api/v1/sessions", bob); resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("the real cookie = %d over %s; want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}

	// HTTP/2 with another :authority (Host) than the certificate's.
	req, _ := http.NewRequest("POST", in.URL+"/api/v1/login-flows", strings.NewReader(`{"client_name":"h2"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "evil.example"
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var fl flowStarted
	json.NewDecoder(resp.Body).Decode(&fl)
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated && !strings.HasPrefix(fl.LoginURL, "https://") {
		t.Errorf("login_url over TLS = %q, want https", fl.LoginURL)
	}
	t.Logf("HTTP/2 start with :authority evil.example: %d over %s, login_url %q", resp.StatusCode, resp.Proto, fl.LoginURL)
}
