package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// BenchmarkRclonePeer measures davgate side by side with `rclone serve
// webdav` on the same smbd, in one run, for what a file manager does most
// (issue 12, "Speed"): a 4 KiB GET and a PROPFIND Depth:0 of a file, 16
// connections each. rclone answers PROPFIND from its directory cache;
// davgate from its metadata cache (webdav.metadata_ttl: 1s here), once
// with the memory store (one instance) and once with Redis (several
// instances: one Redis GET of the share's generation per request).
// Targets: GET at least twice rclone's rate, PROPFIND at least rclone's.
//
// The rclone peer is the rclone on PATH (Debian's), or the binary
// DAVGATE_BENCH_RCLONE names: deploy/bench/rclone-peer.sh builds rclone
// from its current source through the Go module proxy and runs this
// benchmark with it.
//
//	go test -run '^$' -bench '^BenchmarkRclonePeer$' -benchtime 1x ./cmd/davgate/
func BenchmarkRclonePeer(b *testing.B) {
	testenv.Need(b, rcloneBin())
	users := map[string]string{benchUser: benchPass}
	mallocEnv, mallocNote := smbdMalloc()
	smbd := testenv.StartSmbd(b, testenv.SmbdConfig{Users: users, Shares: []testenv.Share{{Name: "data"}}, Env: mallocEnv})
	profiles := os.Getenv("DAVGATE_BENCH_PPROF") // as for BenchmarkGateway
	shares := fmt.Sprintf("auth:\n  backend: smb\n  smb: {url: \"smb://%s/\"}\nshares:\n  - {name: data, url: \"%s\"}\n"+
		"webdav: {metadata_ttl: 1s}\n", smbd.Addr(), smbd.URL("data"))
	dg := startDavgateProcess(b, profiles, shares)
	dgr := startDavgateStore(b, profiles, testenv.StartRedis(b).URL, shares)
	transport := func() *http.Client {
		return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchConns, DisableCompression: true}}
	}
	bc := &benchClient{b: b, base: dg.url, http: transport()}
	bcr := &benchClient{b: b, base: dgr.url, http: transport()}
	bc.logon()
	bcr.logon()
	rc := &benchClient{b: b, base: startRclone(b, smbd), http: transport()}
	writePattern(b, filepath.Join(smbd.SharePath("data"), "small.bin"), 4096)
	bc.get("/dav/data/small.bin", 4096) // the SMB sessions, every peer
	bcr.get("/dav/data/small.bin", 4096)
	rc.get("/small.bin", 4096)

	r := report{load: []string{loadavg()}, baseline: "rclone serve webdav"}
	if profiles == "" {
		r.self = selfCPU // davgate is not in this process
	}
	r.server = serverUsage(smbd.ConfigPath())
	r.setup = append(r.setup, mallocNote, rcloneVersion(b))
	b.ResetTimer()
	measurePeer(&r, "", "", dg, bc, rc)
	measurePeer(&r, ", Redis store", "-redis", dgr, bcr, rc)
	b.StopTimer()
	r.load = append(r.load, loadavg())
	r.print(os.Stdout)
	fmt.Printf("targets met: %d of %d\n", r.met(), r.targets())
	b.ReportMetric(0, "ns/op")
}

// measurePeer adds the GET and PROPFIND rows of one davgate (dg, asked
// through bc) against rclone (rc); store names its store in the rows,
// tag in its profiles' file names.
func measurePeer(r *report, store, tag string, dg *davgateProcess, bc, rc *benchClient) {
	r.cpu = dg.cpu
	dg.profile("rclone-get-small" + tag)
	r.measure("GET 4 KiB, 16 connections"+store+", req/s", "≥", 2, 3,
		func(int) float64 {
			return rate(r, "GET 4 KiB davgate"+store, benchConns, 3*time.Second, func() error { return bc.fetch("/dav/data/small.bin", 4096) })
		},
		func(int) float64 {
			return rate(r, "GET 4 KiB rclone", benchConns, 3*time.Second, func() error { return rc.fetch("/small.bin", 4096) })
		})
	dg.profile("rclone-propfind0" + tag)
	r.measure("PROPFIND Depth:0 of a file, 16 connections"+store+", req/s", "≥", 1, 3,
		func(int) float64 {
			return rate(r, "PROPFIND davgate"+store, benchConns, 3*time.Second, func() error { return bc.propfind0("/dav/data/small.bin") })
		},
		func(int) float64 {
			return rate(r, "PROPFIND rclone", benchConns, 3*time.Second, func() error { return rc.propfind0("/small.bin") })
		})
	dg.profile("")
}

// propfind0 asks for a file's properties, as a file manager does before
// opening it.
func (c *benchClient) propfind0(path string) error {
	resp, err := c.do("PROPFIND", path, strings.NewReader(propfindBody), int64(len(propfindBody)), "Depth", "0",
		"Content-Type", "application/xml")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 207 || err != nil || !bytes.Contains(body, []byte("getcontentlength>4096<")) {
		return fmt.Errorf("PROPFIND %s: %s, %v", path, resp.Status, err)
	}
	return nil
}

// rcloneBin is the rclone the benchmark compares with.
func rcloneBin() string {
	if p := os.Getenv("DAVGATE_BENCH_RCLONE"); p != "" {
		return p
	}
	return "rclone"
}

// rcloneVersion is the peer's version line, for the report.
func rcloneVersion(b *testing.B) string {
	out, err := exec.Command(rcloneBin(), "version").Output()
	if err != nil {
		b.Fatalf("%s version: %v", rcloneBin(), err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return "peer: " + first + " (" + rcloneBin() + ")"
}

// startRclone runs `rclone serve webdav` on share "data" of smbd, without
// authentication, until the benchmark ends, and returns its URL.
func startRclone(b *testing.B, smbd *testenv.Smbd) string {
	b.Helper()
	dir := b.TempDir()
	env := append(os.Environ(), "RCLONE_CONFIG="+filepath.Join(dir, "rclone.conf"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	obscure := exec.Command(rcloneBin(), "obscure", benchPass)
	obscure.Env = env
	pass, err := obscure.Output()
	if err != nil {
		b.Fatalf("rclone obscure: %v", err)
	}
	host, port, _ := net.SplitHostPort(smbd.Addr())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(rcloneBin(), "serve", "webdav", "--addr", addr, ":smb:data",
		"--smb-host", host, "--smb-port", port, "--smb-user", benchUser, "--smb-pass", strings.TrimSpace(string(pass)))
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatalf("rclone serve webdav: %v", err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			b.Fatalf("rclone serve webdav did not listen on %s:\n%s", addr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
