package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/internal/testenv"
)

// withTLS sets tls in the config at cfgPath to a fresh test certificate
// and returns a client that trusts it, speaks HTTP/2 and does not follow
// redirects.
func withTLS(t *testing.T, cfgPath string) *http.Client {
	t.Helper()
	caFile, cert, key := testenv.TestPKI(t, "127.0.0.1", "localhost")
	appendConfig(t, cfgPath, "tls: {cert: \""+cert+"\", key: \""+key+"\"}\n")
	hc := trustingClient(t, caFile)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return hc
}

// With tls set davgate serves HTTPS only, and the browser cookie is
// Secure.
func TestEndToEndTLS(t *testing.T) {
	f := newFixture(t, "memory")
	hc := withTLS(t, f.cfgPath)
	in := startDavgateWith(t, f.cfgPath, hc)
	if !strings.HasPrefix(in.URL, "https://") {
		t.Fatalf("davgate URL = %s, want https", in.URL)
	}
	resp := postLogin(t, hc, in.URL, url.Values{"username": {"dgalice"}, "password": {alicePass}})
	resp.Body.Close()
	cookie := sessionCookieOf(resp, authn.SecureCookieName)
	if resp.StatusCode != http.StatusSeeOther || cookie == nil || !cookie.Secure || !cookie.HttpOnly || cookie.Path != "/" || cookie.Domain != "" {
		t.Fatalf("log-on over TLS = %d, cookies %v; want 303 and a Secure, HttpOnly %s cookie", resp.StatusCode, resp.Cookies(), authn.SecureCookieName)
	}
	if sessionCookieOf(resp, authn.CookieName) != nil {
		t.Errorf("log-on over TLS also set %s", authn.CookieName)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
		t.Errorf("HSTS over TLS = %q", got)
	}
	req, _ := http.NewRequest("PUT", in.URL+"/dav/data/tls.txt", strings.NewReader("over tls"))
	req.AddCookie(cookie)
	req.Header.Set(authn.CSRFHeader, homeCSRF(t, hc, in.URL, cookie))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.ProtoMajor != 2 {
		t.Fatalf("PUT over TLS = %d over %s, want 201 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	// WebDAV over HTTP/2, as clients that negotiate it send it.
	for _, m := range []struct {
		method string
		status int
		want   string
	}{{"GET", 200, "over tls"}, {"PROPFIND", 207, "/dav/data/tls.txt"}} {
		req, _ := http.NewRequest(m.method, in.URL+"/dav/data/tls.txt", nil)
		req.Header.Set("Depth", "0")
		req.AddCookie(cookie)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != m.status || resp.ProtoMajor != 2 || !strings.Contains(string(body), m.want) {
			t.Errorf("%s over TLS = %d over %s, %q; want %d over HTTP/2 with %q", m.method, resp.StatusCode, resp.Proto, body, m.status, m.want)
		}
	}

	// Plain HTTP on the TLS port gets no service.
	plain := strings.Replace(in.URL, "https://", "http://", 1)
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP on the TLS listener answered 200")
		}
	}
}
