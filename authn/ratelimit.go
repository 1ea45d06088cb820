package authn

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limiter slows password guessing: after Free failed log-ons for a user
// name or from a client address, each further attempt must wait a delay
// that doubles with every failure, up to Max. Counting per user name slows a
// burst against one account from many addresses; counting per address slows
// one client trying many accounts. A success clears the user's count.
//
// Counts live in this process; several instances behind a load balancer
// each count on their own.
type Limiter struct {
	Free int           // failures allowed before delays start
	Base time.Duration // first delay
	Max  time.Duration // longest delay
	// Forget drops a key's count after this long without failures.
	Forget time.Duration
	Now    func() time.Time

	mu      sync.Mutex
	entries map[string]*limitEntry
}

type limitEntry struct {
	failures int
	last     time.Time
	until    time.Time
}

// NewLimiter returns a Limiter with davgate's defaults: 5 free failures, then
// 1 s doubling to 15 min, forgotten after an hour.
func NewLimiter() *Limiter {
	return &Limiter{Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour, Now: time.Now}
}

func limitKeys(user, client string) []string {
	return []string{"u:" + strings.ToLower(user), "a:" + client}
}

// Wait returns how long the caller must wait before it may try; 0 if now.
func (l *Limiter) Wait(user, client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	var wait time.Duration
	for _, k := range limitKeys(user, client) {
		if e := l.entries[k]; e != nil && e.until.After(now) {
			wait = max(wait, e.until.Sub(now))
		}
	}
	return wait
}

// Fail counts a failed log-on.
func (l *Limiter) Fail(user, client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	if l.entries == nil {
		l.entries = map[string]*limitEntry{}
	}
	l.gc(now)
	for _, k := range limitKeys(user, client) {
		e := l.entries[k]
		if e == nil {
			e = &limitEntry{}
			l.entries[k] = e
		}
		if now.Sub(e.last) > l.Forget {
			*e = limitEntry{}
		}
		e.failures++
		e.last = now
		if over := e.failures - l.Free; over > 0 {
			d := time.Duration(float64(l.Base) * math.Pow(2, float64(min(over-1, 30))))
			e.until = now.Add(min(d, l.Max))
		}
	}
}

// Succeed clears the user's count.
func (l *Limiter) Succeed(user, _ string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, limitKeys(user, "")[0])
}

// gc forgets quiet keys so the map stays bounded by recent activity.
func (l *Limiter) gc(now time.Time) {
	if len(l.entries) < 1024 {
		return
	}
	for k, e := range l.entries {
		if now.Sub(e.last) > l.Forget && !e.until.After(now) {
			delete(l.entries, k)
		}
	}
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}
