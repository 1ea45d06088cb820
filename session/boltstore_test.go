package session

import (
	bolt "go.etcd.io/bbolt"

	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newBoltStore(t *testing.T) *BoltStore {
	t.Helper()
	s, err := OpenBoltStore(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBoltStore(t *testing.T) {
	testStoreConformance(t, func(t *testing.T) Store { return newBoltStore(t) })
}

func TestBoltRefusals(t *testing.T) {
	testRefusalConformance(t, func(t *testing.T) RefusalStore { return newBoltStore(t) })
}

// TestBoltStoreSurvivesReopen: a session created before the store is
// closed opens after it is opened again from the same file, and a revoked
// one stays revoked.
func TestBoltStoreSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	kr := newKeyring(t)
	s, err := OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(ManagerOptions{Keyring: kr, Store: s})
	kept, _, err := m.Create(ctx, "alice", []byte("pw"), KindDevice, "phone", nil)
	if err != nil {
		t.Fatal(err)
	}
	gone, goneInfo, err := m.Create(ctx, "alice", []byte("pw"), KindDevice, "laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, "alice", goneInfo.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRefused(ctx, "alice", "srv:445", time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	p := LimitPolicy{Free: 2, Base: time.Hour, Max: time.Hour, Forget: time.Hour}
	for range 2 {
		if wait, err := s.Reserve(ctx, p, "u:mallory"); err != nil || wait != 0 {
			t.Fatalf("Reserve = %v, %v", wait, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file: %v, %v; want mode 0600", fi, err)
	}

	s2, err := OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	m2 := NewManager(ManagerOptions{Keyring: kr, Store: s2})
	sess, err := m2.Open(ctx, kept)
	if err != nil {
		t.Fatalf("Open after reopen: %v", err)
	}
	if p, err := sess.Password(); err != nil || string(p) != "pw" {
		t.Errorf("Password after reopen = %q, %v", p, err)
	}
	if _, err := m2.Open(ctx, gone); !errors.Is(err, ErrRevoked) {
		t.Errorf("Open(revoked) after reopen = %v, want ErrRevoked", err)
	}
	if at, err := s2.RefusedSince(ctx, "alice", "srv:445"); err != nil || at.IsZero() {
		t.Errorf("refusal mark after reopen = %v, %v", at, err)
	}
	if wait, err := s2.Reserve(ctx, p, "u:mallory"); err != nil || wait < 59*time.Minute {
		t.Errorf("Reserve after reopen = %v, %v; want the hour's wait kept", wait, err)
	}
}

// TestBoltStoreLocked: a second open of a file in use fails within the
// timeout with a message that says so.
func TestBoltStoreLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = OpenBoltStore(path)
	if !errors.Is(err, ErrStoreLocked) || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second open = %v, want ErrStoreLocked", err)
	}
	if d := time.Since(start); d > BoltOpenTimeout+2*time.Second {
		t.Errorf("second open took %v", d)
	}
}

// TestBoltStoreSweep: Sweep removes expired records from the file and the
// user index.
func TestBoltStoreSweep(t *testing.T) {
	ctx := context.Background()
	s := newBoltStore(t)
	short := newTestRecord(t, "alice", 50*time.Millisecond, time.Hour)
	long := newTestRecord(t, "alice", time.Hour, 2*time.Hour)
	for _, r := range []*Record{short, long} {
		if err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	n, err := s.CountByKind(ctx)
	if err != nil || n[KindDevice] != 1 {
		t.Errorf("CountByKind = %v, %v; want 1 device", n, err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketSessions).Get([]byte(short.Key)); v != nil {
			t.Errorf("expired record still in the file")
		}
		if v := tx.Bucket(bucketByUser).Get(userIndexKey("alice", short.Key)); v != nil {
			t.Errorf("expired record still in the user index")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBoltHoldsNoSecrets: the store file holds neither the password nor
// the token nor the session key K, in any encoding davgate uses.
func TestBoltHoldsNoSecrets(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(ManagerOptions{Keyring: newKeyring(t), Store: s, TouchEvery: time.Nanosecond})
	const password = "Corr3ct-Horse-Battery-Staple"
	secrets := [][]byte{[]byte(password)}
	for _, kind := range []Kind{KindDevice, KindBrowser} {
		tok, _, err := m.Create(ctx, "alice", []byte(password), kind, "x", nil)
		if err != nil {
			t.Fatal(err)
		}
		td, err := openToken(m.keyring.Load(), tok)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, []byte(tok))
		for _, b := range [][]byte{td.key[:], td.sid[:]} {
			secrets = append(secrets, b, []byte(hex.EncodeToString(b)),
				[]byte(base64.StdEncoding.EncodeToString(b)), []byte(base64.RawURLEncoding.EncodeToString(b)))
		}
		if _, err := m.Open(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets {
		if bytes.Contains(raw, sec) {
			t.Errorf("the store file contains a secret (%d bytes)", len(sec))
		}
	}
}

func TestFileStorePath(t *testing.T) {
	for spec, want := range map[string]string{
		"file:///var/lib/davgate/state.db": "/var/lib/davgate/state.db",
		"file://localhost/srv/s.db":        "/srv/s.db",
		"bolt:/srv/s.db":                   "/srv/s.db",
		"file:relative":                    "",
		"file://other/x":                   "",
		"bolt:a/../b":                      "",
		"file:///a/../b":                   "",
	} {
		got, err := FileStorePath(spec)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("FileStorePath(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
}

func TestBoltFlows(t *testing.T) {
	testFlowStore(t, func(t *testing.T) FlowStore { return newBoltStore(t) })
}
