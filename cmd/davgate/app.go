package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/davfs"
	"github.com/davgate/davgate/internal/audit"
	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/internal/metrics"
	"github.com/davgate/davgate/session"
)

// app is davgate wired from a config: the parts and the HTTP handler.
type app struct {
	cfg    Config
	log    *slog.Logger
	store  session.Store
	stores *stores
	// keyring is the master keyring in use, for readiness.
	keyring  atomic.Pointer[session.Keyring]
	sessions *session.Manager
	pool     *session.Pool
	handler  http.Handler
	// metrics is the registry served on metrics_listen.
	metrics *prometheus.Registry
	// audit is the audit trail; auditFile its file, if it has one.
	audit     *audit.Logger
	auditFile *audit.File

	stopWatch context.CancelFunc
}

// newApp builds every part from cfg. Close releases them. stderr is where
// log goes, and the audit trail unless audit_log names a file.
func newApp(ctx context.Context, cfg Config, log *slog.Logger, stderr io.Writer) (*app, error) {
	shares, err := configShares(cfg)
	if err != nil {
		return nil, err
	}
	kr, err := session.LoadKeyring(cfg.MasterKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("master_key_file: %s does not exist; create it with: davgate keygen --out %s", cfg.MasterKeyFile, cfg.MasterKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("master_key_file: %w", err)
	}
	al, af, err := audit.Open(cfg.AuditLog, stderr)
	if err != nil {
		return nil, fmt.Errorf("audit_log: %w", err)
	}
	st, err := openStores(ctx, cfg)
	if err != nil {
		af.Close()
		return nil, err
	}
	store := st.sessions
	a := &app{cfg: cfg, log: log, store: store, stores: st, metrics: metrics.NewRegistry(), audit: al, auditFile: af}
	a.keyring.Store(kr)
	m := metrics.New(a.metrics)
	m.WatchAudit(al)
	if c, ok := store.(interface {
		CountByKind(context.Context) (map[session.Kind]int, error)
	}); ok {
		m.WatchSessions(c.CountByKind)
	}
	a.startSessions(ctx, kr, m)

	auth, err := newAuthenticator(cfg, shares, a.pool)
	if err != nil {
		a.Close()
		return nil, err
	}
	logon := &authn.Logon{
		Auth:         auth,
		Sessions:     a.sessions,
		Limiter:      authn.NewLimiter(st.limits),
		Log:          log,
		SecureCookie: cfg.TLS.Cert != "",
		Observe:      m.LogonObserver(cfg.Auth.Backend),
		Audit:        al,
	}
	src := &shareSource{shares: shares, sessions: a.sessions, pool: a.pool, log: log}
	proxies, _ := httplog.ParseProxies(cfg.TrustedProxies) // checked with the config
	deps := serverDeps{log: log, logon: logon, sessions: a.sessions, source: src, shareNames: src.Names,
		locks: countedLocks(m, st.locks), metaGens: st.metaGens, flows: flowStore(store), flowTTL: time.Duration(cfg.Sessions.LoginFlowTTL), webdav: cfg.WebDAV, proxies: proxies, observer: m,
		watchBuffers: func(inUse func() int) { m.WatchBuffers(inUse, cfg.WebDAV.BufferMiB) }}
	if cfg.Auth.AllowPasswordBasic {
		log.Warn("auth.allow_password_basic is on: DAV clients may send the directory password on every request")
		deps.passwordBasic = authn.NewPasswordBasic(logon, 5*time.Minute)
	}
	a.handler = newServer(deps)
	return a, nil
}

// startSessions builds the session manager and the SMB pool on a's store,
// and watches for sessions ended on other instances.
func (a *app) startSessions(ctx context.Context, kr *session.Keyring, m *metrics.Metrics) {
	cfg, log, store, al := a.cfg, a.log, a.store, a.audit
	limits := session.Limits{
		BrowserIdle: time.Duration(cfg.Sessions.BrowserIdle), BrowserLifetime: time.Duration(cfg.Sessions.BrowserLifetime),
		DeviceIdle: time.Duration(cfg.Sessions.DeviceIdle), DeviceLifetime: time.Duration(cfg.Sessions.DeviceLifetime),
	}
	a.sessions = session.NewManager(session.ManagerOptions{Keyring: kr, Store: store, Limits: limits, Logger: log, Audit: al})
	refusals, _ := store.(session.RefusalStore) // both stores are
	a.pool = session.NewPool(session.PoolOptions{
		IdleTimeout:  time.Duration(cfg.SMB.IdleTimeout),
		DialTimeout:  time.Duration(cfg.SMB.DialTimeout),
		ReplyTimeout: time.Duration(cfg.SMB.ReplyTimeout),
		Logger:       log,
		Events:       m.PoolEvents(),
		// One refused stored password ends the user's older sessions at
		// that server, on every instance.
		Refusals:      refusals,
		RefusalMemory: limits.Longest(),
	})
	// A session that ends anywhere closes its SMB connections here.
	a.sessions.OnEnd(a.pool.Close)
	wctx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	a.stopWatch = stopWatch
	go func() {
		if err := a.sessions.Watch(wctx); err != nil && wctx.Err() == nil {
			log.Error("watch session revocations", "err", err)
		}
	}()
}

func (a *app) reloadKeyring() error {
	kr, err := session.LoadKeyring(a.cfg.MasterKeyFile)
	if err != nil {
		return err
	}
	a.sessions.SetKeyring(kr)
	a.keyring.Store(kr)
	if a.auditFile != nil {
		// After log rotation (logrotate's postrotate sends SIGHUP).
		return a.auditFile.Reopen()
	}
	return nil
}

// Close ends SMB connections and the store's connections.
func (a *app) Close() {
	a.stopWatch()
	a.pool.CloseAll()
	a.stores.close()
	a.auditFile.Close()
}

// countedLocks counts ls's operations, and its locks where it can count.
func countedLocks(m *metrics.Metrics, ls davfs.LockSystem) davfs.LockSystem {
	if c, ok := ls.(interface {
		Count(context.Context) (int, error)
	}); ok {
		m.WatchLocks(c.Count)
	}
	return m.CountLocks(ls)
}

// smbLogon checks a password with one SMB session setup.
type smbLogon struct{ pool *session.Pool }

func (l smbLogon) CheckLogon(ctx context.Context, addr string, c session.Creds) error {
	s, err := l.pool.Dial(ctx, addr, c)
	if err != nil {
		return err
	}
	s.Logoff()
	return nil
}

// newAuthenticator builds the configured auth backend.
func newAuthenticator(cfg Config, shares []shareDef, pool *session.Pool) (authn.Authenticator, error) {
	switch cfg.Auth.Backend {
	case "ldap":
		c := cfg.Auth.LDAP
		a := &authn.LDAP{
			URL: c.URL, StartTLS: c.StartTLS, CAFile: c.CAFile, ServerName: c.ServerName,
			InsecurePlaintext: c.InsecurePlaintext, BindTemplate: c.BindTemplate, BindDN: c.BindDN,
			BaseDN: c.BaseDN, UserFilter: c.UserFilter, UserAttr: c.UserAttr, Domain: c.Domain,
			RequiredGroup: c.RequiredGroup, GroupMembership: c.GroupMembership, Attributes: c.Attributes,
			Timeout: time.Duration(c.Timeout),
		}
		if c.BindPasswordFile != "" {
			b, err := os.ReadFile(c.BindPasswordFile)
			if err != nil {
				return nil, fmt.Errorf("auth.ldap.bind_password_file: %w", err)
			}
			a.BindPassword = strings.TrimRight(string(b), "\r\n")
		}
		if err := a.Check(); err != nil {
			return nil, fmt.Errorf("auth.ldap: %w", err)
		}
		return a, nil
	case "kerberos":
		c := cfg.Auth.Kerberos
		k := &authn.Kerberos{Realm: c.Realm, KDCs: c.KDCs, ServicePrincipal: c.ServicePrincipal,
			Keytab: c.Keytab, Domain: c.Domain, RequiredGroupSID: c.RequiredGroupSID, Timeout: time.Duration(c.Timeout)}
		if err := k.Check(); err != nil {
			return nil, fmt.Errorf("auth.kerberos: %w", err)
		}
		return k, nil
	default:
		addr, err := smbAuthAddr(cfg, shares)
		if err != nil {
			return nil, err
		}
		return &authn.SMB{Addr: addr, Domain: cfg.Auth.SMB.Domain, Checker: smbLogon{pool}}, nil
	}
}

// smbAuthAddr is the server that checks passwords: auth.smb.url, or the
// first share's server.
func smbAuthAddr(cfg Config, shares []shareDef) (string, error) {
	if cfg.Auth.SMB.URL == "" {
		for _, d := range shares {
			if d.urlVar == "" {
				return d.url.Addr(), nil
			}
		}
		return "", errors.New("auth.smb.url: must be set: no share names a fixed server")
	}
	u, err := session.ParseShareURL(cfg.Auth.SMB.URL)
	if err != nil {
		// A bare server URL (smb://host[:port]/) has no share part.
		if host, port, ok := parseServerURL(cfg.Auth.SMB.URL); ok {
			return net.JoinHostPort(host, strconv.Itoa(port)), nil
		}
		return "", fmt.Errorf("auth.smb.url: %w", err)
	}
	return u.Addr(), nil
}

// newDavHandler builds the WebDAV handler for /dav/.
func newDavHandler(d serverDeps) *davfs.Handler {
	return davfs.NewHandler(davfs.HandlerOptions{
		Prefix:           davPrefix,
		Source:           d.source,
		Locks:            d.locks,
		Logger:           d.log,
		BufferMemory:     int64(d.webdav.BufferMiB) << 20,
		RefuseNames:      d.webdav.RefuseNames,
		LockTimeout:      time.Duration(d.webdav.LockTimeout),
		MaxLockTimeout:   time.Duration(d.webdav.MaxLockTimeout),
		MaxLocksPerUser:  d.webdav.MaxLocksPerUser,
		MaxLocksPerShare: d.webdav.MaxLocksPerShare,
		MetadataTTL:      time.Duration(d.webdav.MetadataTTL),
		MetaGenerations:  d.metaGens,
		User: func(ctx context.Context) string {
			if s, ok := authn.SessionFrom(ctx); ok {
				return s.User
			}
			return ""
		},
	})
}
