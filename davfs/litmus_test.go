package davfs

import (
	"testing"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// TestLitmus runs the litmus 0.13 WebDAV conformance suite against davfs
// over a real smbd: every group must pass with no failure and no skipped
// test (issue 3).
func TestLitmus(t *testing.T) {
	testenv.Need(t, "litmus")
	if testing.Short() {
		t.Skip("litmus takes a while")
	}
	t.Run("memory locks", func(t *testing.T) { runLitmus(t, newTestEnv(t)) })
	t.Run("redis locks", func(t *testing.T) {
		r := testenv.StartRedis(t)
		c := redis.NewClient(&redis.Options{Addr: r.Addr})
		t.Cleanup(func() { c.Close() })
		runLitmus(t, newTestEnv(t, func(o *HandlerOptions) { o.Locks = NewRedisLocks(c, "litmus:") }))
	})
	// a share of a stock smbd, without streams_xattr: dead properties
	// live in sidecar files instead of alternate data streams
	t.Run("stock smbd", func(t *testing.T) { runLitmus(t, newTestEnvStock(t)) })
}

func runLitmus(t *testing.T, e *testEnv) {
	e.expect(t, 201, "MKCOL", "/dav/data/litmus", nil)
	testenv.Litmus(t, e.srv.URL+"/dav/data/litmus/", testUser, testPass)
}
