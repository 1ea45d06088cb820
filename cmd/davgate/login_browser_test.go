package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// loginCLI is `davgate login` run through run, as the binary would be,
// with its stdout and stderr collected.
type loginCLI struct {
	t           *testing.T
	out, errOut *syncBuffer
	done        chan error
	stop        context.CancelFunc // Ctrl-C
}

var loginURLRe = regexp.MustCompile(`(https?://\S+/login-flows/[A-Za-z0-9_-]+)`)

func startLoginCLI(t *testing.T, env map[string]string, args ...string) *loginCLI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l := &loginCLI{t: t, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan error, 1), stop: cancel}
	go func() {
		l.done <- run(ctx, append([]string{"davgate", "login"}, args...), func(k string) string { return env[k] }, l.out, l.errOut)
	}()
	return l
}

// loginURL waits until the command has printed all it prints before it
// waits (the address, the QR code, "Waiting for your answer") and returns
// the address.
func (l *loginCLI) loginURL() string {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out := l.errOut.String()
		if m := loginURLRe.FindStringSubmatch(out); m != nil && strings.Contains(out, "Waiting for your answer") {
			return m[1]
		}
		select {
		case err := <-l.done:
			l.t.Fatalf("davgate login ended early: %v\n%s", err, l.errOut)
		case <-time.After(20 * time.Millisecond):
		}
	}
	l.t.Fatalf("davgate login printed no address:\n%s", l.errOut)
	return ""
}

// wait waits for the command to end and returns its error.
func (l *loginCLI) wait() error {
	l.t.Helper()
	select {
	case err := <-l.done:
		return err
	case <-time.After(30 * time.Second):
		l.t.Fatalf("davgate login did not end after the answer:\n%s", l.errOut)
		return nil
	}
}

// `davgate login --rclone` in the whole chain: the command prints an
// address (and a QR code), Chromium opens it, logs on, shows the approval
// page (screenshotted at desktop and phone sizes) and allows it; the
// command then writes an rclone remote that Debian's rclone lists the
// share with. Then the token on stdout, alone, for TOKEN=$(davgate login).
func TestLoginCommandChromium(t *testing.T) {
	testenv.Need(t, "chromium")
	testenv.Need(t, "rclone")
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	if err := os.WriteFile(filepath.Join(f.smbd.SharePath("data"), "for-rclone.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	conf := filepath.Join(home, ".config", "rclone", "rclone.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("[other]\ntype = local\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home}
	shots := screenshotDir(t)

	cli := startLoginCLI(t, env, in.URL+"/", "--rclone", "dg", "--name", "rclone on test")
	loginURL := cli.loginURL()
	if !strings.Contains(cli.errOut.String(), "█") {
		t.Errorf("no QR code on stderr:\n%s", cli.errOut)
	}

	p := startChromium(t)
	p.watchPageErrors()
	p.viewport(1280, 800, false)
	p.open("the address davgate login printed", loginURL, `location.pathname === "/login"`)
	var hint string
	p.eval(`document.querySelector("main").innerText`, &hint)
	if !strings.Contains(hint, "An app asks to connect to your account") {
		t.Errorf("the log-on page does not say why: %q", hint)
	}
	p.shoot(shots, "login-flow-logon")
	p.act("log on", fillAndSubmit("dgalice", alicePass), `location.pathname.startsWith("/login-flows/") && !!document.querySelector("#allow")`)
	var text string
	p.eval(`document.body.innerText`, &text)
	for _, want := range []string{"Allow rclone on test to access your files?", "dgalice", "127.0.0.1", "Deny"} {
		if !strings.Contains(text, want) {
			t.Errorf("approval page lacks %q:\n%s", want, text)
		}
	}
	p.shoot(shots, "login-flow")
	p.viewport(390, 844, true)
	p.shoot(shots, "login-flow-phone")
	var fit struct{ Wide, Low bool }
	p.eval(`({Wide: document.documentElement.scrollWidth > innerWidth,
		Low: document.querySelector("#deny").getBoundingClientRect().bottom > innerHeight})`, &fit)
	if fit.Wide || fit.Low {
		t.Errorf("on a phone the page scrolls sideways (%v) or Deny is below the fold (%v)", fit.Wide, fit.Low)
	}
	p.checkNoPageErrors()
	p.act("Allow", `document.querySelector("#allow").click()`, `document.querySelector("h1").textContent === "Allowed"`)
	p.shoot(shots, "login-flow-allowed-phone")
	p.checkNoPageErrors()
	if err := cli.wait(); err != nil {
		t.Fatalf("davgate login: %v\n%s", err, cli.errOut)
	}
	if cli.out.String() != "" {
		t.Errorf("with --rclone, stdout = %q; want nothing", cli.out)
	}
	checkRcloneConfig(t, conf, in.URL)
	out := command(t, time.Minute, cmdOpts{env: []string{"RCLONE_CONFIG=" + conf, "XDG_CACHE_HOME=" + home}}, "rclone", "lsf", "dg:data")
	if !strings.Contains(out, "for-rclone.txt") {
		t.Errorf("rclone lsf dg:data = %q; want for-rclone.txt", out)
	}

	// The remote is not replaced without --force, and no flow is started.
	err := run(context.Background(), []string{"davgate", "login", in.URL, "--rclone", "dg"}, func(k string) string { return env[k] }, &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), `already has a remote "dg"`) {
		t.Errorf("a second login to the same remote = %v; want refused", err)
	}

	// Without --rclone: the token, and only it, on stdout.
	cli = startLoginCLI(t, env, in.URL, "--name", "a script", "--no-qr")
	fl := flowStarted{LoginURL: cli.loginURL()}
	cookie, _ := browserSession(t, in.URL)
	c.approveFlow(fl, cookie)
	if err := cli.wait(); err != nil {
		t.Fatalf("davgate login: %v\n%s", err, cli.errOut)
	}
	tok := strings.TrimSuffix(cli.out.String(), "\n")
	if tok == "" || strings.ContainsAny(tok, " \n") {
		t.Fatalf("stdout = %q; want the token alone", cli.out)
	}
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, basic("dgalice", tok), "Depth", "0"); resp.StatusCode != http.StatusMultiStatus {
		t.Errorf("the printed token over WebDAV = %d", resp.StatusCode)
	}
	if strings.Contains(cli.errOut.String(), tok) {
		t.Errorf("the token appears on stderr")
	}
	in.Stop()
	assertNoSecrets(t, in.Log.String(), alicePass, tok)
}

// checkRcloneConfig: mode 0600, the old remote kept, the new one davgate's.
func checkRcloneConfig(t *testing.T, conf, base string) {
	t.Helper()
	st, err := os.Stat(conf)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("rclone config: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	b, _ := os.ReadFile(conf)
	want := "[other]\ntype = local\n\n[dg]\ntype = webdav\nurl = " + base + "/dav/\nvendor = other\nuser = dgalice\npass = "
	if !strings.HasPrefix(string(b), want) {
		t.Errorf("rclone config =\n%s\nwant it to start\n%s", b, want)
	}
}
