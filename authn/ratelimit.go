package authn

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LimitStore keeps the Limiter's failure counts and blocks. MemoryLimits
// counts in this process; session.RedisStore counts across every instance
// sharing the Redis.
type LimitStore interface {
	// CountFailure adds a failure under key and returns the count; a count
	// with no failure for forget starts again from zero.
	CountFailure(ctx context.Context, key string, forget time.Duration) (int64, error)
	// Block makes attempts under key wait d from now.
	Block(ctx context.Context, key string, d time.Duration) error
	// BlockedFor returns the longest wait left among keys, 0 if none.
	BlockedFor(ctx context.Context, keys ...string) (time.Duration, error)
	// ClearFailures forgets key's count and block.
	ClearFailures(ctx context.Context, key string) error
}

// Limiter slows password guessing: after Free failed log-ons for a user
// name or from a client address, each further attempt must wait a delay
// that doubles with every failure, up to Max. Counting per user name slows a
// burst against one account from many addresses; counting per address slows
// one client trying many accounts. A success clears the user's count.
type Limiter struct {
	Store  LimitStore    // required
	Free   int64         // failures allowed before delays start
	Base   time.Duration // first delay
	Max    time.Duration // longest delay
	Forget time.Duration // a key's count restarts after this long without failures
}

// NewLimiter returns a Limiter over store with davgate's defaults: 5 free
// failures, then 1 s doubling to 15 min, forgotten after an hour.
func NewLimiter(store LimitStore) *Limiter {
	return &Limiter{Store: store, Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour}
}

func limitKeys(user, client string) []string {
	return []string{"u:" + strings.ToLower(user), "a:" + client}
}

// Wait returns how long the caller must wait before it may try; 0 if now.
func (l *Limiter) Wait(ctx context.Context, user, client string) (time.Duration, error) {
	d, err := l.Store.BlockedFor(ctx, limitKeys(user, client)...)
	if err != nil {
		return 0, fmt.Errorf("rate limit: %w", err)
	}
	return d, nil
}

// Fail counts a failed log-on and blocks the keys that passed Free.
func (l *Limiter) Fail(ctx context.Context, user, client string) error {
	for _, k := range limitKeys(user, client) {
		n, err := l.Store.CountFailure(ctx, k, l.Forget)
		if err != nil {
			return fmt.Errorf("rate limit: %w", err)
		}
		if over := n - l.Free; over > 0 {
			d := time.Duration(float64(l.Base) * math.Pow(2, float64(min(over-1, 30))))
			if err := l.Store.Block(ctx, k, min(d, l.Max)); err != nil {
				return fmt.Errorf("rate limit: %w", err)
			}
		}
	}
	return nil
}

// Succeed clears the user's count.
func (l *Limiter) Succeed(ctx context.Context, user string) error {
	if err := l.Store.ClearFailures(ctx, limitKeys(user, "")[0]); err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	return nil
}

// MemoryLimits is a LimitStore in this process (one instance).
type MemoryLimits struct {
	Now func() time.Time // optional, time.Now

	mu      sync.Mutex
	entries map[string]*limitEntry
}

type limitEntry struct {
	failures int64
	last     time.Time
	until    time.Time
	forget   time.Duration
}

var _ LimitStore = (*MemoryLimits)(nil)

func (m *MemoryLimits) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// CountFailure implements LimitStore.
func (m *MemoryLimits) CountFailure(_ context.Context, key string, forget time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.entries == nil {
		m.entries = map[string]*limitEntry{}
	}
	m.gc(now)
	e := m.entries[key]
	if e == nil || now.Sub(e.last) > forget {
		e = &limitEntry{}
		m.entries[key] = e
	}
	e.failures++
	e.last, e.forget = now, forget
	return e.failures, nil
}

// Block implements LimitStore.
func (m *MemoryLimits) Block(_ context.Context, key string, d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[key]; e != nil {
		e.until = m.now().Add(d)
	}
	return nil
}

// BlockedFor implements LimitStore.
func (m *MemoryLimits) BlockedFor(_ context.Context, keys ...string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var wait time.Duration
	for _, k := range keys {
		if e := m.entries[k]; e != nil && e.until.After(now) {
			wait = max(wait, e.until.Sub(now))
		}
	}
	return wait, nil
}

// ClearFailures implements LimitStore.
func (m *MemoryLimits) ClearFailures(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	return nil
}

// gc forgets quiet keys so the map stays bounded by recent activity.
func (m *MemoryLimits) gc(now time.Time) {
	if len(m.entries) < 1024 {
		return
	}
	for k, e := range m.entries {
		if now.Sub(e.last) > e.forget && !e.until.After(now) {
			delete(m.entries, k)
		}
	}
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}
