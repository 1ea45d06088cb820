package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newTestFlow(key string, life time.Duration) *Flow {
	now := time.Now().Truncate(time.Millisecond)
	return &Flow{Key: key, Client: "rclone on laptop", From: "192.0.2.7", Created: now, Expires: now.Add(life),
		Verifier: []byte("verifier"), PollKey: []byte("public key"), State: FlowPending}
}

// testFlowStore runs a FlowStore implementation through the behaviour
// authn's login flows rely on.
func testFlowStore(t *testing.T, newStore func(t *testing.T) FlowStore) {
	ctx := context.Background()
	t.Run("create get settle take", func(t *testing.T) {
		s := newStore(t)
		f := newTestFlow("k1", time.Minute)
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateFlow(ctx, newTestFlow("k1", time.Minute)); !errors.Is(err, ErrFlowExists) {
			t.Errorf("second CreateFlow = %v, want ErrFlowExists", err)
		}
		got, err := s.Flow(ctx, "k1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(f, got, recordCmp); diff != "" {
			t.Errorf("Flow (-want +got):\n%s", diff)
		}
		a := got.clone()
		a.State, a.User, a.DeviceID, a.Sealed = FlowApproved, "alice", "dev1", []byte("sealed")
		a.Expires = a.Expires.Add(time.Hour) // SettleFlow keeps the stored expiry
		if err := s.SettleFlow(ctx, a); err != nil {
			t.Fatal(err)
		}
		d := got.clone()
		d.State = FlowDenied
		if err := s.SettleFlow(ctx, d); !errors.Is(err, ErrNotFound) {
			t.Errorf("settling a settled flow = %v, want ErrNotFound", err)
		}
		taken, err := s.TakeFlow(ctx, "k1")
		if err != nil || taken.State != FlowApproved || taken.User != "alice" || string(taken.Sealed) != "sealed" {
			t.Fatalf("TakeFlow = %+v, %v", taken, err)
		}
		if !taken.Expires.Equal(f.Expires) {
			t.Errorf("settled flow expires %v, want the original %v", taken.Expires, f.Expires)
		}
		if _, err := s.TakeFlow(ctx, "k1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second TakeFlow = %v, want ErrNotFound", err)
		}
		if _, err := s.Flow(ctx, "k1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Flow after TakeFlow = %v, want ErrNotFound", err)
		}
		if err := s.SettleFlow(ctx, a); !errors.Is(err, ErrNotFound) {
			t.Errorf("SettleFlow after TakeFlow = %v, want ErrNotFound", err)
		}
	})
	t.Run("expires", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateFlow(ctx, newTestFlow("k2", 300*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Flow(ctx, "k2"); err != nil {
			t.Fatalf("Flow before expiry: %v", err)
		}
		time.Sleep(400 * time.Millisecond)
		if _, err := s.Flow(ctx, "k2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Flow after expiry = %v, want ErrNotFound", err)
		}
		if _, err := s.TakeFlow(ctx, "k2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("TakeFlow after expiry = %v, want ErrNotFound", err)
		}
		if err := s.CreateFlow(ctx, newTestFlow("k2", time.Minute)); err != nil {
			t.Errorf("CreateFlow over an expired flow = %v", err)
		}
	})
	t.Run("one of many takes and settles", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateFlow(ctx, newTestFlow("k3", time.Minute)); err != nil {
			t.Fatal(err)
		}
		var settled, taken atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Go(func() {
				f := newTestFlow("k3", time.Minute)
				f.State = FlowApproved
				if s.SettleFlow(ctx, f) == nil {
					settled.Add(1)
				}
			})
		}
		wg.Wait()
		for i := 0; i < 8; i++ {
			wg.Go(func() {
				if _, err := s.TakeFlow(ctx, "k3"); err == nil {
					taken.Add(1)
				}
			})
		}
		wg.Wait()
		if settled.Load() != 1 || taken.Load() != 1 {
			t.Errorf("of 8 concurrent callers %d settled and %d took the flow, want 1 and 1", settled.Load(), taken.Load())
		}
	})
}

func TestMemoryFlows(t *testing.T) {
	testFlowStore(t, func(*testing.T) FlowStore { return NewMemoryStore() })
}

func TestRedisFlows(t *testing.T) {
	r, c := startRedis(t)
	testFlowStore(t, func(t *testing.T) FlowStore {
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		return newRedisStore(t, r.URL)
	})
	// Redis itself forgets the flow at its expiry.
	s := newRedisStore(t, r.URL)
	f := newTestFlow("ttl", 10*time.Minute)
	if err := s.CreateFlow(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	ttl := c.PTTL(context.Background(), s.flowKey("ttl")).Val()
	if ttl < 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("flow key PTTL = %v, want about 10m", ttl)
	}
}
