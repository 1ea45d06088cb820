package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/davgate/davgate/session"
	"gopkg.in/yaml.v3"

	"github.com/davgate/davgate/internal/httplog"
)

// Config is davgate's configuration file. Unknown keys are errors.
type Config struct {
	Listen        string         `yaml:"listen"`
	TLS           TLSConfig      `yaml:"tls"`
	MasterKeyFile string         `yaml:"master_key_file"`
	Store         string         `yaml:"store"`
	Auth          AuthConfig     `yaml:"auth"`
	Shares        []ShareConfig  `yaml:"shares"`
	Sessions      SessionsConfig `yaml:"sessions"`
	SMB           SMBConfig      `yaml:"smb"`
	WebDAV        WebDAVConfig   `yaml:"webdav"`
	LogLevel      string         `yaml:"log_level"`
	// MetricsListen is where Prometheus metrics are served, at /metrics
	// (host:port; empty: not at all). Never the public listener: metrics
	// reveal usage.
	MetricsListen string `yaml:"metrics_listen"`
	// TrustedProxies are the addresses or CIDR prefixes of the reverse
	// proxies and load balancers in front of davgate, whose
	// X-Forwarded-For names the client (for rate limits and logs).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// AuditLog is where the audit trail goes, one JSON line per event:
	// a file path (appended to, reopened on SIGHUP), "stderr" or "-"
	// (default: beside the log, each line marked "stream":"audit"), or
	// "off".
	AuditLog string `yaml:"audit_log"`
	// MaxUnauthenticatedConns bounds the connections open that have not
	// yet carried a request with an accepted token; over it, new
	// connections are closed at once.
	MaxUnauthenticatedConns int `yaml:"max_unauthenticated_conns"`
	// Redis bounds how long the Redis store may take to answer.
	Redis RedisConfig `yaml:"redis"`
	// Shutdown is how SIGTERM and SIGINT end the process.
	Shutdown ShutdownConfig `yaml:"shutdown"`
}

// RedisConfig sets the Redis client's timeouts (store: redis://...). A
// hung Redis costs a request about (max_retries+1) × read_timeout, then
// 503.
type RedisConfig struct {
	DialTimeout  Duration `yaml:"dial_timeout"`
	ReadTimeout  Duration `yaml:"read_timeout"`
	WriteTimeout Duration `yaml:"write_timeout"`
	// MaxRetries: how often a command that failed on the network is
	// sent again (0: never).
	MaxRetries int `yaml:"max_retries"`
}

// ShutdownConfig (defaults 1m and 15s, within systemd's 90 s stop
// timeout): on SIGTERM or SIGINT new requests get 503 at once;
// requests running get Drain to finish, then their connections are cut
// and they get up to Cleanup to remove their temporary files before the
// SMB connections and the store close.
type ShutdownConfig struct {
	Drain   Duration `yaml:"drain"`
	Cleanup Duration `yaml:"cleanup"`
}

// TLSConfig names a certificate and key; both empty means plain HTTP.
type TLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// AuthConfig selects how passwords are checked at log-on.
type AuthConfig struct {
	Backend  string             `yaml:"backend"`
	SMB      SMBAuthConfig      `yaml:"smb"`
	LDAP     LDAPAuthConfig     `yaml:"ldap"`
	Kerberos KerberosAuthConfig `yaml:"kerberos"`
	// AllowPasswordBasic lets DAV clients send the real directory password in
	// Basic auth instead of a token. Off by default: it breaks goal 3.
	AllowPasswordBasic bool `yaml:"allow_password_basic"`
}

// SMBAuthConfig checks passwords by an SMB session setup.
type SMBAuthConfig struct {
	URL    string `yaml:"url"`
	Domain string `yaml:"domain"`
}

