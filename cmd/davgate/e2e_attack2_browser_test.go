package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// xssNames are file and folder names, device labels and app names that
// would run a script were any page to build HTML from them, or break out
// of an attribute or a URL: quotes, ampersands, semicolons, percent signs
// (decoded twice?), entities, template literals and unicode. (File
// names cannot hold < > " : on SMB; labels and app names can.)
var xssNames = []string{
	"a'b&c;d%e.txt",
	"' onmouseover='window.__xss=1' x='.txt",
	"&lt;img src=x onerror=window.__xss=2&gt;.txt",
	"%3Cscript%3Ewindow.__xss=3%3C%2Fscript%3E.txt",
	"%2e%2e%2f%2e%2e%2fetc.txt",
	"100% & 50%25;.txt",
	"ünï cødé 名前 שלום.txt",
	"';window.__xss=4;'.txt",
	"`${window.__xss=5}`.txt",
}

// The web app's pages in Chromium, fed names built to break out of HTML,
// attributes and URLs, as files a user stores (the listing, the preview),
// as a device label (the Devices page) and as an app's name (the log-on
// flow's page): no script runs, and each name shows as typed.
func TestEndToEndBrowserHostileNames(t *testing.T) {
	testenv.Need(t, "chromium")
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	bob := c.logon("dgbob", bobPass, http.StatusCreated)
	for _, n := range xssNames {
		if resp, b := c.do("PUT", "/dav/data/"+url.PathEscape(n), strings.NewReader("x"), bearer(bob.Token)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT %q = %d %s", n, resp.StatusCode, b)
		}
	}
	dir := "&amp;dir%20' onclick='window.__xss=6"
	if resp, b := c.do("MKCOL", "/dav/data/"+url.PathEscape(dir)+"/", nil, bearer(bob.Token)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("MKCOL %q = %d %s", dir, resp.StatusCode, b)
	}

	p := startChromium(t)
	p.open("the log-on page", in.URL+"/login", `location.pathname === "/login"`)
	p.act("log on", fillAndSubmit("dgalice", alicePass), `location.pathname === "/"`)
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	label := `<img src=x onerror="window.__xss='label'">&amp; '"; 100%`
	body, _ := json.Marshal(map[string]string{"label": label})
	if resp, b := c.do("POST", "/api/v1/devices", strings.NewReader(string(body)), bearer(alice.Token), "Content-Type", "application/json"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/devices = %d %s", resp.StatusCode, b)
	}

	p.open("the share's listing", in.URL+"/files/data/", `document.querySelectorAll("tbody tr").length >= 10`)
	checkNoXSS(t, p, "the listing", append([]string{dir}, xssNames...))
	// Into the folder with the hostile name, and a preview of a file.
	p.open("the hostile folder", in.URL+"/files/data/"+url.PathEscape(dir)+"/", `!!document.querySelector("tbody")`)
	checkNoXSS(t, p, "the hostile folder", nil)
	p.open("the listing again", in.URL+"/files/data/", `document.querySelectorAll("tbody tr").length >= 10`)
	p.eval(`(() => { for (const a of document.querySelectorAll("tbody a")) a.click(); })()`, nil)
	time.Sleep(500 * time.Millisecond)
	checkNoXSS(t, p, "the previews", nil)

	p.open("the devices page", in.URL+"/devices", `document.querySelectorAll("tbody tr").length >= 2`)
	checkNoXSS(t, p, "the devices page", []string{label})

	app := `<script>window.__xss='flow'</script> & "co" 100%`
	fl := c.startFlow(app)
	p.open("the flow's page", fl.LoginURL, `!!document.querySelector("#allow")`)
	checkNoXSS(t, p, "the flow's page", []string{app})
}

// checkNoXSS fails if a payload ran, and unless every name is shown as
// text in the page.
func checkNoXSS(t *testing.T, p *cdpPage, where string, names []string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // an onerror or onload fires late
	var got struct {
		XSS  any
		Text string
	}
	p.eval(`({XSS: window.__xss === undefined ? null : window.__xss, Text: document.body.innerText})`, &got)
	if got.XSS != nil {
		t.Errorf("%s: a payload ran: window.__xss = %v", where, got.XSS)
	}
	for _, n := range names {
		if !strings.Contains(got.Text, n) {
			t.Errorf("%s does not show %q as text; it shows:\n%s", where, n, fmt.Sprintf("%.2000s", got.Text))
		}
	}
}
