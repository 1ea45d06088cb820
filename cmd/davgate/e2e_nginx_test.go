package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// Debian's nginx with deploy/nginx/davgate.conf, TLS and HTTP/2 in front
// of davgate (trusted_proxies: 127.0.0.1): WebDAV passes through it as
// litmus checks it, the client's address and scheme reach davgate, a
// MOVE's https Destination is understood, and 1 GiB goes up and comes back
// down unchanged, streamed at both ends.
func TestBehindNginx(t *testing.T) {
	testenv.Need(t, "nginx")
	f := newFixture(t, "memory")
	appendConfig(t, f.cfgPath, "trusted_proxies: [127.0.0.1]\n")
	in := startDavgate(t, f.cfgPath)
	caFile, cert, key := testenv.TestPKI(t, "127.0.0.1", "localhost")
	port, httpPort := testenv.FreePort(t), testenv.FreePort(t)
	site := nginxSite(t, strings.TrimPrefix(in.URL, "http://"), port, httpPort, cert, key)
	testenv.StartNginx(t, site, fmt.Sprintf("127.0.0.1:%d", port))
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	hc := trustingClient(t, caFile)
	c := client{t: t, base: base, hc: hc}

	token := c.logon("dgalice", alicePass, http.StatusCreated).Token
	auth := bearer(token)
	resp, _ := c.do("PUT", "/dav/data/proxied.txt", strings.NewReader("through nginx"), auth,
		"X-Forwarded-For", "203.0.113.9")
	if resp.StatusCode != 201 || resp.ProtoMajor != 2 {
		t.Fatalf("PUT through nginx = %d over %s, want 201 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("no HSTS through nginx: davgate did not learn the request came over https (X-Forwarded-Proto)")
	}
	if !strings.Contains(in.Log.String(), `"client":"203.0.113.9"`) {
		t.Errorf("davgate did not log the client address nginx passed on in X-Forwarded-For")
	}
	resp, b := c.do("MOVE", "/dav/data/proxied.txt", nil, auth, "Destination", base+"/dav/data/moved.txt")
	if resp.StatusCode != 201 {
		t.Fatalf("MOVE with Destination %s/... = %d %s, want 201", base, resp.StatusCode, b)
	}

	// Plain HTTP is sent to HTTPS, with a code that keeps the method.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Get(fmt.Sprintf("http://127.0.0.1:%d/dav/data/", httpPort)); err != nil {
		t.Errorf("plain HTTP to nginx: %v", err)
	} else {
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusPermanentRedirect || loc != "https://127.0.0.1/dav/data/" {
			t.Errorf("plain HTTP to nginx = %d to %q, want 308 to https://127.0.0.1/dav/data/", resp.StatusCode, loc)
		}
	}

	t.Run("litmus", func(t *testing.T) {
		testenv.WritableDir(t, filepath.Join(f.smbd.SharePath("data"), "litmus"))
		testenv.Litmus(t, base+"/dav/data/litmus/", "dgalice", token)
	})
	t.Run("1 GiB", func(t *testing.T) {
		transferGiB(t, hc, base+"/dav/data/big.bin", auth, filepath.Join(f.smbd.SharePath("data"), "big.bin"))
	})
	in.Stop()
	assertNoSecrets(t, in.Log.String(), alicePass, token)
}

// nginxSite is deploy/nginx/davgate.conf with its addresses and
// certificate replaced by the test's.
func nginxSite(t *testing.T, upstream string, httpsPort, httpPort int, cert, key string) string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/nginx/davgate.conf")
	if err != nil {
		t.Fatal(err)
	}
	site := string(b)
	for _, r := range []struct{ old, new string }{
		{"server 127.0.0.1:8080;", "server " + upstream + ";"},
		{"listen 80;\n\tlisten [::]:80;", fmt.Sprintf("listen 127.0.0.1:%d;", httpPort)},
		{"listen 443 ssl http2;\n\tlisten [::]:443 ssl http2;", fmt.Sprintf("listen 127.0.0.1:%d ssl http2;", httpsPort)},
		{"/etc/ssl/davgate/fullchain.pem", cert},
		{"/etc/ssl/davgate/privkey.pem", key},
	} {
		if !strings.Contains(site, r.old) {
			t.Fatalf("deploy/nginx/davgate.conf has no %q to replace", r.old)
		}
		site = strings.ReplaceAll(site, r.old, r.new)
	}
	return site
}

