package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/cloudsoda/go-smb2"

	"github.com/davgate/davgate/internal/testenv"
)

// BenchmarkGateway is the speed report of issue 3: davgate, built and run
// as its own process, next to a direct go-smb2 client on the same files of
// a loopback smbd. It prints a table with the ratios and a PASS or MISS
// per target, and davgate's peak memory (VmHWM) during the GET and
// PROPFIND runs. It measures once whatever b.N is; deploy/bench/run.sh
// runs it:
//
//	go test -run '^$' -bench Gateway -benchtime 1x -timeout 15m ./cmd/davgate
//
// It needs root and smbd like the end-to-end tests, about 3 GiB of free
// space in the temporary directory for a minute, and runs two to three
// minutes. Each figure is the median of a few runs, davgate and the direct
// client taking turns.
//
// DAVGATE_BENCH_PPROF=DIR is for finding a bottleneck: davgate then runs
// inside the benchmark's process (through run, as the end-to-end tests
// start it) and a CPU profile per measure goes into DIR, e.g. DIR/get.pprof
// for `go tool pprof -top -focus davfs DIR/get.pprof`. Its memory figures
// are then the whole test process's.
func BenchmarkGateway(b *testing.B) {
	profiles := os.Getenv("DAVGATE_BENCH_PPROF")
	users := map[string]string{benchUser: benchPass}
	mallocEnv, mallocNote := smbdMalloc()
	plain := testenv.StartSmbd(b, testenv.SmbdConfig{Users: users, Shares: []testenv.Share{{Name: "data"}}, Env: mallocEnv})
	signed := testenv.StartSmbd(b, testenv.SmbdConfig{Users: users, Shares: []testenv.Share{{Name: "data"}},
		Global: "server signing = mandatory", Env: mallocEnv})
	dg := startDavgateProcess(b, profiles, fmt.Sprintf(`auth:
  backend: smb
  smb: {url: "smb://%s/"}
shares:
  - {name: data, url: "%s"}
  - {name: signed, url: "%s"}
`, plain.Addr(), plain.URL("data"), signed.URL("data")))
	bc := &benchClient{b: b, base: dg.url, http: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: benchConns, DisableCompression: true,
		ReadBufferSize: 1 << 20, WriteBufferSize: 1 << 20,
	}}}
	bc.logon()
	direct, directSigned := dialBench(b, plain), dialBench(b, signed)

	// The 1 GiB file, once on disk, seen by both servers; the small one.
	data, signedData := plain.SharePath("data"), signed.SharePath("data")
	writePattern(b, filepath.Join(data, "big.bin"), bigSize)
	if err := os.Link(filepath.Join(data, "big.bin"), filepath.Join(signedData, "big.bin")); err != nil {
		b.Fatal(err)
	}
	removeBig := func() {
		os.Remove(filepath.Join(data, "big.bin"))
		os.Remove(filepath.Join(signedData, "big.bin"))
	}
	defer removeBig()
	writePattern(b, filepath.Join(data, "small.bin"), 4096)
	if err := os.Link(filepath.Join(data, "small.bin"), filepath.Join(signedData, "small.bin")); err != nil {
		b.Fatal(err)
	}
	bc.get("/dav/data/small.bin", 4096) // davgate's SMB sessions, both servers
	bc.get("/dav/signed/small.bin", 4096)
	syscall.Sync()

	r := report{cpu: dg.cpu, load: []string{loadavg()}}
	if profiles == "" {
		r.self = selfCPU // davgate is not in this process
	}
	r.server = serverUsage(plain.ConfigPath(), signed.ConfigPath())
	b.ResetTimer()
	// Every run writes or reads 1 GiB through memory freed by the run
	// before; see pageReportingOrder for why the VM must keep it.
	if note := pausePageReporting(b); note != "" {
		r.setup = append(r.setup, note)
	}
	r.setup = append(r.setup, mallocNote)

	// One untimed round of each first: the first GiB through a fresh
	// process and connection runs at half speed or less (heap growth, TCP
	// windows), on both sides.
	bc.get("/dav/data/big.bin", bigSize)
	readAll(b, direct, "big.bin", bigSize)
	bc.put("/dav/data/warm.bin", bigSize)
	writeAll(b, direct, "warm-direct.bin", bigSize)
	os.Remove(filepath.Join(data, "warm.bin"))
	os.Remove(filepath.Join(data, "warm-direct.bin"))

	dg.resetPeak()
	dg.profile("get")
	r.measure("GET 1 GiB, MB/s", "≥", 0.8, 5,
		func(int) float64 { return mbps(bigSize, timed(func() { bc.get("/dav/data/big.bin", bigSize) })) },
		func(int) float64 { return mbps(bigSize, timed(func() { readAll(b, direct, "big.bin", bigSize) })) })
	getPeak := dg.peak()

	dg.profile("put")
	r.measure("PUT 1 GiB, MB/s", "≥", 0.8, 5,
		func(int) float64 {
			d := timed(func() { bc.put("/dav/data/put-dav.bin", bigSize) })
			os.Remove(filepath.Join(data, "put-dav.bin"))
			return mbps(bigSize, d)
		},
		func(int) float64 {
			d := timed(func() { writeAll(b, direct, "put-direct.bin", bigSize) })
			os.Remove(filepath.Join(data, "put-direct.bin"))
			return mbps(bigSize, d)
		})

	dg.resetPeak()
	dg.profile("get-signed")
	r.measure("GET 1 GiB, signing mandatory, MB/s", "≥", 0.9, 2,
		func(int) float64 { return mbps(bigSize, timed(func() { bc.get("/dav/signed/big.bin", bigSize) })) },
		func(int) float64 {
			return mbps(bigSize, timed(func() { readAll(b, directSigned, "big.bin", bigSize) }))
		})
	getPeak = max(getPeak, dg.peak())
	removeBig()

	// Every listing is of a folder nobody has listed before.
	const listRounds = 3
	for i := range listRounds {
		writeFolder(b, filepath.Join(data, fmt.Sprintf("list-dav-%d", i)), benchFiles)
		writeFolder(b, filepath.Join(data, fmt.Sprintf("list-direct-%d", i)), benchFiles)
	}
	syscall.Sync()
	dg.resetPeak()
	dg.profile("propfind")
	r.measure("PROPFIND Depth:1, 10,000 files, first request, s", "≤", 1.5, listRounds,
		func(i int) float64 {
			return timed(func() { bc.propfind(fmt.Sprintf("/dav/data/list-dav-%d/", i), benchFiles) }).Seconds()
		},
		func(i int) float64 {
			return timed(func() { listDir(b, direct, fmt.Sprintf("list-direct-%d", i), benchFiles) }).Seconds()
		})
	propfindPeak := dg.peak()

	dg.profile("get-small")
	r.measure("GET 4 KiB, 16 connections, req/s (direct: open, read, close)", "", 0, 1,
		func(int) float64 {
			return rate(&r, "GET 4 KiB davgate", benchConns, 5*time.Second, func() error {
				return bc.fetch("/dav/data/small.bin", 4096)
			})
		},
		func(int) float64 {
			return rate(&r, "GET 4 KiB direct", benchConns, 5*time.Second, func() error {
				return readFile(direct, "small.bin", 4096)
			})
		})
	dg.profile("")
	b.StopTimer()
	r.load = append(r.load, loadavg())

	r.print(os.Stdout)
	fmt.Printf("\ndavgate peak memory (VmHWM): GET runs %s, PROPFIND runs %s\n", mib(getPeak), mib(propfindPeak))
	fmt.Printf("targets met: %d of %d\n", r.met(), r.targets())
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(getPeak)/(1<<20), "MiB-peak-get")
	b.ReportMetric(float64(propfindPeak)/(1<<20), "MiB-peak-propfind")
}

