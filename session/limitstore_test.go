package session

import (
	"context"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// The rate limiter's counts in Redis are shared: two stores on one Redis
// (two instances) add to the same count and see the same block.
func TestRedisLimitStoreSharedBetweenInstances(t *testing.T) {
	r := testenv.StartRedis(t)
	ctx := context.Background()
	a, err := NewRedisStore(ctx, r.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewRedisStore(ctx, r.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	for i, s := range []*RedisStore{a, b, a} {
		n, err := s.CountFailure(ctx, "u:alice", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(i+1) {
			t.Fatalf("failure %d counted as %d", i+1, n)
		}
	}
	if d, err := b.BlockedFor(ctx, "u:alice", "a:10.0.0.1"); err != nil || d != 0 {
		t.Fatalf("blocked before Block: %v, %v", d, err)
	}
	if err := a.Block(ctx, "a:10.0.0.1", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	d, err := b.BlockedFor(ctx, "u:alice", "a:10.0.0.1")
	if err != nil || d <= 2*time.Second || d > 3*time.Second {
		t.Fatalf("other instance sees wait %v, %v; want about 3s", d, err)
	}
	if err := b.ClearFailures(ctx, "u:alice"); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.CountFailure(ctx, "u:alice", time.Minute); n != 1 {
		t.Errorf("count after clear = %d, want 1", n)
	}
	if err := a.Block(ctx, "u:bob", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if d, _ := b.BlockedFor(ctx, "u:bob"); d != 0 {
		t.Errorf("block outlived its time: %v", d)
	}
}
