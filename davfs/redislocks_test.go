package davfs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/internal/testenv"
)

// Cases beyond TestLockSystems that matter when several instances share
// the lock store: racing conflicting LOCKs, and locks of one scope
// expiring at different times.
func TestLockSystemsConcurrency(t *testing.T) {
	r := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { c.Close() })
	n := 0
	systems := map[string]func() LockSystem{
		"memory": func() LockSystem { return NewMemoryLocks() },
		"bolt":   func() LockSystem { return newTestBoltLocks(t) },
		"redis": func() LockSystem {
			n++
			return NewRedisLocks(c, fmt.Sprintf("conc%d:", n))
		},
	}
	ctx := context.Background()
	mk := func(token, root string, d time.Duration) Lock {
		return Lock{Token: token, Root: root, User: "u", ZeroDepth: true, Timeout: d, Expires: time.Now().Add(d)}
	}
	for name, newLS := range systems {
		t.Run(name+"/racing conflicting creates: one wins", func(t *testing.T) {
			ls := newLS()
			var wg sync.WaitGroup
			var mu sync.Mutex
			won := 0
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					err := ls.Create(ctx, mk(fmt.Sprintf("urn:uuid:r%d", i), "/s1/race", time.Hour), LockLimits{})
					switch {
					case err == nil:
						mu.Lock()
						won++
						mu.Unlock()
					case !errors.Is(err, ErrLockConflict):
						t.Errorf("create %d: %v", i, err)
					}
				}(i)
			}
			wg.Wait()
			if won != 1 {
				t.Errorf("%d conflicting exclusive locks were granted, want 1", won)
			}
		})
		t.Run(name+"/a short lock's expiry leaves longer ones", func(t *testing.T) {
			ls := newLS()
			if err := ls.Create(ctx, mk("urn:uuid:long", "/s1/g", time.Hour), LockLimits{}); err != nil {
				t.Fatal(err)
			}
			if err := ls.Create(ctx, mk("urn:uuid:short", "/s1/f", 100*time.Millisecond), LockLimits{}); err != nil {
				t.Fatal(err)
			}
			if _, err := ls.Refresh(ctx, "urn:uuid:short", 150*time.Millisecond, time.Now().Add(150*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(250 * time.Millisecond)
			if _, err := ls.Get(ctx, "urn:uuid:short"); !errors.Is(err, ErrNoSuchLock) {
				t.Errorf("expired lock: %v", err)
			}
			if _, err := ls.Get(ctx, "urn:uuid:long"); err != nil {
				t.Errorf("the longer lock went with the shorter one: %v", err)
			}
			if got, _ := ls.Find(ctx, "/s1", true); len(got) != 1 || got[0].Token != "urn:uuid:long" {
				t.Errorf("Find = %v, want only the long lock", got)
			}
		})
	}
}

// TestRedisLocksSweepExpired: a Create removes its scope's expired locks,
// so they do not pile up in the hash and index between the scope's
// expiries.
func TestRedisLocksSweepExpired(t *testing.T) {
	r := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { c.Close() })
	ls := NewRedisLocks(c, "sweep:")
	ctx := context.Background()
	mk := func(token, root string, d time.Duration) Lock {
		return Lock{Token: token, Root: root, User: "u", ZeroDepth: true, Timeout: d, Expires: time.Now().Add(d)}
	}
	for i := range 3 {
		if err := ls.Create(ctx, mk(fmt.Sprintf("urn:uuid:s%d", i), fmt.Sprintf("/s1/f%d", i), 50*time.Millisecond), LockLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ls.Create(ctx, mk("urn:uuid:long", "/s1/g", time.Hour), LockLimits{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := ls.Create(ctx, mk("urn:uuid:new", "/s1/h", time.Hour), LockLimits{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		what string
		got  int64
	}{
		{"hash", c.HLen(ctx, "sweep:locks:{s1}").Val()},
		{"index", c.ZCard(ctx, "sweep:lockidx:{s1}").Val()},
		{"expiry set", c.ZCard(ctx, "sweep:lockexp:{s1}").Val()},
	} {
		if n.got != 2 {
			t.Errorf("the scope's %s holds %d entries after the sweep, want 2", n.what, n.got)
		}
	}
}
