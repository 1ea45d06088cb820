package davfs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltLocks is a LockSystem in a bbolt file (the file store of
// session.BoltStore), for one instance whose locks must survive a
// restart as its sessions do.
//
// Buckets:
//
//	davlocks    lock token -> JSON of Lock
//	davlockidx  nameKey(Root) 0x00 token -> empty: a lock check reads only
//	            the locks on the name and its ancestors (and below it for
//	            a deep check), as RedisLocks does
//
// Create checks and writes in one bbolt transaction, so conflicting
// LOCKs cannot both win, and drops expired locks as it counts; reads skip
// expired locks. Lock data holds user names, paths and the client's
// <owner> XML, never a password or session token.
type BoltLocks struct {
	db  *bolt.DB
	now func() time.Time
}

var _ LockSystem = (*BoltLocks)(nil)

var (
	boltLocksBucket = []byte("davlocks")
	boltIndexBucket = []byte("davlockidx")
)

// NewBoltLocks returns a lock system in db (session.BoltStore.DB gives
// one), creating its buckets. db stays the caller's to close.
func NewBoltLocks(db *bolt.DB) (*BoltLocks, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{boltLocksBucket, boltIndexBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt locks: %w", err)
	}
	return &BoltLocks{db: db, now: time.Now}, nil
}

func boltIndexKey(lk Lock) []byte { return []byte(indexMember(lk)) }

// getLive reads the unexpired lock with token; ok false if none.
func (l *BoltLocks) getLive(tx *bolt.Tx, token string) (Lock, bool) {
	v := tx.Bucket(boltLocksBucket).Get([]byte(token))
	var lk Lock
	if v == nil || json.Unmarshal(v, &lk) != nil || !l.now().Before(lk.Expires) {
		return Lock{}, false
	}
	return lk, true
}

func (l *BoltLocks) remove(tx *bolt.Tx, lk Lock) error {
	if err := tx.Bucket(boltLocksBucket).Delete([]byte(lk.Token)); err != nil {
		return err
	}
	return tx.Bucket(boltIndexBucket).Delete(boltIndexKey(lk))
}

func (l *BoltLocks) put(tx *bolt.Tx, lk Lock) error {
	v, err := json.Marshal(lk)
	if err != nil {
		return err
	}
	if err := tx.Bucket(boltLocksBucket).Put([]byte(lk.Token), v); err != nil {
		return err
	}
	return tx.Bucket(boltIndexBucket).Put(boltIndexKey(lk), nil)
}

// Create implements LockSystem.
func (l *BoltLocks) Create(_ context.Context, lk Lock, lim LockLimits) error {
	var refused error
	err := l.db.Update(func(tx *bolt.Tx) error {
		refused = nil
		now := l.now()
		user, scope, sc := 0, 0, lockScope(lk.Root)
		var expired []Lock
		err := tx.Bucket(boltLocksBucket).ForEach(func(_, v []byte) error {
			var o Lock
			if json.Unmarshal(v, &o) != nil {
				return nil
			}
			if !now.Before(o.Expires) {
				expired = append(expired, o)
				return nil
			}
			if refused == nil && lk.conflicts(&o) {
				refused = ErrLockConflict
			}
			if o.User == lk.User {
				user++
			}
			if lockScope(o.Root) == sc {
				scope++
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, o := range expired {
			if err := l.remove(tx, o); err != nil {
				return err
			}
		}
		if refused == nil && lim.over(user, scope) {
			refused = ErrTooManyLocks
		}
		if refused != nil {
			return nil
		}
		return l.put(tx, lk)
	})
	if err != nil {
		return fmt.Errorf("create lock: %w", err)
	}
	return refused
}

// Get implements LockSystem.
func (l *BoltLocks) Get(_ context.Context, token string) (Lock, error) {
	var lk Lock
	ok := false
	err := l.db.View(func(tx *bolt.Tx) error {
		lk, ok = l.getLive(tx, token)
		return nil
	})
	if err != nil {
		return Lock{}, fmt.Errorf("get lock: %w", err)
	}
	if !ok {
		return Lock{}, ErrNoSuchLock
	}
	return lk, nil
}

// Refresh implements LockSystem.
func (l *BoltLocks) Refresh(_ context.Context, token string, timeout time.Duration, expires time.Time) (Lock, error) {
	var lk Lock
	ok := false
	err := l.db.Update(func(tx *bolt.Tx) error {
		if lk, ok = l.getLive(tx, token); !ok {
			return nil
		}
		lk.Timeout, lk.Expires = timeout, expires
		return l.put(tx, lk)
	})
	if err != nil {
		return Lock{}, fmt.Errorf("refresh lock: %w", err)
	}
	if !ok {
		return Lock{}, ErrNoSuchLock
	}
	return lk, nil
}

// Unlock implements LockSystem.
func (l *BoltLocks) Unlock(_ context.Context, token string) error {
	ok := false
	err := l.db.Update(func(tx *bolt.Tx) error {
		var lk Lock
		if lk, ok = l.getLive(tx, token); !ok {
			return nil
		}
		return l.remove(tx, lk)
	})
	if err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	if !ok {
		return ErrNoSuchLock
	}
	return nil
}

// Find implements LockSystem. It reads only the index entries of name,
// its ancestors and, when below is true, the names below it.
func (l *BoltLocks) Find(_ context.Context, name string, below bool) ([]Lock, error) {
	k := nameKey(name)
	var prefixes [][]byte
	for i := 1; i <= len(k); i++ {
		if i == len(k) || k[i] == '/' {
			prefixes = append(prefixes, []byte(k[:i]+"\x00"))
		}
	}
	if below {
		prefixes = append(prefixes, []byte(k+"/"))
	}
	var out []Lock
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltIndexBucket).Cursor()
		for _, p := range prefixes {
			for ik, _ := c.Seek(p); ik != nil && bytes.HasPrefix(ik, p); ik, _ = c.Next() {
				_, tok, ok := bytes.Cut(ik, []byte{0})
				if !ok {
					continue
				}
				lk, live := l.getLive(tx, string(tok))
				if live && (lk.covers(name) || (below && lockBelow(lk.Root, name))) {
					out = append(out, lk)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find locks: %w", err)
	}
	return out, nil
}

// Count returns the number of unexpired locks (for metrics).
func (l *BoltLocks) Count(context.Context) (int, error) {
	n := 0
	now := l.now()
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(boltLocksBucket).ForEach(func(_, v []byte) error {
			var lk Lock
			if json.Unmarshal(v, &lk) == nil && now.Before(lk.Expires) {
				n++
			}
			return nil
		})
	})
	return n, err
}
