package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/davgate/davgate/internal/testenv"
)

// check-config with the Kerberos authenticator, against the Samba AD DC:
// a good config passes with the keytab's keys listed and the KDC
// answering for the realm; a closed KDC port, a port that does not speak
// Kerberos, a keytab of another principal and a file that is no keytab
// each fail, with the FAIL line naming it, and a non-zero exit. Before,
// any readable file passed as the keytab and any open port as the KDC.
func TestCheckConfigKerberos(t *testing.T) {
	f := newADFixture(t, "kerberos")
	good, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(f.cfgPath)
	spn := "HTTP/davgate." + testenv.ADDNSDomain
	keytab := f.dc.Dir + "/davgatesvc.keytab"
	if !strings.Contains(string(good), keytab) {
		t.Fatalf("the fixture's keytab is not %s:\n%s", keytab, good)
	}
	other := f.dc.AddService(t, "othersvc", "HTTP/other."+testenv.ADDNSDomain)
	garbage := filepath.Join(dir, "garbage.keytab")
	os.WriteFile(garbage, []byte("not a keytab at all"), 0o600)
	closed := fmt.Sprintf("%s:%d", f.dc.IP, testenv.FreePort(t))

	out, err := checkConfig(t, dir, "kerberos-good", string(good))
	t.Logf("good config:\n%s", out)
	if err != nil {
		t.Fatalf("good Kerberos config: %v", err)
	}
	for _, want := range []string{
		"ok    auth.kerberos.keytab: " + keytab + ": 2 keys of " + spn + "@" + f.dc.Realm + ", kvno ",
		"aes256-cts-hmac-sha1-96",
		"ok    auth.kerberos: KDC " + f.dc.KDC + " answers for realm " + f.dc.Realm,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("good config: no %q in\n%s", want, out)
		}
	}

	for _, tc := range []struct{ name, from, to, want string }{
		{"KDC port closed", f.dc.KDC, closed, "FAIL  auth.kerberos: KDC " + closed},
		{"KDC port not Kerberos", f.dc.KDC, f.dc.IP + ":445", "FAIL  auth.kerberos: KDC " + f.dc.IP + ":445"},
		{"keytab of another principal", keytab, other, "FAIL  auth.kerberos.keytab: keytab " + other + " holds no key of " + spn},
		{"not a keytab", keytab, garbage, "FAIL  auth.kerberos.keytab: load keytab " + garbage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := checkConfig(t, dir, strings.ReplaceAll(tc.name, " ", "-"), strings.Replace(string(good), tc.from, tc.to, 1))
			t.Logf("%s:\n%s", tc.name, out)
			if err == nil {
				t.Errorf("check-config passed a config with %s", tc.name)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("no %q line in\n%s", tc.want, out)
			}
			if n := strings.Count(out, "FAIL"); n != 1 {
				t.Errorf("%d FAIL lines, want 1", n)
			}
		})
	}
}
