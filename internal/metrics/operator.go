package metrics

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/davfs"
	"github.com/davgate/davgate/internal/audit"
	"github.com/davgate/davgate/session"
)

// The operator's metrics beyond requests and SMB dials: log-ons per
// backend, password unseals, sessions and locks (the drain gauge is
// cmd's, registerDrainMetric). Each label value comes from a fixed set.

// operator are the metric vectors registered by New for this file.
type operator struct {
	logonsBy    *prometheus.CounterVec // result, backend
	unseals     *prometheus.CounterVec // use
	sessCreated *prometheus.CounterVec // kind
	sessEnded   *prometheus.CounterVec // kind, reason
	auditEvents *prometheus.CounterVec // event
	lockOps     *prometheus.CounterVec // op, result
}

func newOperator(reg prometheus.Registerer) operator {
	o := operator{
		logonsBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_logons_by_backend_total",
			Help: "Log-on attempts by result (ok, refused, rate_limited, error) and auth backend (smb, ldap, kerberos).",
		}, []string{"result", "backend"}),
		unseals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_password_unseals_total",
			Help: "Stored passwords decrypted for use, by use: smb_logon (a dial to a file server), new_session (sealed into a new device token).",
		}, []string{"use"}),
		sessCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_sessions_created_total",
			Help: "Sessions (tokens) minted, by kind: browser, device.",
		}, []string{"kind"}),
		sessEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_sessions_revoked_total",
			Help: "Sessions ended on purpose, by kind and reason: revoked (one), revoked_all, stale_password (the file server refused the stored password).",
		}, []string{"kind", "reason"}),
		auditEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_audit_events_total",
			Help: "Audit trail lines written, by event.",
		}, []string{"event"}),
		lockOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_webdav_lock_ops_total",
			Help: "WebDAV lock store operations, by op (create, refresh, unlock) and result (ok, conflict, too_many, not_found, error).",
		}, []string{"op", "result"}),
	}
	reg.MustRegister(o.logonsBy, o.unseals, o.sessCreated, o.sessEnded, o.auditEvents, o.lockOps)
	for _, u := range []string{"smb_logon", "new_session"} {
		o.unseals.WithLabelValues(u)
	}
	for _, k := range []session.Kind{session.KindBrowser, session.KindDevice} {
		o.sessCreated.WithLabelValues(string(k))
		for _, r := range []string{"revoked", "revoked_all", "stale_password"} {
			o.sessEnded.WithLabelValues(string(k), r)
		}
	}
	for e := range auditEvents {
		o.auditEvents.WithLabelValues(e)
	}
	for _, op := range []string{"create", "refresh", "unlock"} {
		o.lockOps.WithLabelValues(op, "ok")
	}
	return o
}

// auditEvents are the audit events counted under their own name.
var auditEvents = map[string]bool{
	audit.LogonAccepted: true, audit.LogonRefused: true, audit.RateLimited: true, audit.TokenMinted: true,
	audit.TokenRevoked: true, audit.PasswordUnsealed: true, audit.StalePasswordEnd: true,
	audit.KeyringReloaded: true, audit.AdminSessionsList: true,
}

// backends are the auth backends counted under their own name.
var backends = map[string]bool{"smb": true, "ldap": true, "kerberos": true}

// LogonObserver returns the authn.Logon.Observe of a davgate whose auth
// backend is backend: it counts each attempt in davgate_logons_total and
// davgate_logons_by_backend_total.
func (m *Metrics) LogonObserver(backend string) func(authn.LogonResult) {
	if !backends[backend] {
		backend = "other"
	}
	for _, r := range []authn.LogonResult{authn.LogonOK, authn.LogonRefused, authn.LogonRateLimited, authn.LogonError} {
		m.op.logonsBy.WithLabelValues(string(r), backend)
	}
	return func(r authn.LogonResult) {
		m.Logon(r)
		m.op.logonsBy.WithLabelValues(string(r), backend).Inc()
	}
}

// WatchAudit counts the audit trail's events: every event by name,
// password unseals by use, sessions minted by kind and ended by reason.
func (m *Metrics) WatchAudit(l *audit.Logger) {
	l.Tap(func(event string, attrs []slog.Attr) {
		if auditEvents[event] {
			m.op.auditEvents.WithLabelValues(event).Inc()
		} else {
			m.op.auditEvents.WithLabelValues("other").Inc()
		}
		kind := audit.Attr(attrs, "kind")
		if kind != string(session.KindBrowser) && kind != string(session.KindDevice) {
			kind = "other"
		}
		switch event {
		case audit.PasswordUnsealed:
			use := audit.Attr(attrs, "use")
			if use != "smb_logon" {
				use = "new_session"
			}
			m.op.unseals.WithLabelValues(use).Inc()
		case audit.TokenMinted:
			m.op.sessCreated.WithLabelValues(kind).Inc()
		case audit.TokenRevoked:
			reason := audit.Attr(attrs, "reason")
			switch reason {
			case "revoked", "revoked_all", "stale_password":
			default:
				reason = "other"
			}
			m.op.sessEnded.WithLabelValues(kind, reason).Inc()
		}
	})
}

// countTimeout bounds a gauge's read of the store at scrape time.
const countTimeout = 2 * time.Second

// WatchSessions adds davgate_sessions{kind}, the live sessions of each
// kind, read from the store at each scrape (memory, file, Redis: each
// store's CountByKind).
func (m *Metrics) WatchSessions(count func(context.Context) (map[session.Kind]int, error)) {
	for _, k := range []session.Kind{session.KindBrowser, session.KindDevice} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "davgate_sessions",
			Help:        "Live sessions in the store, by kind.",
			ConstLabels: prometheus.Labels{"kind": string(k)},
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
			defer cancel()
			n, err := count(ctx)
			if err != nil {
				return -1
			}
			return float64(n[k])
		}))
	}
}

// WatchLocks adds davgate_webdav_locks, the unexpired WebDAV locks in the
// store, read at each scrape (file store only).
func (m *Metrics) WatchLocks(count func(context.Context) (int, error)) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "davgate_webdav_locks",
		Help: "Unexpired WebDAV locks in the lock store (file store only).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
		defer cancel()
		n, err := count(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// CountLocks returns ls counting its operations in
// davgate_webdav_lock_ops_total.
func (m *Metrics) CountLocks(ls davfs.LockSystem) davfs.LockSystem {
	return countedLocks{LockSystem: ls, ops: m.op.lockOps}
}

type countedLocks struct {
	davfs.LockSystem
	ops *prometheus.CounterVec
}

func lockResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, davfs.ErrLockConflict):
		return "conflict"
	case errors.Is(err, davfs.ErrTooManyLocks):
		return "too_many"
	case errors.Is(err, davfs.ErrNoSuchLock):
		return "not_found"
	default:
		return "error"
	}
}

func (c countedLocks) Create(ctx context.Context, l davfs.Lock, lim davfs.LockLimits) error {
	err := c.LockSystem.Create(ctx, l, lim)
	c.ops.WithLabelValues("create", lockResult(err)).Inc()
	return err
}

func (c countedLocks) Refresh(ctx context.Context, token string, timeout time.Duration, expires time.Time) (davfs.Lock, error) {
	l, err := c.LockSystem.Refresh(ctx, token, timeout, expires)
	c.ops.WithLabelValues("refresh", lockResult(err)).Inc()
	return l, err
}

func (c countedLocks) Unlock(ctx context.Context, token string) error {
	err := c.LockSystem.Unlock(ctx, token)
	c.ops.WithLabelValues("unlock", lockResult(err)).Inc()
	return err
}
