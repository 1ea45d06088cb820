package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

const (
	adAlicePass = "Ad-alice-pass-1"
	adBobPass   = "Ad-bob-pass-2"
	adCarolPass = "Ad-carol-pass-3"
)

// adFixture is a Samba AD DC serving both the directory (LDAP, Kerberos)
// and the file shares, and a davgate config that checks passwords with an
// LDAP bind and logs on to the shares by Kerberos only.
type adFixture struct {
	dc      *testenv.ADDC
	cfgPath string
}

// newADFixture starts the DC and writes davgate's config. backend is
// "ldap" (LDAP bind, attributes for the share URLs, smb.kerberos for the
// shares) or "kerberos" (the Kerberos authenticator with a keytab, whose
// realm and KDCs the shares reuse; no directory attributes).
func newADFixture(t *testing.T, backend string) *adFixture {
	t.Helper()
	dc := testenv.StartADDC(t, testenv.ADDCOptions{
		Users: map[string]string{"adalice": adAlicePass, "adbob": adBobPass, "adcarol": adCarolPass},
		Shares: []testenv.Share{
			{Name: "users"},
			{Name: "depts", Extra: "smb encrypt = required"},
		},
	})
	for _, d := range []string{"users/adalice", "users/adbob", "users/adcarol", "depts/sales"} {
		share, sub, _ := strings.Cut(d, "/")
		testenv.WritableDir(t, filepath.Join(dc.ShareDir(share), sub))
	}
	// adalice's home folder, as AD stores it: a UNC path. The DC's name
	// resolves nowhere outside its namespace, so the path names its IP and
	// the shares' spn names the server for Kerberos.
	dc.SetAttrs(t, "adalice", map[string][]string{
		"department":    {"sales"},
		"homeDirectory": {`\\` + dc.IP + `\users\adalice`},
	})
	// adbob has no department.

	dir := t.TempDir()
	keys := filepath.Join(dir, "master.keys")
	if err := run(context.Background(), []string{"davgate", "keygen", "--out", keys}, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("keygen: %v", err)
	}
	f := &adFixture{dc: dc, cfgPath: filepath.Join(dir, "davgate.yaml")}
	shares := fmt.Sprintf(`shares:
  - {name: home, url: "smb://%[1]s/users/{user}", auth: kerberos, spn: %[2]s}
  - {name: dept, url: "smb://%[1]s/depts/{ldap:department}", auth: kerberos, spn: %[2]s}
  - {name: homedir, url: "{ldap:homeDirectory.url}", auth: kerberos, spn: %[2]s}
`, dc.IP, dc.CIFSSPN())
	var auth string
	switch backend {
	case "ldap":
		auth = fmt.Sprintf(`auth:
  backend: ldap
  ldap:
    url: %[1]s
    ca_file: %[2]s
    bind_template: "{user}@%[3]s"
    base_dn: "%[4]s"
    user_filter: "(&(objectClass=user)(sAMAccountName={user}))"
    user_attr: sAMAccountName
    domain: %[5]s
    attributes: [homeDirectory, department]
smb:
  idle_timeout: 2s
  kerberos: {realm: %[6]s, kdcs: ["%[7]s"]}
`, dc.LDAPURL, dc.CAFile, testenv.ADDNSDomain, dc.BaseDN, dc.Domain, dc.Realm, dc.KDC)
	case "kerberos":
		keytab := dc.AddService(t, "davgatesvc", "HTTP/davgate."+testenv.ADDNSDomain)
		auth = fmt.Sprintf(`auth:
  backend: kerberos
  kerberos:
    realm: %[1]s
    kdcs: ["%[2]s"]
    service_principal: HTTP/davgate.%[3]s
    keytab: %[4]s
smb:
  idle_timeout: 2s
`, dc.Realm, dc.KDC, testenv.ADDNSDomain, keytab)
	default:
		t.Fatalf("backend %q", backend)
	}
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nmaster_key_file: %s\nstore: memory\nlog_level: debug\n%s%s", keys, auth, shares)
	if err := os.WriteFile(f.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestEndToEndActiveDirectory runs davgate with LDAP log-ons against an
// AD DC and Kerberos-only SMB log-ons to the DC's shares, then proves from
// the DC's audit log that every file access used Kerberos.
func TestEndToEndActiveDirectory(t *testing.T) {
	f := newADFixture(t, "ldap")
	dc := f.dc
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}

	c.logon("adalice", "wrong password", http.StatusUnauthorized)
	alice := basic("adalice", c.logon("adalice", adAlicePass, http.StatusCreated).Token)
	bob := basic("adbob", c.logon("adbob", adBobPass, http.StatusCreated).Token)

	steps := []struct {
		name, method, path, body string
		auth                     func(*http.Request)
		status                   int
		want                     string // substring of the response body
	}{
		{"put in home by {user}", "PUT", "/dav/home/hello.txt", "hello from alice", alice, 201, ""},
		{"get from home", "GET", "/dav/home/hello.txt", "", alice, 200, "hello from alice"},
		{"put in dept by {ldap:department}, encrypted share", "PUT", "/dav/dept/report.txt", "sales report", alice, 201, ""},
		{"get from dept", "GET", "/dav/dept/report.txt", "", alice, 200, "sales report"},
		{"homeDirectory.url is the same folder", "GET", "/dav/homedir/hello.txt", "", alice, 200, "hello from alice"},
		{"put through homeDirectory.url", "PUT", "/dav/homedir/second.txt", "second", alice, 201, ""},
		{"bob's home", "PUT", "/dav/home/bob.txt", "hello from bob", bob, 201, ""},
		{"bob does not see alice's file", "GET", "/dav/home/hello.txt", "", bob, 404, ""},
		{"bob has no department", "PUT", "/dav/dept/x.txt", "x", bob, 404, ""},
		{"bob has no homeDirectory", "GET", "/dav/homedir/", "", bob, 404, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			c := client{t: t, base: in.URL}
			resp, body := c.do(s.method, s.path, strings.NewReader(s.body), s.auth)
			if resp.StatusCode != s.status || !strings.Contains(body, s.want) {
				t.Fatalf("%s %s: %d %q, want %d and %q\n%s", s.method, s.path, resp.StatusCode, body, s.status, s.want, in.Log)
			}
		})
	}

	// Each user's share list leaves out the shares their entry cannot fill.
	for _, u := range []struct {
		auth       func(*http.Request)
		want, hide []string
	}{
		{alice, []string{"/dav/home/", "/dav/dept/", "/dav/homedir/"}, nil},
		{bob, []string{"/dav/home/"}, []string{"/dav/dept/", "/dav/homedir/"}},
	} {
		resp, body := c.do("PROPFIND", "/dav/", nil, u.auth, "Depth", "1")
		if resp.StatusCode != http.StatusMultiStatus {
			t.Fatalf("PROPFIND /dav/: %d %s", resp.StatusCode, body)
		}
		for _, h := range u.want {
			if !strings.Contains(body, h+"<") {
				t.Errorf("share list lacks %s:\n%s", h, body)
			}
		}
		for _, h := range u.hide {
			if strings.Contains(body, h+"<") {
				t.Errorf("share list shows %s to a user without the attribute:\n%s", h, body)
			}
		}
	}

	// The files landed where the templates say, not elsewhere.
	for path, want := range map[string]string{
		"users/adalice/hello.txt":  "hello from alice",
		"users/adalice/second.txt": "second",
		"depts/sales/report.txt":   "sales report",
		"users/adbob/bob.txt":      "hello from bob",
	} {
		share, rest, _ := strings.Cut(path, "/")
		b, err := os.ReadFile(filepath.Join(dc.ShareDir(share), rest))
		if err != nil || string(b) != want {
			t.Errorf("%s on the DC: %q, %v; want %q", path, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dc.ShareDir("depts"), "x.txt")); err == nil {
		t.Errorf("bob's PUT without a department landed in the share's root")
	}
	for _, msg := range []string{"adbob has no department attribute", "adbob has no homeDirectory.url attribute"} {
		if !strings.Contains(in.Log.String(), msg) {
			t.Errorf("davgate log does not say %q:\n%s", msg, in.Log)
		}
	}

	// Proof from the DC: every SMB log-on was Kerberos, none NTLM.
	for _, user := range []string{"adalice", "adbob"} {
		logons := dc.SMBLogons(t, user)
		if len(logons) == 0 {
			t.Errorf("no SMB log-ons of %s in the DC's audit log", user)
		}
		for _, l := range logons {
			if diff := cmp.Diff(testenv.SMBLogon{Method: "krb5", Status: "NT_STATUS_OK"}, l); diff != "" {
				t.Errorf("SMB log-on of %s (-want +got):\n%s", user, diff)
			}
		}
	}
	for _, pw := range []string{adAlicePass, adBobPass} {
		if strings.Contains(in.Log.String(), pw) {
			t.Errorf("davgate's log holds a password")
		}
	}
}

// TestEndToEndActiveDirectoryStalePassword: after the password changes in
// AD, the next Kerberos log-on to the file server costs one failed
// pre-authentication at the KDC, ends the session (401) and is never
// retried, neither by Kerberos nor by NTLM.
func TestEndToEndActiveDirectoryStalePassword(t *testing.T) {
	f := newADFixture(t, "ldap")
	dc := f.dc
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}

	carol := basic("adcarol", c.logon("adcarol", adCarolPass, http.StatusCreated).Token)
	if resp, body := c.do("PUT", "/dav/home/a.txt", strings.NewReader("a"), carol); resp.StatusCode != 201 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	dc.SetPassword(t, "adcarol", "Ad-carol-new-4")
	// smb.idle_timeout is 2s: wait for the SMB session to close so that
	// the next request logs on again with the stored (now stale) password.
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(in.Log.String(), "smb session idle; closed") })

	for i := range 3 {
		if resp, body := c.do("GET", "/dav/home/a.txt", nil, carol); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("request %d with the stale password: %d %s, want 401", i, resp.StatusCode, body)
		}
	}
	if n := dc.FailedPreauths(t, "adcarol"); n != 1 {
		t.Errorf("%d failed Kerberos pre-authentications of adcarol, want exactly 1:\n%s", n, dc.Log(t))
	}
	for _, l := range dc.SMBLogons(t, "adcarol") {
		if l.Method != "krb5" || l.Status != "NT_STATUS_OK" {
			t.Errorf("SMB log-on of adcarol: %+v; want only successful Kerberos log-ons", l)
		}
	}
	if !strings.Contains(in.Log.String(), "KDC_ERR_PREAUTH_FAILED") {
		t.Errorf("davgate's log does not give the KDC's reason:\n%s", in.Log)
	}
}

