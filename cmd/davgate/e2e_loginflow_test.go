package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/internal/testenv"
)

// flowStarted is the answer to POST /api/v1/login-flows.
type flowStarted struct {
	LoginURL string `json:"login_url"`
	Poll     struct {
		URL, Token string
		Interval   int
	}
	ExpiresAt time.Time `json:"expires_at"`
	ExpiresIn int       `json:"expires_in"`
}

// code is the flow's URL code, the last element of login_url.
func (f flowStarted) code() string { return f.LoginURL[strings.LastIndex(f.LoginURL, "/")+1:] }

func (c client) startFlow(name string) flowStarted {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"client_name": name})
	resp, b := c.do("POST", "/api/v1/login-flows", strings.NewReader(string(body)), nil, "Content-Type", "application/json")
	var f flowStarted
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Cache-Control") != "no-store" {
		c.t.Fatalf("start flow = %d %s (Cache-Control %q)", resp.StatusCode, b, resp.Header.Get("Cache-Control"))
	}
	if err := json.Unmarshal([]byte(b), &f); err != nil || f.Poll.Token == "" || f.Poll.URL != "/api/v1/login-flows/poll" ||
		!strings.HasPrefix(f.LoginURL, c.base+"/login-flows/") || f.ExpiresIn != 600 || f.Poll.Interval < 1 {
		c.t.Fatalf("start flow answer %s: %v", b, err)
	}
	if strings.Contains(f.Poll.Token, f.code()) {
		c.t.Errorf("the poll token holds the URL code")
	}
	return f
}

// flowPolled is the answer to a poll.
type flowPolled struct {
	Status, Error, Token, User, ID, Label string
	Interval                              int
}

func (c client) pollFlow(token string) (int, flowPolled, string) {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"token": token})
	resp, b := c.do("POST", "/api/v1/login-flows/poll", strings.NewReader(string(body)), nil, "Content-Type", "application/json")
	// Like an app, wait as told when polling faster than the interval.
	for i := 0; i < 3 && resp.StatusCode == http.StatusTooManyRequests; i++ {
		s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		time.Sleep(time.Duration(s) * time.Second)
		resp, b = c.do("POST", "/api/v1/login-flows/poll", strings.NewReader(string(body)), nil, "Content-Type", "application/json")
	}
	var p flowPolled
	if err := json.Unmarshal([]byte(b), &p); err != nil {
		c.t.Fatalf("poll answer %d %q: %v", resp.StatusCode, b, err)
	}
	return resp.StatusCode, p, b
}

// wantPoll polls and checks the status and the answer's status field.
func (c client) wantPoll(what, token string, status int, state string) flowPolled {
	c.t.Helper()
	got, p, b := c.pollFlow(token)
	if got != status || p.Status != state {
		c.t.Fatalf("%s: poll = %d %s; want %d %q", what, got, b, status, state)
	}
	if state != "approved" && (p.Token != "" || p.User != "" || p.ID != "") {
		c.t.Errorf("%s: a poll before approval tells %s", what, b)
	}
	return p
}

var flowCSRFRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// flowPage fetches a flow's approval page with the browser's cookie.
func (c client) flowPage(f flowStarted, cookie *http.Cookie) (int, string) {
	c.t.Helper()
	resp, b := c.do("GET", "/login-flows/"+f.code(), nil, func(r *http.Request) { r.AddCookie(cookie) }, "Accept", "text/html")
	return resp.StatusCode, b
}

// answerFlow posts the approval page's form.
func (c client) answerFlow(f flowStarted, cookie *http.Cookie, csrf, decision string, hdr ...string) (int, string) {
	c.t.Helper()
	form := url.Values{"decision": {decision}}
	if csrf != "" {
		form.Set(authn.CSRFField, csrf)
	}
	hdr = append([]string{"Content-Type", "application/x-www-form-urlencoded", "Origin", c.base}, hdr...)
	resp, b := c.do("POST", "/login-flows/"+f.code(), strings.NewReader(form.Encode()), func(r *http.Request) { r.AddCookie(cookie) }, hdr...)
	return resp.StatusCode, b
}

