package testenv

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pki is a throwaway certificate authority and one server certificate
// issued by it, written as PEM files. Servers whose own self-signed
// certificates Go refuses (Samba's has a negative serial number and no
// subject alternative names) get one of these instead.
type pki struct {
	CAFile   string // CA certificate, for clients' RootCAs
	CertFile string // server certificate
	KeyFile  string // server key (PKCS#1, mode 0600)
}

// newPKI writes ca.pem, cert.pem and key.pem into dir. hosts are the
// server's names and IP addresses; each becomes a subject alternative name.
func newPKI(dir string, hosts ...string) (pki, error) {
	p := pki{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
	}
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return p, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "davgate test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return p, fmt.Errorf("make CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return p, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return p, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return p, fmt.Errorf("make server certificate: %w", err)
	}
	files := []struct {
		path  string
		block *pem.Block
		mode  os.FileMode
	}{
		{p.CAFile, &pem.Block{Type: "CERTIFICATE", Bytes: caDER}, 0o644},
		{p.CertFile, &pem.Block{Type: "CERTIFICATE", Bytes: der}, 0o644},
		{p.KeyFile, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}, 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(f.block), f.mode); err != nil {
			return p, err
		}
	}
	return p, nil
}

// TestPKI writes a fresh CA and a server certificate for hosts (DNS names
// or IP addresses) into a new temporary directory and returns the PEM
// files' paths: CA certificate, server certificate, server key.
func TestPKI(t testing.TB, hosts ...string) (caFile, certFile, keyFile string) {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1"}
	}
	p, err := newPKI(t.TempDir(), hosts...)
	if err != nil {
		t.Fatalf("make test certificates: %v", err)
	}
	return p.CAFile, p.CertFile, p.KeyFile
}
