package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// accessLines returns the instance's access lines ("msg":"request") for
// path.
func accessLines(in *instance, path string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(in.Log.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" && m["path"] == path {
			out = append(out, m)
		}
	}
	return out
}

// accessLineOf returns the access line of the request id, or nil.
func accessLineOf(in *instance, path, id string) map[string]any {
	for _, l := range accessLines(in, path) {
		if l["request_id"] == id {
			return l
		}
	}
	return nil
}

// The probes and the scrapes are in the access log at debug level, on
// the public listener and on the metrics listener: with log_level debug
// each has its line, at info none floods the log while an ordinary
// request still has its line at info. Before, neither listener logged a
// probe at any level, nor the metrics listener anything.
func TestEndToEndProbesInAccessLog(t *testing.T) {
	for _, level := range []string{"debug", "info"} {
		t.Run(level, func(t *testing.T) {
			f := newFixture(t, "memory")
			addConfig(t, f, "metrics_listen: 127.0.0.1:0\nlog_level: "+level+"\n")
			in := startDavgate(t, f.cfgPath)
			m := metricsListening.FindStringSubmatch(in.Out.String())
			if m == nil {
				t.Fatalf("no metrics listener; stdout:\n%s", in.Out)
			}
			metricsBase := strings.TrimSuffix(m[1], "/metrics")
			ids := map[string]string{}
			for _, u := range []string{in.URL + "/healthz", in.URL + "/readyz", metricsBase + "/healthz", metricsBase + "/readyz", m[1], in.URL + "/login"} {
				resp, _ := getFresh(t, u, nil)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-Id") == "" {
					t.Fatalf("GET %s = %d, X-Request-Id %q", u, resp.StatusCode, resp.Header.Get("X-Request-Id"))
				}
				ids[u] = resp.Header.Get("X-Request-Id")
			}
			in.Stop()
			for u, id := range ids {
				path := u[strings.LastIndex(u, "/"):]
				line := accessLineOf(in, path, id)
				wantLevel := "DEBUG"
				if path == "/login" {
					wantLevel = "INFO"
				}
				switch {
				case level == "info" && wantLevel == "DEBUG":
					if line != nil {
						t.Errorf("GET %s logged at log_level info: %v", u, line)
					}
				case line == nil:
					t.Errorf("GET %s (request %s) has no access line:\n%s", u, id, in.Log)
				case line["level"] != wantLevel || line["status"] != float64(200) || line["client"] != "127.0.0.1" || line["method"] != "GET":
					t.Errorf("GET %s: access line %v; want level %s, status 200, client 127.0.0.1", u, line, wantLevel)
				}
			}
		})
	}
}

// A request refused while draining has its access line at info, with
// the usual context (request id, method, path, client, user agent) and
// why: shutting down. Before, the 503s of a drain were in no log.
func TestEndToEndDrain503sInAccessLog(t *testing.T) {
	f := newFixture(t, "memory")
	appendConfig(t, f.cfgPath, "shutdown: {drain: 30s, cleanup: 10s}\n")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	put := slowPut(t, in.URL+"/dav/data/drain-log.bin", alice.Token, 2<<20, 256<<10, 300*time.Millisecond)
	waitTempFile(t, f.smbd.SharePath("data"), 256<<10)
	stopped := stopAsync(t, in)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(in.Log.String(), "shutting down: draining") {
		if time.Now().After(deadline) {
			t.Fatalf("no drain logged:\n%s", in.Log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, _ := getFresh(t, in.URL+"/dav/data/", bearer(alice.Token))
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != http.StatusServiceUnavailable || id == "" {
		t.Fatalf("new request while draining = %d, X-Request-Id %q; want 503 with an id", resp.StatusCode, id)
	}
	if st := <-put; st != http.StatusCreated {
		t.Errorf("PUT running at shutdown = %d, want 201", st)
	}
	<-stopped
	line := accessLineOf(in, "/dav/data/", id)
	want := map[string]any{"level": "INFO", "method": "GET", "status": float64(503), "client": "127.0.0.1",
		"reason": "shutting_down", "user_agent": "Go-http-client/1.1"}
	for k, v := range want {
		if line == nil || line[k] != v {
			t.Errorf("access line of the refused request: %v; want %s = %v", line, k, v)
			break
		}
	}
	assertNoSecrets(t, in.Log.String(), alicePass, alice.Token)
}
