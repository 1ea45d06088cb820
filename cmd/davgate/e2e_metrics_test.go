package main

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var metricsListening = regexp.MustCompile(`metrics listening on (http://\S+/metrics)`)

// scrape reads a Prometheus text exposition into series -> value, each
// series named as series() names it.
func scrape(t *testing.T, url string) (map[string]float64, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %d %s\n%.500s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: line %q: %v", line, err)
		}
		name, labels, _ := strings.Cut(line[:i], "{")
		var kv []string
		for _, m := range labelPair.FindAllStringSubmatch(labels, -1) {
			kv = append(kv, m[1], m[2])
		}
		out[series(name, kv...)] = v
	}
	return out, string(b)
}

// scrapeSettled scrapes once no request is in flight: a client may read
// a whole response before the handler returns and its request is counted.
// The registry gathers its metrics concurrently, so the scrape that sees
// none in flight may have read a counter before the last request ended;
// the scrape after it is the one returned.
func scrapeSettled(t *testing.T, url string) (map[string]float64, string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, _ := scrape(t, url)
		if m[series("davgate_http_requests_in_flight")] == 0 || time.Now().After(deadline) {
			return scrape(t, url)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var labelPair = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// series names a series by its metric name and label pairs in any order.
func series(name string, kv ...string) string {
	var ps []string
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, kv[i]+"="+strconv.Quote(kv[i+1]))
	}
	sort.Strings(ps)
	return name + "{" + strings.Join(ps, ",") + "}"
}

