package session

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/davgate/davgate/internal/audit"
)

// TestAuditHoldsNoSecrets: every audited step of a session's life — mint,
// unseal for a dial and for a new session, revoke, stale-password end,
// keyring reload — is in the audit trail, and no line holds the password,
// a token, a session id or a session key K in any encoding.
func TestAuditHoldsNoSecrets(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	kr := newKeyring(t)
	m := NewManager(ManagerOptions{Keyring: kr, Store: NewMemoryStore(), Audit: audit.New(&buf)})
	const password = "Corr3ct-Horse-Battery-Staple"
	secrets := []string{password, base64.StdEncoding.EncodeToString([]byte(password))}
	addSecret := func(b []byte) {
		secrets = append(secrets, string(b), hex.EncodeToString(b),
			base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b))
	}
	track := func(tok string) {
		td, err := openToken(kr, tok)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, tok)
		addSecret(td.key[:])
		addSecret(td.sid[:])
	}
	tok, _, err := m.Create(ctx, "alice", []byte(password), KindBrowser, "browser", nil)
	if err != nil {
		t.Fatal(err)
	}
	track(tok)
	s, err := m.Open(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := s.PasswordFor(ctx, "fs1:445"); err != nil || string(pw) != password {
		t.Fatalf("PasswordFor = %q, %v", pw, err)
	}
	dev, devInfo, err := m.CreateFrom(ctx, s, KindDevice, "phone")
	if err != nil {
		t.Fatal(err)
	}
	track(dev)
	if err := m.Revoke(ctx, "alice", devInfo.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.EndStale(ctx, s, "fs1:445"); err != nil {
		t.Fatal(err)
	}
	m.SetKeyring(kr)

	out := buf.String()
	for _, want := range []string{`"event":"token.minted"`, `"event":"password.unsealed"`, `"server":"fs1:445"`,
		`"use":"new_session"`, `"event":"token.revoked"`, `"reason":"stale_password"`, `"event":"session.stale_password"`,
		`"event":"keyring.reloaded"`, `"session":"` + s.ID + `"`, `"label":"phone"`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit trail lacks %s:\n%s", want, out)
		}
	}
	for _, sec := range secrets {
		if strings.Contains(out, sec) {
			t.Errorf("audit trail holds a secret (%d bytes)", len(sec))
		}
	}
}
