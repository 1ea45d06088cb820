package session

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewRedisClient sets davgate's timeouts on every client kind, defaults
// included, and refuses a URL that sets them itself.
func TestNewRedisClientTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    RedisOptions
		want [5]any // dial, read, write, retries, pool
	}{
		{"defaults", RedisOptions{}, [5]any{2 * time.Second, time.Second, time.Second, 1, 2 * time.Second}},
		{"set", RedisOptions{DialTimeout: 3 * time.Second, ReadTimeout: 250 * time.Millisecond, WriteTimeout: 100 * time.Millisecond, MaxRetries: 2},
			[5]any{3 * time.Second, 250 * time.Millisecond, 100 * time.Millisecond, 2, 750 * time.Millisecond}},
		// go-redis: -1 is no retry; 0 would be its default of 3.
		{"no retries", RedisOptions{MaxRetries: -1}, [5]any{2 * time.Second, time.Second, time.Second, 0, time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewRedisClient("redis://127.0.0.1:6379/0", tc.o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			o := c.(*redis.Client).Options()
			got := [5]any{o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, o.PoolTimeout}
			if got != tc.want {
				t.Errorf("dial, read, write, retries, pool = %v, want %v", got, tc.want)
			}
			cc, err := NewRedisClient("redis://127.0.0.1:7000?addr=127.0.0.1:7001", tc.o)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			co := cc.(*redis.ClusterClient).Options()
			// The cluster client keeps -1 and hands it to its node clients.
			if got := [5]any{co.DialTimeout, co.ReadTimeout, co.WriteTimeout, max(co.MaxRetries, 0), co.PoolTimeout}; got != tc.want {
				t.Errorf("cluster: dial, read, write, retries, pool = %v, want %v", got, tc.want)
			}
		})
	}
	for _, p := range timeoutParams {
		c, err := NewRedisClient("redis://:secret@127.0.0.1:6379/0?"+p+"=5", RedisOptions{})
		if err == nil {
			c.Close()
			t.Errorf("URL with %s accepted", p)
		} else if !strings.Contains(err.Error(), "redis."+p) || strings.Contains(err.Error(), "secret") {
			t.Errorf("URL with %s: error %q, want one naming redis.%s without the password", p, err, p)
		}
	}
}
