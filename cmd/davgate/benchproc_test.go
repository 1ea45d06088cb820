package main

// The davgate process the benchmark measures: started, watched through
// /proc (peak memory, CPU time) and, for profiling, run in-process.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// davgateProcess is davgate under test: its own process, built from this
// package, or with profiling a run inside this one.
type davgateProcess struct {
	b        *testing.B
	pid      int
	url      string
	profiles string // directory for CPU profiles; davgate runs in-process
	stopProf func()
}

// startDavgateProcess writes a config around shares, creates a keyring and
// runs `davgate serve` until the benchmark ends.
func startDavgateProcess(b *testing.B, profiles, shares string) *davgateProcess {
	b.Helper()
	return startDavgateStore(b, profiles, "memory", shares)
}

// startDavgateStore is startDavgateProcess with the given store.
func startDavgateStore(b *testing.B, profiles, store, shares string) *davgateProcess {
	b.Helper()
	dir := b.TempDir()
	keys := filepath.Join(dir, "master.keys")
	if err := run(context.Background(), []string{"davgate", "keygen", "--out", keys}, nil, io.Discard, io.Discard); err != nil {
		b.Fatalf("keygen: %v", err)
	}
	cfg := filepath.Join(dir, "davgate.yaml")
	text := fmt.Sprintf("listen: 127.0.0.1:0\nmaster_key_file: %s\nstore: %s\nlog_level: warn\n%s", keys, store, shares)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "davgate.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		logf.Close()
		if b.Failed() {
			log, _ := os.ReadFile(logf.Name())
			b.Logf("davgate log (last 4 KiB):\n%s", log[max(0, len(log)-4096):])
		}
	})
	args := []string{"davgate", "serve", "--config", cfg}
	p := &davgateProcess{b: b, profiles: profiles}
	stdout := &syncBuffer{}
	exited := make(chan struct{})
	if profiles != "" {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			defer close(exited)
			run(ctx, args, func(string) string { return "" }, stdout, logf)
		}()
		p.pid = os.Getpid()
		b.Cleanup(func() { cancel(); <-exited })
	} else {
		cmd := exec.Command(buildDavgate(b), args[1:]...)
		cmd.Stdout, cmd.Stderr = stdout, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			b.Fatalf("start davgate: %v", err)
		}
		go func() { defer close(exited); cmd.Wait() }()
		p.pid = cmd.Process.Pid
		b.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for p.url == "" {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			p.url = m[1]
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logf.Name())
			b.Fatalf("davgate exited:\n%s", log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			b.Fatalf("davgate did not start in 20s:\n%s", log)
		}
	}
	return p
}

// buildDavgate builds the davgate binary into a temporary directory.
func buildDavgate(b *testing.B) string {
	b.Helper()
	testenv.Need(b, "go")
	bin := filepath.Join(b.TempDir(), "davgate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// resetPeak starts a new peak memory measurement (Linux clear_refs 5).
func (p *davgateProcess) resetPeak() {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.pid), []byte("5"), 0); err != nil {
		p.b.Fatalf("reset peak memory: %v", err)
	}
}

// peak is the process's peak resident memory since resetPeak, in bytes.
func (p *davgateProcess) peak() int64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		p.b.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				p.b.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	p.b.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// cpu is the CPU time (user and system) the process has used so far.
func (p *davgateProcess) cpu() time.Duration {
	d, _, err := procUsage(p.pid)
	if err != nil {
		p.b.Fatal(err)
	}
	return d
}

// procUsage is the CPU time (user and system) process pid has used so far
// and the minor page faults it has taken.
func procUsage(pid int) (cpu time.Duration, minflt int64, err error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The fields after the command name, which is in parentheses; minflt
	// is field 10, utime and stime are fields 14 and 15, in clock ticks
	// (100 per second on Linux).
	f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+2:]))
	minflt, _ = strconv.ParseInt(f[7], 10, 64)
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, minflt, nil
}

// serverUsage returns the CPU time and the minor page faults so far of the
// live processes whose command line contains one of markers (smbds'
// config files: each server and its per-connection children).
func serverUsage(markers ...string) func() (time.Duration, int64) {
	return func() (cpu time.Duration, faults int64) {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || !slices.ContainsFunc(markers, func(m string) bool { return bytes.Contains(cmdline, []byte(m)) }) {
				continue
			}
			if c, n, err := procUsage(pid); err == nil {
				cpu += c
				faults += n
			}
		}
		return cpu, faults
	}
}

