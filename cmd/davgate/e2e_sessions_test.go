package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/session"
)

// sessionsCmd runs `davgate sessions ARGS` against an instance.
func sessionsCmd(t *testing.T, f *fixture, admin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	argv := append([]string{"davgate", "sessions"}, args...)
	argv = append(argv, "--config", f.cfgPath, "--admin", admin)
	err := run(context.Background(), argv, func(string) string { return "" }, &out, &errOut)
	return out.String() + errOut.String(), err
}

// TestEndToEndAdminSessions: an operator lists a user's sessions and
// revokes one, then all, with `davgate sessions` while davgate runs on
// the file store; a revoked token is refused over WebDAV at once, other
// users keep theirs, and the admin endpoint takes only admin tokens for
// the very request, on the metrics listener only.
func TestEndToEndAdminSessions(t *testing.T) {
	f := newFixture(t, "file://"+filepath.Join(t.TempDir(), "state.db"))
	auditPath := filepath.Join(f.dir, "audit.jsonl")
	addConfig(t, f, "metrics_listen: 127.0.0.1:0\naudit_log: "+auditPath+"\n")
	in := startDavgate(t, f.cfgPath)
	m := metricsListening.FindStringSubmatch(in.Out.String())
	if m == nil {
		t.Fatalf("no metrics listener; stdout:\n%s", in.Out)
	}
	admin := strings.TrimSuffix(m[1], "/metrics")
	c := client{t: t, base: in.URL}
	laptop := c.logon("dgalice", alicePass, http.StatusCreated)
	phone := c.logon("dgalice", alicePass, http.StatusCreated)
	bob := c.logon("dgbob", bobPass, http.StatusCreated)
	propfind := func(tok string) int {
		resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(tok), "Depth", "0")
		return resp.StatusCode
	}
	for _, tok := range []string{laptop.Token, phone.Token, bob.Token} {
		if got := propfind(tok); got != 207 {
			t.Fatalf("PROPFIND before revoking = %d", got)
		}
	}

	out, err := sessionsCmd(t, f, admin, "list", "--user", "dgalice")
	if err != nil || !strings.Contains(out, laptop.ID) || !strings.Contains(out, phone.ID) || strings.Contains(out, bob.ID) {
		t.Fatalf("sessions list = %v\n%s", err, out)
	}
	if out, err := sessionsCmd(t, f, admin, "revoke", "--user", "dgalice", "--id", laptop.ID); err != nil || !strings.Contains(out, "revoked 1 session") {
		t.Fatalf("sessions revoke --id = %v\n%s", err, out)
	}
	if got := propfind(laptop.Token); got != 401 {
		t.Errorf("PROPFIND with the revoked laptop token = %d, want 401", got)
	}
	if got := propfind(phone.Token); got != 207 {
		t.Errorf("PROPFIND with the phone token = %d, want 207", got)
	}
	if out, err := sessionsCmd(t, f, admin, "revoke", "--user", "dgalice", "--id", laptop.ID); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("revoking a revoked session = %v\n%s, want a 404 error", err, out)
	}
	if out, err := sessionsCmd(t, f, admin, "revoke", "--user", "dgalice"); err != nil || !strings.Contains(out, "revoked 1 session") {
		t.Fatalf("sessions revoke (all) = %v\n%s", err, out)
	}
	if got := propfind(phone.Token); got != 401 {
		t.Errorf("PROPFIND with the phone token after revoke all = %d, want 401", got)
	}
	if got := propfind(bob.Token); got != 207 {
		t.Errorf("bob's token after alice's were revoked = %d, want 207", got)
	}
	if out, err := sessionsCmd(t, f, admin, "list", "--user", "dgalice"); err != nil || !strings.Contains(out, "no sessions") {
		t.Errorf("sessions list after revoke = %v\n%s", err, out)
	}

	// Only an admin token for the very request is taken.
	kr, err := session.LoadKeyring(filepath.Join(f.dir, "master.keys"))
	if err != nil {
		t.Fatal(err)
	}
	listBob := "/admin/v1/sessions?user=dgbob"
	tokFor := func(req string) string {
		tok, err := kr.SealAdmin(req, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for name, auth := range map[string]string{
		"none":                      "",
		"a session token":           "DavgateAdmin " + bob.Token,
		"for another request":       "DavgateAdmin " + tokFor("GET /admin/v1/sessions?user=dgalice"),
		"for a GET, sent as DELETE": "DavgateAdmin " + tokFor("GET "+listBob),
	} {
		req, _ := http.NewRequest("DELETE", admin+listBob, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("admin DELETE with %s = %d, want 401", name, resp.StatusCode)
		}
	}
	if got := propfind(bob.Token); got != 207 {
		t.Errorf("bob's token after refused admin requests = %d, want 207", got)
	}
	// The public listener has no admin endpoint.
	resp, _ := c.do("GET", listBob, nil, func(r *http.Request) { r.Header.Set("Authorization", "DavgateAdmin "+tokFor("GET "+listBob)) })
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("admin endpoint on the public listener = %d, want 404 or 401", resp.StatusCode)
	}
	in.Stop()

	lines := auditLines(t, auditPath)
	for _, id := range []string{laptop.ID, phone.ID} {
		if got := findEvent(lines, "token.revoked", map[string]string{"session": id, "by": "admin"}); len(got) != 1 {
			t.Errorf("%d token.revoked lines by admin for %s, want 1", len(got), id)
		}
	}
}
