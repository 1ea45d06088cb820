package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/go-ldap/ldap/v3"
)

// The spellings a Windows user may type for adalice in the lab domain
// (NetBIOS LAB, DNS lab.test), every one of which the DC accepts.
var adAliceSpellings = []string{
	"adalice", "ADALICE", "AdAlice",
	`LAB\adalice`, `lab\AdAlice`,
	`lab.test\adalice`, `LAB.TEST\ADALICE`,
	"adalice@lab.test", "ADALICE@LAB.TEST", "AdAlice@Lab.Test",
}

// adAltUPNs are adalice's userPrincipalName under the domain's extra UPN
// suffix, as typed.
var adAltUPNs = []string{"adalice@alt.example", "AdAlice@ALT.EXAMPLE"}

// adForeignSpellings name adalice in domains that are not the lab's: none
// may log on, nor be taken for the lab's adalice.
var adForeignSpellings = []string{`OTHER\adalice`, `lab.evil\adalice`, "adalice@other.example", "adalice@lab.test.evil"}

// TestEndToEndActiveDirectorySpellings: against a Samba AD DC, with the
// LDAP and the Kerberos authenticator, every spelling of adalice that
// logs on is one identity (one session list, one revoke-all, her home
// folder), foreign domains are refused, and wrong passwords under all
// spellings share one rate limit: the DC sees no more refused guesses
// than the limit allows.
func TestEndToEndActiveDirectorySpellings(t *testing.T) {
	for _, backend := range []string{"ldap", "kerberos"} {
		t.Run(backend, func(t *testing.T) {
			f := newADFixture(t, backend)
			addAltUPN(t, f.dc)
			cfg, err := os.ReadFile(f.cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			// UPNs under any suffix find the entry; client addresses come
			// from X-Forwarded-For, so that the test can send each guess
			// from its own address and only the user's count can stop it.
			s := strings.Replace(string(cfg), "(sAMAccountName={user})", "(|(sAMAccountName={user})(userPrincipalName={user}))", 1)
			s += "trusted_proxies: [127.0.0.1]\n"
			if err := os.WriteFile(f.cfgPath, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
			in := startDavgate(t, f.cfgPath)
			c := client{t: t, base: in.URL}

			good, refused := adAliceSpellings, adForeignSpellings
			if backend == "ldap" {
				good = append(append([]string{}, good...), adAltUPNs...)
			} else {
				// gokrb5 asks for NT-PRINCIPAL names in the realm: a UPN
				// under another suffix is not one, and is refused.
				refused = append(append([]string{}, refused...), adAltUPNs...)
			}
			checkOneIdentity(t, c, f.dc, backend, good, refused, in)
			checkOneRateLimit(t, in.URL, f.dc, backend, append(append([]string{}, good...), refused...))
		})
	}
}

// addAltUPN gives the domain the extra UPN suffix alt.example and
// adalice the userPrincipalName adalice@alt.example, as an administrator
// does in "Active Directory Domains and Trusts" and the user's account
// tab.
func addAltUPN(t *testing.T, dc *testenv.ADDC) {
	t.Helper()
	conn, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := ldap.NewModifyRequest("CN=Partitions,CN=Configuration,"+dc.BaseDN, nil)
	r.Add("uPNSuffixes", []string{"alt.example"})
	if err := conn.Modify(r); err != nil {
		t.Fatalf("add UPN suffix: %v", err)
	}
	dc.SetAttrs(t, "adalice", map[string][]string{"userPrincipalName": {"adalice@alt.example"}})
}

// checkOneIdentity logs on under every good spelling and checks that the
// sessions are one user's; then that the refused ones do not log on.
func checkOneIdentity(t *testing.T, c client, dc *testenv.ADDC, backend string, good, refused []string, in *instance) {
	t.Helper()
	ids := map[string]string{} // session id -> spelling
	var tokens []string
	for _, name := range good {
		body := fmt.Sprintf(`{"username":%q,"password":%q}`, name, adAlicePass)
		resp, b := c.do("POST", "/api/v1/sessions", strings.NewReader(body), nil, "Content-Type", "application/json")
		var cr created
		if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(b), &cr) != nil {
			t.Errorf("log-on as %q: %d %s", name, resp.StatusCode, b)
			continue
		}
		ids[cr.ID] = name
		tokens = append(tokens, cr.Token)
	}
	if len(tokens) == 0 {
		t.Fatalf("no spelling logged on\n%s", in.Log)
	}
	// One session list holds them all, whichever spelling asks.
	for i, tok := range []string{tokens[0], tokens[len(tokens)-1]} {
		resp, b := c.do("GET", "/api/v1/sessions", nil, bearer(tok))
		var list []created
		if resp.StatusCode != 200 || json.Unmarshal([]byte(b), &list) != nil {
			t.Fatalf("session list: %d %s", resp.StatusCode, b)
		}
		got := map[string]bool{}
		for _, s := range list {
			got[s.ID] = true
		}
		for id, name := range ids {
			if !got[id] {
				t.Errorf("session list %d lacks the session made as %q: %s", i, name, b)
			}
		}
	}
	// The identity is the directory's: her home folder, users/adalice.
	if resp, b := c.do("PUT", "/dav/home/spelled.txt", strings.NewReader("x"), bearer(tokens[len(tokens)-1])); resp.StatusCode != 201 {
		t.Errorf("PUT in home: %d %s", resp.StatusCode, b)
	} else if _, err := os.Stat(filepath.Join(dc.ShareDir("users"), "adalice", "spelled.txt")); err != nil {
		t.Errorf("the file is not in adalice's folder: %v", err)
	}
	// Revoke-all from one spelling ends the sessions of every other.
	if resp, b := c.do("DELETE", "/api/v1/sessions", nil, bearer(tokens[len(tokens)-1])); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke all: %d %s", resp.StatusCode, b)
	}
	for i, tok := range tokens {
		if resp, _ := c.do("GET", "/api/v1/sessions", nil, bearer(tok)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("session made as %q after revoke-all: %d, want 401", good[i], resp.StatusCode)
		}
	}
	// Each refusal counts against adalice: a log-on between clears it,
	// and each try comes from its own address.
	for i, name := range refused {
		if got := postLogon(c.base, name, adAlicePass, fmt.Sprintf("198.19.0.%d", i+1)); got != http.StatusUnauthorized {
			t.Errorf("%s: log-on as %q with adalice's password: %d, want 401", backend, name, got)
		}
		if got := postLogon(c.base, "adalice", adAlicePass, fmt.Sprintf("198.19.1.%d", i+1)); got != http.StatusCreated {
			t.Errorf("log-on as adalice: %d", got)
		}
	}
}

