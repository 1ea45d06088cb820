package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With the file store, sessions and locks outlive the davgate process: a
// token works after a restart on the same file, a lock taken before still
// holds, a revoked token stays refused, and the file holds neither the
// password nor the token.
func TestEndToEndFileStoreSurvivesRestart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "state", "davgate.db")
	f := newFixture(t, "file://"+dbPath)
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	other := c.logon("dgalice", alicePass, http.StatusCreated)
	if resp, b := c.do("PUT", "/dav/data/f.txt", strings.NewReader("before restart"), bearer(alice.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d %s", resp.StatusCode, b)
	}
	const lockBody = `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>alice</D:owner></D:lockinfo>`
	resp, b := c.do("LOCK", "/dav/data/f.txt", strings.NewReader(lockBody), bearer(alice.Token), "Timeout", "Second-600", "Content-Type", "application/xml")
	if resp.StatusCode != 200 {
		t.Fatalf("LOCK = %d %s", resp.StatusCode, b)
	}
	lockToken := resp.Header.Get("Lock-Token")
	if resp, _ := c.do("DELETE", "/api/v1/sessions/current", nil, bearer(other.Token)); resp.StatusCode != 204 {
		t.Fatalf("revoke = %d", resp.StatusCode)
	}
	in.Stop()

	in2 := startDavgate(t, f.cfgPath)
	c2 := client{t: t, base: in2.URL}
	resp, b = c2.do("GET", "/dav/data/f.txt", nil, basic("dgalice", alice.Token))
	if resp.StatusCode != 200 || b != "before restart" {
		t.Fatalf("GET after restart = %d %q", resp.StatusCode, b)
	}
	if resp, _ := c2.do("GET", "/dav/data/f.txt", nil, bearer(other.Token)); resp.StatusCode != 401 {
		t.Errorf("token revoked before the restart: %d, want 401", resp.StatusCode)
	}
	if resp, _ := c2.do("PUT", "/dav/data/f.txt", strings.NewReader("no lock token"), bearer(alice.Token)); resp.StatusCode != 423 {
		t.Errorf("PUT without the lock token after restart = %d, want 423 (the lock was lost)", resp.StatusCode)
	}
	if resp, _ := c2.do("UNLOCK", "/dav/data/f.txt", nil, bearer(alice.Token), "Lock-Token", lockToken); resp.StatusCode != 204 {
		t.Errorf("UNLOCK after restart = %d, want 204", resp.StatusCode)
	}
	in2.Stop()

	raw, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"password": alicePass, "token": alice.Token} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the store file holds the %s", name)
		}
	}
	assertNoSecrets(t, in.Log.String()+in2.Log.String(), alicePass, alice.Token)
}

// check-config on a file store creates nothing: a missing file in an
// existing directory is fine, one held by a running davgate is fine, a
// missing directory or a file that is no store fails.
func TestCheckConfigFileStore(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "state.db")
	f := newFixture(t, "file://"+dbPath)
	base, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withStore := func(path string) string {
		return strings.Replace(string(base), "file://"+dbPath, "file://"+path, 1)
	}
	out, err := checkConfig(t, f.dir, "missing", withStore(dbPath))
	if err != nil || !strings.Contains(out, "ok    store: file "+dbPath+": does not exist yet") {
		t.Errorf("missing file: %v\n%s", err, out)
	}
	if _, err := os.Stat(dbPath); err == nil {
		t.Fatalf("check-config created the store file")
	}
	in := startDavgate(t, f.cfgPath)
	out, err = checkConfig(t, f.dir, "running", withStore(dbPath))
	if err != nil || !strings.Contains(out, "ok    store: file "+dbPath+": in use by a running davgate") {
		t.Errorf("file of a running davgate: %v\n%s", err, out)
	}
	in.Stop()
	out, err = checkConfig(t, f.dir, "stopped", withStore(dbPath))
	if err != nil || !strings.Contains(out, "ok    store: file "+dbPath+": a davgate store, not in use") {
		t.Errorf("file of a stopped davgate: %v\n%s", err, out)
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte("not a database"), 0o600)
	for name, path := range map[string]string{"not a store": junk, "no directory": filepath.Join(dir, "nodir", "s.db")} {
		out, err := checkConfig(t, f.dir, strings.ReplaceAll(name, " ", "-"), withStore(path))
		if err == nil || !strings.Contains(out, "FAIL  store: file "+path) {
			t.Errorf("%s: check-config = %v\n%s", name, err, out)
		}
	}
}
