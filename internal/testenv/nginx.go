package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Nginx is a running nginx whose http { } context includes a site
// configuration the test wrote.
type Nginx struct {
	// Dir holds nginx.conf, the site file, logs and temporary files.
	Dir string
}

// StartNginx runs Debian's nginx in the foreground with site (directives
// for the http { } context, e.g. deploy/nginx/davgate.conf with its
// addresses replaced), waits until addr accepts connections, and stops it
// when the test ends. Its error log is shown if the test fails.
func StartNginx(t testing.TB, site, addr string) *Nginx {
	t.Helper()
	Need(t, "nginx")
	n := &Nginx{Dir: stateDir(t, "davgate-nginx-")}
	// The workers (user nobody) write request bodies nginx buffers here.
	WritableDir(t, filepath.Join(n.Dir, "tmp"))
	d := func(name string) string { return filepath.Join(n.Dir, name) }
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %s;
error_log %s info;
events { worker_connections 512; }
http {
	access_log %s;
	client_body_temp_path %s;
	proxy_temp_path %s;
	fastcgi_temp_path %s;
	uwsgi_temp_path %s;
	scgi_temp_path %s;
	include %s;
}
`, d("nginx.pid"), d("error.log"), d("access.log"), d("tmp/body"), d("tmp/proxy"),
		d("tmp/fastcgi"), d("tmp/uwsgi"), d("tmp/scgi"), d("site.conf"))
	for name, text := range map[string]string{"nginx.conf": conf, "site.conf": site} {
		if err := os.WriteFile(d(name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := startProcess("nginx", []string{"-c", d("nginx.conf"), "-e", d("error.log")}, d("nginx.out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(d("error.log"))
			t.Logf("nginx error log (last 4 KiB):\n%s", b[max(0, len(b)-4096):])
		}
	})
	if err := waitListening(addr, p.cmd, p.exited, 10*time.Second); err != nil {
		b, _ := os.ReadFile(d("error.log"))
		out, _ := os.ReadFile(d("nginx.out"))
		t.Fatalf("nginx: %v\n%s%s", err, out, b)
	}
	return n
}
