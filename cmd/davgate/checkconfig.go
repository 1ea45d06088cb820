package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/session"
)

// checkTimeout bounds each network check of check-config.
const checkTimeout = 5 * time.Second

// checker prints one line per check, "ok", "warn", "skip" or "FAIL", the
// thing checked and what was found, and counts the failures.
type checker struct {
	out    io.Writer
	checks int
	failed int
}

func (c *checker) report(verdict, what, format string, args ...any) {
	c.checks++
	if verdict == "FAIL" {
		c.failed++
	}
	fmt.Fprintf(c.out, "%-4s  %s: %s\n", verdict, what, fmt.Sprintf(format, args...))
}

// runCheckConfig is `davgate check-config --config FILE`: it validates the
// file, then checks what it names, and fails if any check fails.
func runCheckConfig(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := configFlag(fl, getenv)
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return errors.New("check-config: --config FILE or DAVGATE_CONFIG is required")
	}
	c := &checker{out: stdout}
	// go-redis would print its dial failures too; the store line says it.
	redis.SetLogger(redisLog{slog.New(slog.DiscardHandler)})
	cfg, err := loadConfig(*cfgPath)
	if err == nil {
		err = cfg.expandCredentials(getenv)
	}
	if err != nil {
		c.report("FAIL", "config", "%v", err)
		return errors.New("check-config: the config file is not valid")
	}
	c.report("ok", "config", "%s is valid", *cfgPath)
	c.keyring(cfg.MasterKeyFile)
	c.tls(cfg)
	c.store(ctx, cfg)
	c.auditLog(cfg) // auditcheck.go
	shares, err := configShares(cfg)
	if err != nil {
		c.report("FAIL", "shares", "%v", err)
	} else {
		c.auth(ctx, cfg, shares)
		c.shares(ctx, cfg, shares)
	}
	if c.failed > 0 {
		return fmt.Errorf("check-config: %d of %d checks failed", c.failed, c.checks)
	}
	fmt.Fprintf(stdout, "all %d checks passed\n", c.checks)
	return nil
}

// keyring checks that the master keyring loads as serve would load it.
func (c *checker) keyring(path string) {
	const what = "master_key_file"
	st, err := os.Stat(path)
	if err != nil {
		c.report("FAIL", what, "%v", err)
		return
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		c.report("FAIL", what, "%s has mode %04o: group or others may read it; chmod 600 %s", path, perm, path)
		return
	}
	kr, err := session.LoadKeyring(path)
	if err != nil {
		c.report("FAIL", what, "%v", err)
		return
	}
	c.report("ok", what, "%s, mode %04o, key ids %v, newest %d seals", path, st.Mode().Perm(), kr.IDs(), kr.NewestID())
}

// tls checks that the certificate and key load and match, their dates,
// and names the certificate's names.
func (c *checker) tls(cfg Config) {
	const what = "tls"
	if cfg.TLS.Cert == "" {
		c.report("warn", what, "not set: plain HTTP; put a TLS proxy in front of davgate")
		return
	}
	pair, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		c.report("FAIL", what, "certificate %s and key %s: %v", cfg.TLS.Cert, cfg.TLS.Key, err)
		return
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		c.report("FAIL", what, "certificate %s: %v", cfg.TLS.Cert, err)
		return
	}
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	desc := fmt.Sprintf("%s, names %s, valid %s to %s, key matches", cfg.TLS.Cert, strings.Join(names, " "),
		leaf.NotBefore.UTC().Format(time.DateOnly), leaf.NotAfter.UTC().Format(time.DateOnly))
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		c.report("FAIL", what, "%s: expired", desc)
	case now.Before(leaf.NotBefore):
		c.report("FAIL", what, "%s: not valid yet", desc)
	case leaf.NotAfter.Sub(now) < 30*24*time.Hour:
		c.report("warn", what, "%s: expires in %d days", desc, int(leaf.NotAfter.Sub(now).Hours()/24))
	case len(names) == 0:
		c.report("warn", what, "%s: no subject alternative names; clients will refuse it", desc)
	default:
		if host, _, _ := net.SplitHostPort(cfg.Listen); host != "" && net.ParseIP(host) != nil && !net.ParseIP(host).IsUnspecified() && leaf.VerifyHostname(host) != nil {
			c.report("warn", what, "%s: not valid for the listen address %s", desc, host)
			return
		}
		c.report("ok", what, "%s", desc)
	}
}

