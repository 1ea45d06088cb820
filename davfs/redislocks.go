package davfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLocks is a LockSystem in Redis, shared by every davgate instance
// that uses the same Redis. Each lock is a key that expires with the lock;
// a sorted set indexes the tokens by expiry. Create checks for conflicts
// and stores the lock in one Lua script, so two instances cannot grant
// conflicting locks. All keys carry the hash tag {locks}, so they share a
// slot on a Redis Cluster.
type RedisLocks struct {
	c      redis.UniversalClient
	prefix string
}

var _ LockSystem = (*RedisLocks)(nil)

// NewRedisLocks returns a lock system that keeps its keys under prefix in
// the Redis that c talks to (session.RedisStore.Client gives one).
func NewRedisLocks(c redis.UniversalClient, prefix string) *RedisLocks {
	return &RedisLocks{c: c, prefix: prefix}
}

func (r *RedisLocks) index() string           { return r.prefix + "{locks}:index" }
func (r *RedisLocks) lockKey() string         { return r.prefix + "{locks}:lock:" }
func (r *RedisLocks) key(token string) string { return r.lockKey() + token }
func ms(t time.Time) int64                    { return t.UnixMilli() }
func fromMS(v int64) time.Time                { return time.UnixMilli(v) }
func durMS(d time.Duration) int64             { return d.Milliseconds() }
func msDur(v int64) time.Duration             { return time.Duration(v) * time.Millisecond }

// redisLock is a Lock as stored.
type redisLock struct {
	Token     string `json:"token"`
	Root      string `json:"root"`
	User      string `json:"user"`
	Shared    bool   `json:"shared"`
	ZeroDepth bool   `json:"zeroDepth"`
	OwnerXML  string `json:"owner"`
	TimeoutMS int64  `json:"timeoutMs"`
	ExpiresMS int64  `json:"expiresMs"`
}

func toRedis(l Lock) redisLock {
	return redisLock{Token: l.Token, Root: l.Root, User: l.User, Shared: l.Shared, ZeroDepth: l.ZeroDepth,
		OwnerXML: l.OwnerXML, TimeoutMS: durMS(l.Timeout), ExpiresMS: ms(l.Expires)}
}

func (rl redisLock) lock() Lock {
	return Lock{Token: rl.Token, Root: rl.Root, User: rl.User, Shared: rl.Shared, ZeroDepth: rl.ZeroDepth,
		OwnerXML: rl.OwnerXML, Timeout: msDur(rl.TimeoutMS), Expires: fromMS(rl.ExpiresMS)}
}

// createScript grants a lock unless an unexpired one conflicts (the same
// rules as Lock.conflicts).
var createScript = redis.NewScript(`
local idx, prefix, now = KEYS[1], ARGV[1], ARGV[2]
local new = cjson.decode(ARGV[3])
redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)
local function below(name, dir)
  if dir == '/' then return name ~= '/' end
  return string.sub(name, 1, #dir + 1) == dir .. '/'
end
local function covers(l, name)
  if l.root == name then return true end
  return (not l.zeroDepth) and below(name, l.root)
end
for _, t in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  local v = redis.call('GET', prefix .. t)
  if v then
    local o = cjson.decode(v)
    if not (o.shared and new.shared) and (covers(o, new.root) or covers(new, o.root)) then
      return 0
    end
  end
end
redis.call('SET', prefix .. new.token, ARGV[3], 'PXAT', ARGV[4])
redis.call('ZADD', idx, ARGV[4], new.token)
return 1
`)

func (r *RedisLocks) Create(ctx context.Context, l Lock) error {
	v, err := json.Marshal(toRedis(l))
	if err != nil {
		return err
	}
	n, err := createScript.Run(ctx, r.c, []string{r.index()}, r.lockKey(), ms(time.Now()), v, ms(l.Expires)).Int()
	if err != nil {
		return fmt.Errorf("create lock: %w", err)
	}
	if n == 0 {
		return ErrLockConflict
	}
	return nil
}

func (r *RedisLocks) Get(ctx context.Context, token string) (Lock, error) {
	v, err := r.c.Get(ctx, r.key(token)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Lock{}, ErrNoSuchLock
	}
	if err != nil {
		return Lock{}, fmt.Errorf("get lock: %w", err)
	}
	var rl redisLock
	if err := json.Unmarshal(v, &rl); err != nil {
		return Lock{}, fmt.Errorf("get lock: %w", err)
	}
	if !time.Now().Before(fromMS(rl.ExpiresMS)) {
		return Lock{}, ErrNoSuchLock
	}
	return rl.lock(), nil
}

var refreshScript = redis.NewScript(`
local v = redis.call('GET', KEYS[2])
if not v then return false end
local l = cjson.decode(v)
l.timeoutMs = tonumber(ARGV[2])
l.expiresMs = tonumber(ARGV[3])
local s = cjson.encode(l)
redis.call('SET', KEYS[2], s, 'PXAT', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return s
`)

func (r *RedisLocks) Refresh(ctx context.Context, token string, timeout time.Duration, expires time.Time) (Lock, error) {
	v, err := refreshScript.Run(ctx, r.c, []string{r.index(), r.key(token)}, token, durMS(timeout), ms(expires)).Text()
	if errors.Is(err, redis.Nil) {
		return Lock{}, ErrNoSuchLock
	}
	if err != nil {
		return Lock{}, fmt.Errorf("refresh lock: %w", err)
	}
	var rl redisLock
	if err := json.Unmarshal([]byte(v), &rl); err != nil {
		return Lock{}, fmt.Errorf("refresh lock: %w", err)
	}
	return rl.lock(), nil
}

func (r *RedisLocks) Unlock(ctx context.Context, token string) error {
	var del *redis.IntCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, r.key(token))
		p.ZRem(ctx, r.index(), token)
		return nil
	})
	if err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	if del.Val() == 0 {
		return ErrNoSuchLock
	}
	return nil
}

func (r *RedisLocks) Find(ctx context.Context, name string, below bool) ([]Lock, error) {
	now := time.Now()
	tokens, err := r.c.ZRangeByScore(ctx, r.index(), &redis.ZRangeBy{Min: fmt.Sprint(ms(now)), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("find locks: %w", err)
	}
	if len(tokens) == 0 {
		return nil, nil
	}
	keys := make([]string, len(tokens))
	for i, t := range tokens {
		keys[i] = r.key(t)
	}
	vals, err := r.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("find locks: %w", err)
	}
	var out []Lock
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var rl redisLock
		if json.Unmarshal([]byte(s), &rl) != nil {
			continue
		}
		l := rl.lock()
		if now.Before(l.Expires) && (l.covers(name) || (below && isBelow(l.Root, name))) {
			out = append(out, l)
		}
	}
	return out, nil
}
