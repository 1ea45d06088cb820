package session

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The BoltStore's refusal marks (RefusalStore) and log-on rate limit
// counts (authn.LimitStore), with the semantics of MemoryStore's and
// authn.MemoryLimits': each call is one bbolt transaction, so a
// reservation of several keys is atomic.

var _ interface {
	Reserve(ctx context.Context, p LimitPolicy, keys ...string) (time.Duration, error)
	Release(ctx context.Context, p LimitPolicy, key string) error
	ClearFailures(ctx context.Context, key string) error
} = (*BoltStore)(nil)

func putUint64s(vs ...int64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}

func uint64At(b []byte, i int) int64 {
	if len(b) < 8*(i+1) {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b[8*i:]))
}

// refusalOver reports whether a stored mark is past its memory.
func refusalOver(v []byte, now time.Time) bool {
	return !now.Before(time.Unix(0, uint64At(v, 1)))
}

// MarkRefused implements RefusalStore.
func (s *BoltStore) MarkRefused(_ context.Context, user, addr string, at time.Time, ttl time.Duration) error {
	now := s.now()
	k := []byte(refusalKey(user, addr))
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRefusals)
		if v := b.Get(k); v != nil && !refusalOver(v, now) && uint64At(v, 0) >= at.UnixNano() {
			return nil
		}
		return b.Put(k, putUint64s(at.UnixNano(), now.Add(ttl).UnixNano()))
	})
	if err != nil {
		return fmt.Errorf("file store mark refused: %w", err)
	}
	return nil
}

// RefusedSince implements RefusalStore.
func (s *BoltStore) RefusedSince(_ context.Context, user, addr string) (time.Time, error) {
	var at time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRefusals).Get([]byte(refusalKey(user, addr)))
		if v != nil && !refusalOver(v, s.now()) {
			at = time.Unix(0, uint64At(v, 0))
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("file store refused since: %w", err)
	}
	return at, nil
}

// Lease implements RefusalStore in memory: only this process opens the
// file, so only it dials with its sessions.
func (s *BoltStore) Lease(ctx context.Context, user, addr string, ttl time.Duration) (func(), error) {
	return leaseIn(ctx, &s.leases, user, addr)
}

// boltLimit is a stored rate limit count.
type boltLimit struct {
	n           int64
	until, last time.Time
	forget      time.Duration
}

// nanos is t in Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func decodeLimit(v []byte) boltLimit {
	return boltLimit{n: uint64At(v, 0), until: fromNanos(uint64At(v, 1)), last: fromNanos(uint64At(v, 2)),
		forget: time.Duration(uint64At(v, 3))}
}

func (e boltLimit) encode() []byte {
	return putUint64s(e.n, nanos(e.until), nanos(e.last), int64(e.forget))
}

// limitOver reports whether a count is forgotten.
func limitOver(e boltLimit, now time.Time) bool {
	return now.Sub(e.last) > e.forget && !e.until.After(now)
}

// Reserve takes one attempt under every key, or none, and returns the
// wait when one must wait (authn.LimitStore).
func (s *BoltStore) Reserve(_ context.Context, p LimitPolicy, keys ...string) (time.Duration, error) {
	var wait time.Duration
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLimits)
		now := s.now()
		wait = 0
		for _, k := range keys {
			if v := b.Get([]byte(k)); v != nil {
				if e := decodeLimit(v); now.Sub(e.last) <= e.forget && e.until.After(now) {
					wait = max(wait, e.until.Sub(now))
				}
			}
		}
		if wait > 0 {
			return nil
		}
		for _, k := range keys {
			var e boltLimit
			if v := b.Get([]byte(k)); v != nil {
				e = decodeLimit(v)
			}
			if now.Sub(e.last) > e.forget {
				e = boltLimit{}
			}
			e.n++
			e.last, e.forget = now, p.Forget
			e.until = now.Add(p.Delay(e.n))
			if err := b.Put([]byte(k), e.encode()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("file store reserve: %w", err)
	}
	return wait, nil
}

// Release gives back one attempt taken under key (authn.LimitStore).
func (s *BoltStore) Release(_ context.Context, p LimitPolicy, key string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLimits)
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		e := decodeLimit(v)
		if e.n <= 0 {
			return nil
		}
		e.n--
		if e.n < p.Free {
			e.until = time.Time{}
		}
		return b.Put([]byte(key), e.encode())
	})
	if err != nil {
		return fmt.Errorf("file store release: %w", err)
	}
	return nil
}

// ClearFailures forgets key's count and wait (authn.LimitStore).
func (s *BoltStore) ClearFailures(_ context.Context, key string) error {
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketLimits).Delete([]byte(key)) }); err != nil {
		return fmt.Errorf("file store clear failures: %w", err)
	}
	return nil
}