// store opens the store as serve does and pings it.
func (c *checker) store(ctx context.Context, cfg Config) {
	const what = "store"
	if session.IsFileStore(cfg.Store) {
		c.checkFileStore(cfg) // filestores.go
		return
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	start := time.Now()
	st, err := openStores(ctx, cfg)
	if err != nil {
		c.report("FAIL", what, "%s %s: %v", storeKind(cfg.Store), storeHost(cfg.Store), err)
		return
	}
	defer st.close()
	if err := st.ping(ctx); err != nil {
		c.report("FAIL", what, "%s %s: %v", storeKind(cfg.Store), storeHost(cfg.Store), err)
		return
	}
	if storeKind(cfg.Store) == "memory" {
		c.report("ok", what, "memory: sessions and locks live in this process and end when it stops")
		return
	}
	c.report("ok", what, "%s %s answers (%v)", storeKind(cfg.Store), storeHost(cfg.Store), time.Since(start).Round(time.Millisecond))
}

// storeHost is the host part of a store URL, without credentials.
func storeHost(spec string) string {
	if !isRedisURL(spec) {
		return ""
	}
	rest := spec[strings.Index(spec, "://")+3:]
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return "at " + rest
}

// auth checks the authenticator's servers: the SMB server, the LDAP
// directory with a bind as the service account, or the KDCs.
func (c *checker) auth(ctx context.Context, cfg Config, shares []shareDef) {
	what := "auth." + cfg.Auth.Backend
	switch cfg.Auth.Backend {
	case "smb":
		addr, err := smbAuthAddr(cfg, shares)
		if err != nil {
			c.report("FAIL", what, "%v", err)
			return
		}
		c.smbServer(ctx, what, addr)
	case "ldap":
		a, err := newAuthenticator(cfg, shares, nil)
		if err != nil {
			c.report("FAIL", what, "%v", err)
			return
		}
		ctx, cancel := context.WithTimeout(ctx, checkTimeout)
		defer cancel()
		if err := a.(*authn.LDAP).CheckService(ctx); err != nil {
			c.report("FAIL", what, "%v", err)
			return
		}
		if cfg.Auth.LDAP.BindDN == "" {
			c.report("ok", what, "%s: connected (no service account: users bind by bind_template)", cfg.Auth.LDAP.URL)
			return
		}
		c.report("ok", what, "%s: bound as the service account %s", cfg.Auth.LDAP.URL, cfg.Auth.LDAP.BindDN)
	case "kerberos":
		a, err := newAuthenticator(cfg, shares, nil)
		if err != nil {
			c.report("FAIL", what, "%v", err)
			return
		}
		c.kerberos(ctx, what, a.(*authn.Kerberos))
	}
}

// kdcs checks that each KDC accepts a TCP connection.
func (c *checker) kdcs(ctx context.Context, what string, kdcs []string) {
	for _, kdc := range kdcs {
		d := net.Dialer{Timeout: checkTimeout}
		conn, err := d.DialContext(ctx, "tcp", kdc)
		if err != nil {
			c.report("FAIL", what, "KDC %s: %v", kdc, err)
			continue
		}
		conn.Close()
		c.report("ok", what, "KDC %s is reachable", kdc)
	}
}

// shares probes every share's server; a share whose URL comes from the
// directory is checked only at log-on.
func (c *checker) shares(ctx context.Context, cfg Config, shares []shareDef) {
	kerberos := false
	for _, d := range shares {
		what := "shares." + d.name
		if d.urlVar != "" {
			c.report("skip", what, "the URL comes from the directory ({%s}): its server is known only at log-on", d.urlVar)
			continue
		}
		kerberos = kerberos || d.mech.UsesKerberos()
		c.smbServer(ctx, what, d.url.Addr())
	}
	if k := cfg.smbKerberos(); kerberos && cfg.Auth.Backend != "kerberos" {
		c.kdcs(ctx, "smb.kerberos", k.KDCs)
	}
}

// smbServer connects to addr and negotiates: FAIL when it cannot, warn
// when the server cannot encrypt (SMB 2).
func (c *checker) smbServer(ctx context.Context, what, addr string) {
	o, err := probeSMB(ctx, addr, checkTimeout)
	switch {
	case err != nil:
		c.report("FAIL", what, "SMB server %s: %v", addr, err)
	case o.dialect < 0x0300:
		c.report("warn", what, "SMB server %s: %v: SMB 2 cannot encrypt", addr, o)
	default:
		c.report("ok", what, "SMB server %s: %v", addr, o)
	}
}