const (
	benchUser  = "dgbench"
	benchPass  = "Bench-pass-3z!"
	bigSize    = 1 << 30
	benchFiles = 10000
	benchConns = 16
)

// benchClient is a WebDAV client with a device token.
type benchClient struct {
	b     *testing.B
	base  string
	token string
	http  *http.Client
}

func (c *benchClient) logon() {
	c.b.Helper()
	body := fmt.Sprintf(`{"username":%q,"password":%q,"label":"bench"}`, benchUser, benchPass)
	resp, err := http.Post(c.base+"/api/v1/sessions", "application/json", strings.NewReader(body))
	if err != nil {
		c.b.Fatal(err)
	}
	defer resp.Body.Close()
	var cr struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&cr); err != nil || resp.StatusCode != http.StatusCreated {
		c.b.Fatalf("log-on: %d %v", resp.StatusCode, err)
	}
	c.token = cr.Token
}

func (c *benchClient) do(method, path string, body io.Reader, size int64, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.http.Do(req)
}

// get reads a file to its end.
func (c *benchClient) get(path string, size int64) {
	c.b.Helper()
	if err := c.fetch(path, size); err != nil {
		c.b.Fatal(err)
	}
}

func (c *benchClient) fetch(path string, size int64) error {
	resp, err := c.do("GET", path, nil, 0)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, min(size+1, 1<<20))
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{resp.Body}, buf)
	if resp.StatusCode != 200 || err != nil || n != size {
		return fmt.Errorf("GET %s: %s, %d bytes, %v", path, resp.Status, n, err)
	}
	return nil
}

