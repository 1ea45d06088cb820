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
	r := testenv.StartRedis(t)
	f := newFixture(t, r.URL)
	a := startDavgate(t, f.cfgPath)
	b := startDavgate(t, f.cfgPath)
	ca, cb := client{t: t, base: a.URL}, client{t: t, base: b.URL}

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
	r := testenv.StartRedis(t)
	f := newFixture(t, r.URL)
	a := startDavgate(t, f.cfgPath)
	b := startDavgate(t, f.cfgPath)
	ca, cb := client{t: t, base: a.URL}, client{t: t, base: b.URL}
	for i := 0; i < 6; i++ {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		c.logon("dgbob", "guess", http.StatusUnauthorized)
	}
	body := strings.NewReader(`{"username":"dgbob","password":"` + bobPass + `"}`)
	resp, msg := cb.do("POST", "/api/v1/sessions", body, nil, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("log-on after 6 failures over two instances = %d (Retry-After %q) %s; want 429",
			resp.StatusCode, resp.Header.Get("Retry-After"), msg)
	}
	if strings.Contains(msg, bobPass) {
		t.Errorf("the answer echoes the password")
	}
}
