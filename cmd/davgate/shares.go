package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/davfs"
	"github.com/davgate/davgate/session"
)

// shareDef is a configured share: its name under /dav/, its URL template
// and how davgate logs on to its server.
type shareDef struct {
	name string
	url  session.ShareURL // template; zero when urlVar is set
	// urlVar, when set, is the variable ("ldap:homeDirectory.url") whose
	// value is the whole share URL.
	urlVar string
	mech   session.Mech
	krb    session.Kerberos
}

// wholeURLVar matches a share URL that is one directory attribute.
var wholeURLVar = regexp.MustCompile(`^\{(ldap:[A-Za-z0-9_.;-]+)\}$`)

// configShares reads cfg's share list, with cfg's Kerberos realm and KDCs
// for shares that log on by Kerberos.
func configShares(cfg Config) ([]shareDef, error) {
	shares, err := parseShares(cfg.Shares)
	if err != nil {
		return nil, err
	}
	krb := cfg.smbKerberos()
	for i := range shares {
		if shares[i].mech.UsesKerberos() {
			shares[i].krb.Realm, shares[i].krb.KDCs = krb.Realm, krb.KDCs
		}
	}
	return shares, nil
}

// parseShares reads a share list; the realm and KDCs of Kerberos shares
// are left for configShares to fill in.
func parseShares(cs []ShareConfig) ([]shareDef, error) {
	out := make([]shareDef, 0, len(cs))
	byServer := map[string]int{} // server address -> first share on it
	for i, c := range cs {
		mech, err := session.ParseMech(c.Auth)
		if err != nil {
			return nil, fmt.Errorf("shares[%d].auth: %w", i, err)
		}
		d := shareDef{name: c.Name, mech: mech}
		if mech.UsesKerberos() {
			d.krb.SPN = c.SPN
		}
		if m := wholeURLVar.FindStringSubmatch(c.URL); m != nil {
			d.urlVar = m[1]
			out = append(out, d)
			continue
		}
		u, err := session.ParseShareURL(c.URL)
		if err != nil {
			return nil, fmt.Errorf("shares[%d].url: %w", i, err)
		}
		if u.Share == "" {
			return nil, fmt.Errorf("shares[%d].url: %s names no share (smb://host/share[/path])", i, u)
		}
		for _, v := range u.Vars() {
			if v != "user" && v != "domain" && (!strings.HasPrefix(v, "ldap:") || v == "ldap:") {
				return nil, fmt.Errorf("shares[%d].url: unknown variable {%s} (known: {user}, {domain}, {ldap:ATTRIBUTE})", i, v)
			}
		}
		if _, err := netip.ParseAddr(u.Host); err == nil && mech.UsesKerberos() && c.SPN == "" {
			return nil, fmt.Errorf("shares[%d].spn: required with auth %s when the url names the server by IP address (e.g. cifs/fs1.example.com)", i, mech)
		}
		// One SMB session per user and server serves all its shares, so
		// they must log on the same way.
		if j, ok := byServer[u.Addr()]; ok {
			if o := out[j]; o.mech != d.mech || o.krb.SPN != d.krb.SPN {
				return nil, fmt.Errorf("shares[%d]: same server %s as shares[%d] with another auth or spn; shares on one server must log on the same way", i, u.Addr(), j)
			}
		} else {
			byServer[u.Addr()] = i
		}
		d.url = u
		out = append(out, d)
	}
	return out, nil
}

// shareURL expands def's URL for the session's user: {user}, {domain}
// and {ldap:ATTRIBUTE} from the attributes read at log-on. A missing
// attribute is an error, never a share at another path.
func shareURL(def *shareDef, sess *session.Session) (session.ShareURL, error) {
	if def.urlVar != "" {
		v, err := ldapVar(sess, def.urlVar)
		if err != nil {
			return session.ShareURL{}, err
		}
		u, err := session.ParseShareURL(v)
		if err != nil {
			return session.ShareURL{}, fmt.Errorf("{%s}: %w", def.urlVar, err)
		}
		if u.Share == "" || len(u.Vars()) > 0 {
			return session.ShareURL{}, fmt.Errorf("{%s}: %s is not smb://host/share[/path]", def.urlVar, u)
		}
		return u, nil
	}
	vars := map[string]string{"user": sess.User}
	if d := sess.Attrs["domain"]; d != "" {
		vars["domain"] = d
	}
	for _, name := range def.url.Vars() {
		if strings.HasPrefix(name, "ldap:") {
			v, err := ldapVar(sess, name)
			if err != nil {
				return session.ShareURL{}, err
			}
			vars[name] = v
		}
	}
	return def.url.Expand(vars)
}

