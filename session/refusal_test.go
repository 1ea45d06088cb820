package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testRefusalConformance checks a RefusalStore's contract; newStore
// returns an empty store.
func testRefusalConformance(t *testing.T, newStore func(t *testing.T) RefusalStore) {
	ctx := context.Background()
	t.Run("marks", func(t *testing.T) {
		s := newStore(t)
		const addr = "10.0.0.1:445"
		if at, err := s.RefusedSince(ctx, "alice", addr); err != nil || !at.IsZero() {
			t.Fatalf("RefusedSince before any mark = %v, %v; want zero", at, err)
		}
		t1 := time.Now().Add(-time.Minute).Round(time.Microsecond)
		if err := s.MarkRefused(ctx, "Alice", addr, t1, time.Hour); err != nil {
			t.Fatal(err)
		}
		if at, err := s.RefusedSince(ctx, "alice", addr); err != nil || !at.Equal(t1) {
			t.Errorf("RefusedSince = %v, %v; want %v (user names case-insensitive)", at, err, t1)
		}
		if at, _ := s.RefusedSince(ctx, "bob", addr); !at.IsZero() {
			t.Errorf("another user's mark = %v, want none", at)
		}
		if at, _ := s.RefusedSince(ctx, "alice", "10.0.0.2:445"); !at.IsZero() {
			t.Errorf("another server's mark = %v, want none", at)
		}
		// An earlier mark (another instance's clock) does not move it back.
		if err := s.MarkRefused(ctx, "alice", addr, t1.Add(-time.Second), time.Hour); err != nil {
			t.Fatal(err)
		}
		if at, _ := s.RefusedSince(ctx, "alice", addr); !at.Equal(t1) {
			t.Errorf("after an earlier mark: %v, want %v", at, t1)
		}
		t2 := t1.Add(time.Second)
		if err := s.MarkRefused(ctx, "alice", addr, t2, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if at, _ := s.RefusedSince(ctx, "alice", addr); !at.Equal(t2) {
			t.Errorf("after a later mark: %v, want %v", at, t2)
		}
		time.Sleep(250 * time.Millisecond)
		if at, _ := s.RefusedSince(ctx, "alice", addr); !at.IsZero() {
			t.Errorf("mark past its ttl = %v, want none", at)
		}
	})
	t.Run("lease", func(t *testing.T) {
		s := newStore(t)
		var in, most atomic.Int32
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				release, err := s.Lease(ctx, "alice", "srv:445", 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				n := in.Add(1)
				if n > most.Load() {
					most.Store(n)
				}
				time.Sleep(10 * time.Millisecond)
				in.Add(-1)
				release()
				release() // idempotent
			}()
		}
		wg.Wait()
		if most.Load() != 1 {
			t.Errorf("%d lease holders at once, want 1", most.Load())
		}
		// Another key is independent; a held lease makes a waiter wait
		// until its ctx ends.
		release, err := s.Lease(ctx, "alice", "srv:445", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		other, err := s.Lease(ctx, "bob", "srv:445", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		other()
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := s.Lease(wctx, "ALICE", "srv:445", 5*time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lease while held = %v, want the ctx's deadline", err)
		}
	})
}

func TestMemoryRefusals(t *testing.T) {
	testRefusalConformance(t, func(*testing.T) RefusalStore { return NewMemoryStore() })
}

func TestRedisRefusals(t *testing.T) {
	r, c := startRedis(t)
	testRefusalConformance(t, func(t *testing.T) RefusalStore {
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		return newRedisStore(t, r.URL)
	})
	t.Run("lease expires", func(t *testing.T) {
		s := newRedisStore(t, r.URL)
		if _, err := s.Lease(context.Background(), "carol", "srv:445", 200*time.Millisecond); err != nil {
			t.Fatal(err) // never released: a dead instance
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		release, err := s.Lease(ctx, "carol", "srv:445", time.Second)
		if err != nil {
			t.Fatalf("Lease after the holder's ttl: %v", err)
		}
		release()
	})
}

// instance is one davgate instance's sessions and pool.
type instance struct {
	m       *Manager
	p       *Pool
	refused *atomic.Int64 // refused dials
}

func newInstance(t *testing.T, kr *Keyring, store interface {
	Store
	RefusalStore
}) instance {
	var refused atomic.Int64
	p, _ := newTestPool(t, PoolOptions{
		Refusals: store,
		Events: PoolEvents{Dialed: func(_ Mech, result string) {
			if result == "refused" {
				refused.Add(1)
			}
		}},
	})
	m := NewManager(ManagerOptions{Keyring: kr, Store: store})
	m.OnEnd(p.Close)
	return instance{m: m, p: p, refused: &refused}
}

// request is what a DAV request does: open the token, mount with the
// stored password, end the session if the server refuses it.
func (in instance) request(ctx context.Context, tok string, u ShareURL) error {
	s, err := in.m.Open(ctx, tok)
	if err != nil {
		return err
	}
	creds := func() (Creds, error) {
		pw, err := s.Password()
		return Creds{User: s.User, Password: string(pw)}, err
	}
	sh, release, err := in.p.Mount(ctx, s, creds, u)
	if errors.Is(err, ErrLogonFailure) {
		if rerr := in.m.RevokeSession(ctx, s); rerr != nil {
			return fmt.Errorf("revoke: %w (after %w)", rerr, err)
		}
	}
	if err != nil {
		return err
	}
	_, err = sh.Stat(".")
	release(err)
	return err
}

// testStalePasswordAllSessions: perInstance sessions of one user on each
// instance; the password changes at the server; all sessions are used at
// once. The server must see exactly one failed log-on, every session must
// end, and a new log-on with the new password must work.
func testStalePasswordAllSessions(t *testing.T, ins []instance, perInstance int) {
	ctx := context.Background()
	srv := startSmbd(t)
	data := shareURL(t, srv, "data")
	var toks []string
	var owner []instance
	for _, in := range ins {
		for i := range perInstance {
			tok, _, err := in.m.Create(ctx, poolUser, []byte(poolPass), KindDevice, fmt.Sprint("device ", i), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := in.request(ctx, tok, data); err != nil {
				t.Fatalf("request before the change: %v", err)
			}
			toks, owner = append(toks, tok), append(owner, in)
		}
	}
	for _, in := range ins {
		in.p.CloseAll() // as the idle timeout would
	}
	const newPass = "Changed-pass-2"
	srv.SetPassword(t, poolUser, newPass)

	errs := make([]error, len(toks))
	var wg sync.WaitGroup
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = owner[i].request(ctx, toks[i], data)
		}()
	}
	wg.Wait()
	var refused int64
	for i, err := range errs {
		if !errors.Is(err, ErrLogonFailure) {
			t.Errorf("session %d after the change: %v, want ErrLogonFailure", i, err)
		}
		if _, err := owner[i].m.Open(ctx, toks[i]); !errors.Is(err, ErrRevoked) {
			t.Errorf("Open of session %d after the refusal = %v, want ErrRevoked", i, err)
		}
	}
	for _, in := range ins {
		refused += in.refused.Load()
	}
	if refused != 1 {
		t.Errorf("%d refused dials over all pools, want exactly 1", refused)
	}
	time.Sleep(200 * time.Millisecond)
	if n := srv.FailedLogons(t, poolUser); n != 1 {
		t.Errorf("smbd logged %d failed log-ons for %s, want exactly 1\n%s", n, poolUser, grepAuth(srv.Log(t)))
	}

	// A log-on with the new password is not affected, on any instance.
	for _, in := range ins {
		tok, _, err := in.m.Create(ctx, poolUser, []byte(newPass), KindDevice, "new", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.request(ctx, tok, data); err != nil {
			t.Errorf("session with the new password: %v", err)
		}
	}
}

// TestStalePasswordFourSessions: four devices of one user on one instance.
func TestStalePasswordFourSessions(t *testing.T) {
	store := NewMemoryStore()
	testStalePasswordAllSessions(t, []instance{newInstance(t, newKeyring(t), store)}, 4)
}

// TestStalePasswordTwoInstances: two sessions on each of two instances
// sharing a real Redis.
func TestStalePasswordTwoInstances(t *testing.T) {
	r, _ := startRedis(t)
	keys := newKeyringFile(t, 1)
	testStalePasswordAllSessions(t, []instance{
		newInstance(t, loadKeyring(t, keys), newRedisStore(t, r.URL)),
		newInstance(t, loadKeyring(t, keys), newRedisStore(t, r.URL)),
	}, 2)
}