// LDAPAuthConfig checks passwords with an LDAP bind (authn.LDAP documents
// each field).
type LDAPAuthConfig struct {
	URL               string   `yaml:"url"`
	StartTLS          bool     `yaml:"start_tls"`
	CAFile            string   `yaml:"ca_file"`
	ServerName        string   `yaml:"server_name"`
	InsecurePlaintext bool     `yaml:"insecure_plaintext"`
	BindTemplate      string   `yaml:"bind_template"`
	BindDN            string   `yaml:"bind_dn"`
	BindPasswordFile  string   `yaml:"bind_password_file"`
	BaseDN            string   `yaml:"base_dn"`
	UserFilter        string   `yaml:"user_filter"`
	UserAttr          string   `yaml:"user_attr"`
	Domain            string   `yaml:"domain"`
	RequiredGroup     string   `yaml:"required_group"`
	GroupMembership   string   `yaml:"group_membership"`
	Attributes        []string `yaml:"attributes"`
	Timeout           Duration `yaml:"timeout"`
}

// KerberosAuthConfig checks passwords with a Kerberos AS exchange and
// verifies the KDC with davgate's own keytab (authn.Kerberos).
type KerberosAuthConfig struct {
	Realm            string   `yaml:"realm"`
	KDCs             []string `yaml:"kdcs"`
	ServicePrincipal string   `yaml:"service_principal"`
	Keytab           string   `yaml:"keytab"`
	Domain           string   `yaml:"domain"`
	// RequiredGroupSID admits only members (direct or nested) of the
	// group with this SID, read from the verified ticket's PAC (AD).
	RequiredGroupSID string   `yaml:"required_group_sid"`
	Timeout          Duration `yaml:"timeout"`
}

// ShareConfig is one share shown as /dav/<name>/.
type ShareConfig struct {
	Name string `yaml:"name"`
	// URL is smb://host[:port]/share[/path]; the path may use {user},
	// {domain} and {ldap:ATTRIBUTE}. A URL that is a single variable,
	// "{ldap:homeDirectory.url}", takes the whole URL from the directory.
	URL string `yaml:"url"`
	// Auth is how davgate logs on to the share's server as the user: ntlm
	// (default), kerberos, or kerberos-then-ntlm (NTLM only when Kerberos
	// fails for another reason than a refused password). Kerberos uses
	// smb.kerberos.
	Auth string `yaml:"auth"`
	// SPN is the server's Kerberos service principal, e.g.
	// cifs/fs1.example.com; default "cifs/" + the URL's host. Required for
	// Kerberos when the URL names the server by IP address.
	SPN string `yaml:"spn"`
}

// SessionsConfig holds the idle and absolute limits of both session kinds.
type SessionsConfig struct {
	BrowserIdle     Duration `yaml:"browser_idle"`
	BrowserLifetime Duration `yaml:"browser_lifetime"`
	DeviceIdle      Duration `yaml:"device_idle"`
	DeviceLifetime  Duration `yaml:"device_lifetime"`
	// LoginFlowTTL is how long an app log-on flow can be approved and
	// collected (1s to 1h, default 10m).
	LoginFlowTTL Duration `yaml:"login_flow_ttl"`
}

// SMBConfig tunes davgate's SMB connections to the file servers.
type SMBConfig struct {
	IdleTimeout Duration `yaml:"idle_timeout"`
	DialTimeout Duration `yaml:"dial_timeout"`
	// ReplyTimeout: a file server that owes a reply this long without
	// sending anything has its connection closed; the waiting requests get
	// 503 and the next one redials.
	ReplyTimeout Duration `yaml:"reply_timeout"`
	// Kerberos is the realm and KDCs of shares with auth kerberos or
	// kerberos-then-ntlm. When realm is unset and auth.backend is kerberos,
	// auth.kerberos's realm and kdcs are used.
	Kerberos SMBKerberosConfig `yaml:"kerberos"`
}

