package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// waitReady polls url until it answers want, and returns the body.
func waitReady(t *testing.T, url string, want int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, body := getFresh(t, url, nil)
		if resp.StatusCode == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d %q after %v, want %d", url, resp.StatusCode, body, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// /readyz, on both listeners, follows the Redis store: unready while
// Redis is down and ready again once it is back; /healthz stays 200.
func TestEndToEndReadinessFollowsRedis(t *testing.T) {
	r := testenv.StartRedis(t)
	f := newFixture(t, r.URL)
	appendConfig(t, f.cfgPath, "metrics_listen: 127.0.0.1:0\n")
	in := startDavgate(t, f.cfgPath)
	m := metricsListening.FindStringSubmatch(in.Out.String())
	if m == nil {
		t.Fatalf("no metrics listener:\n%s", in.Out)
	}
	probes := []string{in.URL, strings.TrimSuffix(m[1], "/metrics")}
	for _, base := range probes {
		waitReady(t, base+"/readyz", http.StatusOK, time.Second)
	}
	r.Stop(t)
	for _, base := range probes {
		if body := waitReady(t, base+"/readyz", http.StatusServiceUnavailable, 5*time.Second); !strings.Contains(body, "store unreachable") {
			t.Errorf("%s/readyz with Redis down: %q, want store unreachable", base, body)
		}
		if resp, _ := getFresh(t, base+"/healthz", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s/healthz with Redis down = %d, want 200", base, resp.StatusCode)
		}
	}
	r.Start(t)
	for _, base := range probes {
		waitReady(t, base+"/readyz", http.StatusOK, 10*time.Second)
	}
	if !strings.Contains(in.Log.String(), `"msg":"not ready"`) {
		t.Errorf("the change to not ready was not logged:\n%s", in.Log)
	}
}

// A Redis that hangs (SIGSTOP: connections open, no answers) costs a
// request about 2 s, then 503, and /readyz turns unready as fast. Before,
// go-redis' defaults made every request wait about 20 s.
func TestEndToEndHungRedisAnswers503Quickly(t *testing.T) {
	r := testenv.StartRedis(t)
	f := newFixture(t, r.URL)
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(alice.Token), "Depth", "0"); resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND before the hang = %d", resp.StatusCode)
	}
	thaw := r.Freeze(t)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		auth   func(*http.Request)
		body   string
	}{
		{"WebDAV request with a token", "PROPFIND", "/dav/data/", bearer(alice.Token), ""},
		{"log-on", "POST", "/api/v1/sessions", nil, `{"username":"dgalice","password":"` + alicePass + `"}`},
		{"readiness", "GET", "/readyz", nil, ""},
	} {
		start := time.Now()
		resp, _ := c.do(tc.method, tc.path, strings.NewReader(tc.body), tc.auth, "Depth", "0", "Content-Type", "application/json")
		d := time.Since(start)
		t.Logf("%s with Redis hung: %d after %v", tc.name, resp.StatusCode, d)
		if resp.StatusCode != http.StatusServiceUnavailable || d > 3*time.Second {
			t.Errorf("%s with Redis hung = %d after %v, want 503 within 3 s", tc.name, resp.StatusCode, d)
		}
	}
	thaw()
	waitReady(t, in.URL+"/readyz", http.StatusOK, 10*time.Second)
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(alice.Token), "Depth", "0"); resp.StatusCode != http.StatusMultiStatus {
		t.Errorf("PROPFIND after Redis resumed = %d, want 207", resp.StatusCode)
	}
}
