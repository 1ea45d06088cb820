package main

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// Two davgate instances share one Redis: a token minted on one works on the
// other, and revoking it on one stops it on both within a second, closing
// the other instance's SMB session too.
func TestEndToEndTwoInstancesShareSessions(t *testing.T) {
	f, ca, cb := twoInstances(t)

	alice := ca.logon("dgalice", alicePass, http.StatusCreated)
	if resp, body := cb.do("PROPFIND", "/dav/data/", nil, basic("dgalice", alice.Token), "Depth", "1"); resp.StatusCode != 207 {
		t.Fatalf("token from A on B: %d %s", resp.StatusCode, body)
	}
	if n := smbSessions(t, f.smbd, "dgalice"); n != 1 {
		t.Fatalf("smbd has %d sessions of dgalice after B's request, want 1", n)
	}

	if resp, _ := ca.do("DELETE", "/api/v1/sessions/current", nil, bearer(alice.Token)); resp.StatusCode != 204 {
		t.Fatalf("revoke on A = %d", resp.StatusCode)
	}
	deadline := time.Now().Add(time.Second)
	for {
		resp, _ := cb.do("PROPFIND", "/dav/data/", nil, basic("dgalice", alice.Token), "Depth", "0")
		if resp.StatusCode == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still accepts the revoked token after 1s: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for smbSessions(t, f.smbd, "dgalice") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("B's SMB session for the revoked token is still open after 1s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// twoInstances starts two davgate instances sharing one Redis, in front of
// one smbd, and returns a client for each.
func twoInstances(t *testing.T) (f *fixture, ca, cb client) {
	t.Helper()
	r := testenv.StartRedis(t)
	f = newFixture(t, r.URL)
	a := startDavgate(t, f.cfgPath)
	b := startDavgate(t, f.cfgPath)
	return f, client{t: t, base: a.URL}, client{t: t, base: b.URL}
}

// smbSessions counts the user's SMB sessions on smbd, as smbstatus sees them.
func smbSessions(t *testing.T, s *testenv.Smbd, user string) int {
	t.Helper()
	out, err := exec.Command("smbstatus", "--configfile="+s.ConfigPath(), "-b").CombinedOutput()
	if err != nil {
		t.Fatalf("smbstatus: %v\n%s", err, out)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		fields := strings.Fields(l)
		if len(fields) >= 2 && fields[1] == user {
			n++
		}
	}
	return n
}

// Failed log-ons are counted across instances: guessing on A slows B.
func TestEndToEndRateLimitAcrossInstances(t *testing.T) {
	_, ca, cb := twoInstances(t)
	for i := 0; i < 5; i++ { // the 5 free attempts; the 6th waits
		c := ca
		if i%2 == 1 {
			c = cb
		}
		c.logon("dgbob", "guess", http.StatusUnauthorized)
	}
	body := strings.NewReader(`{"username":"dgbob","password":"` + bobPass + `"}`)
	resp, msg := cb.do("POST", "/api/v1/sessions", body, nil, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("log-on after 5 failures over two instances = %d (Retry-After %q) %s; want 429",
			resp.StatusCode, resp.Header.Get("Retry-After"), msg)
	}
	if strings.Contains(msg, bobPass) {
		t.Errorf("the answer echoes the password")
	}
}

// WebDAV locks live in Redis: a lock taken through one instance blocks a
// conflicting write through another, and its owner can write through
// either with the lock token.
func TestEndToEndLocksAcrossInstances(t *testing.T) {
	_, ca, cb := twoInstances(t)
	alice := ca.logon("dgalice", alicePass, http.StatusCreated)
	bob := cb.logon("dgbob", bobPass, http.StatusCreated)
	if resp, _ := ca.do("PUT", "/dav/data/locked.txt", strings.NewReader("v1"), bearer(alice.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d", resp.StatusCode)
	}
	lockBody := `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>alice</D:owner></D:lockinfo>`
	resp, body := ca.do("LOCK", "/dav/data/locked.txt", strings.NewReader(lockBody), bearer(alice.Token), "Timeout", "Second-600", "Content-Type", "application/xml")
	token := resp.Header.Get("Lock-Token")
	if resp.StatusCode != 200 || !strings.HasPrefix(token, "<urn:uuid:") {
		t.Fatalf("LOCK via A = %d, Lock-Token %q: %s", resp.StatusCode, token, body)
	}
	for _, c := range []struct {
		name string
		cl   client
		auth func(*http.Request)
	}{{"bob via B", cb, bearer(bob.Token)}, {"alice via B without the token", cb, bearer(alice.Token)}, {"bob via A", ca, bearer(bob.Token)}} {
		if resp, _ := c.cl.do("PUT", "/dav/data/locked.txt", strings.NewReader("overwrite"), c.auth); resp.StatusCode != http.StatusLocked {
			t.Errorf("%s: PUT on the locked file = %d, want 423", c.name, resp.StatusCode)
		}
	}
	if resp, _ := cb.do("PUT", "/dav/data/locked.txt", strings.NewReader("v2"), bearer(alice.Token), "If", "("+token+")"); resp.StatusCode != 204 {
		t.Errorf("alice via B with the lock token: %d, want 204", resp.StatusCode)
	}
	if resp, _ := cb.do("UNLOCK", "/dav/data/locked.txt", nil, bearer(alice.Token), "Lock-Token", token); resp.StatusCode != 204 {
		t.Errorf("UNLOCK via B = %d", resp.StatusCode)
	}
	if resp, _ := ca.do("PUT", "/dav/data/locked.txt", strings.NewReader("v3"), bearer(bob.Token)); resp.StatusCode != 204 {
		t.Errorf("bob via A after unlock = %d, want 204", resp.StatusCode)
	}
}
