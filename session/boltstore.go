package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// BoltStore is a Store in one file on local disk (bbolt), for a single
// instance whose sessions must survive a restart. It holds what RedisStore
// holds in Redis: session records and per-user indexes, refusal marks,
// the log-on rate limiter's counts and the app log-on flows; the WebDAV
// locks live in the same file (davfs.NewBoltLocks on DB). bbolt locks the
// file, so one process at a time opens it.
//
// Buckets:
//
//	sessions   H(sid) -> deadline (8 bytes, Unix ms) | JSON of Record
//	           (password only as ciphertext under K)
//	byuser     <user> 0x00 <H(sid)> -> empty
//	refusals   <user>|<addr> -> mark (Unix ns) | until (Unix ns)
//	limits     <key> -> n | until | last | forget (8 bytes each)
//	flows      app log-on flows (boltstore_flows.go)
//
// Nothing stored is a password, a token or a session key K. Expired
// entries are dropped when read and by a sweep every SweepEvery; leases
// (RefusalStore.Lease) are held in memory, since only this process can
// dial with the file's sessions.
type BoltStore struct {
	db  *bolt.DB
	now func() time.Time

	leases memRefusals // only its leases are used

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var (
	_ Store        = (*BoltStore)(nil)
	_ RefusalStore = (*BoltStore)(nil)
)

var (
	bucketSessions = []byte("sessions")
	bucketByUser   = []byte("byuser")
	bucketRefusals = []byte("refusals")
	bucketLimits   = []byte("limits")
)

// BoltOpenTimeout is how long OpenBoltStore waits for another process
// (a running davgate) to let go of the file.
const BoltOpenTimeout = 2 * time.Second

// SweepEvery is how often a BoltStore drops every expired entry.
const SweepEvery = 5 * time.Minute

// ErrStoreLocked means the store file is held by another process.
var ErrStoreLocked = errors.New("store file is in use by another process (is davgate running?)")

// OpenBoltStore opens (creating it, mode 0600, and its directory if
// missing) the store file at path and starts its sweep. Close closes it.
func OpenBoltStore(path string) (*BoltStore, error) {
	if path == "" {
		return nil, errors.New("open file store: no path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open file store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: BoltOpenTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open file store %s: %w", path, ErrStoreLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open file store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSessions, bucketByUser, bucketRefusals, bucketLimits, bucketFlows} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open file store %s: %w", path, err)
	}
	s := &BoltStore{db: db, now: time.Now, stop: make(chan struct{}), done: make(chan struct{})}
	go s.sweepLoop()
	return s, nil
}

// CheckBoltStore opens the store file at path read-only and checks that
// it holds a file store; ErrStoreLocked if a process has it open for
// writing (a running davgate). It creates nothing.
func CheckBoltStore(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: BoltOpenTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return ErrStoreLocked
	}
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSessions) == nil {
			return errors.New("not a davgate store: it has no sessions")
		}
		return nil
	})
}

// DB is the store's database, for the lock store (davfs.NewBoltLocks).
func (s *BoltStore) DB() *bolt.DB { return s.db }

// Ping checks that the file can be read.
func (s *BoltStore) Ping(context.Context) error {
	return s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSessions) == nil {
			return errors.New("file store: sessions bucket missing")
		}
		return nil
	})
}

// Close stops the sweep and closes the file.
func (s *BoltStore) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.db.Close()
}

func (s *BoltStore) sweepLoop() {
	defer close(s.done)
	t := time.NewTicker(SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep() // an error is retried at the next tick
		}
	}
}

// Sweep drops every expired session, refusal mark, flow and limit count.
func (s *BoltStore) Sweep() error {
	now := s.now()
	return s.db.Update(func(tx *bolt.Tx) error {
		var dead [][2][]byte // key, user
		c := tx.Bucket(bucketSessions).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) < 8 || !now.Before(time.UnixMilli(int64(binary.BigEndian.Uint64(v)))) {
				r, _ := decodeBoltRecord(k, v)
				user := ""
				if r != nil {
					user = r.User
				}
				dead = append(dead, [2][]byte{bytes.Clone(k), []byte(user)})
			}
		}
		for _, d := range dead {
			if err := deleteBoltRecord(tx, string(d[1]), string(d[0])); err != nil {
				return err
			}
		}
		if err := sweepBucket(tx.Bucket(bucketRefusals), func(v []byte) bool { return refusalOver(v, now) }); err != nil {
			return err
		}
		if err := sweepBucket(tx.Bucket(bucketFlows), func(v []byte) bool { return flowOver(v, now) }); err != nil {
			return err
		}
		return sweepBucket(tx.Bucket(bucketLimits), func(v []byte) bool { return limitOver(decodeLimit(v), now) })
	})
}