// With metrics_listen set, davgate serves Prometheus metrics there, and
// only there: requests, log-ons and SMB connection events move the
// counters by what happened, and no user name, password, token or session
// id appears in them.
func TestEndToEndMetrics(t *testing.T) {
	f := newFixture(t, "memory")
	b, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := append(b, "metrics_listen: 127.0.0.1:0\nsmb: {reply_timeout: 1s}\n"...)
	if err := os.WriteFile(f.cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	in := startDavgate(t, f.cfgPath)
	m := metricsListening.FindStringSubmatch(in.Out.String())
	if m == nil {
		t.Fatalf("no metrics listener announced; stdout:\n%s", in.Out)
	}
	metricsURL := m[1]
	if strings.HasPrefix(metricsURL, strings.TrimSuffix(in.URL, "/")+"/") {
		t.Fatalf("metrics on the WebDAV listener: %s", metricsURL)
	}
	c := client{t: t, base: in.URL}

	before, _ := scrapeSettled(t, metricsURL)
	c.logon("dgalice", "wrong password", http.StatusUnauthorized)
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	content := strings.Repeat("metrics!", 8192) // 64 KiB
	if resp, b := c.do("PUT", "/dav/data/m.txt", strings.NewReader(content), bearer(alice.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d %s", resp.StatusCode, b)
	}
	if resp, b := c.do("GET", "/dav/data/m.txt", nil, bearer(alice.Token)); resp.StatusCode != 200 || b != content {
		t.Fatalf("GET = %d, %d bytes", resp.StatusCode, len(b))
	}
	after, text := scrapeSettled(t, metricsURL)

	logonBody := func(pass string) float64 {
		return float64(len(`{"username":"dgalice","password":"` + pass + `","label":"test device"}`))
	}
	moved := []struct {
		series string
		delta  float64
	}{
		{series("davgate_logons_total", "result", "ok"), 1},
		{series("davgate_logons_total", "result", "refused"), 1},
		{series("davgate_logons_total", "result", "rate_limited"), 0},
		{series("davgate_logons_total", "result", "error"), 0},
		{series("davgate_http_requests_total", "method", "POST", "code", "201"), 1},
		{series("davgate_http_requests_total", "method", "POST", "code", "401"), 1},
		{series("davgate_http_requests_total", "method", "PUT", "code", "201"), 1},
		{series("davgate_http_requests_total", "method", "GET", "code", "200"), 1},
		{series("davgate_http_request_duration_seconds_count", "method", "PUT"), 1},
		{series("davgate_http_request_duration_seconds_count", "method", "GET"), 1},
		{series("davgate_http_request_body_bytes_total", "method", "PUT"), float64(len(content))},
		{series("davgate_http_request_body_bytes_total", "method", "POST"), logonBody("wrong password") + logonBody(alicePass)},
		{series("davgate_http_response_body_bytes_total", "method", "GET"), float64(len(content))},
		// One dial checks the password at log-on, one serves the PUT and
		// the GET; the wrong password is refused by the server.
		{series("davgate_smb_dials_total", "mech", "ntlm", "result", "ok"), 2},
		{series("davgate_smb_dials_total", "mech", "ntlm", "result", "refused"), 1},
		{series("davgate_smb_dials_total", "mech", "ntlm", "result", "error"), 0},
		{series("davgate_smb_hung_connections_closed_total"), 0},
		{series("davgate_smb_redials_total"), 0},
	}
	for _, s := range moved {
		a, ok := after[s.series]
		if !ok {
			t.Errorf("%s is missing", s.series)
			continue
		}
		if d := a - before[s.series]; d != s.delta {
			t.Errorf("%s moved by %v, want %v", s.series, d, s.delta)
		}
	}
	// The log-on check's connection is closed; the share's stays pooled.
	if got := after[series("davgate_smb_connections_open")]; got != 1 {
		t.Errorf("davgate_smb_connections_open = %v, want 1", got)
	}
	// The 64 KiB GET and PUT took no buffer beyond their first, and gave
	// back what they had.
	if got, ok := after[series("davgate_transfer_buffers_mib")]; !ok || got != 0 {
		t.Errorf("davgate_transfer_buffers_mib = %v (present: %v), want 0", got, ok)
	}
	if got := after[series("davgate_transfer_buffers_limit_mib")]; got != 256 {
		t.Errorf("davgate_transfer_buffers_limit_mib = %v, want 256 (the default)", got)
	}
	if got := after[series("davgate_http_requests_in_flight")]; got != 0 {
		t.Errorf("davgate_http_requests_in_flight = %v, want 0", got)
	}
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if _, ok := after[series(name)]; !ok {
			t.Errorf("%s is missing: no Go or process collector", name)
		}
	}
	assertNoSecrets(t, text, "dgalice", alicePass, "wrong password", alice.Token, alice.ID, "m.txt", "/dav/")

	// A file server that hangs: the watchdog closes the connection, and
	// the next request redials.
	thaw := f.smbd.Freeze(t)
	if resp, _ := c.do("GET", "/dav/data/m.txt", nil, bearer(alice.Token)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET from a hung file server = %d, want 503", resp.StatusCode)
	}
	thaw()
	hung, _ := scrapeSettled(t, metricsURL)
	if resp, _ := c.do("GET", "/dav/data/m.txt", nil, bearer(alice.Token)); resp.StatusCode != 200 {
		t.Errorf("GET after the server recovered = %d", resp.StatusCode)
	}
	redialed, _ := scrapeSettled(t, metricsURL)
	for _, s := range []struct {
		name      string
		got, want float64
	}{
		{"hung connections closed", hung[series("davgate_smb_hung_connections_closed_total")] - after[series("davgate_smb_hung_connections_closed_total")], 1},
		{"connections open while hung", hung[series("davgate_smb_connections_open")], 0},
		{"GETs answered 503", hung[series("davgate_http_requests_total", "method", "GET", "code", "503")], 1},
		{"redials", redialed[series("davgate_smb_redials_total")] - hung[series("davgate_smb_redials_total")], 1},
		{"connections open after the redial", redialed[series("davgate_smb_connections_open")], 1},
	} {
		if s.got != s.want {
			t.Errorf("%s = %v, want %v", s.name, s.got, s.want)
		}
	}

	// The WebDAV listener does not serve metrics, with or without a token.
	for _, auth := range []func(*http.Request){nil, bearer(alice.Token)} {
		resp, b := c.do("GET", "/metrics", nil, auth)
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /metrics on the WebDAV listener = %d, want 404 or 401", resp.StatusCode)
		}
		if strings.Contains(b, "davgate_") || strings.Contains(b, "go_goroutines") {
			t.Errorf("the WebDAV listener served metrics: %.200s", b)
		}
	}
	// And the metrics listener serves nothing but /metrics and the probes.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/dav/data/": 404, "/login": 404} {
		if resp, err := http.Get(strings.TrimSuffix(metricsURL, "/metrics") + path); err != nil || resp.StatusCode != want {
			t.Errorf("GET %s on the metrics listener = %v, %v; want %d", path, resp, err, want)
		} else {
			resp.Body.Close()
		}
	}
}