func (c *benchClient) put(path string, size int64) {
	c.b.Helper()
	resp, err := c.do("PUT", path, &patternReader{n: size}, size)
	if err != nil {
		c.b.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 201 && resp.StatusCode != 204 {
		c.b.Fatalf("PUT %s: %s", path, resp.Status)
	}
}

// propfindBody asks for what a file manager shows.
const propfindBody = `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>` +
	`<D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/><D:getcontenttype/></D:prop></D:propfind>`

func (c *benchClient) propfind(path string, files int) {
	c.b.Helper()
	resp, err := c.do("PROPFIND", path, strings.NewReader(propfindBody), int64(len(propfindBody)), "Depth", "1",
		"Content-Type", "application/xml")
	if err != nil {
		c.b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	// Each href has an opening and a closing tag.
	if n := bytes.Count(body, []byte("href>")) / 2; resp.StatusCode != 207 || err != nil || n != files+1 {
		c.b.Fatalf("PROPFIND %s: %s, %d responses, %v", path, resp.Status, n, err)
	}
}

// dialBench logs on to a test smbd's share "data" with go-smb2.
func dialBench(b *testing.B, s *testenv.Smbd) *smb2.Share {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: benchUser, Password: benchPass}}
	sess, err := d.Dial(ctx, s.Addr())
	if err != nil {
		b.Fatalf("dial smbd: %v", err)
	}
	b.Cleanup(func() { sess.Logoff() })
	sh, err := sess.Mount("data")
	if err != nil {
		b.Fatalf("mount: %v", err)
	}
	b.Cleanup(func() { sh.Umount() })
	return sh
}

// readAll reads a file the way a go-smb2 user would: io.Copy, which uses
// the file's WriteTo (sequential reads of the largest size the server
// allows).
func readAll(b *testing.B, sh *smb2.Share, name string, size int64) {
	b.Helper()
	if err := readFile(sh, name, size); err != nil {
		b.Fatal(err)
	}
}

func readFile(sh *smb2.Share, name string, size int64) error {
	f, err := sh.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, f)
	if err != nil || n != size {
		return fmt.Errorf("read %s: %d bytes, %v", name, n, err)
	}
	return nil
}

