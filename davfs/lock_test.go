package davfs

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// TestLockSystems runs one conformance suite against the memory and the
// Redis lock systems (RFC 4918 section 6: exclusive and shared locks,
// depth, expiry).
func TestLockSystems(t *testing.T) {
	systems := map[string]func(t *testing.T) LockSystem{
		"memory": func(t *testing.T) LockSystem { return NewMemoryLocks() },
		"bolt":   func(t *testing.T) LockSystem { return newTestBoltLocks(t) },
		"redis": func(t *testing.T) LockSystem {
			r := testenv.StartRedis(t)
			c := redis.NewClient(&redis.Options{Addr: r.Addr})
			t.Cleanup(func() { c.Close() })
			return NewRedisLocks(c, "test:")
		},
	}
	for name, newLS := range systems {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ls := newLS(t)
			hour := time.Now().Add(time.Hour)
			mk := func(root string, shared, zero bool) Lock {
				return Lock{Token: newLockToken(), Root: root, User: "u", Shared: shared, ZeroDepth: zero,
					OwnerXML: `<href xmlns="DAV:">me</href>`, Timeout: time.Hour, Expires: hour}
			}
			create := func(l Lock, want error) {
				t.Helper()
				if err := ls.Create(ctx, l, LockLimits{}); !errors.Is(err, want) {
					t.Fatalf("Create(%s shared=%v zero=%v) = %v, want %v", l.Root, l.Shared, l.ZeroDepth, err, want)
				}
			}
			coll := mk("/s/coll", false, false)
			create(coll, nil)
			create(mk("/s/coll", false, false), ErrLockConflict)
			create(mk("/s/coll/a", false, true), ErrLockConflict) // covered by depth infinity
			create(mk("/s", false, false), ErrLockConflict)       // would cover it
			create(mk("/s", false, true), nil)                    // depth 0 on the parent is fine
			create(mk("/s/collection", false, false), nil)        // a prefix, not a parent
			sh1, sh2 := mk("/s/f", true, true), mk("/s/f", true, true)
			create(sh1, nil)
			create(sh2, nil) // shared locks share
			create(mk("/s/f", false, true), ErrLockConflict)

			got, err := ls.Get(ctx, coll.Token)
			if err != nil || got.Root != coll.Root || got.OwnerXML != coll.OwnerXML || got.Shared || got.ZeroDepth || got.User != "u" {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			if _, err := ls.Get(ctx, "urn:uuid:nope"); !errors.Is(err, ErrNoSuchLock) {
				t.Fatalf("Get unknown = %v", err)
			}
			later := time.Now().Add(2 * time.Hour)
			got, err = ls.Refresh(ctx, coll.Token, 2*time.Hour, later)
			if err != nil || got.Timeout != 2*time.Hour || got.Expires.UnixMilli() != later.UnixMilli() {
				t.Fatalf("Refresh = %+v, %v", got, err)
			}
			if _, err := ls.Refresh(ctx, "urn:uuid:nope", time.Hour, later); !errors.Is(err, ErrNoSuchLock) {
				t.Fatalf("Refresh unknown = %v", err)
			}

			roots := func(ls []Lock) []string {
				var r []string
				for _, l := range ls {
					r = append(r, l.Root)
				}
				sort.Strings(r)
				return r
			}
			found, _ := ls.Find(ctx, "/s/coll/a/b", false)
			if r := roots(found); len(r) != 1 || r[0] != "/s/coll" {
				t.Fatalf("Find covering = %v", r)
			}
			found, _ = ls.Find(ctx, "/s", true)
			if r := roots(found); len(r) != 5 {
				t.Fatalf("Find below /s = %v", r)
			}

			if err := ls.Unlock(ctx, coll.Token); err != nil {
				t.Fatal(err)
			}
			if err := ls.Unlock(ctx, coll.Token); !errors.Is(err, ErrNoSuchLock) {
				t.Fatalf("second Unlock = %v", err)
			}
			create(mk("/s/coll/a", false, true), nil)

			// an expired lock is gone and conflicts with nothing
			short := mk("/s/short", false, true)
			short.Expires = time.Now().Add(50 * time.Millisecond)
			create(short, nil)
			time.Sleep(150 * time.Millisecond)
			if _, err := ls.Get(ctx, short.Token); !errors.Is(err, ErrNoSuchLock) {
				t.Fatalf("Get expired = %v", err)
			}
			create(mk("/s/short", false, true), nil)
		})
	}
}
