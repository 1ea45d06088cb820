package redislocks

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/davfs"
	"github.com/davgate/davgate/internal/testenv"
)

// The same behaviour from the in-memory lock system and from Redis.
func TestLockSystemConformance(t *testing.T) {
	r := testenv.StartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rc.Close() })
	systems := map[string]func(t *testing.T) davfs.LockSystem{
		"memory": func(*testing.T) davfs.LockSystem { return davfs.NewMemoryLocks() },
		"redis": func(t *testing.T) davfs.LockSystem {
			return New(rc, fmt.Sprintf("t%d:", time.Now().UnixNano()))
		},
	}
	for name, newLS := range systems {
		t.Run(name, func(t *testing.T) { conformance(t, newLS) })
	}
}

func lock(token, root, user string, shared, zero bool, d time.Duration) davfs.Lock {
	return davfs.Lock{Token: token, Root: root, User: user, Shared: shared, ZeroDepth: zero,
		OwnerXML: "<D:href>me</D:href>", Timeout: d, Expires: time.Now().Add(d)}
}

func tokens(ls []davfs.Lock) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Token)
	}
	sort.Strings(out)
	return out
}

func conformance(t *testing.T, newLS func(*testing.T) davfs.LockSystem) {
	ctx := context.Background()
	t.Run("exclusive conflicts, shared share", func(t *testing.T) {
		ls := newLS(t)
		if err := ls.Create(ctx, lock("urn:uuid:1", "/s1/dir", "alice", false, false, time.Hour)); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			l    davfs.Lock
			want error
		}{
			{"same resource", lock("urn:uuid:2", "/s1/dir", "bob", false, false, time.Hour), davfs.ErrLockConflict},
			{"below a deep lock", lock("urn:uuid:3", "/s1/dir/a.txt", "bob", true, true, time.Hour), davfs.ErrLockConflict},
			{"above, deep", lock("urn:uuid:4", "/s1", "bob", false, false, time.Hour), davfs.ErrLockConflict},
			{"sibling", lock("urn:uuid:5", "/s1/dir2", "bob", false, false, time.Hour), nil},
			{"other scope, same path", lock("urn:uuid:6", "/s2/dir", "bob", false, false, time.Hour), nil},
		}
		for _, tt := range tests {
			if err := ls.Create(ctx, tt.l); !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
				t.Errorf("%s: Create = %v, want %v", tt.name, err, tt.want)
			}
		}
		if err := ls.Create(ctx, lock("urn:uuid:7", "/s3/f", "a", true, true, time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := ls.Create(ctx, lock("urn:uuid:8", "/s3/f", "b", true, true, time.Hour)); err != nil {
			t.Errorf("second shared lock: %v", err)
		}
		if err := ls.Create(ctx, lock("urn:uuid:9", "/s3/f", "c", false, true, time.Hour)); !errors.Is(err, davfs.ErrLockConflict) {
			t.Errorf("exclusive over shared: %v", err)
		}
	})
	t.Run("get refresh unlock", func(t *testing.T) {
		ls := newLS(t)
		want := lock("urn:uuid:a", "/s1/f.txt", "alice", false, true, time.Minute)
		if err := ls.Create(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := ls.Get(ctx, want.Token)
		if err != nil || got.Root != want.Root || got.User != "alice" || got.OwnerXML != want.OwnerXML || !got.ZeroDepth {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		exp := time.Now().Add(2 * time.Hour).Truncate(time.Second)
		got, err = ls.Refresh(ctx, want.Token, 2*time.Hour, exp)
		if err != nil || got.Timeout != 2*time.Hour || !got.Expires.Equal(exp) {
			t.Fatalf("Refresh = %+v, %v", got, err)
		}
		if got, _ := ls.Get(ctx, want.Token); !got.Expires.Equal(exp) {
			t.Errorf("refresh not stored: %v", got.Expires)
		}
		if err := ls.Unlock(ctx, want.Token); err != nil {
			t.Fatal(err)
		}
		for name, err := range map[string]error{
			"get":     func() error { _, err := ls.Get(ctx, want.Token); return err }(),
			"refresh": func() error { _, err := ls.Refresh(ctx, want.Token, time.Hour, exp); return err }(),
			"unlock":  ls.Unlock(ctx, want.Token),
		} {
			if !errors.Is(err, davfs.ErrNoSuchLock) {
				t.Errorf("%s after unlock = %v, want ErrNoSuchLock", name, err)
			}
		}
		if err := ls.Create(ctx, lock("urn:uuid:b", "/s1/f.txt", "bob", false, true, time.Minute)); err != nil {
			t.Errorf("lock after unlock: %v", err)
		}
	})
	t.Run("find", func(t *testing.T) {
		ls := newLS(t)
		for _, l := range []davfs.Lock{
			lock("urn:uuid:d1", "/s1/a", "u", false, false, time.Hour),
			lock("urn:uuid:d2", "/s1/b/c.txt", "u", false, true, time.Hour),
			lock("urn:uuid:d3", "/s1/bb", "u", false, true, time.Hour),
			lock("urn:uuid:d4", "/s2/b/c.txt", "u", false, true, time.Hour),
		} {
			if err := ls.Create(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name  string
			below bool
			want  []string
		}{
			{"/s1/a/x/y", false, []string{"urn:uuid:d1"}},
			{"/s1/b", false, nil},
			{"/s1/b", true, []string{"urn:uuid:d2"}},
			{"/s1", true, []string{"urn:uuid:d1", "urn:uuid:d2", "urn:uuid:d3"}},
			{"/s1/b/c.txt", false, []string{"urn:uuid:d2"}},
		}
		for _, tt := range tests {
			got, err := ls.Find(ctx, tt.name, tt.below)
			if err != nil {
				t.Fatal(err)
			}
			if g := tokens(got); fmt.Sprint(g) != fmt.Sprint(tt.want) {
				t.Errorf("Find(%s, %v) = %v, want %v", tt.name, tt.below, g, tt.want)
			}
		}
	})
	t.Run("expiry", func(t *testing.T) {
		ls := newLS(t)
		if err := ls.Create(ctx, lock("urn:uuid:e1", "/s1/f", "u", false, true, 200*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if err := ls.Create(ctx, lock("urn:uuid:e0", "/s1/g", "u", false, true, time.Hour)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := ls.Get(ctx, "urn:uuid:e1"); !errors.Is(err, davfs.ErrNoSuchLock) {
			t.Errorf("expired lock: %v", err)
		}
		if got, _ := ls.Find(ctx, "/s1/f", false); len(got) != 0 {
			t.Errorf("Find returns an expired lock")
		}
		if err := ls.Create(ctx, lock("urn:uuid:e2", "/s1/f", "v", false, true, time.Hour)); err != nil {
			t.Errorf("lock over an expired one: %v", err)
		}
		if _, err := ls.Get(ctx, "urn:uuid:e0"); err != nil {
			t.Errorf("a shorter lock's expiry took a longer one with it: %v", err)
		}
	})
	t.Run("racing conflicting creates: one wins", func(t *testing.T) {
		ls := newLS(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				err := ls.Create(ctx, lock(fmt.Sprintf("urn:uuid:r%d", i), "/s1/race", "u", false, true, time.Hour))
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !errors.Is(err, davfs.ErrLockConflict) {
					t.Errorf("create %d: %v", i, err)
				}
			}(i)
		}
		wg.Wait()
		if won != 1 {
			t.Errorf("%d conflicting exclusive locks were granted, want 1", won)
		}
	})
}