// writeAll writes a new file with io.Copy, which uses the file's ReadFrom.
func writeAll(b *testing.B, sh *smb2.Share, name string, size int64) {
	f, err := sh.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if n, err := io.Copy(f, &patternReader{n: size}); err != nil || n != size {
		b.Fatalf("write %s: %d bytes, %v", name, n, err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// listDir is one directory listing: open, query, close.
func listDir(b *testing.B, sh *smb2.Share, name string, files int) {
	f, err := sh.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fis, err := f.Readdir(-1)
	if err != nil || len(fis) != files {
		b.Fatalf("list %s: %d entries, %v", name, len(fis), err)
	}
}

// patternReader yields n bytes of a repeating non-zero pattern.
type patternReader struct{ n, off int64 }

var pattern = bytes.Repeat([]byte("davgate bench 0123456789abcdef\n"), 1<<15)

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n)]
	total := 0
	for len(b) > 0 {
		k := copy(b, pattern[p.off%int64(len(pattern)):])
		b = b[k:]
		p.off += int64(k)
		total += k
	}
	p.n -= int64(total)
	return total, nil
}

func writePattern(b *testing.B, name string, size int64) {
	b.Helper()
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyBuffer(f, &patternReader{n: size}, make([]byte, 1<<20)); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// writeFolder makes a folder of empty files, as if users had filled it.
func writeFolder(b *testing.B, dir string, files int) {
	b.Helper()
	if err := os.Mkdir(dir, 0o777); err != nil {
		b.Fatal(err)
	}
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("document %05d.txt", i)), nil, 0o666); err != nil {
			b.Fatal(err)
		}
	}
}

func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func mbps(size int64, d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// rate runs f from conns goroutines for d and returns the successful
// calls per second. Failed calls are counted, and the first failure kept,
// in the report's notes: a failure is a finding, not the end of the run.
func rate(r *report, what string, conns int, d time.Duration, f func() error) float64 {
	var calls, failed atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for range conns {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if err := f(); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err)
					continue
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%s: %d of %d calls failed; the first: %v", what, n, n+calls.Load(), first.Load()))
	}
	return float64(calls.Load()) / time.Since(start).Seconds()
}

// report is the table the benchmark prints.
type report struct {
	rows   []row
	notes  []string                      // failures seen while measuring
	setup  []string                      // what the bench changed on the machine
	cpu    func() time.Duration          // davgate's CPU time so far
	self   func() time.Duration          // this process's (the clients'), nil when davgate runs in it
	server func() (time.Duration, int64) // the smbds' CPU time and minor page faults
	load   []string                      // load averages at the start and the end
	// baseline names the column measured against; "direct SMB" if empty.
	baseline string
}

type row struct {
	measure         string
	op              string // "≥" (ratio at least target), "≤" (at most), "" (report only)
	target          float64
	davgate, direct []float64       // every run
	cpu             []time.Duration // davgate's CPU time in each of its runs
	// CPU per run of the other processes: in davgate's runs its HTTP
	// client and smbd, in the direct client's runs that client and smbd.
	clientCPU, smbdCPU, directCPU, directSmbdCPU []time.Duration
	// smbd's minor page faults per run, in davgate's runs and the direct
	// client's: a server that maps fresh memory for every reply pays
	// about twice the CPU per GiB.
	smbdFaults, directSmbdFaults []float64
}

// measure runs davgate's and the direct client's figure n times each,
// taking turns, and adds a row; round i of each gets i.
func (r *report) measure(measure, op string, target float64, n int, davgate, direct func(i int) float64) {
	w := row{measure: measure, op: op, target: target}
	self := r.self
	if self == nil {
		self = func() time.Duration { return 0 }
	}
	for i := range n {
		c, s := r.cpu(), self()
		v, faults := r.smbdDuring(func() { w.davgate = append(w.davgate, davgate(i)) })
		w.cpu = append(w.cpu, r.cpu()-c)
		w.clientCPU = append(w.clientCPU, self()-s)
		w.smbdCPU, w.smbdFaults = append(w.smbdCPU, v), append(w.smbdFaults, faults)
		s = self()
		v, faults = r.smbdDuring(func() { w.direct = append(w.direct, direct(i)) })
		w.directCPU = append(w.directCPU, self()-s)
		w.directSmbdCPU, w.directSmbdFaults = append(w.directSmbdCPU, v), append(w.directSmbdFaults, faults)
	}
	r.rows = append(r.rows, w)
}

