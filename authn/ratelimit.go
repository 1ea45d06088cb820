package authn

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/davgate/davgate/session"
)

// LimitStore keeps the Limiter's attempt counts. MemoryLimits counts in
// this process; session.RedisStore counts across every instance sharing
// the Redis.
type LimitStore interface {
	// Reserve takes one attempt under every key or, if any key must wait,
	// under none, and returns that wait (0: taken). Each key's check and
	// count are one atomic step, so concurrent callers, on this instance or
	// others, never take more than p allows.
	Reserve(ctx context.Context, p LimitPolicy, keys ...string) (time.Duration, error)
	// Release gives back one attempt taken under key that did not fail.
	Release(ctx context.Context, p LimitPolicy, key string) error
	// ClearFailures forgets key's count and wait.
	ClearFailures(ctx context.Context, key string) error
}

// LimitPolicy is how attempts under one key are limited (see
// session.LimitPolicy).
type LimitPolicy = session.LimitPolicy

// Limiter slows password guessing. Every log-on attempt is reserved
// before the directory is asked, under the user's identity key and the
// client's address, and counts until it succeeds: so at most Free
// attempts per user (and per address) reach the directory at once,
// however many arrive together, and each later one waits a delay that
// doubles with every attempt. Counting per user slows a burst against one
// account from many addresses; counting per address slows one client
// trying many accounts. A success clears the user's count and gives the
// address its attempt back; an attempt the directory could not answer
// gives both back.
type Limiter struct {
	Store LimitStore // required
	LimitPolicy
}

// NewLimiter returns a Limiter over store with davgate's defaults: 5
// attempts at once, then 1 s doubling to 15 min, forgotten after an hour.
func NewLimiter(store LimitStore) *Limiter {
	return &Limiter{Store: store, LimitPolicy: LimitPolicy{Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour}}
}

// userLimitKey is the limit key of a user identity key (see identityKey).
func userLimitKey(user string) string { return "u:" + user }

// addrLimitKey is the limit key of a client address: an IPv4 address
// alone, an IPv6 address by its /64 (one site's or host's network, which
// its owner can fill with addresses at will).
func addrLimitKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return "a:" + client
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "a:" + p.String()
	}
	return "a:" + a.String()
}

// Reserve takes an attempt for the user (an identity key) from client; a
// wait above 0 means refused, try again after it.
func (l *Limiter) Reserve(ctx context.Context, user, client string) (time.Duration, error) {
	d, err := l.Store.Reserve(ctx, l.LimitPolicy, userLimitKey(user), addrLimitKey(client))
	if err != nil {
		return 0, fmt.Errorf("rate limit: %w", err)
	}
	return d, nil
}

// Succeed clears the users' counts (the identity keys the log-on was
// known by) and gives client its attempt back.
func (l *Limiter) Succeed(ctx context.Context, client string, users ...string) error {
	for _, u := range users {
		if err := l.Store.ClearFailures(ctx, userLimitKey(u)); err != nil {
			return fmt.Errorf("rate limit: %w", err)
		}
	}
	if err := l.Store.Release(ctx, l.LimitPolicy, addrLimitKey(client)); err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	return nil
}

// Release gives back an attempt that neither failed nor succeeded (the
// directory could not be asked).
func (l *Limiter) Release(ctx context.Context, user, client string) error {
	for _, k := range []string{userLimitKey(user), addrLimitKey(client)} {
		if err := l.Store.Release(ctx, l.LimitPolicy, k); err != nil {
			return fmt.Errorf("rate limit: %w", err)
		}
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
	n      int64     // attempts counted
	last   time.Time // latest attempt
	until  time.Time // no attempt before
	forget time.Duration
}

var _ LimitStore = (*MemoryLimits)(nil)

func (m *MemoryLimits) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Reserve implements LimitStore: all keys under one lock.
func (m *MemoryLimits) Reserve(_ context.Context, p LimitPolicy, keys ...string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.entries == nil {
		m.entries = map[string]*limitEntry{}
	}
	m.gc(now)
	var wait time.Duration
	for _, k := range keys {
		if e := m.entries[k]; e != nil && now.Sub(e.last) <= e.forget && e.until.After(now) {
			wait = max(wait, e.until.Sub(now))
		}
	}
	if wait > 0 {
		return wait, nil
	}
	for _, k := range keys {
		e := m.entries[k]
		if e == nil || now.Sub(e.last) > e.forget {
			e = &limitEntry{}
			m.entries[k] = e
		}
		e.n++
		e.last, e.forget = now, p.Forget
		e.until = now.Add(p.Delay(e.n))
	}
	return 0, nil
}

// Release implements LimitStore.
func (m *MemoryLimits) Release(_ context.Context, p LimitPolicy, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[key]
	if e == nil || e.n == 0 {
		return nil
	}
	e.n--
	if e.n < p.Free {
		e.until = time.Time{}
	}
	return nil
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

// retryAfter is a Retry-After value: wait d, in whole seconds rounded up.
func retryAfter(d time.Duration) string { return strconv.Itoa(retrySeconds(d)) }

func retrySeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }
