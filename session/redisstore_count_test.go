package session

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The Redis store counts its live sessions by kind: created, revoked one
// by one and all at once, expired by Redis's own TTL (no event), kept
// while touched past the first idle deadline, and a record that vanished
// without a Delete is dropped by the next walk.
func TestRedisCountByKind(t *testing.T) {
	ctx := context.Background()
	r, c := startRedis(t)
	s := newRedisStore(t, r.URL)
	s.count.pruneEvery = time.Nanosecond
	const idle = 1500 * time.Millisecond
	m := NewManager(ManagerOptions{Keyring: newKeyring(t), Store: s, TouchEvery: time.Nanosecond,
		Limits: Limits{BrowserIdle: idle}})
	want := func(what string, browser, device int) {
		t.Helper()
		got, err := s.CountByKind(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[Kind]int{KindBrowser: browser, KindDevice: device}, got); diff != "" {
			t.Errorf("%s: count (-want +got):\n%s", what, diff)
		}
	}
	want("empty", 0, 0)
	kept, _, _ := m.Create(ctx, "alice", []byte("pw"), KindBrowser, "", nil)
	m.Create(ctx, "alice", []byte("pw"), KindBrowser, "", nil) // left to expire
	_, dev, _ := m.Create(ctx, "alice", []byte("pw"), KindDevice, "phone", nil)
	m.Create(ctx, "bob", []byte("pw"), KindDevice, "laptop", nil)
	_, gone, _ := m.Create(ctx, "bob", []byte("pw"), KindDevice, "tablet", nil)
	want("created", 2, 3)
	if err := m.Revoke(ctx, "alice", dev.ID); err != nil {
		t.Fatal(err)
	}
	want("one revoked", 2, 2)

	// A record Redis no longer holds, though nothing deleted it through
	// the store: the next walk drops it.
	for _, rec := range mustList(t, s, "bob") {
		if rec.ID == gone.ID {
			c.Del(ctx, s.recKey(rec.Key))
		}
	}
	s.CountByKind(ctx) // starts the walk
	deadline := time.Now().Add(5 * time.Second)
	for n, _ := s.CountByKind(ctx); n[KindDevice] != 1 && time.Now().Before(deadline); n, _ = s.CountByKind(ctx) {
		time.Sleep(20 * time.Millisecond)
	}
	want("a record gone behind the store's back", 2, 1)

	// Touched past the first idle deadline: still counted; the other
	// browser session expires by Redis's TTL alone.
	for end := time.Now().Add(idle + 500*time.Millisecond); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		if _, err := m.Open(ctx, kept); err != nil {
			t.Fatalf("Open of the touched session: %v", err)
		}
	}
	want("one browser session expired, one touched", 1, 1)
	if err := m.RevokeAll(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	want("bob's revoked", 1, 0)
}

func mustList(t *testing.T, s Store, user string) []*Record {
	t.Helper()
	recs, err := s.List(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
