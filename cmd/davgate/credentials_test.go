package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExpandCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, path, dir, want, err string
	}{
		{"systemd credential", "${CREDENTIALS_DIRECTORY}/master.keys", "/run/credentials/davgate.service", "/run/credentials/davgate.service/master.keys", ""},
		{"trailing slash", "${CREDENTIALS_DIRECTORY}/master.keys", "/run/credentials/x/", "/run/credentials/x/master.keys", ""},
		{"plain path untouched", "/var/lib/davgate/master.keys", "", "/var/lib/davgate/master.keys", ""},
		{"unset", "${CREDENTIALS_DIRECTORY}/master.keys", "", "", "LoadCredential="},
		{"other variables are not expanded", "${HOME}/master.keys", "/run/c", "${HOME}/master.keys", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{MasterKeyFile: tc.path, TLS: TLSConfig{Cert: "/etc/tls/cert.pem"}}
			err := c.expandCredentials(func(k string) string {
				if k == "CREDENTIALS_DIRECTORY" {
					return tc.dir
				}
				return "/root"
			})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "master_key_file") {
					t.Fatalf("err = %v, want one naming master_key_file and %s", err, tc.err)
				}
				return
			}
			if err != nil || c.MasterKeyFile != tc.want || c.TLS.Cert != "/etc/tls/cert.pem" {
				t.Errorf("master_key_file = %q, tls.cert %q, err %v; want %q", c.MasterKeyFile, c.TLS.Cert, err, tc.want)
			}
		})
	}
}

// davgate serve reads its keyring from systemd's credentials directory
// (LoadCredential=: a file of mode 0400 in $CREDENTIALS_DIRECTORY) when
// master_key_file names ${CREDENTIALS_DIRECTORY}, and refuses to start
// when that is not set.
func TestServeKeyringFromCredentials(t *testing.T) {
	f := newFixture(t, "memory")
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	keys, err := os.ReadFile(filepath.Join(f.dir, "master.keys"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "master.keys"), keys, 0o400); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f.cfgPath)
	cfg := strings.Replace(string(b), "master_key_file: "+filepath.Join(f.dir, "master.keys"),
		"master_key_file: ${CREDENTIALS_DIRECTORY}/master.keys", 1)
	if cfg == string(b) {
		t.Fatalf("no master_key_file line to replace in\n%s", b)
	}
	if err := os.Remove(filepath.Join(f.dir, "master.keys")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = run(ctx, []string{"davgate", "serve", "--config", f.cfgPath}, func(string) string { return "" }, &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "CREDENTIALS_DIRECTORY") {
		t.Fatalf("serve without CREDENTIALS_DIRECTORY = %v, want an error naming it", err)
	}

	in := startDavgateEnv(t, f.cfgPath, map[string]string{"CREDENTIALS_DIRECTORY": creds})
	c := client{t: t, base: in.URL}
	tok := c.logon("dgalice", alicePass, http.StatusCreated).Token
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(tok), "Depth", "0"); resp.StatusCode != 207 {
		t.Errorf("PROPFIND with a token sealed by the credential keyring = %d", resp.StatusCode)
	}
}

// startDavgateEnv is startDavgate with env as what davgate's getenv sees.
func startDavgateEnv(t *testing.T, cfgPath string, env map[string]string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	in := &instance{Log: stderr, Out: stdout, exited: make(chan error, 1)}
	go func() {
		in.exited <- run(ctx, []string{"davgate", "serve", "--config", cfgPath}, func(k string) string { return env[k] }, stdout, stderr)
	}()
	in.stop = func() { cancel(); <-in.exited }
	t.Cleanup(in.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			in.URL = m[1]
			break
		}
		select {
		case err := <-in.exited:
			in.stop = nil
			t.Fatalf("davgate exited: %v\n%s", err, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("davgate did not start; log:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitHealthy(t, in.URL)
	return in
}
