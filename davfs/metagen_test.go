package davfs

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/internal/testenv"
)

// metaGenEnv is a handler whose metadata cache (TTL 10s) shares its
// generations in a real Redis, and what the tests need around it.
type metaGenEnv struct {
	*testEnv
	redis   *testenv.Redis
	counter *smbCounter
}

func newMetaGenEnv(t *testing.T) *metaGenEnv {
	t.Helper()
	r := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	e := newTestEnv(t, func(o *HandlerOptions) {
		o.MetadataTTL = 10 * time.Second
		o.MetaGenerations = NewRedisMetaGenerations(c, "metagentest:")
	})
	return &metaGenEnv{testEnv: e, redis: r, counter: e.countSMB(t)}
}

// size is a PROPFIND Depth:0's getcontentlength of p, and the SMB
// requests it cost.
func (e *metaGenEnv) size(t *testing.T, p string) (string, int) {
	t.Helper()
	e.counter.take()
	body := e.expect(t, 207, "PROPFIND", p, strings.NewReader(finderProps), "Depth", "0")
	_, after, _ := strings.Cut(body, "<D:getcontentlength>")
	n, _, _ := strings.Cut(after, "<")
	return n, requests(e.counter.take())
}

// writeDirect changes a file on the server, behind davgate's back.
func (e *metaGenEnv) writeDirect(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(data), 0o666); err != nil {
		t.Fatal(err)
	}
}

// With the shared generation unreadable (Redis stopped), the metadata
// cache answers nothing: each PROPFIND asks the server, so a change made
// there shows at once instead of after the TTL; with Redis back, the
// entries read before are gone (issue 12, "Speed": fail open to the
// uncached path, never stale).
func TestMetaGenerationsRedisDown(t *testing.T) {
	e := newMetaGenEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/f", strings.NewReader("one"))
	e.size(t, "/dav/data/f")
	if got, n := e.size(t, "/dav/data/f"); got != "3" || n != 0 {
		t.Fatalf("repeated PROPFIND with Redis up: size %s, %d SMB requests; want 3 from the cache", got, n)
	}
	e.writeDirect(t, "f", "seven!!")
	if got, _ := e.size(t, "/dav/data/f"); got != "3" {
		t.Fatalf("a direct change seen at once (size %s): the cache is not answering", got)
	}
	e.redis.Stop(t)
	for i := range 2 {
		if got, n := e.size(t, "/dav/data/f"); got != "7" || n == 0 {
			t.Fatalf("PROPFIND %d with Redis stopped: size %s, %d SMB requests; want 7 from the server", i, got, n)
		}
	}
	e.redis.Start(t)
	e.writeDirect(t, "f", "nine!!!!!")
	if got, n := e.size(t, "/dav/data/f"); got != "9" || n == 0 {
		t.Errorf("PROPFIND with Redis back: size %s, %d SMB requests; want 9 from the server", got, n)
	}
	if got, n := e.size(t, "/dav/data/f"); got != "9" || n != 0 {
		t.Errorf("repeated PROPFIND with Redis back: size %s, %d SMB requests; want 9 from the cache", got, n)
	}
}

// A write whose bump of the shared generation fails still happens, and
// this instance then answers nothing from its cache for the scope for the
// TTL: other instances' bumps may be failing too.
func TestMetaGenerationsBumpFails(t *testing.T) {
	e := newMetaGenEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/f", strings.NewReader("one"))
	e.size(t, "/dav/data/f")
	e.redis.Stop(t)
	e.expect(t, 204, "PUT", "/dav/data/f", strings.NewReader("three"))
	e.redis.Start(t)
	if got, _ := e.size(t, "/dav/data/f"); got != "5" {
		t.Fatalf("after the PUT: size %s, want 5", got)
	}
	e.writeDirect(t, "f", "seven!!")
	if got, n := e.size(t, "/dav/data/f"); got != "7" || n == 0 {
		t.Errorf("within the TTL of a failed bump: size %s, %d SMB requests; want 7 from the server", got, n)
	}
}

// Requests on one scope at once share reads of its generation (fewer
// Redis GETs than requests), and each still gets a read sent after it
// asked: a Current after a Bump never returns the generation from before.
func TestGenBatch(t *testing.T) {
	r := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, PoolSize: 64})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	raw := NewRedisMetaGenerations(c, "genbatch:")
	b := newGenBatch(raw)
	gets := func() int {
		t.Helper()
		s, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		_, after, _ := strings.Cut(s, "cmdstat_get:calls=")
		n, _, _ := strings.Cut(after, ",")
		v, _ := strconv.Atoi(n)
		return v
	}
	const workers, rounds = 32, 100
	before := gets()
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for j := range rounds {
				old, err := b.Current(ctx, "s")
				if err != nil {
					t.Error(err)
					return
				}
				if j%4 == i%4 { // some bump while others read
					if err := raw.Bump(ctx, "s"); err != nil {
						t.Error(err)
						return
					}
					if now, err := b.Current(ctx, "s"); err != nil || now == old {
						t.Errorf("Current after a Bump: %d, %v; the generation from before", now, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	calls := workers * rounds * 5 / 4
	if n := gets() - before; n >= calls*3/4 {
		t.Errorf("%d concurrent Current calls cost %d Redis GETs; want them shared", calls, n)
	} else {
		t.Logf("%d Current calls, %d GETs", calls, n)
	}
}
