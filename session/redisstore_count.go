package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The RedisStore counts its live sessions by kind (for the
// davgate_sessions gauge) in one sorted set per kind:
//
//	davgate:k:<kind>  sorted set of H(sid), score = the record's Deadline
//	                  (ms since the epoch); Put adds, Touch moves the
//	                  score, Delete removes; TTL = the latest deadline
//
// A count drops the members whose deadline has passed and counts the
// rest. Why a set scored by deadline and not counters incremented and
// decremented: Redis ends records by their TTL without telling anyone, so
// a counter would drift up forever by every session that expired; here a
// session that expires leaves the count at the same moment as its record
// leaves Redis, with no event needed. And why not a SCAN of davgate:s:*
// at each scrape: that reads every record, on every instance, every
// scrape (and on every master of a Cluster); a count here is two commands
// per kind.
//
// What can still leave a member behind is rare: a Delete racing a Touch
// of the same session, or a Put cut off between its commands. Every
// pruneEvery a count also walks the sets (ZSCAN, 500 at a time) and drops
// the members whose record is gone, in the background, so the gauge is
// off for at most that long. Sessions stored before this index existed
// are counted from their next use (Touch adds them).

// redisKinds are the kinds the store counts.
var redisKinds = []Kind{KindBrowser, KindDevice}

// pruneEvery is the least time between two walks that drop members whose
// record is gone.
const pruneEvery = 10 * time.Minute

// redisCount is a RedisStore's counting state.
type redisCount struct {
	pruneEvery time.Duration // 0: pruneEvery
	mu         sync.Mutex
	lastPrune  time.Time
	pruning    atomic.Bool
}

func (s *RedisStore) kindKey(k Kind) string { return s.prefix + "k:" + string(k) }

// addToCount queues, on p, r's entry in its kind's set with its deadline.
func (s *RedisStore) addToCount(ctx context.Context, p redis.Pipeliner, r *Record, idxTTL time.Duration) {
	if !knownKind(r.Kind) {
		return
	}
	k := s.kindKey(r.Kind)
	p.ZAdd(ctx, k, redis.Z{Score: float64(r.Deadline().UnixMilli()), Member: r.Key})
	extendTTL.Eval(ctx, p, []string{k}, idxTTL.Milliseconds())
}

// dropFromCount queues, on p, the removal of keys from every kind's set.
func (s *RedisStore) dropFromCount(ctx context.Context, p redis.Pipeliner, keys ...string) {
	members := make([]any, len(keys))
	for i, k := range keys {
		members[i] = k
	}
	for _, kind := range redisKinds {
		p.ZRem(ctx, s.kindKey(kind), members...)
	}
}

func knownKind(k Kind) bool { return k == KindBrowser || k == KindDevice }

// CountByKind counts the live sessions of each kind (for metrics): the
// members of each kind's set whose deadline has not passed.
func (s *RedisStore) CountByKind(ctx context.Context) (map[Kind]int, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	cards := make(map[Kind]*redis.IntCmd, len(redisKinds))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range redisKinds {
			p.ZRemRangeByScore(ctx, s.kindKey(k), "-inf", now)
			cards[k] = p.ZCard(ctx, s.kindKey(k))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis count: %w", err)
	}
	out := make(map[Kind]int, len(cards))
	for k, c := range cards {
		out[k] = int(c.Val())
	}
	s.maybePrune()
	return out, nil
}

// maybePrune starts a walk that drops members whose record is gone, if
// none ran for pruneEvery and none is running.
func (s *RedisStore) maybePrune() {
	every := s.count.pruneEvery
	if every == 0 {
		every = pruneEvery
	}
	s.count.mu.Lock()
	due := time.Since(s.count.lastPrune) >= every
	if due {
		s.count.lastPrune = time.Now()
	}
	s.count.mu.Unlock()
	if !due || !s.count.pruning.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.count.pruning.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, k := range redisKinds {
			if err := s.pruneKind(ctx, k); err != nil {
				return // the next walk tries again
			}
		}
	}()
}

// pruneKind drops the members of kind's set whose record is gone.
func (s *RedisStore) pruneKind(ctx context.Context, kind Kind) error {
	var cursor uint64
	for {
		members, next, err := s.c.ZScan(ctx, s.kindKey(kind), cursor, "", 500).Result()
		if err != nil {
			return fmt.Errorf("redis prune count: %w", err)
		}
		if err := s.dropGone(ctx, kind, members); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// dropGone removes from kind's set those of members (ZSCAN's member,
// score pairs) whose record is not in Redis.
func (s *RedisStore) dropGone(ctx context.Context, kind Kind, members []string) error {
	var keys []string
	for i := 0; i < len(members); i += 2 {
		keys = append(keys, members[i])
	}
	if len(keys) == 0 {
		return nil
	}
	exists := make([]*redis.IntCmd, len(keys))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			exists[i] = p.Exists(ctx, s.recKey(k))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis prune count: %w", err)
	}
	var gone []any
	for i, e := range exists {
		if e.Val() == 0 && e.Err() == nil {
			gone = append(gone, keys[i])
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := s.c.ZRem(ctx, s.kindKey(kind), gone...).Err(); err != nil {
		return fmt.Errorf("redis prune count: %w", err)
	}
	return nil
}
