package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// copyFile copies src to dst, replacing dst's contents in place.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// hupAndWait sends SIGHUP to this process and waits until the log holds
// n lines containing what.
func hupAndWait(t *testing.T, in *instance, what string, n int) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(in.Log.String(), what) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q logged after SIGHUP:\n%s", what, in.Log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tlsGet GETs /healthz with hc and returns the server certificate's
// fingerprint and whether the connection was reused.
func tlsGet(t *testing.T, hc *http.Client, base string) (issuer string, reused bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET over TLS = %d", resp.StatusCode)
	}
	return fmt.Sprintf("%x", sha256.Sum256(resp.TLS.PeerCertificates[0].Raw))[:16], reused
}

// SIGHUP reloads the TLS certificate and key: a client holding a
// keep-alive connection keeps using it, a new connection gets the new
// certificate; a broken file keeps the certificate loaded before and is
// logged. TLS below 1.2 and non-AEAD 1.2 suites are refused.
func TestEndToEndTLSReloadOnSIGHUP(t *testing.T) {
	f := newFixture(t, "memory")
	caA, certA, keyA := testenv.TestPKI(t, "127.0.0.1", "localhost")
	caB, certB, keyB := testenv.TestPKI(t, "127.0.0.1", "localhost")
	cert, key := filepath.Join(f.dir, "tls.crt"), filepath.Join(f.dir, "tls.key")
	copyFile(t, certA, cert)
	copyFile(t, keyA, key)
	appendConfig(t, f.cfgPath, "tls: {cert: \""+cert+"\", key: \""+key+"\"}\n")
	pool := x509.NewCertPool()
	for _, ca := range []string{caA, caB} {
		b, _ := os.ReadFile(ca)
		pool.AppendCertsFromPEM(b)
	}
	newClient := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}}
	}
	held := newClient()
	in := startDavgateWith(t, f.cfgPath, held)
	first, _ := tlsGet(t, held, in.URL)

	copyFile(t, certB, cert)
	copyFile(t, keyB, key)
	hupAndWait(t, in, "TLS certificate reloaded", 1)
	if got, reused := tlsGet(t, held, in.URL); !reused || got != first {
		t.Errorf("held connection after reload: reused %v, certificate %q; want the same connection and certificate %q", reused, got, first)
	}
	second, reused := tlsGet(t, newClient(), in.URL)
	if reused || second == first {
		t.Errorf("new connection after reload got certificate %q (reused %v), want the new one", second, reused)
	}

	if err := os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hupAndWait(t, in, "reload TLS certificate; keeping the certificate loaded before", 1)
	if got, _ := tlsGet(t, newClient(), in.URL); got != second {
		t.Errorf("after a broken reload a new connection got %q, want the kept %q", got, second)
	}
	if _, reused := tlsGet(t, held, in.URL); !reused {
		t.Errorf("the held connection did not survive the reloads")
	}

	addr := strings.TrimPrefix(in.URL, "https://")
	for name, cfg := range map[string]*tls.Config{
		"TLS 1.1":        {RootCAs: pool, MaxVersion: tls.VersionTLS11},
		"TLS 1.2 CBC":    {RootCAs: pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}},
		"TLS 1.2 RSA kx": {RootCAs: pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
	} {
		if c, err := tls.Dial("tcp", addr, cfg); err == nil {
			c.Close()
			t.Errorf("%s handshake succeeded, want refused", name)
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 handshake: %v", err)
	}
	c.Close()
}
