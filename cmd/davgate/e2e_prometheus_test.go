package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

const (
	rulesFile     = "../../deploy/prometheus/davgate-rules.yml"
	rulesTestFile = "../../deploy/prometheus/davgate-rules.test.yml"
)

var alertName = regexp.MustCompile(`(?m)^\s+- alert: (\w+)`)

// deploy/prometheus's alerting rules are valid and do what their unit
// tests say (Debian's promtool).
func TestPrometheusRulesPromtool(t *testing.T) {
	testenv.Need(t, "promtool")
	out := command(t, time.Minute, cmdOpts{}, "promtool", "check", "rules", rulesFile)
	t.Logf("promtool check rules: %s", out)
	out = command(t, time.Minute, cmdOpts{dir: "../../deploy/prometheus"}, "promtool", "test", "rules",
		"davgate-rules.test.yml")
	t.Logf("promtool test rules: %s", out)
	// Every alert has a unit test.
	rules, _ := os.ReadFile(rulesFile)
	tests, _ := os.ReadFile(rulesTestFile)
	for _, m := range alertName.FindAllStringSubmatch(string(rules), -1) {
		if !strings.Contains(string(tests), "alertname: "+m[1]+",") && !strings.Contains(string(tests), "alertname: "+m[1]+"\n") {
			t.Errorf("alert %s has no test in %s", m[1], rulesTestFile)
		}
	}
}

// A real Prometheus scrapes davgate's metrics listener with
// deploy/prometheus/prometheus.yml and loads the alerting rules; a log-on
// shows up in a series read back through its HTTP API; every davgate_*
// name the rules use is one davgate exports; no rule fails to evaluate.
func TestPrometheusScrapesDavgate(t *testing.T) {
	testenv.Need(t, "prometheus")
	f := newFixture(t, "memory")
	metricsPort := testenv.FreePort(t)
	appendConfig(t, f.cfgPath, fmt.Sprintf("metrics_listen: 127.0.0.1:%d\n", metricsPort))
	in := startDavgate(t, f.cfgPath)
	// deploy/k8s probes these on the metrics port.
	for _, p := range []string{"/healthz", "/readyz"} {
		waitHealthyPath(t, fmt.Sprintf("http://127.0.0.1:%d", metricsPort), p)
	}
	c := client{t: t, base: in.URL}
	c.logon("dgalice", "wrong password", http.StatusUnauthorized)
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	if resp, b := c.do("PUT", "/dav/data/p.txt", strings.NewReader("scraped"), bearer(alice.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d %s", resp.StatusCode, b)
	}

	config, err := os.ReadFile("../../deploy/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(config)
	for old, new := range map[string]string{
		`"127.0.0.1:9100"`:         fmt.Sprintf(`"127.0.0.1:%d"`, metricsPort),
		"scrape_interval: 15s":     "scrape_interval: 1s",
		"evaluation_interval: 15s": "evaluation_interval: 1s",
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("deploy/prometheus/prometheus.yml has no %q to replace", old)
		}
		cfg = strings.ReplaceAll(cfg, old, new)
	}
	prom := testenv.StartPrometheus(t, cfg, map[string]string{"davgate-rules.yml": string(rules)})

	q := `davgate_logons_total{job="davgate",result="ok"}`
	if v := waitQuery(t, prom.URL, q, func(v float64) bool { return v == 1 }); v != 1 {
		t.Fatalf("%s through Prometheus = %v, want 1", q, v)
	}
	q = `sum(davgate_http_requests_total{job="davgate",method="PUT",code="201"})`
	if v := waitQuery(t, prom.URL, q, func(v float64) bool { return v == 1 }); v != 1 {
		t.Errorf("%s through Prometheus = %v, want 1", q, v)
	}
	names := promNames(t, prom.URL)
	for _, n := range slices.Compact(slices.Sorted(slices.Values(regexp.MustCompile(`davgate_\w+`).FindAllString(string(rules), -1)))) {
		if !slices.Contains(names, n) {
			t.Errorf("the rules name %s, which davgate does not export (it exports %q)", n, names)
		}
	}
	checkRulesHealthy(t, prom.URL, len(alertName.FindAllString(string(rules), -1)))
	// A healthy davgate raises no alert, not even a pending one.
	waitNoAlerts(t, prom.URL)
}

// promAPI GETs a Prometheus HTTP API path and decodes its data.
func promAPI(t *testing.T, base, path string, data any) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   json.RawMessage
		Error  string
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("prometheus %s: %d %v %s", path, resp.StatusCode, err, r.Error)
	}
	if err := json.Unmarshal(r.Data, data); err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
}

// waitQuery evaluates an instant query until it has one sample for which
// ok is true, or 30 s pass; it returns the last value (-1: no sample).
func waitQuery(t *testing.T, base, query string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	v := -1.0
	for time.Now().Before(deadline) {
		var data struct {
			Result []struct{ Value [2]any }
		}
		promAPI(t, base, "/api/v1/query?query="+url.QueryEscape(query), &data)
		if len(data.Result) == 1 {
			fmt.Sscan(fmt.Sprint(data.Result[0].Value[1]), &v)
			if ok(v) {
				return v
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return v
}

// promNames are the metric names Prometheus holds from job davgate.
func promNames(t *testing.T, base string) []string {
	t.Helper()
	var names []string
	promAPI(t, base, "/api/v1/label/__name__/values?match[]="+url.QueryEscape(`{job="davgate"}`), &names)
	return names
}

// checkRulesHealthy waits until Prometheus has evaluated every rule of
// deploy/prometheus once, and fails on a rule whose evaluation failed.
func checkRulesHealthy(t *testing.T, base string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var data struct {
			Groups []struct {
				Rules []struct{ Name, Health, LastError string }
			}
		}
		promAPI(t, base, "/api/v1/rules", &data)
		n, unknown := 0, 0
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				n++
				switch r.Health {
				case "ok":
				case "unknown":
					unknown++
				default:
					t.Errorf("rule %s: %s %s", r.Name, r.Health, r.LastError)
				}
			}
		}
		if n == 0 || unknown > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("prometheus loaded %d rules, %d not evaluated yet", n, unknown)
			}
			time.Sleep(250 * time.Millisecond)
			continue
		}
		if n != want {
			t.Errorf("prometheus loaded %d rules, want the %d of deploy/prometheus/davgate-rules.yml", n, want)
		}
		return
	}
}

// waitNoAlerts waits up to 10 s for Prometheus to hold no firing or
// pending alert (DavgateAbsent is pending until the first scrape), and
// fails with those it still holds.
func waitNoAlerts(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var alerts struct {
			Alerts []struct {
				Labels map[string]string
				State  string
			}
		}
		promAPI(t, base, "/api/v1/alerts", &alerts)
		if len(alerts.Alerts) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, a := range alerts.Alerts {
				t.Errorf("alert %s is %s for a healthy davgate: %v", a.Labels["alertname"], a.State, a.Labels)
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
}
