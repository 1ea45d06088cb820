package davfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"
)

// RedisLocks is a LockSystem in Redis, shared by every davgate instance
// that uses the same Redis: a lock taken through one instance blocks a
// conflicting write through another.
//
// Layout, under the prefix given to NewRedisLocks, per scope (the first
// segment of Lock.Root: one mounted directory):
//
//	locks:{<scope>}    hash: lock token -> JSON of Lock
//	lockidx:{<scope>}  sorted set, every score 0: "<key of root>\x00<token>"
//	                   (indexKey), read by lexical ranges
//	lockexp:{<scope>}  sorted set: the same members scored by expiry (Unix
//	                   ms), to count the scope's live locks and drop
//	                   expired ones
//
// all three expiring with the scope's latest lock, and
//
//	locktok:<token>    the scope of a token's lock, for Get, Refresh and
//	                   Unlock; expires with the lock
//	lockuser:<user>    sorted set: the user's lock tokens, scored by expiry,
//	                   across scopes: counts them for LockLimits.PerUser;
//	                   expires with its latest lock
//
// A lock check reads only the locks that can apply (candidates): those on
// the name and each of its ancestors, and for a deep check those below
// it, never the scope's whole lock set. Create checks and writes in one
// optimistic transaction (WATCH on the scope's index and hash), so two
// instances racing for conflicting locks cannot both win, and conflicts
// are decided by the same Go code as MemoryLocks. A scope's keys share a
// Cluster slot through the hash tag. Lock data holds user names, paths and
// the client's <owner> XML, never a password or session token.
type RedisLocks struct {
	c      redis.UniversalClient
	prefix string
	now    func() time.Time
}

var _ LockSystem = (*RedisLocks)(nil)

// NewRedisLocks returns a lock system that keeps its keys under prefix in
// the Redis that c talks to (session.NewRedisClient makes one). c stays
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

// The scope's keys use a Cluster hash tag so they stay on one node.
func (l *RedisLocks) hashKey(scope string) string  { return l.prefix + "locks:{" + scope + "}" }
func (l *RedisLocks) idxKey(scope string) string   { return l.prefix + "lockidx:{" + scope + "}" }
func (l *RedisLocks) expKey(scope string) string   { return l.prefix + "lockexp:{" + scope + "}" }
func (l *RedisLocks) tokenKey(token string) string { return l.prefix + "locktok:" + token }
func (l *RedisLocks) userKey(user string) string   { return l.prefix + "lockuser:" + user }

// maxRetries bounds the optimistic transaction's retries under contention.
const maxRetries = 20

// sweepBatch is how many expired locks of its scope a Create removes: more
// than it adds, so expired entries do not pile up.
const sweepBatch = 64