// approveFlow opens the page and presses Allow, as a browser does.
func (c client) approveFlow(f flowStarted, cookie *http.Cookie) {
	c.t.Helper()
	st, page := c.flowPage(f, cookie)
	m := flowCSRFRe.FindStringSubmatch(page)
	if st != 200 || m == nil {
		c.t.Fatalf("approval page = %d, no CSRF field:\n%s", st, page)
	}
	if st, b := c.answerFlow(f, cookie, m[1], "allow"); st != 200 || !strings.Contains(b, "<h1>Allowed</h1>") {
		c.t.Fatalf("Allow = %d:\n%s", st, b)
	}
}

// The app log-on flow through its API and its page: pending until the
// user allows it in a logged-on browser, then the device token once, then
// gone; the token works over WebDAV and is listed under the app's name.
func TestEndToEndLoginFlow(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	const name = `Backup <b>"script"</b> & co`
	fl := c.startFlow(name)
	c.wantPoll("before approval", fl.Poll.Token, http.StatusAccepted, "pending")
	// A poll token with the right flow but another secret is told nothing
	// more than for no flow at all, and changes nothing.
	wrong := flipSecret(t, fl.Poll.Token)
	c.wantPoll("a wrong poll secret", wrong, http.StatusGone, "expired")
	c.wantPoll("after the wrong secret", fl.Poll.Token, http.StatusAccepted, "pending")

	// The URL sends a browser without a session to log on, and back.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", fl.LoginURL, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	path := "/login-flows/" + fl.code()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape(path) {
		t.Fatalf("login_url without a session = %d to %q; want 303 to the log-on page and back", resp.StatusCode, loc)
	}
	resp = postLogin(t, noFollow, in.URL, url.Values{"username": {"dgalice"}, "password": {alicePass}, "next": {path}})
	resp.Body.Close()
	cookie := sessionCookieOf(resp, authn.CookieName)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path || cookie == nil {
		t.Fatalf("log-on from the flow = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	st, page := c.flowPage(fl, cookie)
	esc := html.EscapeString(name)
	for _, want := range []string{"<h1>Allow " + esc + " to access your files?</h1>", "<dd>dgalice</dd>", "<dd>127.0.0.1 (this browser", time.Now().UTC().Format("2 Jan 2006"), `value="allow"`, `value="deny"`} {
		if st != 200 || !strings.Contains(page, want) {
			t.Errorf("approval page (%d) lacks %q", st, want)
		}
	}
	if strings.Contains(page, "<b>\"script\"</b>") || strings.Contains(page, "<script") {
		t.Errorf("the client name reaches the page unescaped:\n%s", page)
	}
	csrf := flowCSRFRe.FindStringSubmatch(page)[1]

	// A cross-site answer is refused, and so is one without the token.
	for _, bad := range []struct {
		name, csrf string
		hdr        []string
	}{{"foreign Origin", csrf, []string{"Origin", "http://evil.example"}}, {"cross-site", csrf, []string{"Sec-Fetch-Site", "cross-site"}}, {"no token", "", nil}, {"wrong token", csrf + "x", nil}} {
		if st, b := c.answerFlow(fl, cookie, bad.csrf, "allow", bad.hdr...); st != http.StatusForbidden {
			t.Errorf("Allow with %s = %d %.200s; want 403", bad.name, st, b)
		}
	}
	c.wantPoll("after refused answers", fl.Poll.Token, http.StatusAccepted, "pending")

	if st, b := c.answerFlow(fl, cookie, csrf, "allow"); st != 200 || !strings.Contains(b, "<h1>Allowed</h1>") {
		t.Fatalf("Allow = %d:\n%s", st, b)
	}
	if st, _ := c.answerFlow(fl, cookie, csrf, "deny"); st != http.StatusConflict {
		t.Errorf("Deny after Allow = %d, want 409", st)
	}
	got := c.wantPoll("after Allow", fl.Poll.Token, http.StatusOK, "approved")
	if got.Token == "" || got.User != "dgalice" || got.Label != name || got.ID == "" {
		t.Fatalf("approved poll = %+v", got)
	}
	c.wantPoll("the second poll", fl.Poll.Token, http.StatusGone, "expired")
	if st, _ := c.flowPage(fl, cookie); st != http.StatusNotFound {
		t.Errorf("approval page of a collected flow = %d, want 404", st)
	}

	// The token is a device of alice's, under the app's name.
	if resp, b := c.do("PUT", "/dav/data/from-flow.txt", strings.NewReader("via flow"), basic("dgalice", got.Token)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT with the flow's token = %d %s", resp.StatusCode, b)
	}
	if resp, b := c.do("GET", "/dav/data/from-flow.txt", nil, bearer(got.Token)); resp.StatusCode != 200 || b != "via flow" {
		t.Errorf("GET with the flow's token = %d %q", resp.StatusCode, b)
	}
	if resp, b := c.do("PROPFIND", "/dav/data/", nil, bearer(got.Token), "Depth", "1"); resp.StatusCode != http.StatusMultiStatus || !strings.Contains(b, "from-flow.txt") {
		t.Errorf("PROPFIND with the flow's token = %d", resp.StatusCode)
	}
	checkDeviceListed(t, c, cookie, got.ID, name)

	flowRefusals(t, c, cookie)
	in.Stop()
	assertNoSecrets(t, in.Log.String(), alicePass, got.Token, fl.Poll.Token)
}

// checkDeviceListed checks that the browser's user has device id, labelled.
func checkDeviceListed(t *testing.T, c client, cookie *http.Cookie, id, label string) {
	t.Helper()
	resp, b := c.do("GET", "/api/v1/sessions", nil, func(r *http.Request) { r.AddCookie(cookie) })
	var list []struct{ ID, Kind, Label string }
	if err := json.Unmarshal([]byte(b), &list); resp.StatusCode != 200 || err != nil {
		t.Fatalf("list sessions = %d %s", resp.StatusCode, b)
	}
	for _, s := range list {
		if s.ID == id && s.Kind == "device" && s.Label == label {
			return
		}
	}
	t.Errorf("sessions %s lack device %s labelled %q", b, id, label)
}

// flowRefusals: a denied flow, malformed starts and polls, the rate limit.
func flowRefusals(t *testing.T, c client, cookie *http.Cookie) {
	t.Helper()
	denied := c.startFlow("unwanted")
	st, page := c.flowPage(denied, cookie)
	if st != 200 {
		t.Fatalf("approval page = %d", st)
	}
	if st, b := c.answerFlow(denied, cookie, flowCSRFRe.FindStringSubmatch(page)[1], "deny"); st != 200 || !strings.Contains(b, "<h1>Denied</h1>") {
		t.Fatalf("Deny = %d:\n%s", st, b)
	}
	for i := 0; i < 2; i++ {
		c.wantPoll("a denied flow", denied.Poll.Token, http.StatusForbidden, "denied")
	}

	for _, bad := range []struct{ body, ctype string }{
		{`{"client_name":"x"}`, "application/x-www-form-urlencoded"}, {`{"client_name":"  "}`, "application/json"},
		{`{"client_name":"` + strings.Repeat("é", 65) + `"}`, "application/json"}, {`{"client_name":"a\u0007b"}`, "application/json"},
		{`{"client_name":"evil\u202egnp.exe"}`, "application/json"}, {`not json`, "application/json"},
	} {
		if resp, b := c.do("POST", "/api/v1/login-flows", strings.NewReader(bad.body), nil, "Content-Type", bad.ctype); resp.StatusCode/100 != 4 {
			t.Errorf("start with %s %.40s = %d %s, want 4xx", bad.ctype, bad.body, resp.StatusCode, b)
		}
	}
	if st, _, b := c.pollFlow("not a token"); st != http.StatusBadRequest {
		t.Errorf("poll with garbage = %d %s, want 400", st, b)
	}
	c.wantPoll("a token of no flow", base64.RawURLEncoding.EncodeToString(make([]byte, 64)), http.StatusGone, "expired")

	// Starts per address: 10 at once, then a wait. Two started above.
	n := 2
	for ; n < 20; n++ {
		resp, _ := c.do("POST", "/api/v1/login-flows", strings.NewReader(`{"client_name":"flood"}`), nil, "Content-Type", "application/json")
		if resp.StatusCode == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			break
		}
	}
	if n != 10 {
		t.Errorf("flow %d from one address was refused, want the 11th", n+1)
	}
}

