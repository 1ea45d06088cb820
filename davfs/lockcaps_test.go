package davfs

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
