package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RefusalStore remembers, per user and file server, that the server
// refused a password, so that every session and instance sharing the
// store learns of it from the first refusal (see PoolOptions.Refusals).
// MemoryStore and RedisStore implement it.
type RefusalStore interface {
	// MarkRefused records that passwords verified before at are refused at
	// addr for user, for ttl. A later mark wins; an earlier one is ignored.
	MarkRefused(ctx context.Context, user, addr string, at time.Time, ttl time.Duration) error
	// RefusedSince returns the latest mark for user at addr, or the zero
	// time when there is none.
	RefusedSince(ctx context.Context, user, addr string) (time.Time, error)
	// Lease waits until it holds the lease on (user, addr), or ctx is done.
	// The caller calls release when done; a lease not released expires
	// after ttl (an instance that died holding it).
	Lease(ctx context.Context, user, addr string, ttl time.Duration) (release func(), err error)
}

var (
	_ RefusalStore = (*MemoryStore)(nil)
	_ RefusalStore = (*RedisStore)(nil)
)

// refusalKey names (user, addr); user names are case-insensitive at SMB
// servers.
func refusalKey(user, addr string) string { return strings.ToLower(user) + "|" + addr }

// leasePoll is how often a waiting Lease retries in Redis.
const leasePoll = 20 * time.Millisecond

// memRefusals is the MemoryStore's part of RefusalStore.
type memRefusals struct {
	mu     sync.Mutex
	marks  map[string]refusalMark
	leases map[string]chan struct{} // closed on release
}

type refusalMark struct{ at, until time.Time }

// MarkRefused implements RefusalStore.
func (s *MemoryStore) MarkRefused(_ context.Context, user, addr string, at time.Time, ttl time.Duration) error {
	now := s.now()
	r := &s.refusals
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.marks == nil {
		r.marks = make(map[string]refusalMark)
	}
	for k, m := range r.marks {
		if !now.Before(m.until) {
			delete(r.marks, k)
		}
	}
	k := refusalKey(user, addr)
	if m, ok := r.marks[k]; ok && !m.at.Before(at) {
		return nil
	}
	r.marks[k] = refusalMark{at: at, until: now.Add(ttl)}
	return nil
}

// RefusedSince implements RefusalStore.
func (s *MemoryStore) RefusedSince(_ context.Context, user, addr string) (time.Time, error) {
	now := s.now()
	r := &s.refusals
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.marks[refusalKey(user, addr)]
	if !ok || !now.Before(m.until) {
		return time.Time{}, nil
	}
	return m.at, nil
}

// Lease implements RefusalStore. Within one process a lease is always
// released, so ttl is not needed.
func (s *MemoryStore) Lease(ctx context.Context, user, addr string, _ time.Duration) (func(), error) {
	return leaseIn(ctx, &s.refusals, user, addr)
}

// leaseIn takes the lease on (user, addr) in r, waiting while it is held.
func leaseIn(ctx context.Context, r *memRefusals, user, addr string) (func(), error) {
	k := refusalKey(user, addr)
	for {
		r.mu.Lock()
		if r.leases == nil {
			r.leases = make(map[string]chan struct{})
		}
		held, busy := r.leases[k]
		if !busy {
			ch := make(chan struct{})
			r.leases[k] = ch
			r.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					r.mu.Lock()
					delete(r.leases, k)
					r.mu.Unlock()
					close(ch)
				})
			}, nil
		}
		r.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, fmt.Errorf("refusal lease: %w", ctx.Err())
		}
	}
}

// In Redis, with the default prefix:
//
//	davgate:rf:<user>|<addr>   refusal mark: Unix nanoseconds, PX = ttl
//	davgate:rfl:<user>|<addr>  lease: a random token, PX = the lease ttl
//
// No secret is stored.

func (s *RedisStore) markKey(user, addr string) string {
	return s.prefix + "rf:" + refusalKey(user, addr)
}

func (s *RedisStore) leaseKey(user, addr string) string {
	return s.prefix + "rfl:" + refusalKey(user, addr)
}

// setLater sets KEYS[1] to ARGV[1] with PX ARGV[2] unless it holds a
// larger number already.
var setLater = redis.NewScript(`
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if old < tonumber(ARGV[1]) then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 0
`)

// delIfHeld deletes KEYS[1] if it still holds ARGV[1] (our lease).
var delIfHeld = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// MarkRefused implements RefusalStore.
func (s *RedisStore) MarkRefused(ctx context.Context, user, addr string, at time.Time, ttl time.Duration) error {
	err := setLater.Run(ctx, s.c, []string{s.markKey(user, addr)}, at.UnixNano(), max(ttl.Milliseconds(), 1)).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis mark refused: %w", err)
	}
	return nil
}

// RefusedSince implements RefusalStore.
func (s *RedisStore) RefusedSince(ctx context.Context, user, addr string) (time.Time, error) {
	v, err := s.c.Get(ctx, s.markKey(user, addr)).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("redis refused since: %w", err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("redis refused since: malformed mark: %w", err)
	}
	return time.Unix(0, n), nil
}

// Lease implements RefusalStore with SET NX PX, polling while another
// holder has it.
func (s *RedisStore) Lease(ctx context.Context, user, addr string, ttl time.Duration) (func(), error) {
	var b [16]byte
	rand.Read(b[:])
	tok, key := hex.EncodeToString(b[:]), s.leaseKey(user, addr)
	t := time.NewTicker(leasePoll)
	defer t.Stop()
	for {
		ok, err := s.c.SetNX(ctx, key, tok, ttl).Result()
		if err != nil {
			return nil, fmt.Errorf("redis refusal lease: %w", err)
		}
		if ok {
			var once sync.Once
			return func() {
				once.Do(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					delIfHeld.Run(ctx, s.c, []string{key}, tok) // best effort: else it expires
				})
			}, nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("refusal lease: %w", ctx.Err())
		}
	}
}
