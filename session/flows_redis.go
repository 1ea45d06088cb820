package session

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Log-on flows in Redis, so that any instance sharing the Redis serves
// every step of a flow:
//
//	davgate:lf:<key>  hash: s = state, v = JSON of Flow, e = its Expires
//	                  (ms since the epoch, kept by SettleFlow); PXAT = e
//
// Each operation is one script or transaction on one key (no Cluster hash
// slot needs sharing). Neither key nor value holds a URL code, a poll
// token or a device token in the clear.

func (s *RedisStore) flowKey(key string) string { return s.prefix + "lf:" + key }

// createFlowScript: KEYS[1]; ARGV state, JSON, expiry (ms since the epoch).
var createFlowScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'v', ARGV[2], 'e', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
`)

// settleFlowScript: KEYS[1]; ARGV new state, JSON. Changing fields keeps
// the key's expiry.
var settleFlowScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 's') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'v', ARGV[2])
return 1
`)

// CreateFlow implements FlowStore.
func (s *RedisStore) CreateFlow(ctx context.Context, f *Flow) error {
	if time.Until(f.Expires) < time.Millisecond {
		return nil // over already; storing it would only resurrect it
	}
	v, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("redis create flow: %w", err)
	}
	n, err := createFlowScript.Run(ctx, s.c, []string{s.flowKey(f.Key)}, string(f.State), v, f.Expires.UnixMilli()).Int()
	if err != nil {
		return fmt.Errorf("redis create flow: %w", err)
	}
	if n == 0 {
		return ErrFlowExists
	}
	return nil
}

// Flow implements FlowStore.
func (s *RedisStore) Flow(ctx context.Context, key string) (*Flow, error) {
	vals, err := s.c.HMGet(ctx, s.flowKey(key), "v", "e").Result()
	if err != nil {
		return nil, fmt.Errorf("redis flow: %w", err)
	}
	return decodeFlow(key, vals)
}

// decodeFlow makes a Flow of the hash fields v and e.
func decodeFlow(key string, vals []any) (*Flow, error) {
	v, ok := vals[0].(string)
	e, ok2 := vals[1].(string)
	if !ok || !ok2 {
		return nil, ErrNotFound
	}
	f := &Flow{}
	if err := json.Unmarshal([]byte(v), f); err != nil {
		return nil, fmt.Errorf("redis: malformed flow record: %w", err)
	}
	ms, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("redis: malformed flow expiry: %w", err)
	}
	f.Key, f.Expires = key, time.UnixMilli(ms)
	// Redis expires keys by its own clock; a flow past its expiry by
	// ours is over too.
	if !time.Now().Before(f.Expires) {
		return nil, ErrNotFound
	}
	return f, nil
}

// SettleFlow implements FlowStore.
func (s *RedisStore) SettleFlow(ctx context.Context, f *Flow) error {
	v, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("redis settle flow: %w", err)
	}
	n, err := settleFlowScript.Run(ctx, s.c, []string{s.flowKey(f.Key)}, string(f.State), v).Int()
	if err != nil {
		return fmt.Errorf("redis settle flow: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// TakeFlow implements FlowStore: read and delete in one transaction; only
// the caller whose DEL removed the key has it.
func (s *RedisStore) TakeFlow(ctx context.Context, key string) (*Flow, error) {
	k := s.flowKey(key)
	var get *redis.SliceCmd
	var del *redis.IntCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		get = p.HMGet(ctx, k, "v", "e")
		del = p.Del(ctx, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis take flow: %w", err)
	}
	if del.Val() != 1 {
		return nil, ErrNotFound
	}
	return decodeFlow(key, get.Val())
}
