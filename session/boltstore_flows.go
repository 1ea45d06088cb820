package session

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The BoltStore's app log-on flows (FlowStore), in bucket
//
//	flows  key -> expires (8 bytes, Unix ms) | JSON of Flow
//
// each call one bbolt transaction, so of concurrent SettleFlow or
// TakeFlow callers at most one succeeds. Expired flows are skipped when
// read and dropped by the sweep.

var bucketFlows = []byte("flows")

var _ FlowStore = (*BoltStore)(nil)

func encodeFlow(f *Flow) ([]byte, error) {
	j, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	v := make([]byte, 8, 8+len(j))
	binary.BigEndian.PutUint64(v, uint64(f.Expires.UnixMilli()))
	return append(v, j...), nil
}

// liveFlow decodes the flow stored as v, nil if none, malformed or
// expired at now.
func liveFlow(key string, v []byte, now time.Time) *Flow {
	if len(v) < 8 {
		return nil
	}
	f := &Flow{}
	if json.Unmarshal(v[8:], f) != nil || !now.Before(f.Expires) {
		return nil
	}
	f.Key = key
	return f
}

// flowOver reports whether a stored flow is past its expiry.
func flowOver(v []byte, now time.Time) bool {
	return len(v) < 8 || !now.Before(time.UnixMilli(int64(binary.BigEndian.Uint64(v))))
}

// CreateFlow implements FlowStore.
func (s *BoltStore) CreateFlow(_ context.Context, f *Flow) error {
	v, err := encodeFlow(f)
	if err != nil {
		return fmt.Errorf("file store create flow: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFlows)
		if liveFlow(f.Key, b.Get([]byte(f.Key)), s.now()) != nil {
			return ErrFlowExists
		}
		return b.Put([]byte(f.Key), v)
	})
	if errors.Is(err, ErrFlowExists) {
		return err
	}
	if err != nil {
		return fmt.Errorf("file store create flow: %w", err)
	}
	return nil
}

// Flow implements FlowStore.
func (s *BoltStore) Flow(_ context.Context, key string) (*Flow, error) {
	var f *Flow
	err := s.db.View(func(tx *bolt.Tx) error {
		f = liveFlow(key, tx.Bucket(bucketFlows).Get([]byte(key)), s.now())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("file store flow: %w", err)
	}
	if f == nil {
		return nil, ErrNotFound
	}
	return f, nil
}

// SettleFlow implements FlowStore.
func (s *BoltStore) SettleFlow(_ context.Context, f *Flow) error {
	settled := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFlows)
		old := liveFlow(f.Key, b.Get([]byte(f.Key)), s.now())
		if old == nil || old.State != FlowPending {
			return nil
		}
		nf := f.clone()
		nf.Expires = old.Expires // the flow keeps its expiry
		v, err := encodeFlow(nf)
		if err != nil {
			return err
		}
		settled = true
		return b.Put([]byte(f.Key), v)
	})
	if err != nil {
		return fmt.Errorf("file store settle flow: %w", err)
	}
	if !settled {
		return ErrNotFound
	}
	return nil
}

// TakeFlow implements FlowStore.
func (s *BoltStore) TakeFlow(_ context.Context, key string) (*Flow, error) {
	var f *Flow
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFlows)
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		f = liveFlow(key, v, s.now())
		return b.Delete([]byte(key))
	})
	if err != nil {
		return nil, fmt.Errorf("file store take flow: %w", err)
	}
	if f == nil {
		return nil, ErrNotFound
	}
	return f, nil
}
