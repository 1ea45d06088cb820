package authn

import (
	"context"
	"log/slog"
	"time"

	"github.com/davgate/davgate/internal/audit"
)

// backendName names the kind of an Authenticator for the audit trail.
func backendName(a Authenticator) string {
	switch a.(type) {
	case *SMB:
		return "smb"
	case *LDAP:
		return "ldap"
	case *Kerberos:
		return "kerberos"
	default:
		return "other"
	}
}

// auditLogon records how a log-on attempt ended. user is the canonical
// name when accepted, else the identity key of the typed name (the name
// its attempts are counted under); reason is one of ok, bad_credentials,
// unavailable, session_error. An attempt the rate limit refused is
// audited by auditBlocked instead.
func (l *Logon) auditLogon(ctx context.Context, accepted bool, user, client, reason string, attrs ...slog.Attr) {
	event := audit.LogonRefused
	if accepted {
		event = audit.LogonAccepted
	}
	attrs = append([]slog.Attr{slog.String("user", user), slog.String("client", client),
		slog.String("backend", backendName(l.Auth)), slog.String("reason", reason)}, attrs...)
	l.Audit.Log(ctx, event, attrs...)
}

// auditBlocked records a log-on attempt the rate limit refused.
func (l *Logon) auditBlocked(ctx context.Context, user, client string, wait time.Duration) {
	l.Audit.Log(ctx, audit.RateLimited, slog.String("user", user), slog.String("client", client),
		slog.String("backend", backendName(l.Auth)), slog.String("retry_after", retryAfter(wait)+"s"))
}
