package davfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLocks is a LockSystem in Redis, shared by every davgate instance
// that uses the same Redis: a lock taken through one instance blocks a
// conflicting write through another.
//
// Layout, under the prefix given to NewRedisLocks:
//
//	locks:{<scope>}  hash: lock token -> JSON of Lock, for one mounted
//	                 directory (the first segment of Lock.Root, the mount's
//	                 lock scope); expires with its latest lock
//	locktok:<token>  the scope of a token's lock, for Get, Refresh and
//	                 Unlock; expires with the lock
//	lockuser:<user>  sorted set: the user's lock tokens, scored by expiry
//	                 (Unix ms), across scopes: counts them for
//	                 LockLimits.PerUser; expires with its latest lock
//
// Create and Refresh read the scope's locks, check and write in one
// optimistic transaction (WATCH on the scope's hash), so two instances
// racing for conflicting locks cannot both win, and conflicts are decided
// by the same Go code as MemoryLocks. A scope's keys share a Cluster slot
// through the hash tag. Lock data holds user names, paths and the client's
// <owner> XML, never a password or session token.
type RedisLocks struct {
	c      redis.UniversalClient
	prefix string
	now    func() time.Time
}

var _ LockSystem = (*RedisLocks)(nil)

// NewRedisLocks returns a lock system that keeps its keys under prefix in
// the Redis that c talks to (session.RedisStore.Client gives one). c stays
// the caller's to close.
func NewRedisLocks(c redis.UniversalClient, prefix string) *RedisLocks {
	return &RedisLocks{c: c, prefix: prefix, now: time.Now}
}

// lockScope is the first segment of a lock root: the mounted directory.
func lockScope(root string) string {
	s := strings.TrimPrefix(root, "/")
	s, _, _ = strings.Cut(s, "/")
	return s
}

// hashKey uses a Cluster hash tag so a scope's keys stay on one node.
func (l *RedisLocks) hashKey(scope string) string  { return l.prefix + "locks:{" + scope + "}" }
func (l *RedisLocks) tokenKey(token string) string { return l.prefix + "locktok:" + token }

// maxRetries bounds the optimistic transaction's retries under contention.
const maxRetries = 20

// load reads a scope's unexpired locks; expired ones are listed for removal.
func (l *RedisLocks) load(ctx context.Context, rc redis.Cmdable, key string) (live map[string]Lock, expired []string, err error) {
	all, err := rc.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, nil, err
	}
	now := l.now()
	live = make(map[string]Lock, len(all))
	for tok, v := range all {
		var lk Lock
		if err := json.Unmarshal([]byte(v), &lk); err != nil || !now.Before(lk.Expires) {
			expired = append(expired, tok)
			continue
		}
		live[tok] = lk
	}
	return live, expired, nil
}

func (l *RedisLocks) userKey(user string) string { return l.prefix + "lockuser:" + user }

