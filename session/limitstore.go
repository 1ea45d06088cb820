package session

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// The log-on rate limiter's counts (authn.LimitStore) in Redis, so every
// instance sharing the Redis counts the same failures:
//
//	davgate:rl:f:<key>  failure count, expires after the forget period
//	davgate:rl:b:<key>  present while <key> is blocked, PX = the wait
//
// Keys are "u:<user name>" or "a:<client address>"; no secret is stored.

func (s *RedisStore) failKey(key string) string  { return s.prefix + "rl:f:" + key }
func (s *RedisStore) blockKey(key string) string { return s.prefix + "rl:b:" + key }

// CountFailure adds a failure under key; the count expires forget after the
// latest failure.
func (s *RedisStore) CountFailure(ctx context.Context, key string, forget time.Duration) (int64, error) {
	var incr *redis.IntCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, s.failKey(key))
		p.PExpire(ctx, s.failKey(key), forget)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return incr.Val(), nil
}

// Block makes attempts under key wait d.
func (s *RedisStore) Block(ctx context.Context, key string, d time.Duration) error {
	return s.c.Set(ctx, s.blockKey(key), "1", d).Err()
}

// BlockedFor returns the longest wait left among keys.
func (s *RedisStore) BlockedFor(ctx context.Context, keys ...string) (time.Duration, error) {
	var wait time.Duration
	for _, k := range keys {
		d, err := s.c.PTTL(ctx, s.blockKey(k)).Result()
		if err != nil {
			return 0, err
		}
		wait = max(wait, d) // -2 (no key) and -1 (no TTL) count as none
	}
	return wait, nil
}

// ClearFailures forgets key's count and block.
func (s *RedisStore) ClearFailures(ctx context.Context, key string) error {
	// Two single-key commands, so Cluster needs no shared hash slot.
	if err := s.c.Del(ctx, s.failKey(key)).Err(); err != nil {
		return err
	}
	return s.c.Del(ctx, s.blockKey(key)).Err()
}
