package main

import (
	"strings"
	"testing"
	"time"
)

const goodConfig = `
listen: 127.0.0.1:8080
tls: {cert: "", key: ""}
master_key_file: /var/lib/davgate/master.keys
store: memory
auth:
  backend: smb
  smb: {url: "smb://fileserver.example.com:445/", domain: EXAMPLE}
shares:
  - {name: data, url: "smb://fileserver.example.com/data"}
  - {name: home, url: "smb://fileserver.example.com:445/homes/{user}"}
sessions: {browser_idle: 30m, browser_lifetime: 12h, device_idle: 720h, device_lifetime: 2160h}
`

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]byte(goodConfig))
	if err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	if got := time.Duration(c.Sessions.DeviceLifetime); got != 2160*time.Hour {
		t.Errorf("device_lifetime = %v, want 2160h", got)
	}
	if len(c.Shares) != 2 || c.Shares[1].URL != "smb://fileserver.example.com:445/homes/{user}" {
		t.Errorf("shares = %+v", c.Shares)
	}
	if c.Auth.SMB.Domain != "EXAMPLE" {
		t.Errorf("auth.smb.domain = %q", c.Auth.SMB.Domain)
	}
	if c.MetricsListen != "" {
		t.Errorf("metrics_listen = %q, want none by default", c.MetricsListen)
	}
	if c.MaxUnauthenticatedConns != 1024 {
		t.Errorf("max_unauthenticated_conns = %d, want 1024 by default", c.MaxUnauthenticatedConns)
	}
	if w := c.WebDAV; len(w.RefuseNames) != 0 || time.Duration(w.LockTimeout) != time.Hour ||
		time.Duration(w.MaxLockTimeout) != 24*time.Hour || w.BufferMiB != 256 ||
		w.MaxLocksPerUser != 1000 || w.MaxLocksPerShare != 10000 {
		t.Errorf("webdav defaults = %+v, want no refused names, 1h, 24h, 256 MiB, 1000 and 10000 locks", w)
	}
	if r := c.Redis; time.Duration(r.DialTimeout) != 2*time.Second || time.Duration(r.ReadTimeout) != time.Second ||
		time.Duration(r.WriteTimeout) != time.Second || r.MaxRetries != 1 {
		t.Errorf("redis defaults = %+v, want 2s, 1s, 1s and one retry", r)
	}
	if d := c.Shutdown; time.Duration(d.Drain) != time.Minute || time.Duration(d.Cleanup) != 15*time.Second {
		t.Errorf("shutdown defaults = %+v, want drain 1m, cleanup 15s", d)
	}
	c, err = parseConfig([]byte(goodConfig + "shutdown: {drain: 5m}\nredis: {read_timeout: 500ms, max_retries: 0}\n"))
	if err != nil || time.Duration(c.Shutdown.Drain) != 5*time.Minute || time.Duration(c.Redis.ReadTimeout) != 500*time.Millisecond || c.Redis.MaxRetries != 0 {
		t.Errorf("shutdown, redis = %+v, %+v, %v; want drain 5m, read_timeout 500ms, no retries", c.Shutdown, c.Redis, err)
	}
	c, err = parseConfig([]byte(goodConfig + "metrics_listen: 127.0.0.1:9100\n"))
	if err != nil || c.MetricsListen != "127.0.0.1:9100" {
		t.Errorf("metrics_listen = %q, %v; want 127.0.0.1:9100", c.MetricsListen, err)
	}
	c, err = parseConfig([]byte(goodConfig + "webdav: {buffer_mib: 64, refuse_names: [\"._*\"]}\n"))
	if err != nil || c.WebDAV.BufferMiB != 64 || len(c.WebDAV.RefuseNames) != 1 {
		t.Errorf("webdav = %+v, %v; want buffer_mib 64 and one refused name", c.WebDAV, err)
	}
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, edit, want string
	}{
		{"unknown top-level key", "listen: 127.0.0.1:8080\nlisten_port: 9", "unknown key listen_port"},
		{"unknown nested key", "sessions: {browser_idle: 30m, browser_idel: 1h}", "unknown key browser_idel"},
		{"bad duration", "sessions: {browser_idle: soon}", `"soon" is not a duration`},
		{"bad listen", "listen: localhost", "listen:"},
		{"bad store", "store: postgres://x", "store:"},
		{"bad backend", "auth: {backend: ntlm}", "auth.backend"},
		{"tls half set", `tls: {cert: "/c.pem"}`, "tls: cert and key"},
		{"no shares", "shares: []", "shares: at least one"},
		{"bad share name", `shares: [{name: "a/b", url: "smb://h/s"}]`, "shares[0].name"},
		{"duplicate share", `shares: [{name: a, url: "smb://h/s"}, {name: A, url: "smb://h/t"}]`, "shares[1].name"},
		{"share without url", `shares: [{name: a}]`, "shares[0].url"},
		{"negative duration", "smb: {idle_timeout: -1m}", "smb.idle_timeout"},
		{"bad log level", "log_level: loud", "log_level"},
		{"bad trusted proxy", "trusted_proxies: [lb.example.com]", "trusted_proxies"},
		{"bad metrics_listen", "metrics_listen: 9100", "metrics_listen:"},
		{"no unauthenticated connections", "max_unauthenticated_conns: 0", "max_unauthenticated_conns"},
		{"metrics on the WebDAV listener", "metrics_listen: 127.0.0.1:8080", "metrics_listen: must differ from listen"},
		{"bad refuse pattern", `webdav: {refuse_names: ["ok*", "[a-"]}`, "webdav.refuse_names[1]"},
		{"refuse pattern with a slash", `webdav: {refuse_names: ["a/b"]}`, "webdav.refuse_names[0]"},
		{"lock timeout above the maximum", "webdav: {lock_timeout: 2h, max_lock_timeout: 1h}", "webdav.lock_timeout"},
		{"zero lock timeout", "webdav: {max_lock_timeout: 0s}", "webdav.max_lock_timeout"},
		{"no buffer memory", "webdav: {buffer_mib: 0}", "webdav.buffer_mib"},
		{"no locks per user", "webdav: {max_locks_per_user: 0}", "webdav.max_locks_per_user"},
		{"zero redis read timeout", "redis: {read_timeout: 0s}", "redis.read_timeout"},
		{"negative redis retries", "redis: {max_retries: -1}", "redis.max_retries"},
		{"negative drain", "shutdown: {drain: -1s}", "shutdown.drain"},
		{"zero clean-up time", "shutdown: {cleanup: 0s}", "shutdown.cleanup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(overrideConfig(goodConfig, tt.edit)))
			if err == nil {
				t.Fatalf("config accepted, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// overrideConfig replaces the top-level keys that edit sets.
func overrideConfig(base, edit string) string {
	keys := map[string]bool{}
	for _, l := range strings.Split(edit, "\n") {
		if k, _, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, " ") {
			keys[k] = true
		}
	}
	var out []string
	skipping := false
	for _, l := range strings.Split(base, "\n") {
		if l != "" && !strings.HasPrefix(l, " ") {
			k, _, _ := strings.Cut(l, ":")
			skipping = keys[k]
		}
		if !skipping {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n" + edit + "\n"
}

func TestAuthBackendsFromConfig(t *testing.T) {
	tests := []struct {
		name, auth, want string // want: "" for success, else an error substring
	}{
		{"smb default server", "auth: {backend: smb}", ""},
		{"smb bad url", `auth: {backend: smb, smb: {url: "http://x/"}}`, "auth.smb.url"},
		{"ldap", `auth: {backend: ldap, ldap: {url: "ldaps://dc.example.com", bind_template: "{user}@example.com"}}`, ""},
		{"ldap bad url", `auth: {backend: ldap, ldap: {url: "dc.example.com"}}`, "auth.ldap"},
		{"ldap unknown key", `auth: {backend: ldap, ldap: {uri: "ldaps://x"}}`, "unknown key uri"},
		{"kerberos", `auth: {backend: kerberos, kerberos: {realm: EXAMPLE.COM, kdcs: ["dc1.example.com:88"], service_principal: HTTP/dav.example.com, keytab: /etc/davgate.keytab}}`, ""},
		{"kerberos group sid", `auth: {backend: kerberos, kerberos: {realm: EXAMPLE.COM, kdcs: ["dc1:88"], service_principal: HTTP/dav, keytab: /k, required_group_sid: "S-1-5-21-1-2-3-1105"}}`, ""},
		{"kerberos bad group sid", `auth: {backend: kerberos, kerberos: {realm: EXAMPLE.COM, kdcs: ["dc1:88"], service_principal: HTTP/dav, keytab: /k, required_group_sid: "Domain Users"}}`, "required_group_sid"},
		{"kerberos without keytab", `auth: {backend: kerberos, kerberos: {realm: EXAMPLE.COM, kdcs: ["dc1:88"], service_principal: HTTP/dav}}`, "keytab is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig([]byte(overrideConfig(goodConfig, tt.auth)))
			if err == nil {
				var shares []shareDef
				if shares, err = parseShares(c.Shares); err == nil {
					_, err = newAuthenticator(c, shares, nil)
				}
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// The example config shipped with the systemd unit is valid.
func TestDeployExampleConfig(t *testing.T) {
	c, err := loadConfig("../../deploy/systemd/davgate.yaml")
	if err != nil {
		t.Fatalf("deploy/systemd/davgate.yaml: %v", err)
	}
	shares, err := parseShares(c.Shares)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newAuthenticator(c, shares, nil); err != nil {
		t.Fatal(err)
	}
}
