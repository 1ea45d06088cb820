package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/internal/testenv"
)

// davgate login against a real server: a denied request and a
// Ctrl-C end it with an error and print no token.
func TestLoginCommandDeniedAndStopped(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	cookie, _ := browserSession(t, in.URL)
	env := map[string]string{"HOME": t.TempDir()}

	cli := startLoginCLI(t, env, in.URL, "--no-qr")
	fl := flowStarted{LoginURL: cli.loginURL()}
	st, page := c.flowPage(fl, cookie)
	m := flowCSRFRe.FindStringSubmatch(page)
	if st != 200 || m == nil {
		t.Fatalf("approval page = %d", st)
	}
	if !strings.Contains(page, "davgate login on ") {
		t.Errorf("the default name is not on the page:\n%s", page)
	}
	if st, _ := c.answerFlow(fl, cookie, m[1], "deny"); st != 200 {
		t.Fatalf("Deny = %d", st)
	}
	if err := cli.wait(); !errors.Is(err, errDenied) || cli.out.String() != "" {
		t.Errorf("davgate login after Deny = %v, stdout %q; want errDenied and nothing", err, cli.out)
	}

	cli = startLoginCLI(t, env, in.URL, "--no-qr")
	cli.loginURL()
	cli.stop()
	if err := cli.wait(); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("davgate login after Ctrl-C = %v; want stopped", err)
	}
}

func TestLoginArgs(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		server     string
		name, errs string
	}{
		{[]string{"https://files.example.com/", "--name", "x"}, "https://files.example.com/", "x", ""},
		{[]string{"--rclone", "r", "files.example.com:8443"}, "https://files.example.com:8443/", "rclone on ", ""},
		{[]string{"http://127.0.0.1:8080/dav/"}, "http://127.0.0.1:8080/", "davgate login on ", ""},
		{[]string{"https://files.example.com/other/"}, "", "", "without a path"},
		{[]string{"ftp://files.example.com/"}, "", "", "not a server address"},
		{[]string{"https://u:p@files.example.com/"}, "", "", "not a server address"},
		{[]string{}, "", "", "give the server's address"},
		{[]string{"a", "b"}, "", "", "give the server's address"},
	} {
		o, err := parseLoginArgs(tt.args, &syncBuffer{})
		if tt.errs != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errs) {
				t.Errorf("%q: err = %v, want %q", tt.args, err, tt.errs)
			}
			continue
		}
		if err != nil || o.server.String() != tt.server || !strings.HasPrefix(o.name, tt.name) {
			t.Errorf("%q = %v %q, %v; want %s %q", tt.args, o.server, o.name, err, tt.server, tt.name)
		}
	}
}

// The half blocks read back as the QR code's modules.
func TestWriteQR(t *testing.T) {
	const text = "https://files.example.com/login-flows/AAAAAAAAAAAAAAAAAAAAAA"
	var b syncBuffer
	if err := writeQR(&b, text, false); err != nil {
		t.Fatal(err)
	}
	q, _ := qrcode.New(text, qrcode.Low)
	want := q.Bitmap()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != (len(want)+1)/2 {
		t.Fatalf("%d lines for %d rows of modules", len(lines), len(want))
	}
	for i, l := range lines {
		for x, r := range []rune(l) {
			top, bottom := r == '█' || r == '▀', r == '█' || r == '▄'
			if top != want[2*i][x] || (2*i+1 < len(want) && bottom != want[2*i+1][x]) {
				t.Fatalf("module (%d, %d) or the one below drawn wrong as %q", x, 2*i, r)
			}
		}
	}
	var a syncBuffer
	writeQR(&a, text, true)
	if !strings.HasPrefix(a.String(), "\x1b[30;47m") {
		t.Errorf("with ANSI the code does not set black on white")
	}
}

