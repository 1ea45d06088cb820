package davfs

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBenchReport prints davgate's figures next to a direct go-smb2
// client's on the same files of a loopback smbd (issue 3, "Speed"). It is
// a benchmark, not a timed test: it only runs with DAVGATE_BENCH=1.
//
//	DAVGATE_BENCH=1 go test -run TestBenchReport -v -timeout 30m ./davfs
//
// DAVGATE_BENCH_MB sets the size of the large file (default 1024).
func TestBenchReport(t *testing.T) {
	if os.Getenv("DAVGATE_BENCH") == "" {
		t.Skip("set DAVGATE_BENCH=1 to run the benchmark report")
	}
	size := int64(1024) << 20
	if mb, err := strconv.Atoi(os.Getenv("DAVGATE_BENCH_MB")); err == nil && mb > 0 {
		size = int64(mb) << 20
	}
	var rows []string
	row := func(measure, dav, direct string, ratio float64, target string) {
		rows = append(rows, fmt.Sprintf("| %-44s | %12s | %12s | %5.2f | %-8s |", measure, dav, direct, ratio, target))
	}

	e := newTestEnv(t)
	makeFile(t, filepath.Join(e.dir, "big"), size)
	mem := &peakMem{}

	// GET 1 GiB (the file is in the page cache after the first read)
	directRead(t, e, "big", size)
	d := best(3, func() time.Duration { return directRead(t, e, "big", size) })
	stop := mem.watch()
	g := best(3, func() time.Duration { return davGet(t, e, "/dav/data/big", size) })
	getPeak := stop()
	row("GET "+mib(size)+", MB/s", mbps(size, g), mbps(size, d), d.Seconds()/g.Seconds(), ">= 0.8")

	// PUT 1 GiB
	d = best(3, func() time.Duration { return directWrite(t, e, "up-direct", size) })
	p := best(3, func() time.Duration { return davPut(t, e, "/dav/data/up-dav", size) })
	row("PUT "+mib(size)+", MB/s", mbps(size, p), mbps(size, d), d.Seconds()/p.Seconds(), ">= 0.8")
	os.Remove(filepath.Join(e.dir, "up-direct"))
	os.Remove(filepath.Join(e.dir, "up-dav"))

	// GET with the server requiring signing
	s := newTestEnvGlobal(t, "server signing = mandatory")
	makeFile(t, filepath.Join(s.dir, "big"), size)
	directRead(t, s, "big", size)
	d = best(3, func() time.Duration { return directRead(t, s, "big", size) })
	g = best(3, func() time.Duration { return davGet(t, s, "/dav/data/big", size) })
	row("GET "+mib(size)+", signing required, MB/s", mbps(size, g), mbps(size, d), d.Seconds()/g.Seconds(), ">= 0.9")
	os.Remove(filepath.Join(e.dir, "big"))
	os.Remove(filepath.Join(s.dir, "big"))

	// PROPFIND Depth 1 on 10,000 files against one directory listing
	dir := filepath.Join(e.dir, "many")
	os.Mkdir(dir, 0o777)
	for i := range 10000 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%05d.txt", i)), []byte("x"), 0o666)
	}
	listDirect(t, e, "many")
	d = best(3, func() time.Duration { return listDirect(t, e, "many") })
	stop = mem.watch()
	pf := best(3, func() time.Duration { return davPropfind(t, e, "/dav/data/many/") })
	propfindPeak := stop()
	rows = append(rows, fmt.Sprintf("| %-44s | %12s | %12s | %5.2f | %-8s |", "PROPFIND Depth 1, 10,000 files, s",
		fmt.Sprintf("%.3f", pf.Seconds()), fmt.Sprintf("%.3f", d.Seconds()), pf.Seconds()/d.Seconds(), "<= 1.5"))

	// GET 4 KiB, 16 connections
	makeFile(t, filepath.Join(e.dir, "small"), 4096)
	rps := smallGets(t, e, "/dav/data/small", 16, 3*time.Second)
	rows = append(rows, fmt.Sprintf("| %-44s | %12.0f | %12s | %5s | %-8s |", "GET 4 KiB, 16 connections, req/s", rps, "", "", "report"))

	fmt.Printf("\n| measure | davgate | direct SMB | ratio | target |\n|---|---|---|---|---|\n%s\n", strings.Join(rows, "\n"))
	fmt.Printf("peak Go heap (davgate and the test's HTTP client): GET %s, PROPFIND %s\n\n", mib(int64(getPeak)), mib(int64(propfindPeak)))
}

func makeFile(t testing.TB, p string, size int64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte("davgate!"), 1<<17)
	for n := int64(0); n < size; n += int64(len(chunk)) {
		f.Write(chunk[:min(int64(len(chunk)), size-n)])
	}
}

func best(n int, f func() time.Duration) time.Duration {
	var b time.Duration
	for i := range n {
		if d := f(); i == 0 || d < b {
			b = d
		}
	}
	return b
}

func mbps(size int64, d time.Duration) string {
	return fmt.Sprintf("%.0f", float64(size)/1e6/d.Seconds())
}

func mib(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%g GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

func directRead(t testing.TB, e *testEnv, name string, size int64) time.Duration {
	start := time.Now()
	f, err := e.share.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, f)
	f.Close()
	if err != nil || n != size {
		t.Fatalf("direct read: %d, %v", n, err)
	}
	return time.Since(start)
}

func directWrite(t testing.TB, e *testEnv, name string, size int64) time.Duration {
	start := time.Now()
	f, err := e.share.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, &zeroReader{size}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func davGet(t testing.TB, e *testEnv, p string, size int64) time.Duration {
	start := time.Now()
	resp, err := e.client.Get(e.srv.URL + p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, make([]byte, 1<<20))
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("GET: %d, %v", n, err)
	}
	return time.Since(start)
}

func davPut(t testing.TB, e *testEnv, p string, size int64) time.Duration {
	start := time.Now()
	req, _ := http.NewRequest("PUT", e.srv.URL+p, &zeroReader{size})
	req.ContentLength = size
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT: %s", resp.Status)
	}
	return time.Since(start)
}

func listDirect(t testing.TB, e *testEnv, name string) time.Duration {
	start := time.Now()
	f, err := e.share.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Readdir(-1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return time.Since(start)
}

func davPropfind(t testing.TB, e *testEnv, p string) time.Duration {
	start := time.Now()
	req, _ := http.NewRequest("PROPFIND", e.srv.URL+p, strings.NewReader(
		`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/>`+
			`<D:getlastmodified/><D:getetag/><D:getcontenttype/></D:prop></D:propfind>`))
	req.Header.Set("Depth", "1")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 207 {
		t.Fatalf("PROPFIND: %s", resp.Status)
	}
	return time.Since(start)
}

func smallGets(t testing.TB, e *testEnv, p string, conns int, d time.Duration) float64 {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := c.Get(e.srv.URL + p)
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// peakMem samples the Go heap in use while a measurement runs.
type peakMem struct{}

func (peakMem) watch() (stop func() uint64) {
	done := make(chan struct{})
	var peak atomic.Uint64
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); return peak.Load() }
}
