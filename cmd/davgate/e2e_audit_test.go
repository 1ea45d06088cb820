package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// auditLines reads the audit file's JSON lines.
func auditLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// findEvent returns the audit lines of event whose fields include want.
func findEvent(lines []map[string]any, event string, want map[string]string) []map[string]any {
	var out []map[string]any
next:
	for _, l := range lines {
		if l["event"] != event {
			continue
		}
		for k, v := range want {
			if got, _ := l[k].(string); got != v {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// addConfig appends YAML lines to the fixture's config.
func addConfig(t *testing.T, f *fixture, extra string) {
	t.Helper()
	b, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfgPath, append(b, extra...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEndToEndAudit: real log-ons against smbd leave one audit line per
// event in the audit file, with the canonical user, client, backend,
// public session id, server and reason, and no line holds a password or
// a token.
func TestEndToEndAudit(t *testing.T) {
	f := newFixture(t, "memory")
	auditPath := filepath.Join(f.dir, "audit.jsonl")
	addConfig(t, f, "audit_log: "+auditPath+"\n")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}

	c.logon("dgalice", "wrong password", http.StatusUnauthorized)
	alice := c.logon("DGALICE", alicePass, http.StatusCreated)
	if resp, b := c.do("PUT", "/dav/data/a.txt", strings.NewReader("audited"), bearer(alice.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d %s", resp.StatusCode, b)
	}
	resp, b := c.do("POST", "/api/v1/devices", strings.NewReader(`{"label":"phone"}`), bearer(alice.Token), "Content-Type", "application/json")
	var dev created
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(b), &dev) != nil {
		t.Fatalf("POST /api/v1/devices = %d %s", resp.StatusCode, b)
	}
	if resp, _ := c.do("DELETE", "/api/v1/sessions/"+dev.ID, nil, bearer(alice.Token)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke device = %d", resp.StatusCode)
	}
	hup(t, in, 1)

	// The file server stops taking alice's stored password.
	f.smbd.SetPassword(t, "dgalice", "Changed-pass-3z")
	f.smbd.Stop(t)
	f.smbd.Start(t)
	// The first request may find the old connection dead (503).
	for i := 0; ; i++ {
		resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(alice.Token), "Depth", "0")
		if resp.StatusCode == 401 {
			break
		}
		if i > 0 || resp.StatusCode != 503 {
			t.Fatalf("request %d with a stale password = %d, want 401", i, resp.StatusCode)
		}
	}
	// Bob guesses until the rate limit blocks him (5 attempts from one
	// address go at once; alice's failure counted too).
	guesses := 0
	for ; guesses < 10; guesses++ {
		resp, _ := c.do("POST", "/api/v1/sessions", strings.NewReader(`{"username":"dgbob","password":"guess"}`), nil, "Content-Type", "application/json")
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d", guesses, resp.StatusCode)
		}
	}
	if guesses == 0 || guesses == 10 {
		t.Fatalf("%d guesses before the rate limit, want 1 to 9", guesses)
	}
	in.Stop()

	lines := auditLines(t, auditPath)
	server := f.smbd.Addr()
	for _, want := range []struct {
		event  string
		fields map[string]string
		n      int
	}{
		{"logon.refused", map[string]string{"user": "dgalice", "client": "127.0.0.1", "backend": "smb", "reason": "bad_credentials"}, 1},
		{"logon.accepted", map[string]string{"user": "dgalice", "client": "127.0.0.1", "backend": "smb", "reason": "ok", "session": alice.ID, "kind": "device"}, 1},
		{"token.minted", map[string]string{"user": "dgalice", "session": alice.ID, "kind": "device", "label": "test device"}, 1},
		{"token.minted", map[string]string{"user": "dgalice", "session": dev.ID, "kind": "device", "label": "phone"}, 1},
		// The PUT dialed the file server with the stored password, and so
		// did the one try after the password changed; the device was
		// sealed with it.
		{"password.unsealed", map[string]string{"user": "dgalice", "session": alice.ID, "server": server, "use": "smb_logon"}, 2},
		{"password.unsealed", map[string]string{"user": "dgalice", "session": alice.ID, "server": "", "use": "new_session"}, 1},
		{"token.revoked", map[string]string{"user": "dgalice", "session": dev.ID, "kind": "device", "label": "phone", "reason": "revoked"}, 1},
		{"keyring.reloaded", nil, 1},
		{"session.stale_password", map[string]string{"user": "dgalice", "session": alice.ID, "server": server}, 1},
		{"token.revoked", map[string]string{"session": alice.ID, "reason": "stale_password"}, 1},
		{"logon.refused", map[string]string{"user": "dgbob", "reason": "bad_credentials"}, guesses},
		{"logon.rate_limited", map[string]string{"user": "dgbob", "client": "127.0.0.1", "backend": "smb"}, 1},
	} {
		if got := findEvent(lines, want.event, want.fields); len(got) != want.n {
			t.Errorf("%d %s lines with %v, want %d", len(got), want.event, want.fields, want.n)
		}
	}
	if kr := findEvent(lines, "keyring.reloaded", nil); len(kr) == 1 {
		if ids, ok := kr[0]["key_ids"].([]any); !ok || len(ids) != 1 {
			t.Errorf("keyring.reloaded key_ids = %v, want one id", kr[0]["key_ids"])
		}
	}
	for _, l := range lines {
		if l["stream"] != "audit" {
			t.Errorf("audit line without stream=audit: %v", l)
		}
		if ts, _ := l["time"].(string); ts == "" {
			t.Errorf("audit line without time: %v", l)
		} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("audit time %q: %v", ts, err)
		}
	}
	raw, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, string(raw), alicePass, "wrong password", "Changed-pass-3z", bobPass, alice.Token, dev.Token)
	// The operational log holds no audit line: they went to the file.
	if strings.Contains(in.Log.String(), `"stream":"audit"`) {
		t.Errorf("audit lines in the operational log")
	}
}

// check-config checks audit_log without creating it.
func TestCheckConfigAuditLog(t *testing.T) {
	f := newFixture(t, "memory")
	base, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "audit.jsonl")
	for _, c := range []struct {
		name, spec, want string
		fails            bool
	}{
		{"default", "", "ok    audit_log: stderr", false},
		{"new file", missing, "ok    audit_log: " + missing + ": does not exist yet", false},
		{"no directory", filepath.Join(dir, "nodir", "a.jsonl"), "FAIL  audit_log: ", true},
		{"a directory", dir, "FAIL  audit_log: " + dir + ": not a regular file", true},
	} {
		cfg := string(base)
		if c.spec != "" {
			cfg += "audit_log: " + c.spec + "\n"
		}
		out, err := checkConfig(t, f.dir, strings.ReplaceAll(c.name, " ", "-"), cfg)
		if (err != nil) != c.fails || !strings.Contains(out, c.want) {
			t.Errorf("%s: check-config = %v\n%s\nwant %q", c.name, err, out, c.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("check-config created the audit file")
	}
}
