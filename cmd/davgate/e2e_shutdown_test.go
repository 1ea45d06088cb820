package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// appendConfig adds YAML lines to the fixture's config file.
func appendConfig(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// tempFiles lists davgate's temporary files in dir, with their sizes.
func tempFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".~davgate-") {
			if fi, err := e.Info(); err == nil {
				out[e.Name()] = fi.Size()
			}
		}
	}
	return out
}

// waitTempFile waits until a PUT has written at least n bytes to its
// temporary file in dir.
func waitTempFile(t *testing.T, dir string, n int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, size := range tempFiles(t, dir) {
			if size >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no upload under way in %s", dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slowPut PUTs size bytes at chunk bytes per gap and sends its status (0
// when the request failed) on the returned channel.
func slowPut(t *testing.T, url, token string, size, chunk int, gap time.Duration) <-chan int {
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("PUT", url, &slowReader{n: size, chunk: chunk, gap: gap})
		req.ContentLength = int64(size)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			t.Logf("slow PUT: %v", err)
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}

// stopAsync ends the instance as SIGTERM does (main turns it into ctx's
// end) without waiting; the channel closes when run has returned. The
// test's end waits for it.
func stopAsync(t *testing.T, in *instance) <-chan struct{} {
	stopped := make(chan struct{})
	go func() { in.Stop(); close(stopped) }()
	t.Cleanup(func() { <-stopped })
	return stopped
}

// getFresh sends a GET on a new connection.
func getFresh(t *testing.T, url string, auth func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != nil {
		auth(req)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// On SIGTERM a PUT under way finishes and is stored, while new requests
// get 503 with Retry-After and /readyz says the instance is shutting
// down; davgate exits once the PUT is done. Before, the listener closed
// at once (new requests: connection refused) and a PUT longer than 10 s
// was cut.
func TestEndToEndShutdownDrainsRunningTransfers(t *testing.T) {
	f := newFixture(t, "memory")
	appendConfig(t, f.cfgPath, "shutdown: {drain: 30s, cleanup: 10s}\n")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	dir := f.smbd.SharePath("data")

	const size = 3 << 20
	put := slowPut(t, in.URL+"/dav/data/drained.bin", alice.Token, size, 256<<10, 300*time.Millisecond)
	waitTempFile(t, dir, 256<<10)
	stopped := stopAsync(t, in)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(in.Log.String(), "shutting down: draining") {
		if time.Now().After(deadline) {
			t.Fatalf("no drain logged:\n%s", in.Log)
		}
		time.Sleep(10 * time.Millisecond)
	}

	resp, _ := getFresh(t, in.URL+"/dav/data/", bearer(alice.Token))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Errorf("new request while draining = %d, Retry-After %q, close %v; want 503 with Retry-After, connection closed",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close)
	}
	if resp, body := getFresh(t, in.URL+"/readyz", nil); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz while draining = %d %q, want 503 shutting down", resp.StatusCode, body)
	}
	if resp, _ = getFresh(t, in.URL+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz while draining = %d, want 200", resp.StatusCode)
	}

	select {
	case st := <-put:
		if st != http.StatusCreated {
			t.Fatalf("PUT running at SIGTERM = %d, want 201", st)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("PUT did not finish")
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("davgate did not exit after the last request")
	}
	if fi, err := os.Stat(filepath.Join(dir, "drained.bin")); err != nil || fi.Size() != size {
		t.Errorf("stored file: %v %v, want %d bytes", fi, err, size)
	}
	if left := tempFiles(t, dir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if !strings.Contains(in.Log.String(), "every request has ended") {
		t.Errorf("no clean end logged:\n%s", in.Log)
	}
}

// A PUT that outlasts shutdown.drain is cut, and its temporary file is
// removed before davgate closes its SMB connections: no full-size
// temporary file stays on the share. Before, davgate closed the SMB
// connections while the handler still ran, and the file stayed.
func TestEndToEndShutdownCutsTransfersPastDrain(t *testing.T) {
	f := newFixture(t, "memory")
	appendConfig(t, f.cfgPath, "shutdown: {drain: 1s, cleanup: 10s}\n")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	dir := f.smbd.SharePath("data")

	put := slowPut(t, in.URL+"/dav/data/cut.bin", alice.Token, 64<<20, 256<<10, 200*time.Millisecond)
	waitTempFile(t, dir, 512<<10)
	start := time.Now()
	stopped := stopAsync(t, in)
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("davgate did not exit")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("shutdown with drain 1s took %v", d)
	}
	if st := <-put; st == http.StatusCreated || st == http.StatusNoContent {
		t.Errorf("PUT cut at shutdown = %d, want a failure", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "cut.bin")); err == nil {
		t.Errorf("a cut PUT was stored")
	}
	if left := tempFiles(t, dir); len(left) > 0 {
		t.Errorf("temporary files left on the share after shutdown: %v\n%s", left, in.Log)
	}
	if !strings.Contains(in.Log.String(), "drain time over") {
		t.Errorf("cut not logged:\n%s", in.Log)
	}
}

// startBinary runs the built davgate binary with serve --config cfgPath
// and waits until it listens.
func startBinary(t *testing.T, bin, cfgPath string) (*exec.Cmd, *instance) {
	t.Helper()
	in := &instance{Log: &syncBuffer{}, Out: &syncBuffer{}}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = in.Out, in.Log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := listening.FindStringSubmatch(in.Out.String()); m != nil {
			in.URL = m[1]
			return cmd, in
		}
		if time.Now().After(deadline) {
			t.Fatalf("davgate did not start:\n%s", in.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits until the log holds what.
func waitLog(t *testing.T, in *instance, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(in.Log.String(), what) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q logged:\n%s", what, in.Log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The davgate binary drains on a real SIGTERM and exits 0 once the PUT
// under way is stored; a second SIGTERM ends the drain time at once, and
// the cut PUT's temporary file is still removed.
func TestBinaryShutdownOnSIGTERM(t *testing.T) {
	testenv.Need(t, "go")
	f := newFixture(t, "memory")
	appendConfig(t, f.cfgPath, "shutdown: {drain: 1m, cleanup: 10s}\n")
	bin := filepath.Join(t.TempDir(), "davgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := f.smbd.SharePath("data")
	exited := func(cmd *exec.Cmd, within time.Duration) error {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(within):
			t.Fatalf("davgate did not exit within %v", within)
			return nil
		}
	}

	cmd, in := startBinary(t, bin, f.cfgPath)
	alice := client{t: t, base: in.URL}.logon("dgalice", alicePass, http.StatusCreated)
	put := slowPut(t, in.URL+"/dav/data/sigterm.bin", alice.Token, 2<<20, 256<<10, 300*time.Millisecond)
	waitTempFile(t, dir, 256<<10)
	cmd.Process.Signal(syscall.SIGTERM)
	waitLog(t, in, "shutting down: draining")
	if resp, _ := getFresh(t, in.URL+"/api/v1/sessions", bearer(alice.Token)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("new request after SIGTERM = %d, want 503", resp.StatusCode)
	}
	if st := <-put; st != http.StatusCreated {
		t.Errorf("PUT under way at SIGTERM = %d, want 201", st)
	}
	if err := exited(cmd, 15*time.Second); err != nil {
		t.Errorf("davgate exit after SIGTERM: %v, want status 0\n%s", err, in.Log)
	}

	cmd, in = startBinary(t, bin, f.cfgPath)
	alice = client{t: t, base: in.URL}.logon("dgalice", alicePass, http.StatusCreated)
	put = slowPut(t, in.URL+"/dav/data/forced.bin", alice.Token, 64<<20, 256<<10, 200*time.Millisecond)
	waitTempFile(t, dir, 256<<10)
	cmd.Process.Signal(syscall.SIGTERM)
	waitLog(t, in, "shutting down: draining")
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := exited(cmd, 15*time.Second); err != nil {
		t.Errorf("davgate exit after a second SIGTERM: %v, want status 0", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("exit %v after the second SIGTERM, want at once", d)
	}
	if st := <-put; st == http.StatusCreated {
		t.Errorf("PUT cut by the second SIGTERM = %d", st)
	}
	if left := tempFiles(t, dir); len(left) > 0 {
		t.Errorf("temporary files left after a forced shutdown: %v\n%s", left, in.Log)
	}
	if !strings.Contains(in.Log.String(), "second signal") {
		t.Errorf("the second signal was not logged:\n%s", in.Log)
	}
}
