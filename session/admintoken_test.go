package session

import (
	"errors"
	"testing"
	"time"
)

// An admin token opens for its request before its expiry, under the
// keyring that sealed it, and for nothing else.
func TestAdminToken(t *testing.T) {
	kr, other := newKeyring(t), newKeyring(t)
	now := time.Now()
	const req = "DELETE /admin/v1/sessions?user=alice"
	tok, err := kr.SealAdmin(req, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.OpenAdmin(tok, req, now.Add(time.Second)); err != nil {
		t.Fatalf("OpenAdmin = %v", err)
	}
	sessTok, _, err := NewManager(ManagerOptions{Keyring: kr, Store: NewMemoryStore()}).Create(t.Context(), "alice", []byte("pw"), KindDevice, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		kr       *Keyring
		tok, req string
		at       time.Time
	}{
		"other request":   {kr, tok, "DELETE /admin/v1/sessions?user=bob", now},
		"expired":         {kr, tok, req, now.Add(AdminTokenLife + time.Second)},
		"other keyring":   {other, tok, req, now},
		"altered":         {kr, flipLast(tok), req, now},
		"a session token": {kr, sessTok, req, now},
		"garbage":         {kr, "!!", req, now},
	} {
		if err := c.kr.OpenAdmin(c.tok, c.req, c.at); !errors.Is(err, ErrBadAdminToken) {
			t.Errorf("%s: OpenAdmin = %v, want ErrBadAdminToken", name, err)
		}
	}
}

func flipLast(s string) string {
	b := []byte(s)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}
