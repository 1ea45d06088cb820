package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
)

// certReloader holds the listener's certificate. Reload reads the files
// again (SIGHUP): new handshakes get the new certificate, connections
// already open keep theirs, and a file that does not load leaves the old
// certificate in place.
type certReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload loads the certificate and key, and keeps the old pair when
// they do not load or do not match.
func (c *certReloader) reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("tls: parse certificate %s: %w", c.certFile, err)
		}
	}
	c.cert.Store(&pair)
	return nil
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// tlsCipherSuites are the TLS 1.2 suites davgate offers: ECDHE key
// exchange (forward secrecy) with an AEAD cipher only; no RSA key
// exchange, no CBC. TLS 1.3's suites are Go's own and not configurable
// (all AEAD). HTTP/2 needs TLS_ECDHE_*_WITH_AES_128_GCM_SHA256.
var tlsCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// serverTLSConfig is the public listener's TLS: 1.2 at least, the
// certificate from c.
func serverTLSConfig(c *certReloader) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tlsCipherSuites,
		GetCertificate: c.getCertificate,
	}
}