// smbdDuring runs f and returns the CPU time the smbds used and the minor
// page faults they took meanwhile.
func (r *report) smbdDuring(f func()) (time.Duration, float64) {
	c, n := r.server()
	f()
	c2, n2 := r.server()
	return c2 - c, float64(n2 - n)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (w row) ratio() float64 { return median(w.davgate) / median(w.direct) }

func (w row) verdict() string {
	switch {
	case w.op == "":
		return "report"
	case w.op == "≥" && w.ratio() >= w.target, w.op == "≤" && w.ratio() <= w.target:
		return "PASS"
	default:
		return "MISS"
	}
}

func (r *report) targets() (n int) {
	for _, w := range r.rows {
		if w.op != "" {
			n++
		}
	}
	return n
}

func (r *report) met() (n int) {
	for _, w := range r.rows {
		if w.verdict() == "PASS" {
			n++
		}
	}
	return n
}

func (r *report) print(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	base := r.baseline
	if base == "" {
		base = "direct SMB"
	}
	fmt.Fprintf(tw, "measure\tdavgate\t%s\tratio\ttarget\tresult\tdavgate CPU/run\t\n", base)
	for _, w := range r.rows {
		target := "-"
		if w.op != "" {
			target = fmt.Sprintf("%s %.2f", w.op, w.target)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t%.2f s\t\n", w.measure, figure(median(w.davgate)), figure(median(w.direct)),
			w.ratio(), target, w.verdict(), seconds(w.cpu))
	}
	tw.Flush()
	fmt.Fprintln(out, "\nevery run (davgate | direct):")
	for _, w := range r.rows {
		fmt.Fprintf(out, "  %s: %s | %s\n", w.measure, figures(w.davgate), figures(w.direct))
	}
	if r.self != nil {
		// On a machine with few cores the processes of a run compete: the
		// sums say how much CPU each way needs for the same work.
		fmt.Fprintln(out, "\nCPU per run, median (davgate + its HTTP client + smbd | direct client + smbd):")
		for _, w := range r.rows {
			dav := []float64{seconds(w.cpu), seconds(w.clientCPU), seconds(w.smbdCPU)}
			dir := []float64{seconds(w.directCPU), seconds(w.directSmbdCPU)}
			fmt.Fprintf(out, "  %s: %.2f + %.2f + %.2f = %.2f s | %.2f + %.2f = %.2f s\n", w.measure,
				dav[0], dav[1], dav[2], dav[0]+dav[1]+dav[2], dir[0], dir[1], dir[0]+dir[1])
		}
	}
	fmt.Fprintln(out, "\nsmbd's minor page faults per run, median (davgate's runs | the direct client's):")
	for _, w := range r.rows {
		fmt.Fprintf(out, "  %s: %.0f | %.0f\n", w.measure, median(w.smbdFaults), median(w.directSmbdFaults))
	}
	fmt.Fprintf(out, "\n%d CPUs; load average %s at the start, %s at the end\n", runtime.NumCPU(), r.load[0], r.load[len(r.load)-1])
	for _, n := range r.setup {
		fmt.Fprintf(out, "%s\n", n)
	}
	if len(r.notes) > 0 {
		fmt.Fprintln(out, "\nfailures:")
		for _, n := range r.notes {
			fmt.Fprintf(out, "  %s\n", n)
		}
	}
}

// seconds is the median of CPU times, in seconds.
func seconds(d []time.Duration) float64 {
	var v []float64
	for _, x := range d {
		v = append(v, x.Seconds())
	}
	return median(v)
}

// selfCPU is the CPU time (user and system) this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func figure(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func figures(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, figure(x))
	}
	return strings.Join(s, " ")
}
