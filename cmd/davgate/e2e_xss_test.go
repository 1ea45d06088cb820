package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// The stored-XSS attack of issue 10 in a real browser: one user stores an
// HTML file whose script, run in davgate's origin, would read the reader's
// CSRF token and write a file as the reader. A page on another port of the
// same host (same-site: the Lax cookie goes along) auto-submits a form POST
// to it, and the reader also opens it directly. Neither runs the script:
// the POST is refused (403 as cross-site; 405 were it not) without the
// file's bytes, and the GET is served in a
// CSP sandbox (an opaque origin without scripts).
func TestEndToEndBrowserStoredXSSRefused(t *testing.T) {
	testenv.Need(t, "chromium")
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	bob := c.logon("dgbob", bobPass, http.StatusCreated)
	const evil = `<!doctype html><title>evil</title><p id="p">stored</p><script>
document.title = "ran";
fetch("/").then(r => r.text()).then(t => {
  const m = t.match(/name="csrf-token" content="([^"]+)"/) || t.match(/csrf[^"]*"\s*(?:content|value)="([^"]+)"/);
  return fetch("/dav/data/pwned.txt", {method: "PUT", body: "written by a stored script",
    credentials: "include", headers: {"X-CSRF-Token": m ? m[1] : ""}});
});
</script>`
	if resp, b := c.do("PUT", "/dav/data/evil.html", strings.NewReader(evil), bearer(bob.Token)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT evil.html = %d %s", resp.StatusCode, b)
	}
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/dav/data/evil.html">
<input type="hidden" name="a" value="b"></form>
<script>document.forms[0].submit()</script>`, in.URL)
	}))
	t.Cleanup(attacker.Close)

	p := startChromium(t)
	p.open("the log-on page", in.URL+"/login", `location.pathname === "/login"`)
	p.act("log on", fillAndSubmit("dgalice", alicePass), `location.pathname === "/"`)
	if p.sessionCookie(in.URL) == nil {
		t.Fatalf("no session cookie after logging on; log:\n%s", in.Log)
	}

	u, _ := url.Parse(in.URL)
	p.open("the attacker's page", attacker.URL+"/", fmt.Sprintf(`location.host === %q`, u.Host))
	var post struct {
		Title, Text string
		Status      int
	}
	p.eval(`({Title: document.title, Text: document.body ? document.body.innerText : "",
		Status: performance.getEntriesByType("navigation")[0].responseStatus})`, &post)
	refused := post.Status == http.StatusForbidden || post.Status == http.StatusMethodNotAllowed
	if !refused || post.Title == "ran" || strings.Contains(post.Text, "stored") {
		t.Errorf("the attacker's form POST to evil.html: status %d, title %q, text %q; want 403 (cross-site) or 405 without the file", post.Status, post.Title, post.Text)
	}

	p.open("evil.html itself", in.URL+"/dav/data/evil.html", `document.getElementById("p") !== null`)
	var get struct {
		Title  string
		Status int
	}
	time.Sleep(500 * time.Millisecond) // give a script, were it allowed, time to run
	p.eval(`({Title: document.title, Status: performance.getEntriesByType("navigation")[0].responseStatus})`, &get)
	if get.Status != http.StatusOK || get.Title == "ran" {
		t.Errorf("opening evil.html: status %d, title %q; want 200 with its script not run", get.Status, get.Title)
	}

	time.Sleep(500 * time.Millisecond)
	if resp, b := c.do("GET", "/dav/data/pwned.txt", nil, bearer(bob.Token)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("pwned.txt after the attack = %d %q; want 404: a stored script wrote as the reader", resp.StatusCode, b)
	}
}
