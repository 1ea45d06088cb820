package session

import (
	"context"
	"fmt"
	"testing"

	"github.com/davgate/davgate/internal/testenv"
)

// Sentinel and Cluster deployments work through the same store code (a
// redis.UniversalClient): the store conformance test, and a token minted
// through one Manager opening through another, over each; and the
// log-on flows' scripts.
func TestRedisStoreSentinelAndCluster(t *testing.T) {
	deployments := map[string]func(t *testing.T) string{
		"sentinel": func(t *testing.T) string { return testenv.StartRedisSentinel(t).URL },
		"cluster":  func(t *testing.T) string { return testenv.StartRedisCluster(t).URL },
	}
	for name, start := range deployments {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			n := 0
			testStoreConformance(t, func(t *testing.T) Store {
				// A prefix per case instead of FLUSHDB, which Cluster
				// would need on every node.
				n++
				c, err := newRedisClient(url)
				if err != nil {
					t.Fatal(err)
				}
				s := NewRedisStoreClient(c, fmt.Sprintf("case%d:", n))
				t.Cleanup(func() { c.Close() })
				return s
			})
			testFlowStore(t, func(t *testing.T) FlowStore {
				n++
				c, err := newRedisClient(url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return NewRedisStoreClient(c, fmt.Sprintf("case%d:", n))
			})

			ctx := context.Background()
			kr := newKeyring(t)
			m1 := NewManager(ManagerOptions{Keyring: kr, Store: newRedisStore(t, url)})
			m2 := NewManager(ManagerOptions{Keyring: kr, Store: newRedisStore(t, url)})
			tok, info, err := m1.Create(ctx, "carol-"+name, []byte("pw"), KindDevice, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			s, err := m2.Open(ctx, tok)
			if err != nil || s.User != "carol-"+name {
				t.Fatalf("Open on the second instance = %v, %v", s, err)
			}
			if err := m2.Revoke(ctx, s.User, info.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := m1.Open(ctx, tok); err == nil {
				t.Errorf("revoked token still opens")
			}
		})
	}
}