// nameKey is the index spelling of a lock name: every name that Lock.covers
// takes for the same, without regard to case, has one key (each rune
// lowered, then the least of its case folds). '/' stays itself, so keys
// keep the names' segments.
func nameKey(name string) string {
	return strings.Map(func(r rune) rune {
		r = unicode.ToLower(r)
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, name)
}

// indexMember is a lock's member in the scope's index and expiry sets.
func indexMember(lk Lock) string { return nameKey(lk.Root) + "\x00" + lk.Token }

// candidateRanges are the lexical ranges of the index holding every lock
// that may cover name (on it or an ancestor) and, when below is true,
// every lock below it. Their number is the name's depth, plus one.
func candidateRanges(name string, below bool) []redis.ZRangeBy {
	k := nameKey(name)
	var rs []redis.ZRangeBy
	for i := 1; i <= len(k); i++ {
		if i == len(k) || k[i] == '/' {
			rs = append(rs, redis.ZRangeBy{Min: "[" + k[:i] + "\x00", Max: "(" + k[:i] + "\x01"})
		}
	}
	if below {
		rs = append(rs, redis.ZRangeBy{Min: "[" + k + "/", Max: "(" + k + "0"}) // '0' follows '/'
	}
	return rs
}

// candidates reads the unexpired locks that candidateRanges select: one
// round trip for the index ranges, one for the locks they name.
func (l *RedisLocks) candidates(ctx context.Context, rc redis.Cmdable, name string, below bool) ([]Lock, error) {
	sc := lockScope(name)
	ranges := candidateRanges(name, below)
	cmds := make([]*redis.StringSliceCmd, len(ranges))
	_, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range ranges {
			cmds[i] = p.ZRangeByLex(ctx, l.idxKey(sc), &r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var tokens []string
	for _, c := range cmds {
		for _, m := range c.Val() {
			if _, tok, ok := strings.Cut(m, "\x00"); ok {
				tokens = append(tokens, tok)
			}
		}
	}
	if len(tokens) == 0 {
		return nil, nil
	}
	vals, err := rc.HMGet(ctx, l.hashKey(sc), tokens...).Result()
	if err != nil {
		return nil, err
	}
	now := l.now()
	var out []Lock
	for _, v := range vals {
		var lk Lock
		if s, ok := v.(string); ok && json.Unmarshal([]byte(s), &lk) == nil && now.Before(lk.Expires) {
			out = append(out, lk)
		}
	}
	return out, nil
}

// Create implements LockSystem.
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
	// The token index is written after the lock: a crash between the two
	// leaves a lock that expires on its own but cannot be refreshed.
	if err := l.c.Set(ctx, l.tokenKey(lk.Token), lockScope(lk.Root), time.Until(lk.Expires)).Err(); err != nil {
		return fmt.Errorf("create lock: %w", err)
	}
	return nil
}

// create stores lk in its scope after the user's reservation: it reads the
// candidates that could conflict and the scope's live count, and writes
// unless either refuses, in one optimistic transaction.
func (l *RedisLocks) create(ctx context.Context, lk Lock, lim LockLimits) error {
	sc := lockScope(lk.Root)
	v, err := json.Marshal(lk)
	if err != nil {
		return err
	}
	var refused error
	txf := func(tx *redis.Tx) error {
		refused = nil
		found, err := l.candidates(ctx, tx, lk.Root, !lk.ZeroDepth)
		if err != nil {
			return err
		}
		for _, o := range found {
			if lk.conflicts(&o) {
				refused = ErrLockConflict
				return nil
			}
		}
		now := strconv.FormatInt(l.now().UnixMilli(), 10)
		live, err := tx.ZCount(ctx, l.expKey(sc), "("+now, "+inf").Result()
		if err != nil {
			return err
		}
		if lim.over(0, int(live)) {
			refused = ErrTooManyLocks
			return nil
		}
		expired, err := tx.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: l.expKey(sc), Start: "-inf", Stop: now, ByScore: true, Count: sweepBatch,
		}).Result()
		if err != nil {
			return err
		}
		latest, err := l.latest(ctx, tx, sc, lk.Expires)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			l.sweep(ctx, p, sc, expired)
			m := indexMember(lk)
			p.HSet(ctx, l.hashKey(sc), lk.Token, v)
			p.ZAdd(ctx, l.idxKey(sc), redis.Z{Member: m})
			p.ZAdd(ctx, l.expKey(sc), redis.Z{Score: float64(lk.Expires.UnixMilli()), Member: m})
			l.expireScope(ctx, p, sc, latest)
			return nil
		})
		return err
	}
	if err := l.retry(ctx, txf, l.idxKey(sc), l.hashKey(sc)); err != nil {
		return fmt.Errorf("create lock: %w", err)
	}
	return refused
}

// sweep removes expired index members and their locks.
func (l *RedisLocks) sweep(ctx context.Context, p redis.Pipeliner, sc string, expired []string) {
	if len(expired) == 0 {
		return
	}
	members := make([]any, len(expired))
	tokens := make([]string, len(expired))
	for i, m := range expired {
		members[i] = m
		_, tokens[i], _ = strings.Cut(m, "\x00")
	}
	p.ZRem(ctx, l.idxKey(sc), members...)
	p.ZRem(ctx, l.expKey(sc), members...)
	p.HDel(ctx, l.hashKey(sc), tokens...)
}

// latest is when the scope's last lock ends, t or later.
func (l *RedisLocks) latest(ctx context.Context, rc redis.Cmdable, sc string, t time.Time) (time.Time, error) {
	last, err := rc.ZRangeWithScores(ctx, l.expKey(sc), -1, -1).Result()
	if err != nil {
		return t, err
	}
	if len(last) == 1 {
		if e := time.UnixMilli(int64(last[0].Score)); e.After(t) {
			t = e
		}
	}
	return t, nil
}

