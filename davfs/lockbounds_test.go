package davfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/internal/testenv"
)

// ownerLockBody is a LOCK body whose owner holds owner verbatim.
func ownerLockBody(owner string) string {
	return `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>` +
		`<D:locktype><D:write/></D:locktype><D:owner>` + owner + `</D:owner></D:lockinfo>`
}

// TestLockOwnerBounded: an owner (RFC 4918 section 14.17) over 4 KiB or
// nested over 16 deep is a bad request, and nothing reaches the store.
func TestLockOwnerBounded(t *testing.T) {
	rs := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { c.Close() })
	e := newTestEnv(t, func(o *HandlerOptions) { o.Locks = NewRedisLocks(c, "bounds:") })
	cases := []struct {
		name, owner string
	}{
		{"700 KB owner", "<D:href>" + strings.Repeat("x", 700<<10) + "</D:href>"},
		{"5 KiB owner", strings.Repeat("y", 5<<10)},
		{"17 deep", strings.Repeat("<a>", 17) + strings.Repeat("</a>", 17)},
	}
	e.h.maxBody = 2 << 20
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.expect(t, 400, "LOCK", "/dav/data/big.txt", strings.NewReader(ownerLockBody(tc.owner)))
			if n, err := c.DBSize(context.Background()).Result(); err != nil || n != 0 {
				t.Fatalf("redis holds %d keys (%v) after a refused LOCK, want 0", n, err)
			}
		})
	}
	t.Run("a name and 16 deep are taken", func(t *testing.T) {
		owner := strings.Repeat("<a>", 16) + "me" + strings.Repeat("</a>", 16)
		e.expect(t, 201, "LOCK", "/dav/data/ok.txt", strings.NewReader(ownerLockBody(owner)))
	})
}

// failAfter is a go-redis hook on the real client that fails every lock
// read (HGETALL) after the first n, as a store that goes down
// mid-request does; connection set-up is not counted.
type failAfter struct {
	n, seen atomic.Int64
}

func (f *failAfter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failAfter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "hgetall" && f.seen.Add(1) > f.n.Load() {
			err := errors.New("lock store down")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (f *failAfter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestLockStoreDownFailsClosed: with the lock store failing, a write's
// lock check answers 503 and the share is left as it was — also when the
// store fails only at the MOVE's destination check (it used to let the
// MOVE through).
func TestLockStoreDownFailsClosed(t *testing.T) {
	rs := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { c.Close() })
	f := &failAfter{}
	f.n.Store(1 << 40)
	c.AddHook(f)
	e := newTestEnv(t, func(o *HandlerOptions) { o.Locks = NewRedisLocks(c, "down:") })
	if err := os.WriteFile(filepath.Join(e.dir, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		if b, err := os.ReadFile(filepath.Join(e.dir, "a.txt")); err != nil || string(b) != "a" {
			t.Fatalf("a.txt = %q, %v; want it unchanged", b, err)
		}
		if _, err := os.Stat(filepath.Join(e.dir, "b.txt")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("b.txt exists (%v): a write went through", err)
		}
	}
	dst := "Destination"
	t.Run("MOVE, store fails at the destination check", func(t *testing.T) {
		f.seen.Store(0)
		f.n.Store(2) // the source's own locks and its parent's
		e.expect(t, 503, "MOVE", "/dav/data/a.txt", nil, dst, e.srv.URL+"/dav/data/b.txt")
		unchanged(t)
	})
	f.n.Store(0)
	for _, m := range []struct{ method, dest string }{
		{"MOVE", "/dav/data/b.txt"}, {"COPY", "/dav/data/b.txt"}, {"PUT", ""}, {"DELETE", ""},
	} {
		t.Run(m.method, func(t *testing.T) {
			hdr := []string{}
			if m.dest != "" {
				hdr = append(hdr, dst, e.srv.URL+m.dest)
			}
			e.expect(t, 503, m.method, "/dav/data/a.txt", strings.NewReader("new"), hdr...)
			unchanged(t)
		})
	}
}
