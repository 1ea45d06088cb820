package session

import (
	"context"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// The log-on rate limiter's counts (authn.LimitStore) in Redis, so every
// instance sharing the Redis counts the same attempts:
//
//	davgate:rl:<key>  hash: n = attempts counted, u = no attempt before
//	                  this (ms, Redis' clock); expires after the forget
//	                  period past the latest attempt
//
// Keys are "u:<identity>" or "a:<client address or /64>"; no secret is
// stored. Each key is checked and counted by one script, atomically; a
// reservation of several keys takes them one by one and gives back what
// it took when a later key must wait, so on Cluster the keys need no
// shared hash slot. A concurrent attempt may then be refused for a count
// that is given back a moment later: the error is on the safe side.

// RedisLimits keeps the log-on rate limiter's counts (authn.LimitStore)
// in Redis.
type RedisLimits struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedisLimits returns a limit store whose keys start with prefix
// (DefaultRedisPrefix if empty) in the Redis c talks to. The caller keeps
// c and closes it.
func NewRedisLimits(c redis.UniversalClient, prefix string) *RedisLimits {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &RedisLimits{c: c, prefix: prefix}
}

func (s *RedisLimits) limitKey(key string) string { return s.prefix + "rl:" + key }

// reserveScript: KEYS[1] the limit key; ARGV free, base ms, max ms, forget
// ms. Returns the wait in ms, 0 when the attempt is taken.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free, base, max, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 'n', 'u')
local n, u = tonumber(v[1]) or 0, tonumber(v[2]) or 0
if u > now then return u - now end
n = n + 1
local d = 0
if n >= free then d = math.min(base * 2 ^ math.min(n - free, 30), max) end
redis.call('HSET', KEYS[1], 'n', n, 'u', now + d)
redis.call('PEXPIRE', KEYS[1], forget + d)
return 0
`)

// releaseScript: KEYS[1] the limit key; ARGV free.
var releaseScript = redis.NewScript(`
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
if not n or n <= 0 then return 0 end
n = redis.call('HINCRBY', KEYS[1], 'n', -1)
if n < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'u', 0) end
return 0
`)

// LimitPolicy is how log-on attempts under one key are limited (it is
// authn.LimitPolicy): the first Free attempts go at once; once Free are
// counted, each further attempt must wait Base after the one before,
// doubling with every attempt, up to Max. A key with no attempt for Forget
// starts again from zero.
type LimitPolicy struct {
	Free   int64
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration
}

// Delay is the wait after the n-th counted attempt; 0 while n < Free.
func (p LimitPolicy) Delay(n int64) time.Duration {
	if n < p.Free {
		return 0
	}
	d := time.Duration(float64(p.Base) * math.Pow(2, float64(min(n-p.Free, 30))))
	return min(d, p.Max)
}

// Reserve takes one attempt under every key, or none, and returns the
// wait when one must wait (authn.LimitStore).
func (s *RedisLimits) Reserve(ctx context.Context, p LimitPolicy, keys ...string) (time.Duration, error) {
	for i, k := range keys {
		ms, err := reserveScript.Run(ctx, s.c, []string{s.limitKey(k)},
			p.Free, p.Base.Milliseconds(), p.Max.Milliseconds(), p.Forget.Milliseconds()).Int64()
		if err == nil && ms == 0 {
			continue
		}
		for _, taken := range keys[:i] {
			if rerr := s.Release(ctx, p, taken); rerr != nil && err == nil {
				err = rerr
			}
		}
		if err != nil {
			return 0, err
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	return 0, nil
}

// Release gives back one attempt taken under key (authn.LimitStore).
func (s *RedisLimits) Release(ctx context.Context, p LimitPolicy, key string) error {
	return releaseScript.Run(ctx, s.c, []string{s.limitKey(key)}, p.Free).Err()
}

// ClearFailures forgets key's count and wait.
func (s *RedisLimits) ClearFailures(ctx context.Context, key string) error {
	return s.c.Del(ctx, s.limitKey(key)).Err()
}