// WebDAVConfig shapes what the WebDAV side accepts.
type WebDAVConfig struct {
	// RefuseNames are patterns (path.Match, any case) of file and folder
	// names that may not be created, e.g. "._*", ".DS_Store", "Thumbs.db",
	// "desktop.ini". Default: none, every name is stored.
	RefuseNames []string `yaml:"refuse_names"`
	// LockTimeout is granted to a LOCK that asks for none; MaxLockTimeout
	// caps what a LOCK may ask for, Infinite included.
	LockTimeout    Duration `yaml:"lock_timeout"`
	MaxLockTimeout Duration `yaml:"max_lock_timeout"`
	// MaxLocksPerUser and MaxLocksPerShare bound the unexpired locks one
	// user holds over all shares, and one mounted share or folder holds;
	// a LOCK beyond either is refused, so no one can fill the lock store.
	MaxLocksPerUser  int `yaml:"max_locks_per_user"`
	MaxLocksPerShare int `yaml:"max_locks_per_share"`
	// BufferMiB bounds, in MiB, the read-ahead and write buffers all
	// transfers hold beyond one 1 MiB chunk each (up to 3 MiB per
	// transfer); past it, transfers move one chunk at a time.
	BufferMiB int `yaml:"buffer_mib"`
	// MetadataTTL is how long a file's metadata, once read, answers again
	// without asking the file server; changes made through any davgate
	// instance show at once (with Redis, instances share a generation per
	// share that every write bumps), those made on the server directly
	// after at most this long. Default 1s; 0 asks every time.
	MetadataTTL Duration `yaml:"metadata_ttl"`
}

// SMBKerberosConfig is where davgate gets Kerberos tickets for the file
// servers, with each user's stored password.
type SMBKerberosConfig struct {
	Realm string   `yaml:"realm"` // EXAMPLE.COM
	KDCs  []string `yaml:"kdcs"`  // host:port, tried in order over TCP
}

// smbKerberos is smb.kerberos, or auth.kerberos's realm and KDCs when
// smb.kerberos has no realm and the Kerberos backend is configured.
func (c *Config) smbKerberos() SMBKerberosConfig {
	if c.SMB.Kerberos.Realm == "" && len(c.SMB.Kerberos.KDCs) == 0 && c.Auth.Backend == "kerberos" {
		return SMBKerberosConfig{Realm: c.Auth.Kerberos.Realm, KDCs: c.Auth.Kerberos.KDCs}
	}
	return c.SMB.Kerberos
}

// Duration reads Go duration strings such as "30m" or "720h".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 30m, 12h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func defaultConfig() Config {
	return Config{
		Listen:        "127.0.0.1:8080",
		MasterKeyFile: "/var/lib/davgate/master.keys",
		Store:         "memory",
		Auth:          AuthConfig{Backend: "smb"},
		Sessions: SessionsConfig{
			BrowserIdle:     Duration(30 * time.Minute),
			BrowserLifetime: Duration(12 * time.Hour),
			DeviceIdle:      Duration(720 * time.Hour),
			DeviceLifetime:  Duration(2160 * time.Hour),
			LoginFlowTTL:    Duration(10 * time.Minute),
		},
		SMB: SMBConfig{IdleTimeout: Duration(5 * time.Minute), DialTimeout: Duration(15 * time.Second),
			ReplyTimeout: Duration(time.Minute)},
		WebDAV: WebDAVConfig{LockTimeout: Duration(time.Hour), MaxLockTimeout: Duration(24 * time.Hour),
			MaxLocksPerUser: 1000, MaxLocksPerShare: 10000, BufferMiB: 256, MetadataTTL: Duration(time.Second)},
		LogLevel:                "info",
		MaxUnauthenticatedConns: 1024,
		Redis: RedisConfig{DialTimeout: Duration(session.DefaultRedisDialTimeout), ReadTimeout: Duration(session.DefaultRedisReadTimeout),
			WriteTimeout: Duration(session.DefaultRedisWriteTimeout), MaxRetries: session.DefaultRedisMaxRetries},
		Shutdown: ShutdownConfig{Drain: Duration(time.Minute), Cleanup: Duration(15 * time.Second)},
	}
}

