package session

import (
	"context"
	"errors"
	"testing"
)

// TestCreateFrom: a device session minted from a browser session carries
// the same user, attributes and password, and lives on after the browser
// session is revoked; revoking it ends only it.
func TestCreateFrom(t *testing.T) {
	ctx := context.Background()
	e := newTestManager(t)
	btok, _, err := e.m.Create(ctx, "alice", "s3cret", KindBrowser, "", map[string]string{"domain": "EXAMPLE"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.m.Open(ctx, btok)
	if err != nil {
		t.Fatal(err)
	}
	dtok, info, err := e.m.CreateFrom(ctx, b, KindDevice, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != KindDevice || info.Label != "laptop" || info.ID == b.ID {
		t.Fatalf("info = %+v", info)
	}
	if err := e.m.RevokeSession(ctx, b); err != nil {
		t.Fatal(err)
	}
	d, err := e.m.Open(ctx, dtok)
	if err != nil {
		t.Fatalf("device token after browser revoked: %v", err)
	}
	pw, err := d.Password()
	if err != nil || pw != "s3cret" {
		t.Fatalf("device password = %q, %v", pw, err)
	}
	if d.User != "alice" || d.Attrs["domain"] != "EXAMPLE" {
		t.Fatalf("device session = %v attrs %v", d, d.Attrs)
	}
	b.Attrs["domain"] = "changed"
	if d.Attrs["domain"] != "EXAMPLE" {
		t.Fatal("attrs shared with the parent session")
	}
	if err := e.m.RevokeSession(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Open(ctx, dtok); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked device token: %v", err)
	}
	if _, _, err := e.m.CreateFrom(ctx, b, "bogus", "x"); err == nil {
		t.Fatal("unknown kind accepted")
	}
}
