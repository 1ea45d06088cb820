package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/internal/testenv"
)

// The browser path in a real browser: headless Chromium, driven through the
// DevTools protocol, logs on with the form, sees the shares, opens a share's
// HTML listing and logs out. TestEndToEndBrowserLogonCookie checks the same
// flow with net/http; this one proves that a browser honours what the
// server asks of it (HttpOnly, the redirects, the form posts under the
// pages' Content-Security-Policy).
func TestEndToEndBrowserChromium(t *testing.T) {
	testenv.Need(t, "chromium")
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)

	// A file put through the WebDAV API with a device token, for the
	// browser to find in the share's listing.
	c := client{t: t, base: in.URL}
	dev := c.logon("dgalice", alicePass, http.StatusCreated)
	const fileName = "put-by-api.txt"
	if resp, b := c.do("PUT", "/dav/data/"+fileName, strings.NewReader("from the API"), bearer(dev.Token)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT with a token = %d %s", resp.StatusCode, b)
	}

	p := startChromium(t)

	p.open("the log-on page", in.URL+"/login", `location.pathname === "/login"`)
	var form struct {
		User, Pass, Posts bool
		PassType          string
	}
	p.eval(`(() => {
		const f = document.querySelector("form");
		const u = f && f.querySelector("input[name=username]");
		const pw = f && f.querySelector("input[name=password]");
		return {User: !!u, Pass: !!pw, PassType: pw ? pw.type : "",
			Posts: !!f && f.method === "post" && new URL(f.action).pathname === "/login"};
	})()`, &form)
	if !form.User || !form.Pass || form.PassType != "password" || !form.Posts {
		t.Fatalf("log-on form = %+v; want username and password (type=password) fields posting to /login", form)
	}

	// A wrong password: the form comes back with the error and a 401.
	p.act("submit a wrong password", fillAndSubmit("dgalice", "wrong password"),
		`!!document.querySelector(".err")`)
	var wrong struct {
		Path, Err, User, Pass string
		Status                int
	}
	p.eval(`({Path: location.pathname, Err: document.querySelector(".err").textContent,
		User: document.querySelector("input[name=username]").value,
		Pass: document.querySelector("input[name=password]").value,
		Status: performance.getEntriesByType("navigation")[0].responseStatus})`, &wrong)
	if wrong.Path != "/login" || !strings.Contains(wrong.Err, "invalid user name or password") || wrong.Status != http.StatusUnauthorized {
		t.Fatalf("after a wrong password: %+v; want /login with the error and status 401", wrong)
	}
	if wrong.User != "dgalice" || wrong.Pass != "" {
		t.Errorf("after a wrong password the form holds user %q and a %d-char password; want the user kept and the password empty", wrong.User, len(wrong.Pass))
	}

	// The right password: a 303 to the home page, which lists the shares.
	p.act("submit the right password", fillAndSubmit("dgalice", alicePass), `location.pathname === "/"`)
	var home struct {
		Text   string
		Links  []string
		Status int
		Cookie string
	}
	p.eval(`({Text: document.body.innerText,
		Links: Array.from(document.querySelectorAll("a[href]"), a => a.getAttribute("href")),
		Status: performance.getEntriesByType("navigation")[0].responseStatus,
		Cookie: document.cookie})`, &home)
	if home.Status != http.StatusOK || !strings.Contains(home.Text, "Logged on as dgalice") ||
		!slices.Contains(home.Links, "/files/data/") || !slices.Contains(home.Links, "/files/home/") {
		t.Fatalf("home page = %d, links %q, text %q; want dgalice and links to /files/data/ and /files/home/", home.Status, home.Links, home.Text)
	}
	// The browser holds the session cookie, but scripts cannot read it.
	cookie := p.sessionCookie(in.URL)
	if cookie == nil {
		t.Fatalf("Chromium holds no %s cookie after logging on", authn.CookieName)
	}
	if !cookie.HTTPOnly || cookie.SameSite != "Lax" || cookie.Path != "/" {
		t.Errorf("session cookie in Chromium = httpOnly %v, sameSite %q, path %q; want HttpOnly, Lax, /", cookie.HTTPOnly, cookie.SameSite, cookie.Path)
	}
	if strings.Contains(home.Cookie, authn.CookieName) || strings.Contains(home.Cookie, cookie.Value) {
		t.Errorf("document.cookie shows the session cookie (%d chars); HttpOnly should hide it", len(home.Cookie))
	}

	shot := p.screenshot(filepath.Join(t.TempDir(), "home.png"))
	checkScreenshot(t, shot)

	// The share's /dav address opens its HTML listing (the web app's own
	// pages are TestWebAppChromium's).
	p.open("the data share's /dav address", in.URL+"/dav/data/", `location.pathname === "/dav/data/"`)
	var listing struct {
		Type, Text string
		Links      []string
	}
	p.eval(`({Type: document.contentType, Text: document.body.innerText,
		Links: Array.from(document.querySelectorAll("a[href]"), a => a.getAttribute("href"))})`, &listing)
	if listing.Type != "text/html" || !strings.Contains(listing.Text, fileName) || !slices.Contains(listing.Links, "/dav/data/"+fileName) {
		t.Fatalf("share listing = %s, links %q, text %q; want HTML with a link to %s", listing.Type, listing.Links, listing.Text, fileName)
	}

	// Log out from the home page's button: back at the log-on form, the
	// cookie gone, the session ended on the server.
	p.open("the home page again", in.URL+"/", `location.pathname === "/" && !!document.querySelector('form[action="/logout"] button')`)
	p.act("click Log out", `document.querySelector('form[action="/logout"] button').click()`,
		`location.pathname === "/login" && !!document.querySelector("input[name=password]")`)
	if left := p.sessionCookie(in.URL); left != nil {
		t.Errorf("Chromium still holds a %s cookie after logging out", authn.CookieName)
	}
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: authn.CookieName, Value: cookie.Value})
	}, "Depth", "0"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the browser's cookie after logging out = %d, want 401", resp.StatusCode)
	}
	for _, path := range []string{"/dav/data/", "/"} {
		p.open("GET "+path+" logged out", in.URL+path,
			`location.pathname === "/login" && performance.getEntriesByType("navigation")[0].redirectCount === 1`)
	}

	in.Stop()
	assertNoSecrets(t, in.Log.String(), alicePass, dev.Token, cookie.Value)
}

