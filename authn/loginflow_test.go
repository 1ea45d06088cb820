package authn

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The device token waits sealed to the poll key: only the poll secret of
// the same flow opens it, and nothing the store keeps holds the code or
// the secret.
func TestLoginFlowSeal(t *testing.T) {
	a, err := newFlowSecrets()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newFlowSecrets()
	key, secret, err := pollSecret(a.pollToken)
	if err != nil || key != a.key || !pollMatches(a.verifier, secret) {
		t.Fatalf("poll token does not lead back to its flow: %v", err)
	}
	if k, ok := flowKeyFromCode(a.code); !ok || k != a.key {
		t.Errorf("the URL code does not lead to the flow's key")
	}
	if strings.Contains(a.pollToken, a.code) {
		t.Errorf("the poll token holds the URL code")
	}
	_, otherSecret, _ := pollSecret(b.pollToken)
	if pollMatches(a.verifier, otherSecret) {
		t.Errorf("another flow's poll secret matches")
	}
	sealed, err := sealToPollKey(a.pollKey, a.key, "the device token")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := openWithPollSecret(secret, a.key, sealed); err != nil || got != "the device token" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := openWithPollSecret(otherSecret, a.key, sealed); err == nil {
		t.Errorf("another poll secret opens the token")
	}
	if _, err := openWithPollSecret(secret, b.key, sealed); err == nil {
		t.Errorf("the token opens under another flow's key")
	}
	for _, stored := range [][]byte{a.verifier, a.pollKey, sealed, []byte(a.key)} {
		if bytes.Contains(stored, secret) || bytes.Contains(stored, []byte(a.code)) || bytes.Contains(stored, []byte("the device token")) {
			t.Errorf("a stored field holds a secret")
		}
	}
	for _, bad := range []string{"", "x", a.code, a.pollToken + "A"} {
		if _, _, err := pollSecret(bad); err == nil {
			t.Errorf("pollSecret(%q) accepted", bad)
		}
	}
}

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The approval page and a closed request's page, as served: no script,
// the client's name escaped. Refresh with go test ./authn -run
// TestFlowPageGolden -update.
func TestFlowPageGolden(t *testing.T) {
	created := time.Date(2026, 12, 3, 13, 5, 0, 0, time.UTC)
	for name, d := range map[string]flowPage{
		"loginflow-pending.html": {Pending: true, Title: "allow <x>?", User: "alice", Client: `Backup <script>"x"</script>`,
			From: "192.0.2.7", Action: FlowPagePrefix + "CODE", Started: created.Format("2 Jan 2006, 15:04:05 UTC"),
			StartedISO: created.Format(time.RFC3339), Ago: ago(90 * time.Second), CSRF: "csrf-token"},
		"loginflow-closed.html": flowClosed,
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			renderFlow(w, http.StatusOK, d)
			if csp := w.Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
				t.Errorf("CSP = %q", csp)
			}
			got := w.Body.Bytes()
			path := filepath.Join("testdata", name)
			if *updateGolden {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
			if bytes.Contains(got, []byte("<script")) {
				t.Errorf("a <script> on the page")
			}
		})
	}
}