// loadConfig reads and checks a config file.
func loadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := parseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

func parseConfig(b []byte) (Config, error) {
	c := defaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, cleanYAMLError(err)
	}
	if err := c.check(); err != nil {
		return Config{}, err
	}
	return c, nil
}

var fieldNotFound = regexp.MustCompile(`line (\d+): field (\S+) not found in type main\.(\w+)`)

// cleanYAMLError turns yaml.v3's Go type names into config key language.
func cleanYAMLError(err error) error {
	msg := fieldNotFound.ReplaceAllString(err.Error(), "line $1: unknown key $2")
	msg = strings.ReplaceAll(msg, "yaml: ", "")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	return errors.New(msg)
}

var shareName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (c *Config) check() error {
	for _, check := range []func() error{c.checkListeners, c.checkShares, c.checkTimes, c.checkWebDAV, c.checkLogging} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// checkListeners checks the listeners, TLS, the key file, the store and
// the authenticator's backend.
func (c *Config) checkListeners() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if c.MetricsListen != "" {
		_, port, err := net.SplitHostPort(c.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics_listen: %q is not host:port", c.MetricsListen)
		}
		if c.MetricsListen == c.Listen && port != "0" {
			return errors.New("metrics_listen: must differ from listen: metrics are not served to WebDAV clients")
		}
	}
	if c.MaxUnauthenticatedConns < 1 {
		return fmt.Errorf("max_unauthenticated_conns: %d, want at least 1", c.MaxUnauthenticatedConns)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("tls: cert and key must be set together")
	}
	if c.MasterKeyFile == "" {
		return errors.New("master_key_file: must be set")
	}
	if session.IsFileStore(c.Store) {
		if _, err := session.FileStorePath(c.Store); err != nil {
			return err
		}
	} else if c.Store != "memory" && !strings.HasPrefix(c.Store, "redis://") && !strings.HasPrefix(c.Store, "rediss://") {
		return fmt.Errorf("store: %q must be memory, a redis:// URL or file:///path", c.Store)
	}
	switch c.Auth.Backend {
	case "smb", "ldap", "kerberos":
	default:
		return fmt.Errorf("auth.backend: %q is not supported (supported: smb, ldap, kerberos)", c.Auth.Backend)
	}
	return nil
}

// checkShares checks each share's name, URL and log-on mechanism.
func (c *Config) checkShares() error {
	if len(c.Shares) == 0 {
		return errors.New("shares: at least one share is needed")
	}
	seen := map[string]bool{}
	for i, s := range c.Shares {
		if !shareName.MatchString(s.Name) {
			return fmt.Errorf("shares[%d].name: %q must be letters, digits, '.', '_' or '-'", i, s.Name)
		}
		if seen[strings.ToLower(s.Name)] {
			return fmt.Errorf("shares[%d].name: %q appears twice", i, s.Name)
		}
		seen[strings.ToLower(s.Name)] = true
		if s.URL == "" {
			return fmt.Errorf("shares[%d].url: must be set", i)
		}
		mech, err := session.ParseMech(s.Auth)
		if err != nil {
			return fmt.Errorf("shares[%d].auth: %w", i, err)
		}
		if s.SPN != "" {
			if !mech.UsesKerberos() {
				return fmt.Errorf("shares[%d].spn: only used with auth kerberos or kerberos-then-ntlm", i)
			}
			if err := session.CheckSPN(s.SPN); err != nil {
				return fmt.Errorf("shares[%d].spn: %w", i, err)
			}
		}
		if mech.UsesKerberos() {
			k := c.smbKerberos()
			if err := (session.Kerberos{Realm: k.Realm, KDCs: k.KDCs}).Check(); err != nil {
				return fmt.Errorf("smb.kerberos: shares[%d] logs on by kerberos: set realm and kdcs (host:port): %w", i, err)
			}
		}
	}
	return nil
}

