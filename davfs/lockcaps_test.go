package davfs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/internal/testenv"
)

// userEnv is a test env whose request user is the X-User header, as
// authn sets it from the token.
func userEnv(t *testing.T, opts ...func(*HandlerOptions)) *testEnv {
	t.Helper()
	opts = append(opts, func(o *HandlerOptions) {
		o.User = func(ctx context.Context) string { s, _ := ctx.Value(userKey{}).(string); return s }
	})
	e := newTestEnv(t, opts...)
	inner := e.srv.Config.Handler
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, r.Header.Get("X-User"))))
	})
	return e
}

// TestLockCountBounded (issue 10 item 7): a LOCK over the locks one user
// or one share may hold is refused with 507 (RFC 4918 section 11.5) and
// stores nothing; an UNLOCK makes room again, and another user is bound
// only by the share's count.
func TestLockCountBounded(t *testing.T) {
	rs := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { c.Close() })
	systems := map[string]func() LockSystem{
		"memory": func() LockSystem { return NewMemoryLocks() },
		"bolt":   func() LockSystem { return newTestBoltLocks(t) },
		"redis":  func() LockSystem { return NewRedisLocks(c, "caps:") },
	}
	for name, newLS := range systems {
		t.Run(name, func(t *testing.T) {
			ls := newLS()
			e := userEnv(t, func(o *HandlerOptions) {
				o.Locks, o.MaxLocksPerUser, o.MaxLocksPerShare = ls, 3, 5
			})
			lock := func(t *testing.T, want int, user, file string) string {
				t.Helper()
				resp, body := e.do(t, "LOCK", "/dav/data/"+file, strings.NewReader(lockBody), "X-User", user)
				if resp.StatusCode != want {
					t.Fatalf("%s LOCK %s: status %d, want %d; body %q", user, file, resp.StatusCode, want, body)
				}
				return resp.Header.Get("Lock-Token")
			}
			stored := func(t *testing.T, want int) {
				t.Helper()
				locks, err := ls.Find(context.Background(), "/data", true)
				if err != nil || len(locks) != want {
					t.Fatalf("the store holds %d locks (%v), want %d", len(locks), err, want)
				}
			}
			tok := lock(t, 201, "alice", "a1")
			lock(t, 201, "alice", "a2")
			lock(t, 201, "alice", "a3")
			lock(t, 507, "alice", "a4")
			stored(t, 3)
			if _, err := os.Stat(filepath.Join(e.dir, "a4")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused LOCK created a4 (%v)", err)
			}
			e.expect(t, 204, "UNLOCK", "/dav/data/a1", nil, "X-User", "alice", "Lock-Token", tok)
			lock(t, 201, "alice", "a4")
			lock(t, 201, "bob", "b1")
			lock(t, 201, "bob", "b2")
			lock(t, 507, "bob", "b3") // the share's 5
			stored(t, 5)
		})
	}
}

// replyCounter is a go-redis hook that counts, while on, the replies and
// the array elements in them the client reads.
type replyCounter struct {
	on   atomic.Bool
	read atomic.Int64
}

func (c *replyCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *replyCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		c.count(cmd)
		return err
	}
}

func (c *replyCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			c.count(cmd)
		}
		return err
	}
}

func (c *replyCounter) count(cmd redis.Cmder) {
	if !c.on.Load() {
		return
	}
	n := 1
	switch r := cmd.(type) {
	case *redis.StringSliceCmd:
		n += len(r.Val())
	case *redis.SliceCmd:
		n += len(r.Val())
	case *redis.MapStringStringCmd:
		n += len(r.Val())
	case *redis.ZSliceCmd:
		n += len(r.Val())
	}
	c.read.Add(int64(n))
}

// TestLockCheckBounded (issue 10 item 7): a write's lock check reads the
// locks that can apply to it (its path, its ancestors, for a deep write
// what lies below), not the share's whole lock set: with 5,000 locks
// elsewhere on the share, a PUT and a folder's DELETE read a few replies,
// and the locks that do apply still refuse the write (RFC 4918 section
// 7). MemoryLocks, looking names up in its index, must agree.
func TestLockCheckBounded(t *testing.T) {
	rs := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { c.Close() })
	rc := &replyCounter{}
	c.AddHook(rc)
	t.Run("redis", func(t *testing.T) { testLockCheckBounded(t, NewRedisLocks(c, "bounded:"), rc) })
	t.Run("memory", func(t *testing.T) { testLockCheckBounded(t, NewMemoryLocks(), rc) })
}

func testLockCheckBounded(t *testing.T, ls LockSystem, rc *replyCounter) {
	e := userEnv(t, func(o *HandlerOptions) { o.Locks = ls })
	ctx := context.Background()
	mk := func(root string, zero bool) {
		t.Helper()
		tok := fmt.Sprintf("urn:uuid:%x", sha256.Sum256([]byte(root)))
		l := Lock{Token: tok, Root: root, User: "bob", ZeroDepth: zero, Timeout: time.Hour, Expires: time.Now().Add(time.Hour)}
		if err := ls.Create(ctx, l, LockLimits{}); err != nil {
			t.Fatalf("lock %s: %v", root, err)
		}
	}
	for i := range 5000 {
		mk(fmt.Sprintf("/data/other/f%d", i), i%2 == 0)
	}
	mk("/data/Taken.txt", true)
	mk("/data/deep", false)
	mk("/data/dir/sub/f", true)
	for _, d := range []string{"deep", "dir", "dir/sub", "free"} {
		if err := os.MkdirAll(filepath.Join(e.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, method, path string
		want               int
	}{
		{"PUT of a free file", "PUT", "/dav/data/doc.txt", 201},
		{"DELETE of a free folder", "DELETE", "/dav/data/free", 204},
		{"PUT of a locked file, other case", "PUT", "/dav/data/taken.TXT", 423},
		{"PUT below a depth-infinity lock", "PUT", "/dav/data/deep/x.txt", 423},
		{"DELETE of a folder with a lock below", "DELETE", "/dav/data/dir", 423},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc.read.Store(0)
			rc.on.Store(true)
			e.expect(t, tc.want, tc.method, tc.path, strings.NewReader("x"), "X-User", "alice")
			rc.on.Store(false)
			if n := rc.read.Load(); n > 40 {
				t.Errorf("the lock check read %d replies and elements, want a few (5,000 locks elsewhere)", n)
			}
		})
	}
}