// flipSecret changes the poll secret half of a poll token.
func flipSecret(t *testing.T, token string) string {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 64 {
		t.Fatalf("poll token is %d bytes (%v), want 64", len(b), err)
	}
	b[40] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

// A flow started on one instance is approved on another and collected on
// the first: the flows live in the shared Redis, which holds no code, poll
// token or device token; a flow forgotten by Redis (expired) is gone
// everywhere.
func TestEndToEndLoginFlowTwoInstances(t *testing.T) {
	r := testenv.StartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rc.Close() })
	f := newFixture(t, r.URL)
	ca := client{t: t, base: startDavgate(t, f.cfgPath).URL}
	cb := client{t: t, base: startDavgate(t, f.cfgPath).URL}
	ctx := context.Background()

	fl := ca.startFlow("two instances")
	cb.wantPoll("on B, pending", fl.Poll.Token, http.StatusAccepted, "pending")
	keys := rc.Keys(ctx, "davgate:lf:*").Val()
	if len(keys) != 1 {
		t.Fatalf("flow keys in Redis = %q, want one", keys)
	}
	if ttl := rc.PTTL(ctx, keys[0]).Val(); ttl < 590*time.Second || ttl > 600*time.Second {
		t.Errorf("flow key's TTL = %v, want 10m", ttl)
	}
	cookie, _ := browserSession(t, cb.base)
	// The browser's page has B's address in login_url's place.
	cb.approveFlow(fl, cookie)
	dump := fmt.Sprint(rc.HGetAll(ctx, keys[0]).Val())
	got := ca.wantPoll("on A, approved", fl.Poll.Token, http.StatusOK, "approved")
	cb.wantPoll("on B, collected", fl.Poll.Token, http.StatusGone, "expired")
	for what, s := range map[string]string{"device token": got.Token, "poll token": fl.Poll.Token, "URL code": fl.code(), "poll secret": fl.Poll.Token[43:]} {
		if strings.Contains(dump, s) {
			t.Errorf("Redis held the %s", what)
		}
	}
	if resp, b := cb.do("PROPFIND", "/dav/data/", nil, basic("dgalice", got.Token), "Depth", "0"); resp.StatusCode != http.StatusMultiStatus {
		t.Errorf("the flow's token on B = %d %s", resp.StatusCode, b)
	}

	// Expired: once Redis forgets the flow, every instance says so.
	old := cb.startFlow("too late")
	for _, k := range rc.Keys(ctx, "davgate:lf:*").Val() {
		rc.PExpire(ctx, k, time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	ca.wantPoll("an expired flow", old.Poll.Token, http.StatusGone, "expired")
	if st, b := ca.flowPage(old, cookie); st != http.StatusNotFound || !strings.Contains(b, "expired") {
		t.Errorf("approval page of an expired flow = %d:\n%s", st, b)
	}
	if st, _ := ca.answerFlow(old, cookie, "", "allow", authn.CSRFHeader, csrfOf(t, ca, cookie)); st != http.StatusNotFound {
		t.Errorf("Allow on an expired flow = %d, want 404", st)
	}
}

// csrfOf reads the CSRF token of the browser's session from the home page.
func csrfOf(t *testing.T, c client, cookie *http.Cookie) string {
	t.Helper()
	return homeCSRF(t, http.DefaultClient, c.base, cookie)
}