// expireScope makes the scope's keys end with its latest lock.
func (l *RedisLocks) expireScope(ctx context.Context, p redis.Pipeliner, sc string, t time.Time) {
	p.PExpireAt(ctx, l.hashKey(sc), t)
	p.PExpireAt(ctx, l.idxKey(sc), t)
	p.PExpireAt(ctx, l.expKey(sc), t)
}

func (l *RedisLocks) retry(ctx context.Context, txf func(*redis.Tx) error, keys ...string) error {
	for i := 0; i < maxRetries; i++ {
		err := l.c.Watch(ctx, txf, keys...)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return errors.New("too much contention on the lock store")
}

// get returns the lock with token and its scope.
func (l *RedisLocks) get(ctx context.Context, token string) (Lock, string, error) {
	sc, err := l.c.Get(ctx, l.tokenKey(token)).Result()
	if errors.Is(err, redis.Nil) {
		return Lock{}, "", ErrNoSuchLock
	}
	if err != nil {
		return Lock{}, "", err
	}
	lk, err := l.getIn(ctx, l.c, sc, token)
	return lk, sc, err
}

// getIn reads the lock with token from scope sc.
func (l *RedisLocks) getIn(ctx context.Context, rc redis.Cmdable, sc, token string) (Lock, error) {
	v, err := rc.HGet(ctx, l.hashKey(sc), token).Result()
	if errors.Is(err, redis.Nil) {
		return Lock{}, ErrNoSuchLock
	}
	if err != nil {
		return Lock{}, err
	}
	var lk Lock
	if err := json.Unmarshal([]byte(v), &lk); err != nil || !l.now().Before(lk.Expires) {
		return Lock{}, ErrNoSuchLock
	}
	return lk, nil
}

// Get implements LockSystem.
func (l *RedisLocks) Get(ctx context.Context, token string) (Lock, error) {
	lk, _, err := l.get(ctx, token)
	return lk, err
}

// Refresh implements LockSystem.
func (l *RedisLocks) Refresh(ctx context.Context, token string, timeout time.Duration, expires time.Time) (Lock, error) {
	_, sc, err := l.get(ctx, token)
	if err != nil {
		return Lock{}, err
	}
	var out Lock
	txf := func(tx *redis.Tx) error {
		lk, err := l.getIn(ctx, tx, sc, token)
		if err != nil {
			return err
		}
		lk.Timeout, lk.Expires = timeout, expires
		v, err := json.Marshal(lk)
		if err != nil {
			return err
		}
		latest, err := l.latest(ctx, tx, sc, expires)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, l.hashKey(sc), token, v)
			p.ZAdd(ctx, l.expKey(sc), redis.Z{Score: float64(expires.UnixMilli()), Member: indexMember(lk)})
			l.expireScope(ctx, p, sc, latest)
			return nil
		})
		out = lk
		return err
	}
	if err := l.retry(ctx, txf, l.hashKey(sc), l.expKey(sc)); err != nil {
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

// Unlock implements LockSystem.
func (l *RedisLocks) Unlock(ctx context.Context, token string) error {
	lk, sc, err := l.get(ctx, token)
	if err != nil {
		return err
	}
	m := indexMember(lk)
	_, err = l.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, l.hashKey(sc), token)
		p.ZRem(ctx, l.idxKey(sc), m)
		p.ZRem(ctx, l.expKey(sc), m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	if err := l.c.ZRem(ctx, l.userKey(lk.User), token).Err(); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return l.c.Del(ctx, l.tokenKey(token)).Err()
}

// Find implements LockSystem. It reads only the candidates: the locks on
// name, on its ancestors and, when below is true, below it.
func (l *RedisLocks) Find(ctx context.Context, name string, below bool) ([]Lock, error) {
	found, err := l.candidates(ctx, l.c, name, below)
	if err != nil {
		return nil, fmt.Errorf("find locks: %w", err)
	}
	var out []Lock
	for _, lk := range found {
		if lk.covers(name) || (below && lockBelow(lk.Root, name)) {
			out = append(out, lk)
		}
	}
	return out, nil
}
