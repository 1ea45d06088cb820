package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

var authSection = regexp.MustCompile(`(?m)^auth:\n(  .*\n)+`)

// checkConfig runs `davgate check-config` on cfg and returns its output
// and error.
func checkConfig(t *testing.T, dir, name, cfg string) (string, error) {
	t.Helper()
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	err := run(context.Background(), []string{"davgate", "check-config", "--config", path}, func(string) string { return "" }, &out, &out)
	return out.String(), err
}

// check-config passes a good config, with one line per check, and for
// each broken one fails, with a FAIL line that names the broken part
// and why.
func TestCheckConfig(t *testing.T) {
	r := testenv.StartRedis(t)
	f := newFixture(t, r.URL)
	slapd := testenv.StartSlapd(t)
	_, certA, keyA := testenv.TestPKI(t, "127.0.0.1", "localhost")
	_, _, keyB := testenv.TestPKI(t, "127.0.0.1", "localhost")
	base, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	good := string(base) + fmt.Sprintf("tls: {cert: %q, key: %q}\n", certA, keyA)
	pwGood, pwBad := filepath.Join(f.dir, "bind.pw"), filepath.Join(f.dir, "bad.pw")
	os.WriteFile(pwGood, []byte(slapd.AdminPassword+"\n"), 0o600)
	os.WriteFile(pwBad, []byte("not-the-password\n"), 0o600)
	ldapAuth := func(pwFile string) string {
		return authSection.ReplaceAllString(good, fmt.Sprintf(`auth:
  backend: ldap
  ldap: {url: %q, start_tls: true, ca_file: %q, bind_dn: %q, bind_password_file: %q, base_dn: %q, user_filter: "(uid={user})"}
`, slapd.URL, slapd.CAFile, slapd.AdminDN, pwFile, slapd.PeopleDN))
	}
	looseKeys := filepath.Join(f.dir, "loose.keys")
	keys := regexp.MustCompile(`master_key_file: (\S+)`).FindStringSubmatch(good)[1]
	b, _ := os.ReadFile(keys)
	os.WriteFile(looseKeys, b, 0o644)
	expCert, expKey := expiredCert(t, f.dir)
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))

	out, err := checkConfig(t, f.dir, "good", good)
	t.Logf("good config:\n%s", out)
	if err != nil {
		t.Fatalf("good config: %v", err)
	}
	// The test certificate is valid for a day: check-config warns.
	for _, want := range []string{"ok    config:", "ok    master_key_file:", "warn  tls: " + certA + ", names localhost 127.0.0.1", "key matches: expires in 0 days", "ok    store: redis at " + r.Addr,
		"ok    auth.smb: SMB server " + f.smbd.Addr() + ": SMB 3", "ok    shares.data:", "encryption offered", "all "} {
		if !strings.Contains(out, want) {
			t.Errorf("good config: no %q in\n%s", want, out)
		}
	}
	if out, err := checkConfig(t, f.dir, "ldap-good", ldapAuth(pwGood)); err != nil || !strings.Contains(out, "ok    auth.ldap: "+slapd.URL+": bound as the service account") {
		t.Errorf("LDAP config with the right bind password: %v\n%s", err, out)
	}

	for _, tc := range []struct{ name, cfg, want string }{
		{"store down", strings.Replace(good, r.URL, "redis://"+closed+"/0", 1), "FAIL  store: redis at " + closed},
		{"wrong LDAP bind password", ldapAuth(pwBad), "FAIL  auth.ldap: ldap: bind as service account"},
		{"share server port closed", strings.Replace(good, "shares:\n", "shares:\n  - {name: gone, url: \"smb://"+closed+"/x\"}\n", 1), "FAIL  shares.gone: SMB server " + closed},
		{"expired TLS certificate", strings.Replace(strings.Replace(good, certA, expCert, 1), keyA, expKey, 1), "expired"},
		{"TLS key of another certificate", strings.Replace(good, keyA, keyB, 1), "FAIL  tls:"},
		{"master key file readable by others", strings.Replace(good, keys, looseKeys, 1), "FAIL  master_key_file:"},
		{"master key file missing", strings.Replace(good, keys, keys+".missing", 1), "FAIL  master_key_file:"},
		{"unknown key", good + "no_such_key: 1\n", "FAIL  config: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := checkConfig(t, f.dir, strings.ReplaceAll(tc.name, " ", "-"), tc.cfg)
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

// expiredCert writes a self-signed certificate for 127.0.0.1 that expired
// yesterday, and its key.
func expiredCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     time.Now().Add(-24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "expired.crt"), filepath.Join(dir, "expired.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}
