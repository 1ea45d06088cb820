package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEndToEndOperatorMetrics: the metrics an operator watches move with
// real log-ons, WebDAV requests and locks against smbd, on the file store
// (which can count its sessions and locks): log-ons by backend, password
// unseals, sessions by kind, SMB connections and dials, lock operations
// and the drain gauge; none names a user, token or session.
func TestEndToEndOperatorMetrics(t *testing.T) {
	f := newFixture(t, "file://"+filepath.Join(t.TempDir(), "state.db"))
	addConfig(t, f, "metrics_listen: 127.0.0.1:0\n")
	in := startDavgate(t, f.cfgPath)
	m := metricsListening.FindStringSubmatch(in.Out.String())
	if m == nil {
		t.Fatalf("no metrics listener; stdout:\n%s", in.Out)
	}
	metricsURL := m[1]
	c := client{t: t, base: in.URL}

	before, _ := scrapeSettled(t, metricsURL)
	c.logon("dgalice", "wrong password", http.StatusUnauthorized)
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	bob := c.logon("dgbob", bobPass, http.StatusCreated)
	if resp, b := c.do("PUT", "/dav/data/om.txt", strings.NewReader("x"), bearer(alice.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d %s", resp.StatusCode, b)
	}
	resp, b := c.do("POST", "/api/v1/devices", strings.NewReader(`{"label":"phone"}`), bearer(alice.Token), "Content-Type", "application/json")
	var dev created
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(b), &dev) != nil {
		t.Fatalf("POST /api/v1/devices = %d %s", resp.StatusCode, b)
	}
	const lockBody = `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>o</D:owner></D:lockinfo>`
	lock := func(tok string, want int) string {
		t.Helper()
		resp, b := c.do("LOCK", "/dav/data/om.txt", strings.NewReader(lockBody), bearer(tok), "Timeout", "Second-600", "Content-Type", "application/xml")
		if resp.StatusCode != want {
			t.Fatalf("LOCK = %d %s, want %d", resp.StatusCode, b, want)
		}
		return resp.Header.Get("Lock-Token")
	}
	lockTok := lock(alice.Token, 200)
	lock(bob.Token, 423)
	locked, _ := scrapeSettled(t, metricsURL)
	if resp, _ := c.do("UNLOCK", "/dav/data/om.txt", nil, bearer(alice.Token), "Lock-Token", lockTok); resp.StatusCode != 204 {
		t.Fatalf("UNLOCK = %d", resp.StatusCode)
	}
	if resp, _ := c.do("DELETE", "/api/v1/sessions/"+dev.ID, nil, bearer(alice.Token)); resp.StatusCode != 204 {
		t.Fatalf("revoke device = %d", resp.StatusCode)
	}
	after, text := scrapeSettled(t, metricsURL)

	for _, s := range []struct {
		series string
		delta  float64
	}{
		{series("davgate_logons_by_backend_total", "result", "ok", "backend", "smb"), 2},
		{series("davgate_logons_by_backend_total", "result", "refused", "backend", "smb"), 1},
		{series("davgate_logons_by_backend_total", "result", "rate_limited", "backend", "smb"), 0},
		// alice's PUT and bob's LOCK each dial with a stored password.
		{series("davgate_password_unseals_total", "use", "smb_logon"), 2},
		{series("davgate_password_unseals_total", "use", "new_session"), 1},
		{series("davgate_sessions_created_total", "kind", "device"), 3},
		{series("davgate_sessions_created_total", "kind", "browser"), 0},
		{series("davgate_sessions_revoked_total", "kind", "device", "reason", "revoked"), 1},
		{series("davgate_audit_events_total", "event", "password.unsealed"), 3},
		{series("davgate_audit_events_total", "event", "logon.accepted"), 2},
		{series("davgate_webdav_lock_ops_total", "op", "create", "result", "ok"), 1},
		{series("davgate_webdav_lock_ops_total", "op", "create", "result", "conflict"), 1},
		{series("davgate_webdav_lock_ops_total", "op", "unlock", "result", "ok"), 1},
		{series("davgate_smb_dials_total", "mech", "ntlm", "result", "ok"), 4},
		{series("davgate_smb_dials_total", "mech", "ntlm", "result", "refused"), 1},
	} {
		a, ok := after[s.series]
		if !ok {
			t.Errorf("%s is missing", s.series)
			continue
		}
		if d := a - before[s.series]; d != s.delta {
			t.Errorf("%s moved by %v, want %v", s.series, d, s.delta)
		}
	}
	for _, s := range []struct {
		name      string
		got, want float64
	}{
		{"locks while locked", locked[series("davgate_webdav_locks")], 1},
		{"locks after UNLOCK", after[series("davgate_webdav_locks")], 0},
		{"device sessions", after[series("davgate_sessions", "kind", "device")], 2},
		{"browser sessions", after[series("davgate_sessions", "kind", "browser")], 0},
		{"SMB connections open (alice's and bob's pooled ones)", after[series("davgate_smb_connections_open")], 2},
		{"draining", after[series("davgate_draining")], 0},
	} {
		if s.got != s.want {
			t.Errorf("%s = %v, want %v", s.name, s.got, s.want)
		}
	}
	// Every davgate metric family served is in the README's table.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range regexp.MustCompile(`(?m)^# TYPE (davgate_\w+) `).FindAllStringSubmatch(text, -1) {
		if !strings.Contains(string(readme), "| `"+fam[1]+"` |") {
			t.Errorf("metric family %s is not in README.md's metrics table", fam[1])
		}
	}
	assertNoSecrets(t, text, "dgalice", "dgbob", alicePass, alice.Token, alice.ID, dev.ID, dev.Token, "om.txt", f.smbd.Addr())
}