// TestEndToEndActiveDirectoryKerberosBackend: with the Kerberos
// authenticator, the shares take realm and KDCs from auth.kerberos, and
// shares needing directory attributes are left out.
func TestEndToEndActiveDirectoryKerberosBackend(t *testing.T) {
	f := newADFixture(t, "kerberos")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}

	c.logon("adbob", "wrong password", http.StatusUnauthorized)
	bob := basic("adbob", c.logon("adbob", adBobPass, http.StatusCreated).Token)
	if resp, body := c.do("PUT", "/dav/home/k.txt", strings.NewReader("by kerberos"), bob); resp.StatusCode != 201 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	if resp, body := c.do("GET", "/dav/home/k.txt", nil, bob); resp.StatusCode != 200 || body != "by kerberos" {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	if resp, _ := c.do("GET", "/dav/dept/", nil, bob); resp.StatusCode != http.StatusNotFound {
		t.Errorf("dept without directory attributes: %d, want 404", resp.StatusCode)
	}
	if b, err := os.ReadFile(filepath.Join(f.dc.ShareDir("users"), "adbob", "k.txt")); err != nil || string(b) != "by kerberos" {
		t.Errorf("users/adbob/k.txt on the DC: %q, %v", b, err)
	}
	logons := f.dc.SMBLogons(t, "adbob")
	if len(logons) == 0 {
		t.Errorf("no SMB log-ons of adbob in the DC's audit log")
	}
	for _, l := range logons {
		if l.Method != "krb5" || l.Status != "NT_STATUS_OK" {
			t.Errorf("SMB log-on of adbob: %+v, want krb5 only", l)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