// checkTimes checks the durations and the Redis retries.
func (c *Config) checkTimes() error {
	for key, d := range map[string]Duration{
		"sessions.browser_idle": c.Sessions.BrowserIdle, "sessions.browser_lifetime": c.Sessions.BrowserLifetime,
		"sessions.device_idle": c.Sessions.DeviceIdle, "sessions.device_lifetime": c.Sessions.DeviceLifetime,
		"smb.idle_timeout": c.SMB.IdleTimeout, "smb.dial_timeout": c.SMB.DialTimeout,
		"smb.reply_timeout":   c.SMB.ReplyTimeout,
		"webdav.lock_timeout": c.WebDAV.LockTimeout, "webdav.max_lock_timeout": c.WebDAV.MaxLockTimeout,
		"redis.dial_timeout": c.Redis.DialTimeout, "redis.read_timeout": c.Redis.ReadTimeout,
		"redis.write_timeout": c.Redis.WriteTimeout, "shutdown.cleanup": c.Shutdown.Cleanup,
	} {
		if d <= 0 {
			return fmt.Errorf("%s: must be positive", key)
		}
	}
	if c.Shutdown.Drain < 0 {
		return errors.New("shutdown.drain: must not be negative")
	}
	if c.Redis.MaxRetries < 0 || c.Redis.MaxRetries > 10 {
		return fmt.Errorf("redis.max_retries: %d must be 0 to 10", c.Redis.MaxRetries)
	}
	if c.Sessions.LoginFlowTTL < Duration(time.Second) || c.Sessions.LoginFlowTTL > Duration(time.Hour) {
		return fmt.Errorf("sessions.login_flow_ttl: %v must be from 1s to 1h", time.Duration(c.Sessions.LoginFlowTTL))
	}
	if c.WebDAV.MetadataTTL < 0 || c.WebDAV.MetadataTTL > Duration(time.Minute) {
		return fmt.Errorf("webdav.metadata_ttl: %v must be from 0 to 1m", time.Duration(c.WebDAV.MetadataTTL))
	}
	return nil
}

// checkWebDAV checks the webdav section and trusted_proxies.
func (c *Config) checkWebDAV() error {
	if c.WebDAV.BufferMiB < 1 {
		return fmt.Errorf("webdav.buffer_mib: %d must be at least 1", c.WebDAV.BufferMiB)
	}
	if c.WebDAV.MaxLocksPerUser < 1 || c.WebDAV.MaxLocksPerShare < 1 {
		return fmt.Errorf("webdav.max_locks_per_user, max_locks_per_share: %d, %d must be at least 1",
			c.WebDAV.MaxLocksPerUser, c.WebDAV.MaxLocksPerShare)
	}
	if c.WebDAV.LockTimeout > c.WebDAV.MaxLockTimeout {
		return fmt.Errorf("webdav.lock_timeout: %v is above webdav.max_lock_timeout (%v)",
			time.Duration(c.WebDAV.LockTimeout), time.Duration(c.WebDAV.MaxLockTimeout))
	}
	for i, pat := range c.WebDAV.RefuseNames {
		if _, err := path.Match(pat, ""); err != nil || pat == "" || strings.Contains(pat, "/") {
			return fmt.Errorf("webdav.refuse_names[%d]: %q is not a name pattern (*, ?, [a-z], no /)", i, pat)
		}
	}
	if _, err := httplog.ParseProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("trusted_proxies: %w", err)
	}
	return nil
}

// checkLogging checks the log level.
func (c *Config) checkLogging() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q must be debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// configFlag defines the --config flag of a command that reads the config
// file, defaulting to $DAVGATE_CONFIG.
func configFlag(fl *flag.FlagSet, getenv func(string) string) *string {
	return fl.String("config", getenv("DAVGATE_CONFIG"), "config file (default $DAVGATE_CONFIG)")
}
