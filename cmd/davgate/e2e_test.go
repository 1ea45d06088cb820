package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// syncBuffer collects a writer's output for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is a davgate started through run, as the binary would be.
type instance struct {
	URL    string
	Log    *syncBuffer
	Out    *syncBuffer // what run printed to stdout
	stop   func()
	exited chan error
}

var listening = regexp.MustCompile(`davgate listening on (https?://\S+)/`)

// startDavgate runs `davgate serve --config cfgPath` until Stop or the end
// of the test, and waits for /healthz.
func startDavgate(t *testing.T, cfgPath string) *instance {
	t.Helper()
	return startDavgateWith(t, cfgPath, http.DefaultClient)
}

// startDavgateWith is startDavgate with the client that checks /healthz
// (one that trusts a test CA, for TLS).
func startDavgateWith(t *testing.T, cfgPath string, hc *http.Client) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	in := &instance{Log: stderr, Out: stdout, exited: make(chan error, 1)}
	go func() {
		in.exited <- run(ctx, []string{"davgate", "serve", "--config", cfgPath}, func(string) string { return "" }, stdout, stderr)
	}()
	in.stop = func() {
		cancel()
		select {
		case <-in.exited:
		case <-time.After(15 * time.Second):
			t.Errorf("davgate did not stop")
		}
	}
	t.Cleanup(in.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for in.URL == "" {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			in.URL = m[1]
			break
		}
		select {
		case err := <-in.exited:
			t.Fatalf("davgate exited: %v\n%s", err, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("davgate did not start; log:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := hc.Get(in.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	return in
}

// Stop ends the instance; a second call does nothing.
func (in *instance) Stop() {
	if in.stop != nil {
		in.stop()
		in.stop = nil
	}
}

// fixture is a smbd with two users and the config davgate runs with.
type fixture struct {
	smbd    *testenv.Smbd
	dir     string
	cfgPath string
}

const (
	alicePass = "Alice-pass-7x!"
	bobPass   = "Bob-pass-9y?"
)

func newFixture(t *testing.T, store string) *fixture {
	t.Helper()
	smbd := testenv.StartSmbd(t, testenv.SmbdConfig{
		Users:  map[string]string{"dgalice": alicePass, "dgbob": bobPass},
		Shares: []testenv.Share{{Name: "data"}, {Name: "users"}, {Name: "private", Extra: "valid users = dgbob"}},
	})
	for _, u := range []string{"dgalice", "dgbob"} {
		testenv.WritableDir(t, filepath.Join(smbd.SharePath("users"), u))
	}
	f := &fixture{smbd: smbd, dir: t.TempDir()}
	keys := filepath.Join(f.dir, "master.keys")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"davgate", "keygen", "--out", keys}, nil, &out, io.Discard); err != nil {
		t.Fatalf("keygen: %v", err)
	}
	if st, err := os.Stat(keys); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	f.cfgPath = filepath.Join(f.dir, "davgate.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
master_key_file: %s
store: %s
auth:
  backend: smb
  smb: {url: "smb://%s/"}
shares:
  - {name: data, url: "%s"}
  - {name: home, url: "%s/{user}"}
  - {name: private, url: "%s"}
  - {name: missing, url: "%s"}
`, keys, store, smbd.Addr(), smbd.URL("data"), smbd.URL("users"), smbd.URL("private"), smbd.URL("nosuchshare"))
	if err := os.WriteFile(f.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

type client struct {
	t    *testing.T
	base string
	hc   *http.Client // nil: http.DefaultClient
}

// do sends a request; auth is applied by the caller's func.
func (c client) do(method, path string, body io.Reader, auth func(*http.Request), hdr ...string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if auth != nil {
		auth(req)
	}
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

type created struct {
	ID, Token, Kind, Label string
	ExpiresAt              time.Time `json:"expires_at"`
}

func (c client) logon(user, pass string, status int) created {
	c.t.Helper()
	body := fmt.Sprintf(`{"username":%q,"password":%q,"label":"test device"}`, user, pass)
	resp, b := c.do("POST", "/api/v1/sessions", strings.NewReader(body), nil, "Content-Type", "application/json")
	if resp.StatusCode != status {
		c.t.Fatalf("log-on %s: status %d, want %d: %s", user, resp.StatusCode, status, b)
	}
	var cr created
	if status == http.StatusCreated {
		if err := json.Unmarshal([]byte(b), &cr); err != nil || cr.Token == "" || cr.ID == "" {
			c.t.Fatalf("log-on answer %q: %v", b, err)
		}
	}
	return cr
}

func TestEndToEndMemoryStore(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}

	c.logon("dgalice", "wrong password", http.StatusUnauthorized)
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	// a share the server does not have is 404, not the server being down
	if resp, _ := c.do("PROPFIND", "/dav/missing/", nil, bearer(alice.Token), "Depth", "0"); resp.StatusCode != 404 {
		t.Errorf("PROPFIND of a share the server lacks = %d, want 404", resp.StatusCode)
	}
	bob := c.logon("dgbob", bobPass, http.StatusCreated)
	if alice.Kind != "device" || alice.Label != "test device" || !alice.ExpiresAt.After(time.Now()) {
		t.Errorf("session = %+v", alice)
	}
	asAlice := basic("dgalice", alice.Token)

	content := strings.Repeat("0123456789abcdef", 4096) // 64 KiB
	steps := []struct {
		name, method, path string
		body               string
		auth               func(*http.Request)
		hdr                []string
		status             int
		want               string // substring of the response body
	}{
		{"put basic", "PUT", "/dav/data/hello.txt", content, asAlice, nil, 201, ""},
		{"get basic", "GET", "/dav/data/hello.txt", "", asAlice, nil, 200, content},
		{"get range", "GET", "/dav/data/hello.txt", "", asAlice, []string{"Range", "bytes=16-31"}, 206, "0123456789abcdef"},
		{"propfind share", "PROPFIND", "/dav/data/", "", asAlice, []string{"Depth", "1"}, 207, "hello.txt"},
		{"propfind root lists shares", "PROPFIND", "/dav/", "", asAlice, []string{"Depth", "1"}, 207, "/dav/home/"},
		{"propfind server root lists /dav/", "PROPFIND", "/", "", asAlice, []string{"Depth", "1"}, 207, "<D:href>/dav/</D:href>"},
		{"propfind server root asks for credentials", "PROPFIND", "/", "", nil, []string{"Depth", "0"}, 401, ""},
		{"mkcol bearer", "MKCOL", "/dav/data/dir", "", bearer(alice.Token), nil, 201, ""},
		{"move bearer", "MOVE", "/dav/data/hello.txt", "", bearer(alice.Token), []string{"Destination", in.URL + "/dav/data/dir/moved.txt"}, 201, ""},
		{"get moved", "GET", "/dav/data/dir/moved.txt", "", bearer(alice.Token), nil, 200, content},
		{"home share is the user's folder", "PUT", "/dav/home/mine.txt", "alice's", asAlice, nil, 201, ""},
		{"delete", "DELETE", "/dav/data/dir", "", asAlice, nil, 204, ""},
		{"deleted is gone", "GET", "/dav/data/dir/moved.txt", "", asAlice, nil, 404, ""},
		{"no token", "PROPFIND", "/dav/data/", "", nil, []string{"Depth", "1"}, 401, ""},
		{"real password in basic refused", "PROPFIND", "/dav/data/", "", basic("dgalice", alicePass), []string{"Depth", "0"}, 401, ""},
		{"token with another user's name", "GET", "/dav/data/", "", basic("dgbob", alice.Token), nil, 401, ""},
		{"token with one byte changed", "PROPFIND", "/dav/data/", "", bearer(flipByte(alice.Token)), []string{"Depth", "0"}, 401, ""},
		{"bob's token with bob's name", "PROPFIND", "/dav/data/", "", basic("dgbob", bob.Token), []string{"Depth", "0"}, 207, ""},
	}
	for _, s := range steps {
		resp, b := c.do(s.method, s.path, strings.NewReader(s.body), s.auth, s.hdr...)
		if resp.StatusCode != s.status {
			t.Fatalf("%s: %s %s = %d, want %d: %.300s", s.name, s.method, s.path, resp.StatusCode, s.status, b)
		}
		if s.want != "" && !strings.Contains(b, s.want) {
			t.Errorf("%s: body %.200q does not contain %.100q", s.name, b, s.want)
		}
		if s.status == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="davgate", charset="UTF-8"` {
			t.Errorf("%s: WWW-Authenticate = %q", s.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if b, err := os.ReadFile(filepath.Join(f.smbd.SharePath("users"), "dgalice", "mine.txt")); err != nil || string(b) != "alice's" {
		t.Errorf("home share file = %q, %v; want it in users/dgalice", b, err)
	}

	// The caller's sessions, then revoking the current one.
	resp, b := c.do("GET", "/api/v1/sessions", nil, bearer(alice.Token))
	var list []struct {
		ID      string
		Current bool
	}
	if err := json.Unmarshal([]byte(b), &list); resp.StatusCode != 200 || err != nil || len(list) != 1 || !list[0].Current || list[0].ID != alice.ID {
		t.Fatalf("list sessions = %d %s (%v)", resp.StatusCode, b, err)
	}
	if resp, b := c.do("DELETE", "/api/v1/sessions/current", nil, bearer(alice.Token)); resp.StatusCode != 204 {
		t.Fatalf("revoke current = %d %s", resp.StatusCode, b)
	}
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, asAlice, "Depth", "0"); resp.StatusCode != 401 {
		t.Errorf("revoked token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := c.do("DELETE", "/api/v1/sessions/"+bob.ID, nil, bearer(bob.Token)); resp.StatusCode != 204 {
		t.Errorf("revoke own by id: %d", resp.StatusCode)
	}

	in.Stop()
	assertNoSecrets(t, in.Log.String(), alicePass, bobPass, alice.Token, bob.Token)
	if !strings.Contains(in.Log.String(), `"msg":"request"`) {
		t.Errorf("no access log lines")
	}
}

// flipByte changes one character of a token.
func flipByte(tok string) string {
	b := []byte(tok)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func assertNoSecrets(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("a secret (%d chars) appears in the log", len(s))
		}
	}
}

// With auth.allow_password_basic the real password works in Basic auth;
// the credentials are checked once and the session reused, so smbd sees no
// new log-on for later requests.
func TestEndToEndPasswordBasicWhenAllowed(t *testing.T) {
	f := newFixture(t, "memory")
	b, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "  backend: smb\n", "  backend: smb\n  allow_password_basic: true\n", 1)
	if err := os.WriteFile(f.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, basic("dgalice", "wrong"), "Depth", "0"); resp.StatusCode != 401 {
		t.Fatalf("wrong password = %d, want 401", resp.StatusCode)
	}
	if resp, b := c.do("PUT", "/dav/data/pw.txt", strings.NewReader("x"), basic("dgalice", alicePass)); resp.StatusCode != 201 {
		t.Fatalf("PUT with the password = %d %s", resp.StatusCode, b)
	}
	logons := strings.Count(f.smbd.Log(t), `[dgalice]`)
	for i := 0; i < 3; i++ {
		if resp, _ := c.do("GET", "/dav/data/pw.txt", nil, basic("dgalice", alicePass)); resp.StatusCode != 200 {
			t.Fatalf("GET %d = %d", i, resp.StatusCode)
		}
	}
	if got := strings.Count(f.smbd.Log(t), `[dgalice]`); got != logons {
		t.Errorf("smbd saw %d new log-ons for repeated requests, want 0", got-logons)
	}
	in.Stop()
	assertNoSecrets(t, in.Log.String(), alicePass)
}

// OPTIONS answers class 2 everywhere, also before the client has
// authenticated (Windows and Office probe first); with credentials the
// share names what the resource allows.
func TestEndToEndOptions(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	if resp, _ := c.do("PUT", "/dav/data/o.txt", strings.NewReader("x"), bearer(alice.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d", resp.StatusCode)
	}
	tests := []struct {
		name, path string
		auth       func(*http.Request)
		allowPut   bool
	}{
		{"server root, no credentials", "/", nil, true},
		{"share, no credentials", "/dav/data/", nil, true},
		{"file, with a token", "/dav/data/o.txt", bearer(alice.Token), true},
		{"collection, with a token", "/dav/data/", bearer(alice.Token), false},
	}
	for _, tt := range tests {
		resp, _ := c.do("OPTIONS", tt.path, nil, tt.auth)
		if resp.StatusCode != 200 || resp.Header.Get("DAV") != "1, 2" || resp.Header.Get("MS-Author-Via") != "DAV" {
			t.Errorf("%s: OPTIONS = %d, DAV %q, MS-Author-Via %q", tt.name, resp.StatusCode, resp.Header.Get("DAV"), resp.Header.Get("MS-Author-Via"))
		}
		if got := strings.Contains(resp.Header.Get("Allow"), "PUT"); got != tt.allowPut {
			t.Errorf("%s: Allow %q, PUT listed = %v, want %v", tt.name, resp.Header.Get("Allow"), got, tt.allowPut)
		}
	}
	// A bad token still gets 401: OPTIONS with credentials checks them.
	if resp, _ := c.do("OPTIONS", "/dav/data/", nil, bearer(flipByte(alice.Token))); resp.StatusCode != 401 {
		t.Errorf("OPTIONS with a bad token = %d, want 401", resp.StatusCode)
	}
}

// A WebDAV path with "//" or "/./" in it is served under its clean form,
// not redirected: clients do not follow a redirect for PUT or PROPFIND.
func TestEndToEndUncleanPaths(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		method, path string
		body         string
		hdr          []string
		want         int
	}{
		{"PUT", "/dav//data/./u.txt", "unclean", nil, 201},
		{"GET", "/dav/data//u.txt", "", nil, 200},
		{"PROPFIND", "/dav/data//", "", []string{"Depth", "1"}, 207},
		{"MKCOL", "/dav/./data/sub/", "", nil, 201},
		{"MOVE", "/dav/data/x/../u.txt", "", []string{"Destination", in.URL + "/dav/data//sub/u.txt"}, 201},
		{"GET", "/dav/data/sub/u.txt", "", nil, 200},
	} {
		req, _ := http.NewRequest(tt.method, in.URL+tt.path, strings.NewReader(tt.body))
		bearer(alice.Token)(req)
		for i := 0; i+1 < len(tt.hdr); i += 2 {
			req.Header.Set(tt.hdr[i], tt.hdr[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

// A file server that hangs with its connections open fails the requests
// waiting on it with 503 after smb.reply_timeout, instead of holding them
// until TCP gives up; once it answers again, the same token works.
func TestEndToEndHungFileServer(t *testing.T) {
	f := newFixture(t, "memory")
	b, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfgPath, append(b, "smb: {reply_timeout: 1s}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	tok := c.logon("dgalice", alicePass, http.StatusCreated).Token
	if resp, b := c.do("PUT", "/dav/data/hung.txt", strings.NewReader("still here"), bearer(tok)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d %s", resp.StatusCode, b)
	}

	thaw := f.smbd.Freeze(t)
	start := time.Now()
	resp, _ := c.do("GET", "/dav/data/hung.txt", nil, bearer(tok))
	if waited := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable || waited > 10*time.Second {
		t.Errorf("GET from a hung file server = %d after %v, want 503 within a few seconds", resp.StatusCode, waited)
	}
	if !strings.Contains(in.Log.String(), "owing a reply") {
		t.Errorf("no log line names the hung server; log:\n%s", in.Log)
	}

	thaw()
	if resp, b := c.do("GET", "/dav/data/hung.txt", nil, bearer(tok)); resp.StatusCode != 200 || b != "still here" {
		t.Errorf("GET after the server recovered = %d %q", resp.StatusCode, b)
	}
}

// A file moved from one share to another through the share list, as
// Finder or Explorer do when /dav/ is mounted, arrives whole and leaves
// the source share.
func TestEndToEndMoveAcrossShares(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	auth := bearer(alice.Token)
	if resp, _ := c.do("PUT", "/dav/data/travel.txt", strings.NewReader("from data to home"), auth); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d", resp.StatusCode)
	}
	if resp, body := c.do("MOVE", "/dav/data/travel.txt", nil, auth, "Destination", in.URL+"/dav/home/travel.txt"); resp.StatusCode != 201 {
		t.Fatalf("MOVE to the home share = %d %s", resp.StatusCode, body)
	}
	if resp, body := c.do("GET", "/dav/home/travel.txt", nil, auth); resp.StatusCode != 200 || body != "from data to home" {
		t.Errorf("GET in home = %d %q", resp.StatusCode, body)
	}
	if resp, _ := c.do("GET", "/dav/data/travel.txt", nil, auth); resp.StatusCode != 404 {
		t.Errorf("GET in data after the MOVE = %d, want 404", resp.StatusCode)
	}
	// A share the file server refuses to this user is 403, whether asked
	// for or named as a destination; its user gets in.
	if resp, _ := c.do("PROPFIND", "/dav/private/", nil, auth, "Depth", "0"); resp.StatusCode != 403 {
		t.Errorf("PROPFIND of a share refused to alice = %d, want 403", resp.StatusCode)
	}
	if resp, _ := c.do("COPY", "/dav/home/travel.txt", nil, auth, "Destination", in.URL+"/dav/private/travel.txt"); resp.StatusCode != 403 {
		t.Errorf("COPY into a share refused to alice = %d, want 403", resp.StatusCode)
	}
	// a share the server does not have is 404, not the server being down
	if resp, _ := c.do("PROPFIND", "/dav/missing/", nil, auth, "Depth", "0"); resp.StatusCode != 404 {
		t.Errorf("PROPFIND of a share the server lacks = %d, want 404", resp.StatusCode)
	}
	bob := c.logon("dgbob", bobPass, http.StatusCreated)
	if resp, _ := c.do("PROPFIND", "/dav/private/", nil, bearer(bob.Token), "Depth", "0"); resp.StatusCode != 207 {
		t.Errorf("PROPFIND of bob's share by bob = %d, want 207", resp.StatusCode)
	}
}

// The webdav section: names the configuration refuses, in any case, and
// the lock timeouts granted.
func TestEndToEndWebDAVConfig(t *testing.T) {
	f := newFixture(t, "memory")
	b, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, `webdav:
  refuse_names: ["._*", ".DS_Store", "Thumbs.db", "desktop.ini"]
  lock_timeout: 2m
  max_lock_timeout: 10m
`...)
	if err := os.WriteFile(f.cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	as := bearer(c.logon("dgalice", alicePass, http.StatusCreated).Token)
	for _, s := range []struct {
		method, path string
		hdr          []string
		status       int
	}{
		{"PUT", "/dav/data/._report.txt", nil, 403},
		{"PUT", "/dav/data/.ds_store", nil, 403},
		{"MKCOL", "/dav/data/THUMBS.DB", nil, 403},
		{"PUT", "/dav/data/report.txt", nil, 201},
		{"MOVE", "/dav/data/report.txt", []string{"Destination", in.URL + "/dav/data/Desktop.ini"}, 403},
		{"COPY", "/dav/data/report.txt", []string{"Destination", in.URL + "/dav/data/copy.txt"}, 201},
	} {
		if resp, body := c.do(s.method, s.path, strings.NewReader("x"), as, s.hdr...); resp.StatusCode != s.status {
			t.Errorf("%s %s = %d %q, want %d", s.method, s.path, resp.StatusCode, body, s.status)
		}
	}
	for _, name := range []string{"._report.txt", ".ds_store", "THUMBS.DB", "Desktop.ini"} {
		if _, err := os.Lstat(filepath.Join(f.smbd.SharePath("data"), name)); !os.IsNotExist(err) {
			t.Errorf("%s is on the share (%v)", name, err)
		}
	}
	lockBody := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	for _, s := range []struct{ asked, granted string }{{"", "Second-120"}, {"Second-3600", "Second-600"}, {"Infinite", "Second-600"}, {"Second-30", "Second-30"}} {
		var hdr []string
		if s.asked != "" {
			hdr = []string{"Timeout", s.asked}
		}
		resp, body := c.do("LOCK", "/dav/data/copy.txt", strings.NewReader(lockBody), as, hdr...)
		if resp.StatusCode != 200 || !strings.Contains(body, "<D:timeout>"+s.granted+"</D:timeout>") {
			t.Errorf("LOCK asking %q = %d; want 200 and %s:\n%s", s.asked, resp.StatusCode, s.granted, body)
		}
		tok := resp.Header.Get("Lock-Token")
		if resp, _ := c.do("UNLOCK", "/dav/data/copy.txt", nil, as, "Lock-Token", tok); resp.StatusCode != 204 {
			t.Errorf("UNLOCK %s = %d", tok, resp.StatusCode)
		}
	}
}
