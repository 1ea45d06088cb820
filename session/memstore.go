package session

import (
	"context"
	"sync"
	"time"
)

// MemoryStore is a Store inside this process, for a single instance. Its
// records are lost when the process ends; Delete is seen only here.
type MemoryStore struct {
	now func() time.Time

	mu        sync.Mutex
	recs      map[string]*Record
	byUser    map[string]map[string]struct{}
	lastSweep time.Time

	refusals memRefusals
	flows    memFlows // app log-on flows (flows.go)
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		now:    time.Now,
		recs:   make(map[string]*Record),
		byUser: make(map[string]map[string]struct{}),
	}
}

// sweepEvery is how often Put drops all expired records.
const sweepEvery = time.Minute

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, r *Record) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastSweep) >= sweepEvery {
		s.lastSweep = now
		for k, r := range s.recs {
			if !now.Before(r.Deadline()) {
				s.deleteLocked(r.User, k)
			}
		}
	}
	s.recs[r.Key] = r.clone()
	u := s.byUser[r.User]
	if u == nil {
		u = make(map[string]struct{})
		s.byUser[r.User] = u
	}
	u[r.Key] = struct{}{}
	return nil
}

// getLocked returns the live record under key, dropping it if expired.
func (s *MemoryStore) getLocked(key string, now time.Time) *Record {
	r, ok := s.recs[key]
	if !ok {
		return nil
	}
	if !now.Before(r.Deadline()) {
		s.deleteLocked(r.User, key)
		return nil
	}
	return r
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key string) (*Record, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.getLocked(key, now)
	if r == nil {
		return nil, ErrNotFound
	}
	return r.clone(), nil
}

// Touch implements Store.
func (s *MemoryStore) Touch(_ context.Context, r *Record) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.getLocked(r.Key, now)
	if old == nil || old.User != r.User {
		return ErrNotFound
	}
	s.recs[r.Key] = r.clone()
	return nil
}

// List implements Store.
func (s *MemoryStore) List(_ context.Context, user string) ([]*Record, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Record
	for k := range s.byUser[user] {
		if r := s.getLocked(k, now); r != nil {
			out = append(out, r.clone())
		}
	}
	return out, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, user string, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if r, ok := s.recs[k]; ok {
			user = r.User
		}
		s.deleteLocked(user, k)
	}
	return nil
}

func (s *MemoryStore) deleteLocked(user, key string) {
	delete(s.recs, key)
	if u := s.byUser[user]; u != nil {
		delete(u, key)
		if len(u) == 0 {
			delete(s.byUser, user)
		}
	}
}

// CountByKind counts the live sessions of each kind (for metrics).
func (s *MemoryStore) CountByKind(context.Context) (map[Kind]int, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[Kind]int{}
	for _, r := range s.recs {
		if now.Before(r.Deadline()) {
			out[r.Kind]++
		}
	}
	return out, nil
}