// ldapVar is the value of {ldap:NAME}: the directory attribute NAME read
// at log-on (auth.ldap.attributes), matched without regard to case as
// LDAP does.
func ldapVar(sess *session.Session, name string) (string, error) {
	attr := strings.TrimPrefix(name, "ldap:")
	if !strings.EqualFold(attr, "domain") {
		if v, ok := sess.Attrs[attr]; ok && v != "" {
			return v, nil
		}
		for k, v := range sess.Attrs {
			if strings.EqualFold(k, attr) && v != "" {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("{%s}: %s has no %s attribute in this session (read at log-on when auth.ldap.attributes lists it)", name, sess.User, attr)
}

// parseServerURL reads smb://host[:port][/] (no share).
func parseServerURL(s string) (host string, port int, ok bool) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "smb" || u.Hostname() == "" || strings.Trim(u.Path, "/") != "" || u.User != nil {
		return "", 0, false
	}
	port = 445
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port <= 0 || port > 65535 {
			return "", 0, false
		}
	}
	return u.Hostname(), port, true
}

// shareSource gives davfs the request's user's shares, through the SMB pool
// and with the session's stored credentials.
type shareSource struct {
	shares   []shareDef
	sessions *session.Manager
	pool     *session.Pool
	log      *slog.Logger
}

var _ davfs.ShareSource = (*shareSource)(nil)

func (s *shareSource) names() []string {
	out := make([]string, len(s.shares))
	for i, d := range s.shares {
		out[i] = d.name
	}
	return out
}

// Names implements davfs.ShareSource. A share whose URL cannot be built
// for the request's user (a directory attribute it needs is missing) is
// left out; opening it fails with the reason.
func (s *shareSource) Names(ctx context.Context) ([]string, error) {
	sess, ok := authn.SessionFrom(ctx)
	if !ok {
		return s.names(), nil
	}
	var out []string
	for i := range s.shares {
		if _, err := shareURL(&s.shares[i], sess); err == nil {
			out = append(out, s.shares[i].name)
		}
	}
	return out, nil
}

// sameServerConflict reports another share that, for this user, is on
// the server at addr but logs on another way. Config checking catches
// this for fixed URLs; a URL from the directory is known only now. The
// pool keeps one SMB session per user and server, so the first share
// used would decide the mechanism of both.
func (s *shareSource) sameServerConflict(def *shareDef, addr string, sess *session.Session) error {
	for i := range s.shares {
		o := &s.shares[i]
		if o == def || (o.mech == def.mech && o.krb.SPN == def.krb.SPN) {
			continue
		}
		if ou, err := shareURL(o, sess); err == nil && ou.Addr() == addr {
			return fmt.Errorf("{%s} names server %s, also used by share %s with another auth or spn", def.urlVar, addr, o.name)
		}
	}
	return nil
}

// Open implements davfs.ShareSource.
func (s *shareSource) Open(ctx context.Context, name string) (*davfs.Mount, error) {
	sess, ok := authn.SessionFrom(ctx)
	if !ok {
		return nil, davfs.ErrUnauthorized
	}
	var def *shareDef
	for i := range s.shares {
		if strings.EqualFold(s.shares[i].name, name) {
			def = &s.shares[i]
			break
		}
	}
	if def == nil {
		return nil, davfs.ErrNoShare
	}
	u, err := shareURL(def, sess)
	if err == nil && def.urlVar != "" {
		err = s.sameServerConflict(def, u.Addr(), sess)
	}
	if err != nil {
		// A directory or configuration problem, for the operator to see.
		s.log.WarnContext(ctx, "share not available to this user", "share", def.name, "err", err)
		return nil, fmt.Errorf("%w: share %s for %s: %w", davfs.ErrNoShare, def.name, sess.User, err)
	}
	creds := func() (session.Creds, error) {
		pw, err := sess.PasswordFor(ctx, u.Addr())
		if err != nil {
			return session.Creds{}, err
		}
		defer clear(pw)
		return session.Creds{User: sess.User, Domain: sess.Attrs["domain"], Password: string(pw), Mech: def.mech, Kerberos: def.krb}, nil
	}
	share, release, err := s.pool.Mount(ctx, sess, creds, u)
	switch {
	case err == nil:
	case errors.Is(err, session.ErrLogonFailure):
		// The file server refuses the stored password: end the session at
		// once and never retry it, so a stale password cannot lock the
		// account.
		if rerr := s.sessions.EndStale(context.WithoutCancel(ctx), sess, u.Addr()); rerr != nil {
			s.log.ErrorContext(ctx, "end session after logon failure", "err", rerr)
		}
		s.log.WarnContext(ctx, "file server refused stored credentials; session ended", "share", def.name, "err", err)
		return nil, fmt.Errorf("%w: %w", davfs.ErrUnauthorized, err)
	case errors.Is(err, fs.ErrPermission):
		// the server lets the user log on but not into this share
		return nil, fmt.Errorf("%w: share %s: %w", davfs.ErrForbidden, def.name, err)
	case errors.Is(err, fs.ErrNotExist):
		// the server has no such share (a home share of a user without one)
		return nil, fmt.Errorf("%w: share %s: %w", davfs.ErrNoShare, def.name, err)
	default:
		return nil, fmt.Errorf("%w: share %s: %w", davfs.ErrUnavailable, def.name, err)
	}
	return &davfs.Mount{Share: share, Root: u.Path, ID: lockScope(u), Release: release}, nil
}

// lockScope names a mounted directory for WebDAV locks, the same for every
// user and instance that mounts it: a hash of its server and share, so it
// reveals no server name in lock storage, then the folder's path inside the
// share. Two shares of davgate that overlap on the server (one a folder of
// the other) thus keep their locks in one name space, and a lock taken
// through one holds through the other.
func lockScope(u session.ShareURL) string {
	share := u
	share.Path = ""
	sum := sha256.Sum256([]byte(strings.ToLower(share.String())))
	scope := hex.EncodeToString(sum[:12])
	if u.Path != "" {
		scope += "/" + u.Path
	}
	return scope
}