// fillAndSubmit returns a script that fills the log-on form and submits it.
func fillAndSubmit(user, pass string) string {
	u, _ := json.Marshal(user)
	pw, _ := json.Marshal(pass)
	return fmt.Sprintf(`(() => {
		const f = document.querySelector('form[action="/login"]');
		f.querySelector("input[name=username]").value = %s;
		f.querySelector("input[name=password]").value = %s;
		f.submit();
	})()`, u, pw)
}

// checkScreenshot asserts that b is a PNG of a rendered page: a real size
// and more than a blank background.
func checkScreenshot(t *testing.T, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	r := img.Bounds()
	if r.Dx() < 360 || r.Dy() < 300 || len(b) < 2000 {
		t.Fatalf("screenshot is %dx%d, %d bytes; want at least 360x300 (a phone) and 2000 bytes", r.Dx(), r.Dy(), len(b))
	}
	r0, g0, b0, _ := img.At(r.Min.X, r.Min.Y).RGBA() // the background
	ink := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if r1, g1, b1, _ := img.At(x, y).RGBA(); r1 != r0 || g1 != g0 || b1 != b0 {
				ink++
			}
		}
	}
	if ink < 500 {
		t.Errorf("screenshot has %d pixels that differ from the background; the page did not render", ink)
	}
}

// Timeouts for the browser: each DevTools call, and each wait for a page.
const (
	cdpCallTimeout = 10 * time.Second
	pageTimeout    = 10 * time.Second
	// cdpOrigin is the Origin the DevTools WebSocket client sends:
	// x/net/websocket always sends one, and Chromium refuses the
	// handshake from an Origin not named in --remote-allow-origins.
	cdpOrigin = "http://127.0.0.1"
	// newPageMarker is set on a page's window before an action that should
	// load a new document; the new document does not have it.
	newPageMarker = "__davgateOldPage"
)