// reserveScript adds a token to a user's set unless the set holds
// ARGV[4] unexpired tokens already (0: no bound), in one atomic step.
// KEYS[1] is the set; ARGV: now and expiry in Unix ms, token, bound.
var reserveScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local cap = tonumber(ARGV[4])
if cap > 0 and redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1`)

// reserve counts lk against its user's bound. The user's set lives on
// another Cluster slot than the scope's keys, so it is written before the
// lock and undone when the lock is not stored: a crash in between leaves
// a reservation that expires with the lock it was for.
func (l *RedisLocks) reserve(ctx context.Context, lk Lock, bound int) (bool, error) {
	ok, err := reserveScript.Run(ctx, l.c, []string{l.userKey(lk.User)},
		l.now().UnixMilli(), lk.Expires.UnixMilli(), lk.Token, bound).Int()
	return ok == 1, err
}

// Create implements LockSystem.
func (l *RedisLocks) Create(ctx context.Context, lk Lock, lim LockLimits) error {
	ok, err := l.reserve(ctx, lk, lim.PerUser)
	if err != nil {
		return fmt.Errorf("create lock: %w", err)
	}
	if !ok {
		return ErrTooManyLocks
	}
	if err := l.create(ctx, lk, lim); err != nil {
		l.c.ZRem(ctx, l.userKey(lk.User), lk.Token)
		return err
	}
	return nil
}

// create stores lk in its scope after the user's reservation.
func (l *RedisLocks) create(ctx context.Context, lk Lock, lim LockLimits) error {
	sc := lockScope(lk.Root)
	key := l.hashKey(sc)
	v, err := json.Marshal(lk)
	if err != nil {
		return err
	}
	var refused error
	txf := func(tx *redis.Tx) error {
		live, expired, err := l.load(ctx, tx, key)
		if err != nil {
			return err
		}
		for _, o := range live {
			if lk.conflicts(&o) {
				refused = ErrLockConflict
				return nil
			}
		}
		if lim.over(0, len(live)) {
			refused = ErrTooManyLocks
			return nil
		}
		live[lk.Token] = lk
		latest := latestExpiry(live)
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if len(expired) > 0 {
				p.HDel(ctx, key, expired...)
			}
			p.HSet(ctx, key, lk.Token, v)
			p.PExpireAt(ctx, key, latest)
			return nil
		})
		return err
	}
	if err := l.retry(ctx, txf, key); err != nil {
		return fmt.Errorf("create lock: %w", err)
	}
	if refused != nil {
		return refused
	}
	// The token index is written after the lock: a crash between the two
	// leaves a lock that expires on its own but cannot be refreshed.
	if err := l.c.Set(ctx, l.tokenKey(lk.Token), sc, time.Until(lk.Expires)).Err(); err != nil {
		return fmt.Errorf("create lock: %w", err)
	}
	return nil
}

func (l *RedisLocks) retry(ctx context.Context, txf func(*redis.Tx) error, key string) error {
	for i := 0; i < maxRetries; i++ {
		err := l.c.Watch(ctx, txf, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return errors.New("too much contention on the lock store")
}

// get returns the lock with token and its scope's key.
func (l *RedisLocks) get(ctx context.Context, token string) (Lock, string, error) {
	sc, err := l.c.Get(ctx, l.tokenKey(token)).Result()
	if errors.Is(err, redis.Nil) {
		return Lock{}, "", ErrNoSuchLock
	}
	if err != nil {
		return Lock{}, "", err
	}
	key := l.hashKey(sc)
	v, err := l.c.HGet(ctx, key, token).Result()
	if errors.Is(err, redis.Nil) {
		return Lock{}, "", ErrNoSuchLock
	}
	if err != nil {
		return Lock{}, "", err
	}
	var lk Lock
	if err := json.Unmarshal([]byte(v), &lk); err != nil || !l.now().Before(lk.Expires) {
		return Lock{}, "", ErrNoSuchLock
	}
	return lk, key, nil
}

// Get implements LockSystem.
func (l *RedisLocks) Get(ctx context.Context, token string) (Lock, error) {
	lk, _, err := l.get(ctx, token)
	return lk, err
}

// Refresh implements LockSystem.
func (l *RedisLocks) Refresh(ctx context.Context, token string, timeout time.Duration, expires time.Time) (Lock, error) {
	_, key, err := l.get(ctx, token)
	if err != nil {
		return Lock{}, err
	}
	var out Lock
	txf := func(tx *redis.Tx) error {
		live, _, err := l.load(ctx, tx, key)
		if err != nil {
			return err
		}
		lk, ok := live[token]
		if !ok {
			return ErrNoSuchLock
		}
		lk.Timeout, lk.Expires = timeout, expires
		v, err := json.Marshal(lk)
		if err != nil {
			return err
		}
		live[token] = lk
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, key, token, v)
			p.PExpireAt(ctx, key, latestExpiry(live))
			return nil
		})
		out = lk
		return err
	}
	if err := l.retry(ctx, txf, key); err != nil {
		if errors.Is(err, ErrNoSuchLock) {
			return Lock{}, err
		}
		return Lock{}, fmt.Errorf("refresh lock: %w", err)
	}
	// The token key and the user's set are on other Cluster slots:
	// outside the transaction.
	if err := l.c.PExpireAt(ctx, l.tokenKey(token), expires).Err(); err != nil {
		return Lock{}, fmt.Errorf("refresh lock: %w", err)
	}
	if _, err := l.reserve(ctx, out, 0); err != nil {
		return Lock{}, fmt.Errorf("refresh lock: %w", err)
	}
	return out, nil
}

// latestExpiry is when the last of locks ends.
func latestExpiry(locks map[string]Lock) time.Time {
	var t time.Time
	for _, lk := range locks {
		if lk.Expires.After(t) {
			t = lk.Expires
		}
	}
	return t
}

// Unlock implements LockSystem.
func (l *RedisLocks) Unlock(ctx context.Context, token string) error {
	lk, key, err := l.get(ctx, token)
	if err != nil {
		return err
	}
	if err := l.c.HDel(ctx, key, token).Err(); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	if err := l.c.ZRem(ctx, l.userKey(lk.User), token).Err(); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return l.c.Del(ctx, l.tokenKey(token)).Err()
}

// Find implements LockSystem.
func (l *RedisLocks) Find(ctx context.Context, name string, below bool) ([]Lock, error) {
	live, _, err := l.load(ctx, l.c, l.hashKey(lockScope(name)))
	if err != nil {
		return nil, fmt.Errorf("find locks: %w", err)
	}
	var out []Lock
	for _, lk := range live {
		if lk.covers(name) || (below && lockBelow(lk.Root, name)) {
			out = append(out, lk)
		}
	}
	return out, nil
}