// checkOneRateLimit sends 6 wrong passwords under each spelling at once,
// each from its own client address: the user's one count lets through
// exactly the limit (5), every spelling meets 429, and the DC refused no
// more guesses than that.
func checkOneRateLimit(t *testing.T, base string, dc *testenv.ADDC, backend string, spellings []string) {
	t.Helper()
	service := map[string]string{"ldap": "LDAP", "kerberos": "Kerberos KDC"}[backend]
	before := dc.FailedAuths(t, service)
	const perSpelling, limit = 6, 5
	type answer struct {
		name   string
		status int
	}
	answers := make(chan answer, perSpelling*len(spellings))
	var wg sync.WaitGroup
	for i, name := range spellings {
		for j := range perSpelling {
			wg.Add(1)
			go func() {
				defer wg.Done()
				addr := fmt.Sprintf("198.18.%d.%d", i, j+1)
				answers <- answer{name, postLogon(base, name, "wrong-"+name, addr)}
			}()
		}
	}
	wg.Wait()
	close(answers)
	passed, blocked := 0, map[string]bool{}
	for a := range answers {
		switch a.status {
		case http.StatusUnauthorized:
			passed++
		case http.StatusTooManyRequests:
			blocked[a.name] = true
		default:
			t.Errorf("wrong password as %q: %d", a.name, a.status)
		}
	}
	if passed != limit {
		t.Errorf("%d wrong passwords were checked, want the limit, %d", passed, limit)
	}
	for _, name := range spellings {
		if !blocked[name] {
			t.Errorf("%q was never rate limited", name)
		}
	}
	if n := dc.FailedAuths(t, service) - before; n > limit {
		t.Errorf("the DC refused %d guesses (%s), more than the limit %d:\n%s", n, service, limit, dc.Log(t))
	}
}

// postLogon tries a log-on as if from addr (X-Forwarded-For) and returns
// the status, 0 if the request failed.
func postLogon(base, user, pass, addr string) int {
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, user, pass)
	req, err := http.NewRequest("POST", base+"/api/v1/sessions", strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