// cdpPage is one Chromium tab driven through the DevTools protocol. Calls
// are synchronous: the test sends a command and reads messages until its
// answer, dropping events (no domain is enabled, so there are few).
type cdpPage struct {
	t      *testing.T
	ws     *websocket.Conn
	nextID int
}

// startChromium starts headless Chromium with a fresh profile and opens a
// tab. The whole process group is killed when the test ends.
func startChromium(t *testing.T) *cdpPage {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // removed after the kill below: cleanups run last-in first-out
	profile := filepath.Join(dir, "profile")
	logPath := filepath.Join(dir, "chromium.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		// Without these Chromium reaches for Google's hosts, which the
		// test machines refuse.
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
		"--window-size=1024,768",
		"--user-data-dir="+profile,
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--remote-allow-origins="+cdpOrigin,
		"about:blank")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p := &cdpPage{t: t}
	t.Cleanup(func() {
		if p.ws != nil {
			p.ws.Close()
		}
		// Chromium's helpers share its process group; wait for them all.
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGKILL)
		deadline := time.Now().Add(5 * time.Second)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Errorf("chromium (pid %d) did not exit after SIGKILL", pgid)
		}
		for syscall.Kill(-pgid, 0) == nil {
			if time.Now().After(deadline) {
				t.Errorf("chromium's process group %d outlived SIGKILL by 5s", pgid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if log := fileTail(logPath, 4000); t.Failed() && log != "" {
			t.Logf("chromium log:\n%s", log)
		}
	})

	// Chromium writes the port it chose, then the browser's WebSocket
	// path, to DevToolsActivePort in the profile.
	// A first start on a machine builds font caches and can take long,
	// the more so while other tests load both cores.
	var port int
	deadline := time.Now().Add(chromiumStart)
	for port == 0 {
		if b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort")); err == nil {
			if line, _, ok := strings.Cut(string(b), "\n"); ok {
				port, _ = strconv.Atoi(strings.TrimSpace(line))
			}
		}
		if port != 0 {
			break
		}
		select {
		case <-exited:
			t.Fatalf("chromium exited before opening its DevTools port:\n%s", fileTail(logPath, 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium did not open its DevTools port in %v:\n%s", chromiumStart, fileTail(logPath, 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A new tab; /json/new takes only PUT.
	hc := &http.Client{Timeout: cdpCallTimeout}
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://127.0.0.1:%d/json/new?about:blank", port), nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	var target struct {
		Type, WebSocketDebuggerURL string
	}
	err = json.NewDecoder(resp.Body).Decode(&target)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || target.Type != "page" || target.WebSocketDebuggerURL == "" {
		t.Fatalf("open a tab: %d %+v %v", resp.StatusCode, target, err)
	}
	ws, err := websocket.Dial(target.WebSocketDebuggerURL, "", cdpOrigin)
	if err != nil {
		t.Fatalf("connect to the tab: %v", err)
	}
	p.ws = ws
	return p
}

// fileTail returns the last n bytes of a file, for failure messages.
func fileTail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

type cdpError struct {
	Code    int
	Message string
}

// call sends one DevTools command and decodes its result into result
// (when not nil).
func (p *cdpPage) call(method string, params, result any) error {
	p.nextID++
	id := p.nextID
	p.ws.SetDeadline(time.Now().Add(cdpCallTimeout))
	if params == nil {
		params = struct{}{}
	}
	msg := map[string]any{"id": id, "method": method, "params": params}
	if err := websocket.JSON.Send(p.ws, msg); err != nil {
		return fmt.Errorf("%s: send: %w", method, err)
	}
	for {
		var in struct {
			ID     int
			Result json.RawMessage
			Error  *cdpError
		}
		if err := websocket.JSON.Receive(p.ws, &in); err != nil {
			return fmt.Errorf("%s: receive: %w", method, err)
		}
		if in.ID != id {
			continue // an event
		}
		if in.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, in.Error.Message, in.Error.Code)
		}
		if result == nil {
			return nil
		}
		return json.Unmarshal(in.Result, result)
	}
}

// evaluate runs a script in the page, awaits a promise it returns, and
// decodes the value into v (when not nil).
func (p *cdpPage) evaluate(expr string, v any) error {
	var r struct {
		Result struct {
			Type  string
			Value json.RawMessage
		}
		ExceptionDetails *struct {
			Text      string
			Exception struct{ Description string }
		}
	}
	err := p.call("Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true,
	}, &r)
	if err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return fmt.Errorf("script failed: %s %s", e.Text, e.Exception.Description)
	}
	if v == nil || r.Result.Type == "undefined" {
		return nil
	}
	return json.Unmarshal(r.Result.Value, v)
}

