package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/internal/audit"
)

// An unknown backend, audit event or reason is counted as other, so no
// label grows with input.
func TestOperatorMetrics(t *testing.T) {
	reg := NewRegistry()
	m := New(reg)
	obs := m.LogonObserver("weird-backend")
	obs(authn.LogonOK)
	al := audit.New(io.Discard)
	m.WatchAudit(al)
	al.Log(context.Background(), "made.up", slog.String("kind", "x"))
	al.Log(context.Background(), audit.TokenRevoked, slog.String("kind", "device"), slog.String("reason", "bogus"))
	read := func() string {
		rec := httptest.NewRecorder()
		Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	text := read()
	for _, want := range []string{
		`davgate_logons_by_backend_total{backend="other",result="ok"} 1`,
		`davgate_audit_events_total{event="other"} 1`,
		`davgate_sessions_revoked_total{kind="device",reason="other"} 1`,
		`davgate_password_unseals_total{use="smb_logon"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	for _, bad := range []string{"weird-backend", "made.up", "bogus"} {
		if strings.Contains(text, bad) {
			t.Errorf("scrape holds %q", bad)
		}
	}
}
