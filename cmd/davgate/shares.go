package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/davfs"
	"github.com/davgate/davgate/session"
)

// shareDef is a configured share: its name under /dav/ and its URL template.
type shareDef struct {
	name string
	url  session.ShareURL
}

func parseShares(cs []ShareConfig) ([]shareDef, error) {
	out := make([]shareDef, 0, len(cs))
	for i, c := range cs {
		u, err := session.ParseShareURL(c.URL)
		if err != nil {
			return nil, fmt.Errorf("shares[%d].url: %w", i, err)
		}
		out = append(out, shareDef{name: c.Name, url: u})
	}
	return out, nil
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

// Names implements davfs.ShareSource.
func (s *shareSource) Names(ctx context.Context) ([]string, error) { return s.names(), nil }

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
	vars := map[string]string{"user": sess.User}
	for k, v := range sess.Attrs {
		vars[k] = v
	}
	u, err := def.url.Expand(vars)
	if err != nil {
		return nil, fmt.Errorf("%w: share %s for this user: %w", davfs.ErrNoShare, def.name, err)
	}
	creds := func() (session.Creds, error) {
		pw, err := sess.Password()
		if err != nil {
			return session.Creds{}, err
		}
		return session.Creds{User: sess.User, Domain: sess.Attrs["domain"], Password: pw}, nil
	}
	share, release, err := s.pool.Mount(ctx, sess, creds, u)
	switch {
	case err == nil:
	case errors.Is(err, session.ErrLogonFailure):
		// The file server refuses the stored password: end the session at
		// once and never retry it, so a stale password cannot lock the
		// account.
		if rerr := s.sessions.RevokeSession(context.WithoutCancel(ctx), sess); rerr != nil {
			s.log.ErrorContext(ctx, "end session after logon failure", "err", rerr)
		}
		s.log.WarnContext(ctx, "file server refused stored credentials; session ended", "share", def.name, "err", err)
		return nil, fmt.Errorf("%w: %w", davfs.ErrUnauthorized, err)
	default:
		return nil, fmt.Errorf("%w: share %s: %w", davfs.ErrUnavailable, def.name, err)
	}
	return &davfs.Mount{Share: share, Root: u.Path, ID: lockScope(u), Release: release}, nil
}

// lockScope names a mounted directory for WebDAV locks, the same for every
// user and instance that mounts it: a hash of its URL, so it holds no slash
// and reveals no server name in lock storage.
func lockScope(u session.ShareURL) string {
	sum := sha256.Sum256([]byte(strings.ToLower(u.String())))
	return hex.EncodeToString(sum[:12])
}
