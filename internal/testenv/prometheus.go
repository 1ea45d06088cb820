package testenv

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Prometheus is a running Prometheus server on 127.0.0.1.
type Prometheus struct {
	URL string // http://127.0.0.1:PORT, its web UI and HTTP API
	Dir string // its configuration, rule files and storage
}

// StartPrometheus runs Debian's prometheus with config (prometheus.yml)
// and files (rule files, named as config names them) in a directory of its
// own, and stops it when the test ends.
func StartPrometheus(t testing.TB, config string, files map[string]string) *Prometheus {
	t.Helper()
	Need(t, "prometheus")
	port := FreePort(t)
	p := &Prometheus{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: stateDir(t, "davgate-prometheus-")}
	files["prometheus.yml"] = config
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(p.Dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(p.Dir, "prometheus.log")
	proc, err := startProcess("prometheus", []string{
		"--config.file=" + filepath.Join(p.Dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(p.Dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--log.level=warn",
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		proc.stop()
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("prometheus log (last 4 KiB):\n%s", b[max(0, len(b)-4096):])
		}
	})
	if err := waitListening(fmt.Sprintf("127.0.0.1:%d", port), proc.cmd, proc.exited, 30*time.Second); err != nil {
		b, _ := os.ReadFile(log)
		t.Fatalf("prometheus: %v\n%s", err, b)
	}
	// It listens before its storage is open, answering 503 until then.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30 s: %v %v", resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
