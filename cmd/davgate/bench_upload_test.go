package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/davgate/davgate/internal/testenv"
)

// BenchmarkBrowserUpload is issue 11's upload figure: a browser's
// resumable upload (tus, 32 MiB PATCHes, as the web app sends them) of
// 1 GiB next to a WebDAV PUT of the same file, in the same run, against
// davgate built and run as its own process on a loopback smbd; the
// target is at least 0.8 times PUT's speed.
//
//	go test -run '^$' -bench BrowserUpload -benchtime 1x -timeout 15m ./cmd/davgate
//
// DAVGATE_BENCH_UPLOAD_MIB sets a smaller size for a quick run,
// DAVGATE_BENCH_TUS_CHUNK_MIB another PATCH size, and DAVGATE_BENCH_PPROF=DIR
// runs davgate in-process with CPU profiles DIR/tus.pprof and DIR/put.pprof.
func BenchmarkBrowserUpload(b *testing.B) {
	size := int64(bigSize)
	if mib, err := strconv.Atoi(os.Getenv("DAVGATE_BENCH_UPLOAD_MIB")); err == nil && mib > 0 {
		size = int64(mib) << 20
	}
	chunk := int64(tusChunk)
	if mib, err := strconv.Atoi(os.Getenv("DAVGATE_BENCH_TUS_CHUNK_MIB")); err == nil && mib > 0 {
		chunk = int64(mib) << 20
	}
	users := map[string]string{benchUser: benchPass}
	mallocEnv, mallocNote := smbdMalloc()
	smbd := testenv.StartSmbd(b, testenv.SmbdConfig{Users: users, Shares: []testenv.Share{{Name: "data"}}, Env: mallocEnv})
	dg := startDavgateProcess(b, os.Getenv("DAVGATE_BENCH_PPROF"), fmt.Sprintf("auth:\n  backend: smb\n  smb: {url: \"smb://%s/\"}\nshares:\n  - {name: data, url: \"%s\"}\n",
		smbd.Addr(), smbd.URL("data")))
	bc := &benchClient{b: b, base: dg.url, http: &http.Client{Transport: &http.Transport{
		DisableCompression: true, ReadBufferSize: 1 << 20, WriteBufferSize: 1 << 20}}}
	bc.logon()
	data := smbd.SharePath("data")
	r := report{cpu: dg.cpu, self: selfCPU, load: []string{loadavg()}, baseline: "WebDAV PUT"}
	r.server = serverUsage(smbd.ConfigPath())
	r.setup = append(r.setup, mallocNote)
	if note := pausePageReporting(b); note != "" {
		r.setup = append(r.setup, note)
	}
	b.ResetTimer()
	bc.put("/dav/data/warm.bin", size) // untimed: a fresh process and connection run slower
	bc.tusUpload("/dav/data/warm.bin", size, chunk)
	r.measure(fmt.Sprintf("upload %s, tus %s chunks vs PUT, MB/s", mib(size), mib(chunk)), "≥", 0.8, 3,
		func(int) float64 {
			dg.profile("tus")
			d := timed(func() { bc.tusUpload("/dav/data/tus.bin", size, chunk) })
			dg.profile("")
			os.Remove(filepath.Join(data, "tus.bin"))
			return mbps(size, d)
		},
		func(int) float64 {
			dg.profile("put")
			d := timed(func() { bc.put("/dav/data/put.bin", size) })
			dg.profile("")
			os.Remove(filepath.Join(data, "put.bin"))
			return mbps(size, d)
		})
	b.StopTimer()
	r.load = append(r.load, loadavg())
	r.print(os.Stdout)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.rows[0].ratio(), "ratio")
}

// tusChunk is the web app's PATCH size (web/static/tus.js).
const tusChunk = 32 << 20

// tusUpload uploads size bytes of the pattern to target as the web app
// does: one POST, then PATCHes of chunk bytes.
func (c *benchClient) tusUpload(target string, size, chunk int64) {
	c.b.Helper()
	resp, err := c.do("POST", "/api/v1/uploads", nil, 0, "Tus-Resumable", "1.0.0", "Upload-Length", strconv.FormatInt(size, 10),
		"Upload-Metadata", "target "+base64.StdEncoding.EncodeToString([]byte(target)))
	if err != nil {
		c.b.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 201 || loc == "" {
		c.b.Fatalf("tus create: %s", resp.Status)
	}
	src := &patternReader{n: size}
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		resp, err := c.do("PATCH", loc, io.LimitReader(src, n), n, "Tus-Resumable", "1.0.0",
			"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.FormatInt(off, 10))
		if err != nil {
			c.b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 204 {
			c.b.Fatalf("tus PATCH at %d: %s", off, resp.Status)
		}
	}
}