// The rclone config is edited as rclone config create would: other
// remotes kept, a remote of the same name replaced only with --force, an
// encrypted file left alone, the file 0600; the token is obscured the way
// rclone reveals it.
func TestRcloneConfigWrite(t *testing.T) {
	dir := t.TempDir()
	env := func(string) string { return "" }
	write := func(t *testing.T, path, remote string, force bool) error {
		t.Helper()
		rc, err := newRcloneTarget(path, remote, force, env)
		if err != nil {
			return err
		}
		return rc.write("https://files.example.com/dav/", "alice", "tok-"+remote)
	}
	fresh := filepath.Join(dir, "new", "rclone.conf")
	if err := write(t, fresh, "dg", false); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new config: %v %v, want 0600", st.Mode(), err)
	}
	old := "[a]\ntype = local\n\n[dg]\ntype = webdav\nurl = https://old/\n\n[z]\ntype = local"
	path := filepath.Join(dir, "rclone.conf")
	os.WriteFile(path, []byte(old), 0o644)
	if err := write(t, path, "dg", false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("existing remote without --force: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != old {
		t.Errorf("refused write changed the file")
	}
	if err := write(t, path, "dg", true); err != nil {
		t.Fatal(err)
	}
	if err := write(t, path, "new one", false); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	for _, want := range []string{"[a]\ntype = local\n\n[dg]\ntype = webdav\nurl = https://files.example.com/dav/\nvendor = other\nuser = alice\npass = ",
		"\n\n[z]\ntype = local\n\n[new one]\ntype = webdav\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "https://old/") || strings.Contains(got, "tok-dg") {
		t.Errorf("the old remote or the plain token is left:\n%s", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("rewritten config mode %v, want 0600", st.Mode().Perm())
	}
	enc := filepath.Join(dir, "enc.conf")
	os.WriteFile(enc, []byte("# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nabc"), 0o600)
	if err := write(t, enc, "dg", true); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("encrypted config: %v", err)
	}
	for _, bad := range []string{"-x", "a/b", "a:b", "trailing "} {
		if err := write(t, path, bad, true); err == nil {
			t.Errorf("remote name %q accepted", bad)
		}
	}

	testenv.Need(t, "rclone")
	ob, err := rcloneObscure("a token/with+odd=chars")
	if err != nil {
		t.Fatal(err)
	}
	out := command(t, 30*time.Second, cmdOpts{env: []string{"RCLONE_CONFIG=" + filepath.Join(dir, "none.conf")}}, "rclone", "reveal", ob)
	if strings.TrimSpace(out) != "a token/with+odd=chars" {
		t.Errorf("rclone reveal = %q", out)
	}
}

// Over HTTPS with a private CA: refused without --ca-file, working with it.
func TestLoginCommandTLS(t *testing.T) {
	f := newFixture(t, "memory")
	caFile, cert, key := testenv.TestPKI(t, "127.0.0.1", "localhost")
	b, _ := os.ReadFile(f.cfgPath)
	if err := os.WriteFile(f.cfgPath, append(b, "tls: {cert: \""+cert+"\", key: \""+key+"\"}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	hc, err := loginClient(caFile)
	if err != nil {
		t.Fatal(err)
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	in := startDavgateWith(t, f.cfgPath, hc)
	env := map[string]string{"HOME": t.TempDir()}

	err = run(context.Background(), []string{"davgate", "login", in.URL, "--no-qr"}, func(k string) string { return env[k] }, &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("login to a server of an unknown CA = %v; want a certificate error", err)
	}

	cli := startLoginCLI(t, env, in.URL, "--ca-file", caFile, "--no-qr")
	loginURL := cli.loginURL()
	if !strings.HasPrefix(loginURL, in.URL+"/login-flows/") {
		t.Fatalf("login_url %s is not on %s", loginURL, in.URL)
	}
	resp := postLogin(t, hc, in.URL, url.Values{"username": {"dgalice"}, "password": {alicePass}})
	resp.Body.Close()
	cookie := sessionCookieOf(resp, authn.SecureCookieName)
	if cookie == nil {
		t.Fatalf("no session cookie over TLS")
	}
	req, _ := http.NewRequest("GET", loginURL, nil)
	req.AddCookie(cookie)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := flowCSRFRe.FindStringSubmatch(string(page))
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("approval page over TLS = %d", resp.StatusCode)
	}
	form := url.Values{"decision": {"allow"}, authn.CSRFField: {m[1]}}
	req, _ = http.NewRequest("POST", loginURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", in.URL)
	req.AddCookie(cookie)
	if resp, err = hc.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("Allow over TLS = %v, %v", resp, err)
	}
	resp.Body.Close()
	if err := cli.wait(); err != nil || len(strings.TrimSpace(cli.out.String())) < 20 {
		t.Fatalf("davgate login over TLS = %v, stdout %q\n%s", err, cli.out, cli.errOut)
	}
	if strings.Contains(cli.errOut.String(), "warning") {
		t.Errorf("a warning over HTTPS:\n%s", cli.errOut)
	}
}
