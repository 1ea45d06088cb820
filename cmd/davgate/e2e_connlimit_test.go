package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"testing"
	"time"
)

// closedByServer reports whether the server has closed c: a read ends in
// EOF (or a reset) within wait, rather than timing out.
func closedByServer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestEndToEndUnauthenticatedConnLimit(t *testing.T) {
	f := newFixture(t, "memory")
	cfg, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfgPath, append(cfg, "max_unauthenticated_conns: 5\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)

	// An authenticated keep-alive client, connected before the flood.
	hc := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	defer hc.CloseIdleConnections()
	propfind := func() (status int, reused bool) {
		t.Helper()
		req, _ := http.NewRequest("PROPFIND", in.URL+"/dav/data/", nil)
		req.Header.Set("Depth", "0")
		bearer(alice.Token)(req)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
		}))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("PROPFIND with a device token: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, reused
	}
	if st, _ := propfind(); st != http.StatusMultiStatus {
		t.Fatalf("PROPFIND: status %d", st)
	}

	// The log-on's connection is not authenticated (no token): drop it,
	// so that the limit's 5 are all the flood's.
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)

	addr := strings.TrimPrefix(in.URL, "http://")
	var idle []net.Conn
	for range 20 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		idle = append(idle, nc)
	}
	time.Sleep(300 * time.Millisecond)
	var open []net.Conn
	start := time.Now()
	for _, nc := range idle {
		if !closedByServer(nc, 500*time.Millisecond) {
			open = append(open, nc)
		}
	}
	t.Logf("of 20 idle connections, %d left open (checked in %v)", len(open), time.Since(start))
	// At most 5; and exactly 5, as the authenticated one does not count.
	if len(open) != 5 {
		t.Errorf("%d of 20 idle unauthenticated connections stay open; want 5", len(open))
	}

	if st, reused := propfind(); st != http.StatusMultiStatus || !reused {
		t.Errorf("authenticated keep-alive client during the flood: status %d, connection reused %v; want 207 on its open connection", st, reused)
	}

	for _, nc := range open {
		nc.Close()
	}
	time.Sleep(200 * time.Millisecond)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := fresh.Get(in.URL + "/healthz")
	if err != nil {
		t.Fatalf("new connection after the idle ones closed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz after the flood: status %d", resp.StatusCode)
	}
	if n := strings.Count(in.Log.String(), "unauthenticated connection limit reached"); n != 1 {
		t.Errorf("limit logged %d times at warn, want once per burst:\n%s", n, in.Log)
	}
}
