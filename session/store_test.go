package session

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// storeFactory makes an empty store for one subtest.
type storeFactory func(t *testing.T) Store

func newTestRecord(t testing.TB, user string, idle, life time.Duration) *Record {
	t.Helper()
	id, err := newPublicID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	return &Record{
		Key:      storeKey([]byte(id)), // any unique key will do here
		ID:       id,
		User:     user,
		Kind:     KindDevice,
		Label:    "phone",
		Attrs:    map[string]string{"home": "smb://srv/homes/" + user},
		Sealed:   []byte("not really sealed"),
		Created:  now,
		LastUsed: now,
		LastAddr: "192.0.2.7",
		Expires:  now.Add(life),
		Idle:     idle,
	}
}

var recordCmp = cmpopts.EquateApproxTime(time.Millisecond)

// testStoreConformance runs every Store implementation through the same
// behaviour.
func testStoreConformance(t *testing.T, newStore storeFactory) {
	ctx := context.Background()

	t.Run("put get", func(t *testing.T) {
		s := newStore(t)
		r := newTestRecord(t, "alice", time.Hour, 2*time.Hour)
		if err := s.Put(ctx, r); err != nil {
			t.Fatalf("Put: %v", err)
		}
		got, err := s.Get(ctx, r.Key)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if diff := cmp.Diff(r, got, recordCmp); diff != "" {
			t.Errorf("Get mismatch (-want +got):\n%s", diff)
		}
		// The store hands out copies.
		got.Attrs["home"] = "changed"
		got.Sealed[0] = 'X'
		again, _ := s.Get(ctx, r.Key)
		if again.Attrs["home"] == "changed" || again.Sealed[0] == 'X' {
			t.Errorf("Get returned the stored record itself, not a copy")
		}
	})

	t.Run("get missing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, storeKey([]byte("nothing"))); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(missing) = %v, want ErrNotFound", err)
		}
	})

	t.Run("touch", func(t *testing.T) {
		s := newStore(t)
		r := newTestRecord(t, "alice", time.Hour, 2*time.Hour)
		if err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.LastUsed = r.LastUsed.Add(time.Minute)
		if err := s.Touch(ctx, r); err != nil {
			t.Fatalf("Touch: %v", err)
		}
		got, err := s.Get(ctx, r.Key)
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastUsed.Equal(r.LastUsed) {
			t.Errorf("LastUsed after Touch = %v, want %v", got.LastUsed, r.LastUsed)
		}
	})

	t.Run("touch does not resurrect", func(t *testing.T) {
		s := newStore(t)
		r := newTestRecord(t, "alice", time.Hour, 2*time.Hour)
		if err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, r.User, r.Key); err != nil {
			t.Fatal(err)
		}
		if err := s.Touch(ctx, r); !errors.Is(err, ErrNotFound) {
			t.Errorf("Touch(deleted) = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, r.Key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after Touch(deleted) = %v, want ErrNotFound", err)
		}
	})

	t.Run("list and delete", func(t *testing.T) {
		s := newStore(t)
		a1 := newTestRecord(t, "alice", time.Hour, 2*time.Hour)
		a2 := newTestRecord(t, "alice", time.Hour, 2*time.Hour)
		a3 := newTestRecord(t, "alice", time.Hour, 2*time.Hour)
		b1 := newTestRecord(t, "bob", time.Hour, 2*time.Hour)
		for _, r := range []*Record{a1, a2, a3, b1} {
			if err := s.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		listIDs := func(user string) []string {
			t.Helper()
			rs, err := s.List(ctx, user)
			if err != nil {
				t.Fatalf("List(%s): %v", user, err)
			}
			var ids []string
			for _, r := range rs {
				if r.User != user {
					t.Errorf("List(%s) returned a record of %s", user, r.User)
				}
				ids = append(ids, r.ID)
			}
			slices.Sort(ids)
			return ids
		}
		sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
		if diff := cmp.Diff(sorted(a1.ID, a2.ID, a3.ID), listIDs("alice")); diff != "" {
			t.Errorf("List(alice) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{b1.ID}, listIDs("bob")); diff != "" {
			t.Errorf("List(bob) (-want +got):\n%s", diff)
		}
		if got := listIDs("carol"); len(got) != 0 {
			t.Errorf("List(carol) = %v, want none", got)
		}
		if err := s.Delete(ctx, "alice", a1.Key, a3.Key, storeKey([]byte("missing"))); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if diff := cmp.Diff([]string{a2.ID}, listIDs("alice")); diff != "" {
			t.Errorf("List(alice) after Delete (-want +got):\n%s", diff)
		}
		for _, k := range []string{a1.Key, a3.Key} {
			if _, err := s.Get(ctx, k); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(deleted) = %v, want ErrNotFound", err)
			}
		}
		if _, err := s.Get(ctx, b1.Key); err != nil {
			t.Errorf("Get(bob's) after deleting alice's: %v", err)
		}
		if err := s.Delete(ctx, "alice"); err != nil {
			t.Errorf("Delete(no keys) = %v", err)
		}
	})

	// The expiry tests use real time (Redis keeps it), so they check only
	// what holds however late the test runs: a record is gone after its
	// deadline; a touched one is alive if checked before its new deadline.
	const idle = 400 * time.Millisecond

	t.Run("idle expiry", func(t *testing.T) {
		s := newStore(t)
		short := newTestRecord(t, "alice", idle, time.Hour)
		kept := newTestRecord(t, "alice", idle, time.Hour)
		for _, r := range []*Record{short, kept} {
			if err := s.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(idle / 2)
		kept.LastUsed = time.Now()
		if err := s.Touch(ctx, kept); err != nil {
			t.Fatalf("Touch: %v", err)
		}
		time.Sleep(time.Until(short.Deadline()) + 20*time.Millisecond)
		if _, err := s.Get(ctx, short.Key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(idle past) = %v, want ErrNotFound", err)
		}
		_, err := s.Get(ctx, kept.Key)
		rs, lerr := s.List(ctx, "alice")
		if time.Now().After(kept.Deadline()) {
			t.Skip("test ran too slowly to check the touched record")
		}
		if err != nil {
			t.Errorf("Get(touched) = %v, want it alive", err)
		}
		if lerr != nil {
			t.Fatal(lerr)
		}
		if len(rs) != 1 || rs[0].ID != kept.ID {
			t.Errorf("List after idle expiry returned %d records, want only the touched one", len(rs))
		}
	})

	t.Run("absolute expiry beats touch", func(t *testing.T) {
		s := newStore(t)
		r := newTestRecord(t, "alice", time.Hour, idle)
		if err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		time.Sleep(idle / 2)
		r.LastUsed = time.Now()
		if err := s.Touch(ctx, r); err != nil && !(errors.Is(err, ErrNotFound) && time.Now().After(r.Expires)) {
			t.Fatalf("Touch: %v", err)
		}
		time.Sleep(time.Until(r.Expires) + 20*time.Millisecond)
		if _, err := s.Get(ctx, r.Key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(past absolute expiry) = %v, want ErrNotFound", err)
		}
		if rs, _ := s.List(ctx, "alice"); len(rs) != 0 {
			t.Errorf("List after absolute expiry returned %d records, want none", len(rs))
		}
	})
}

func TestMemoryStore(t *testing.T) {
	testStoreConformance(t, func(t *testing.T) Store { return NewMemoryStore() })
}

func TestOpenStore(t *testing.T) {
	ctx := context.Background()
	for _, spec := range []string{"", "memory"} {
		s, err := OpenStore(ctx, spec)
		if err != nil {
			t.Fatalf("OpenStore(%q): %v", spec, err)
		}
		if _, ok := s.(*MemoryStore); !ok {
			t.Errorf("OpenStore(%q) = %T, want *MemoryStore", spec, s)
		}
	}
	for _, spec := range []string{"memcached://x", "bolt:relative/x", "file://host/x", "redis://user:secret@127.0.0.1:1/0?bogus=1"} {
		_, err := OpenStore(ctx, spec)
		if err == nil {
			t.Errorf("OpenStore(%q) succeeded, want error", spec)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("OpenStore error %q repeats the password", err)
		}
	}
}