// eval is evaluate that fails the test on an error.
func (p *cdpPage) eval(expr string, v any) {
	p.t.Helper()
	if err := p.evaluate(expr, v); err != nil {
		p.t.Fatalf("%v\nin %s", err, expr)
	}
}

// open marks the current document, loads url in the tab and waits until
// the new document satisfies cond.
func (p *cdpPage) open(what, url, cond string) {
	p.t.Helper()
	p.eval("window."+newPageMarker+" = true", nil)
	var r struct{ ErrorText string }
	if err := p.call("Page.navigate", map[string]any{"url": url}, &r); err != nil || r.ErrorText != "" {
		p.t.Fatalf("%s: navigate to %s: %v %s", what, url, err, r.ErrorText)
	}
	p.waitNewPage(what, cond)
}

// act marks the current document, runs script (which should make the tab
// load another page) and waits until the new document satisfies cond.
func (p *cdpPage) act(what, script, cond string) {
	p.t.Helper()
	p.eval("window."+newPageMarker+" = true", nil)
	p.eval(script, nil)
	p.waitNewPage(what, cond)
}

// waitNewPage waits until the tab holds a loaded document, not one marked
// by open or act, for which cond is true. Scripts that fail while a navigation
// replaces the document are retried until the deadline.
func (p *cdpPage) waitNewPage(what, cond string) {
	p.t.Helper()
	expr := fmt.Sprintf(`document.readyState === "complete" && !window.%s && Boolean(%s)`, newPageMarker, cond)
	deadline := time.Now().Add(pageTimeout)
	var lastErr error
	for {
		var ok bool
		lastErr = p.evaluate(expr, &ok)
		if lastErr == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var now struct{ URL, Text string }
	p.evaluate(`({URL: location.href, Text: document.body ? document.body.innerText : ""})`, &now)
	p.t.Fatalf("%s: no page with %s after %v (last error: %v); the tab shows %s: %.300q", what, cond, pageTimeout, lastErr, now.URL, now.Text)
}

type cdpCookie struct {
	Name, Value, Path, SameSite string
	HTTPOnly                    bool `json:"httpOnly"`
}

// sessionCookie returns the session cookie Chromium would send to base,
// or nil.
func (p *cdpPage) sessionCookie(base string) *cdpCookie {
	p.t.Helper()
	var r struct{ Cookies []cdpCookie }
	if err := p.call("Network.getCookies", map[string]any{"urls": []string{base + "/"}}, &r); err != nil {
		p.t.Fatal(err)
	}
	for i, c := range r.Cookies {
		if c.Name == authn.CookieName {
			return &r.Cookies[i]
		}
	}
	return nil
}

// screenshot captures the tab as a PNG, writes it to path and returns it.
func (p *cdpPage) screenshot(path string) []byte {
	p.t.Helper()
	var r struct{ Data string }
	if err := p.call("Page.captureScreenshot", map[string]any{"format": "png"}, &r); err != nil {
		p.t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return b
}

// chromiumStart bounds Chromium's start-up, up to its DevTools port.
const chromiumStart = 90 * time.Second