// loadavg describes the machine: CPUs and load average, which tell how
// far the figures can be trusted on a shared machine.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// profile ends the running CPU profile and, unless name is empty, starts
// one written to name.pprof; it does nothing unless davgate runs
// in-process for profiling.
func (p *davgateProcess) profile(name string) {
	if p.profiles == "" {
		return
	}
	if p.stopProf != nil {
		p.stopProf()
		p.stopProf = nil
	}
	if name == "" {
		return
	}
	f, err := os.Create(filepath.Join(p.profiles, name+".pprof"))
	if err != nil {
		p.b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		p.b.Fatal(err)
	}
	p.stopProf = func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// pageReportingOrder is the smallest block of free memory, as a buddy
// allocator order, that the guest kernel's free page reporting hands back
// to the hypervisor. A write into the page cache that lands on memory
// handed back runs 3 to 10 times slower while the host faults it in again,
// and which write meets it depends on when the kernel last reported, not
// on the writer: on these VMs `dd` of 1 GiB swings between 350 and 3,900
// MB/s from one run to the next, and the bench's PUT runs took turns being
// slow, davgate's in some runs of the bench, the direct client's in others.
const pageReportingOrder = "/sys/module/page_reporting/parameters/page_reporting_order"

// pausePageReporting stops free page reporting until the end of the
// benchmark: with an order above the allocator's largest block nothing is
// reported, and memory freed by one run stays in the guest for the next.
// It says what it did, or "" where the kernel has no page reporting or the
// setting cannot be changed. DAVGATE_BENCH_KEEP_PAGE_REPORTING set leaves
// it on, to see the difference.
func pausePageReporting(b *testing.B) (note string) {
	old, err := os.ReadFile(pageReportingOrder)
	if err != nil {
		return ""
	}
	if os.Getenv("DAVGATE_BENCH_KEEP_PAGE_REPORTING") != "" {
		return "free page reporting left on (DAVGATE_BENCH_KEEP_PAGE_REPORTING): the 1 GiB writes swing with it"
	}
	if string(bytes.TrimSpace(old)) == "11" {
		// Left by a bench killed before it could put it back; 9, the
		// pageblock order on x86-64, is the default.
		old = []byte("9")
	}
	if err := os.WriteFile(pageReportingOrder, []byte("11"), 0); err != nil {
		return ""
	}
	b.Cleanup(func() {
		if err := os.WriteFile(pageReportingOrder, old, 0); err != nil {
			b.Errorf("restore %s to %s: %v", pageReportingOrder, bytes.TrimSpace(old), err)
		}
	})
	return fmt.Sprintf("free page reporting paused while measuring (%s %s -> 11, put back at the end)",
		pageReportingOrder, bytes.TrimSpace(old))
}

// smbdMalloc is the environment both of the bench's smbds run with, and
// what the report says of it. glibc's malloc serves smbd's 1 MiB read and
// write buffers from its heap, and hands the top of the heap back to the
// kernel whenever more than about twice the largest buffer freed so far
// lies free there. With several requests in flight whose buffers smbd
// frees together (davgate keeps three reads and two writes in flight),
// that can happen after every few requests: strace shows smbd's heap
// growing by 2 MiB and shrinking back thousands of times per GiB, and
// smbd then faults every buffer in afresh, 150,000 to 170,000 page faults
// and about twice its CPU per GiB. Whether it happens depends on where
// smbd's other allocations lie in its heap, so it came and went from one
// bench to the next (and with a plain go-smb2 client keeping three 1 MiB
// reads in flight too), while the direct client, one request at a time,
// never meets it. Fixing the two thresholds, for both servers alike,
// takes that out of the comparison; DAVGATE_BENCH_STOCK_MALLOC set runs
// smbd with glibc's defaults, to see it.
func smbdMalloc() (env []string, note string) {
	if os.Getenv("DAVGATE_BENCH_STOCK_MALLOC") != "" {
		return nil, "smbd runs with glibc's malloc defaults (DAVGATE_BENCH_STOCK_MALLOC): davgate's GET and PUT may meet smbd trimming its heap; see the page faults"
	}
	const tunables = "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=16777216"
	return []string{tunables}, "both smbds run with " + tunables + " (heap trimming out of the comparison; DAVGATE_BENCH_STOCK_MALLOC=1 runs them stock)"
}