// sweepBucket deletes b's entries for which over is true.
func sweepBucket(b *bolt.Bucket, over func(v []byte) bool) error {
	var keys [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if over(v) {
			keys = append(keys, bytes.Clone(k))
		}
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func userIndexKey(user, key string) []byte { return []byte(user + "\x00" + key) }

func encodeBoltRecord(r *Record) ([]byte, error) {
	j, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	v := make([]byte, 8, 8+len(j))
	binary.BigEndian.PutUint64(v, uint64(r.Deadline().UnixMilli()))
	return append(v, j...), nil
}

func decodeBoltRecord(key, v []byte) (*Record, error) {
	if len(v) < 8 {
		return nil, errors.New("file store: malformed session record")
	}
	r := &Record{}
	if err := json.Unmarshal(v[8:], r); err != nil {
		return nil, fmt.Errorf("file store: malformed session record: %w", err)
	}
	r.Key = string(key)
	return r, nil
}

func deleteBoltRecord(tx *bolt.Tx, user, key string) error {
	if err := tx.Bucket(bucketSessions).Delete([]byte(key)); err != nil {
		return err
	}
	return tx.Bucket(bucketByUser).Delete(userIndexKey(user, key))
}

// getLive returns the live record under key, deleting it if expired (in
// an Update; in a View it is only skipped).
func (s *BoltStore) getLive(tx *bolt.Tx, key string) (*Record, error) {
	v := tx.Bucket(bucketSessions).Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	r, err := decodeBoltRecord([]byte(key), v)
	if err != nil {
		return nil, err
	}
	if !s.now().Before(r.Deadline()) {
		if tx.Writable() {
			return nil, deleteBoltRecord(tx, r.User, key)
		}
		return nil, nil
	}
	return r, nil
}

// Put implements Store.
func (s *BoltStore) Put(_ context.Context, r *Record) error {
	if !s.now().Before(r.Deadline()) {
		return nil // already over; storing it would only resurrect it
	}
	v, err := encodeBoltRecord(r)
	if err != nil {
		return fmt.Errorf("file store put: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSessions).Put([]byte(r.Key), v); err != nil {
			return err
		}
		return tx.Bucket(bucketByUser).Put(userIndexKey(r.User, r.Key), nil)
	})
	if err != nil {
		return fmt.Errorf("file store put: %w", err)
	}
	return nil
}

// Get implements Store.
func (s *BoltStore) Get(_ context.Context, key string) (*Record, error) {
	var r *Record
	stored := false
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		stored = tx.Bucket(bucketSessions).Get([]byte(key)) != nil
		r, err = s.getLive(tx, key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("file store get: %w", err)
	}
	if r == nil {
		if stored {
			// Expired: drop it now rather than at the next sweep.
			s.db.Update(func(tx *bolt.Tx) error { _, err := s.getLive(tx, key); return err })
		}
		return nil, ErrNotFound
	}
	return r, nil
}

// Touch implements Store.
func (s *BoltStore) Touch(_ context.Context, r *Record) error {
	v, err := encodeBoltRecord(r)
	if err != nil {
		return fmt.Errorf("file store touch: %w", err)
	}
	found := false
	err = s.db.Update(func(tx *bolt.Tx) error {
		old, err := s.getLive(tx, r.Key)
		if err != nil || old == nil || old.User != r.User {
			return err
		}
		if !s.now().Before(r.Deadline()) {
			return deleteBoltRecord(tx, r.User, r.Key)
		}
		found = true
		return tx.Bucket(bucketSessions).Put([]byte(r.Key), v)
	})
	if err != nil {
		return fmt.Errorf("file store touch: %w", err)
	}
	if !found {
		return ErrNotFound
	}
	return nil
}

// List implements Store. It drops the user's expired records and stale
// index entries, in a write transaction only when there are any.
func (s *BoltStore) List(_ context.Context, user string) ([]*Record, error) {
	var out []*Record
	var stale []string
	err := s.db.View(func(tx *bolt.Tx) error {
		out, stale = nil, nil
		prefix := []byte(user + "\x00")
		c := tx.Bucket(bucketByUser).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			key := string(k[len(prefix):])
			r, err := s.getLive(tx, key)
			if err != nil {
				return err
			}
			if r == nil || r.User != user {
				stale = append(stale, key)
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("file store list: %w", err)
	}
	if len(stale) > 0 {
		// Best effort, as in Redis: a stale entry costs only a lookup.
		s.db.Update(func(tx *bolt.Tx) error {
			for _, k := range stale {
				if _, err := s.getLive(tx, k); err != nil {
					return err
				}
				if err := tx.Bucket(bucketByUser).Delete(userIndexKey(user, k)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return out, nil
}

// Delete implements Store.
func (s *BoltStore) Delete(_ context.Context, user string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, k := range keys {
			u := user
			if v := tx.Bucket(bucketSessions).Get([]byte(k)); v != nil {
				if r, err := decodeBoltRecord([]byte(k), v); err == nil {
					u = r.User
				}
			}
			if err := deleteBoltRecord(tx, u, k); err != nil {
				return err
			}
			if u != user {
				if err := tx.Bucket(bucketByUser).Delete(userIndexKey(user, k)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("file store delete: %w", err)
	}
	return nil
}

// CountByKind counts the live sessions of each kind (for metrics).
func (s *BoltStore) CountByKind(context.Context) (map[Kind]int, error) {
	now := s.now()
	out := map[Kind]int{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			r, err := decodeBoltRecord(k, v)
			if err == nil && now.Before(r.Deadline()) {
				out[r.Kind]++
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("file store count: %w", err)
	}
	return out, nil
}
