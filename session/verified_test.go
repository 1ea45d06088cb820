package session

import (
	"context"
	"errors"
	"testing"
)

// A record opened once is not decrypted again while it stays as it was,
// but any change to its ciphertext, and a token for its session id with
// another key, is still refused after it has been used.
func TestOpenRechecksChangedRecords(t *testing.T) {
	ctx := context.Background()
	e := newTestManager(t)
	tok, _, err := e.m.Create(ctx, "alice", []byte("pw"), KindDevice, "phone", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.m.Open(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.store.Get(ctx, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !e.m.verified.seen(s.k, r) {
		t.Fatal("a record opened once is not remembered as checked")
	}

	// A token for the same session id under another session key.
	td, err := openToken(e.m.keyring.Load(), tok)
	if err != nil {
		t.Fatal(err)
	}
	td.key[0] ^= 1
	forged, err := sealToken(e.m.keyring.Load(), td)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Open(ctx, forged); !errors.Is(err, ErrRevoked) {
		t.Errorf("Open with another session key = %v, want ErrRevoked", err)
	}

	r.Sealed[len(r.Sealed)-1] ^= 1
	if err := e.store.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Open(ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("Open after the ciphertext changed = %v, want ErrRevoked", err)
	}
}