// trustingClient speaks HTTP/2 to servers whose certificates caFile
// issued.
func trustingClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
}

// transferGiB PUTs 1 GiB to url, GETs it back and compares SHA-256 sums of
// what was sent, what the share holds and what came back. Nothing holds
// more than a MiB of it.
func transferGiB(t *testing.T, hc *http.Client, target string, auth func(*http.Request), onShare string) {
	const size = 1 << 30
	start := time.Now()
	// Halfway through the upload, davgate has written part of it to the
	// share already: nginx streams the body instead of spooling it first.
	shareDir := filepath.Dir(onShare)
	before, halfway := dirBytes(t, shareDir), int64(0)
	src := &stampedReader{left: size, sum: sha256.New(), at: size / 2, hook: func() {
		halfway = dirBytes(t, shareDir) - before
	}}
	req, err := http.NewRequest("PUT", target, src)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	auth(req)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("PUT 1 GiB: %v", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != 201 && resp.StatusCode != 204 {
		t.Fatalf("PUT 1 GiB = %d %s", resp.StatusCode, b)
	}
	if halfway < 64<<20 {
		t.Errorf("halfway through the PUT the share held %d bytes of it: the body was buffered before it reached davgate", halfway)
	}
	sent := hex.EncodeToString(src.sum.Sum(nil))
	up := time.Since(start)
	if got := fileSHA256(t, onShare); got != sent {
		t.Fatalf("file on the share: sha256 %s, sent %s", got, sent)
	}

	start = time.Now()
	req, _ = http.NewRequest("GET", target, nil)
	auth(req)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatalf("GET 1 GiB: %v", err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if resp.StatusCode != 200 || err != nil || n != size {
		t.Fatalf("GET 1 GiB = %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sent {
		t.Fatalf("GET 1 GiB: sha256 %s, sent %s", got, sent)
	}
	t.Logf("1 GiB through nginx: PUT %v (%d MiB on the share halfway), GET %v", up.Round(time.Millisecond),
		halfway>>20, time.Since(start).Round(time.Millisecond))
}

// dirBytes is the size of the files in dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Error(err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// fileSHA256 is the hex SHA-256 of the file at path, read as a stream.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// stampedReader yields left bytes: one random MiB block repeated, each
// copy stamped with its index, so that a block lost, repeated or moved
// changes the sum; sum sees every byte read. hook, if set, runs once
// when the reader reaches offset at.
type stampedReader struct {
	left  int64
	off   int64
	block []byte
	sum   hash.Hash
	at    int64
	hook  func()
}

func (p *stampedReader) Read(b []byte) (int, error) {
	const blockSize = 1 << 20
	if p.left == 0 {
		return 0, io.EOF
	}
	if p.block == nil {
		p.block = make([]byte, blockSize)
		rng := rand.New(rand.NewPCG(13, 17))
		for i := 0; i < blockSize; i += 8 {
			binary.LittleEndian.PutUint64(p.block[i:], rng.Uint64())
		}
	}
	if p.hook != nil && p.off >= p.at {
		p.hook()
		p.hook = nil
	}
	i := p.off % blockSize
	if i == 0 {
		binary.LittleEndian.PutUint64(p.block, uint64(p.off/blockSize))
	}
	n := copy(b, p.block[i:min(int64(len(p.block)), i+p.left)])
	p.sum.Write(b[:n])
	p.off += int64(n)
	p.left -= int64(n)
	return n, nil
}
