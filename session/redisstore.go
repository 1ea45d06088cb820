package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore is a Store in Redis, shared by any number of davgate
// instances. It works through redis.UniversalClient, so a single server,
// Sentinel (failover) and Cluster deployments all work; every command
// touches one key, so no two keys need to share a Cluster hash slot.
//
// Layout, with the default prefix "davgate:":
//
//	davgate:s:<H(sid)>  string, JSON of Record (password only as ciphertext
//	                    under K), PX TTL = its Deadline, refreshed by Touch
//	davgate:u:<user>    set of the user's H(sid); TTL = the latest absolute
//	                    expiry of its members; stale members are removed by List
//	davgate:ended       pub/sub channel; Delete publishes each ended H(sid)
//	davgate:k:<kind>    sorted set of H(sid) by deadline, for counting
//	                    (redisstore_count.go)
//
// Neither keys nor values hold a password, a token or a session key K.
type RedisStore struct {
	c      redis.UniversalClient
	prefix string
	owned  bool // Close closes c
	count  redisCount
}

var (
	_ Store   = (*RedisStore)(nil)
	_ Watcher = (*RedisStore)(nil)
)

// DefaultRedisPrefix prefixes every Redis key and channel name the store uses.
const DefaultRedisPrefix = "davgate:"

// NewRedisStore connects to Redis (rawURL as for NewRedisClient, with the
// default timeouts) and checks the connection with a PING. davgate itself
// builds one client and hands it to NewRedisStoreClient, NewRedisLimits
// and the lock store.
func NewRedisStore(ctx context.Context, rawURL string) (*RedisStore, error) {
	c, err := newRedisClient(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open redis store: %w", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("open redis store: %w", err)
	}
	s := NewRedisStoreClient(c, DefaultRedisPrefix)
	s.owned = true
	return s, nil
}

// NewRedisStoreClient returns a store using c, whose keys and channel all
// start with prefix (DefaultRedisPrefix if empty). Close does not close c.
func NewRedisStoreClient(c redis.UniversalClient, prefix string) *RedisStore {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &RedisStore{c: c, prefix: prefix}
}

// Close closes the Redis client if NewRedisStore opened it.
func (s *RedisStore) Close() error {
	if s.owned {
		return s.c.Close()
	}
	return nil
}

func (s *RedisStore) recKey(key string) string   { return s.prefix + "s:" + key }
func (s *RedisStore) userKey(user string) string { return s.prefix + "u:" + user }
func (s *RedisStore) channel() string            { return s.prefix + "ended" }

// extendTTL sets the index set's TTL to ARGV[1] ms unless it already
// lives longer.
var extendTTL = redis.NewScript(`
local t = redis.call('PTTL', KEYS[1])
local want = tonumber(ARGV[1])
if t == -1 or (t >= 0 and t < want) then
	redis.call('PEXPIRE', KEYS[1], want)
end
return 0
`)

// Put implements Store.
func (s *RedisStore) Put(ctx context.Context, r *Record) error {
	now := time.Now()
	ttl := r.Deadline().Sub(now)
	if ttl < time.Millisecond {
		return nil // already over; storing it would only resurrect it
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("redis put: %w", err)
	}
	idxTTL := max(r.Expires.Sub(now), ttl)
	// The index goes first: a stored record is always in its user's
	// index, so RevokeAll can find it. (A failure between the commands
	// leaves at most a stale index member, which List removes.)
	userKey := s.userKey(r.User)
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, userKey, r.Key)
		extendTTL.Eval(ctx, p, []string{userKey}, idxTTL.Milliseconds())
		// An absolute expiry: the record ends at its deadline however
		// long the command took to arrive.
		p.SetArgs(ctx, s.recKey(r.Key), v, redis.SetArgs{ExpireAt: r.Deadline()})
		s.addToCount(ctx, p, r, idxTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis put: %w", err)
	}
	return nil
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, key string) (*Record, error) {
	v, err := s.c.Get(ctx, s.recKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis get: %w", err)
	}
	r, err := decodeRecord(key, v)
	if err != nil {
		return nil, err
	}
	// Redis expires keys by its own clock; a record past its deadline by
	// ours is over too.
	if !time.Now().Before(r.Deadline()) {
		return nil, ErrNotFound
	}
	return r, nil
}

func decodeRecord(key string, v []byte) (*Record, error) {
	r := &Record{}
	if err := json.Unmarshal(v, r); err != nil {
		return nil, fmt.Errorf("redis: malformed session record: %w", err)
	}
	r.Key = key
	return r, nil
}

// Touch implements Store.
func (s *RedisStore) Touch(ctx context.Context, r *Record) error {
	ttl := time.Until(r.Deadline())
	if ttl < time.Millisecond {
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, s.recKey(r.Key))
			s.dropFromCount(ctx, p, r.Key)
			return nil
		})
		if err != nil {
			return fmt.Errorf("redis touch: %w", err)
		}
		return ErrNotFound
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("redis touch: %w", err)
	}
	err = s.c.SetArgs(ctx, s.recKey(r.Key), v, redis.SetArgs{Mode: "XX", ExpireAt: r.Deadline()}).Err()
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("redis touch: %w", err)
	}
	// Only once the record is known to be there: the count moves to its
	// new deadline (and counts a record stored before the count existed).
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.addToCount(ctx, p, r, max(time.Until(r.Expires), ttl))
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis touch: %w", err)
	}
	return nil
}

// List implements Store.
func (s *RedisStore) List(ctx context.Context, user string) ([]*Record, error) {
	keys, err := s.c.SMembers(ctx, s.userKey(user)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis list: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(keys))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, s.recKey(k))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis list: %w", err)
	}
	var out []*Record
	var stale []any
	now := time.Now()
	for i, cmd := range cmds {
		v, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			stale = append(stale, keys[i])
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("redis list: %w", err)
		}
		r, err := decodeRecord(keys[i], v)
		if err != nil {
			return nil, err
		}
		if r.User != user {
			stale = append(stale, keys[i])
			continue
		}
		if !now.Before(r.Deadline()) {
			continue // over by our clock; Redis drops it soon
		}
		out = append(out, r)
	}
	if len(stale) > 0 {
		// Best effort: a stale member costs only a lookup on the next List.
		s.c.SRem(ctx, s.userKey(user), stale...)
	}
	return out, nil
}

// Delete implements Store. It publishes every key on the ended channel.
func (s *RedisStore) Delete(ctx context.Context, user string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	members := make([]any, len(keys))
	for i, k := range keys {
		members[i] = k
	}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, s.recKey(k))
		}
		p.SRem(ctx, s.userKey(user), members...)
		s.dropFromCount(ctx, p, keys...)
		for _, k := range keys {
			p.Publish(ctx, s.channel(), k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis delete: %w", err)
	}
	return nil
}

// Watch implements Watcher with Redis pub/sub. It returns once it could
// not subscribe, or when ctx is done; go-redis resubscribes by itself after
// a lost connection. Deletions published meanwhile are missed: their
// tokens are refused anyway (Open reads the store), and their SMB
// connections close at the pool's idle timeout.
func (s *RedisStore) Watch(ctx context.Context, ended func(key string)) error {
	sub := s.c.Subscribe(ctx, s.channel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return fmt.Errorf("redis watch: %w", err)
	}
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-ch:
			if !ok {
				return ctx.Err()
			}
			ended(m.Payload)
		}
	}
}
