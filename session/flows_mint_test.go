package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/audit"
)

// A device prepared for a log-on flow exists nowhere until Mint stores
// it: not listed, its token refused, no mint audited; Mint makes it a
// session like any other, and refuses a record that is not its token's,
// or altered, or past its expiry, or whose approving session has ended.
// With every store.
func TestPrepareAndMint(t *testing.T) {
	stores := map[string]func(t *testing.T) Store{
		"memory": func(*testing.T) Store { return NewMemoryStore() },
		"file":   func(t *testing.T) Store { return newBoltStore(t) },
		"redis": func(t *testing.T) Store {
			r, _ := startRedis(t)
			return newRedisStore(t, r.URL)
		},
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) { testPrepareAndMint(t, newStore(t)) })
	}
}

func testPrepareAndMint(t *testing.T, store Store) {
	ctx := context.Background()
	var trail bytes.Buffer
	now := time.Now()
	m := NewManager(ManagerOptions{Keyring: newKeyring(t), Store: store, Audit: audit.New(&trail),
		Now: func() time.Time { return now }})
	btok, _, err := m.Create(ctx, "alice", []byte("pw"), KindBrowser, "browser", map[string]string{"mail": "a@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	browser, err := m.Open(ctx, btok)
	if err != nil {
		t.Fatal(err)
	}
	token, pending, info, err := m.PrepareFrom(ctx, browser, KindDevice, "rclone")
	if err != nil {
		t.Fatal(err)
	}
	_, pending2, _, err := m.PrepareFrom(ctx, browser, KindDevice, "other")
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := m.List(ctx, "alice"); len(list) != 1 {
		t.Errorf("prepared, not minted: alice has %d sessions, want only the browser's", len(list))
	}
	if _, err := m.Open(ctx, token); !errors.Is(err, ErrRevoked) {
		t.Errorf("Open of a prepared token = %v, want ErrRevoked", err)
	}
	if n := mintedLines(trail.Bytes(), info.ID); n != 0 {
		t.Errorf("%d mints audited before Mint:\n%s", n, trail.String())
	}

	altered := bytes.Replace(pending, []byte(`"rclone"`), []byte(`"evil"`), 1)
	for what, p := range map[string][]byte{"another's record": pending2, "an altered record": altered, "garbage": []byte("{")} {
		if _, err := m.Mint(ctx, token, p); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Mint with %s = %v, want ErrInvalidToken", what, err)
		}
	}

	now = now.Add(time.Minute)
	got, err := m.Mint(WithClientAddr(ctx, "192.0.2.9"), token, pending)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != info.ID || got.Label != "rclone" || got.LastAddr != "192.0.2.9" || !got.LastUsed.Equal(now) {
		t.Errorf("minted %+v; want id %s, label rclone, last used now from 192.0.2.9", got, info.ID)
	}
	s, err := m.Open(ctx, token)
	if err != nil || s.User != "alice" || s.Kind != KindDevice || s.Attrs["mail"] != "a@example.org" {
		t.Fatalf("Open of the minted token = %v, %v", s, err)
	}
	if pw, err := s.Password(); err != nil || string(pw) != "pw" {
		t.Errorf("the minted session's password = %q, %v", pw, err)
	}
	if n := mintedLines(trail.Bytes(), info.ID); n != 1 {
		t.Errorf("%d mints audited for the minted session, want 1:\n%s", n, trail.String())
	}

	// Once the session it was prepared from has ended ("log out
	// everywhere" after Allow), a prepared session is not minted.
	orphan, orphanPending, _, err := m.PrepareFrom(ctx, browser, KindDevice, "orphan")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeAll(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Mint(ctx, orphan, orphanPending); !errors.Is(err, ErrRevoked) {
		t.Errorf("Mint after the approving session ended = %v, want ErrRevoked", err)
	}
	if list, _ := m.List(ctx, "alice"); len(list) != 0 {
		t.Errorf("after log out everywhere and a refused Mint: %d sessions, want none", len(list))
	}

	// Past its expiry a prepared session is not minted.
	late, latePending, _, err := m.PrepareFrom(ctx, browser, KindDevice, "late")
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(DefaultLimits.DeviceLifetime)
	if _, err := m.Mint(ctx, late, latePending); !errors.Is(err, ErrRevoked) {
		t.Errorf("Mint past the expiry = %v, want ErrRevoked", err)
	}
}

// mintedLines counts the audit trail's token.minted lines for session id.
func mintedLines(trail []byte, id string) int {
	n := 0
	for _, line := range bytes.Split(trail, []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["event"] == audit.TokenMinted && m["session"] == id {
			n++
		}
	}
	return n
}
