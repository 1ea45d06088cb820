package session

import (
	"context"
	"errors"
	"sync"
	"time"
)

// App log-on flows (authn's login flows) in the store: an app starts a
// flow, its user approves or denies it in a browser, and the app's poll
// collects the answer once. A flow lives a few minutes; the store keeps it
// under a key derived from the flow's URL code and forgets it at Expires.
// It holds no secret that opens anything by itself: the poll token only as
// a verifier, the device token only sealed to a public key whose private
// half only the poll token carries (see authn's loginflow_seal.go).

// FlowState is where a flow stands.
type FlowState string

// The states of a flow. A flow starts pending and is settled once, to
// approved or denied.
const (
	FlowPending  FlowState = "pending"
	FlowApproved FlowState = "approved"
	FlowDenied   FlowState = "denied"
)

// ErrFlowExists is CreateFlow's answer when the key is taken.
var ErrFlowExists = errors.New("flow exists")

// Flow is one app log-on flow as the store keeps it.
type Flow struct {
	Key      string    `json:"-"`      // the store key, derived from the URL code
	Client   string    `json:"client"` // the name the app gave itself
	From     string    `json:"from"`   // the address that started the flow
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	Verifier []byte    `json:"verifier"` // a hash of the poll secret
	PollKey  []byte    `json:"poll_key"` // public key the token is sealed to
	State    FlowState `json:"state"`
	// Set when settled:
	User     string `json:"user,omitempty"`      // who answered
	DeviceID string `json:"device_id,omitempty"` // the device session's public id (approved)
	// Sealed is the device session, sealed to PollKey (approved): its
	// token and its record, which is stored (minted) only when the app
	// collects the flow (Manager.PrepareFrom, Manager.Mint).
	Sealed []byte `json:"sealed,omitempty"`
	// Binding seals a digest of every other field under the server's
	// keys (authn's loginflow_bind.go), so that a flow altered in the
	// store is refused.
	Binding string `json:"binding,omitempty"`
}

func (f *Flow) clone() *Flow {
	c := *f
	c.Verifier = append([]byte(nil), f.Verifier...)
	c.PollKey = append([]byte(nil), f.PollKey...)
	c.Sealed = append([]byte(nil), f.Sealed...)
	return &c
}

// FlowStore keeps log-on flows until they expire. MemoryStore and
// RedisStore implement it; a store shared by several instances must share
// its flows too, so that a flow started on one is approved on another and
// polled on a third.
type FlowStore interface {
	// CreateFlow stores a new flow under f.Key until f.Expires, or answers
	// ErrFlowExists if the key is taken.
	CreateFlow(ctx context.Context, f *Flow) error
	// Flow returns the live flow under key, or ErrNotFound (never stored,
	// taken, or past its Expires).
	Flow(ctx context.Context, key string) (*Flow, error)
	// SettleFlow replaces the flow under f.Key with f, keeping its expiry,
	// but only if the stored one is still FlowPending; otherwise (settled
	// already, taken, expired) ErrNotFound. Of concurrent callers at most
	// one succeeds.
	SettleFlow(ctx context.Context, f *Flow) error
	// TakeFlow removes the flow under key and returns it, or ErrNotFound.
	// Of concurrent callers at most one gets it.
	TakeFlow(ctx context.Context, key string) (*Flow, error)
}

var (
	_ FlowStore = (*MemoryStore)(nil)
	_ FlowStore = (*RedisStore)(nil)
)

// memFlows are a MemoryStore's flows, under their own lock.
type memFlows struct {
	mu        sync.Mutex
	m         map[string]*Flow
	lastSweep time.Time
}

// liveLocked returns the flow under key, dropping it if expired.
func (s *memFlows) liveLocked(key string, now time.Time) *Flow {
	f := s.m[key]
	if f != nil && !now.Before(f.Expires) {
		delete(s.m, key)
		return nil
	}
	return f
}

// CreateFlow implements FlowStore.
func (s *MemoryStore) CreateFlow(_ context.Context, f *Flow) error {
	now := s.now()
	fl := &s.flows
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.m == nil {
		fl.m = make(map[string]*Flow)
	}
	if now.Sub(fl.lastSweep) >= sweepEvery {
		fl.lastSweep = now
		for k := range fl.m {
			fl.liveLocked(k, now)
		}
	}
	if fl.liveLocked(f.Key, now) != nil {
		return ErrFlowExists
	}
	if !now.Before(f.Expires) {
		return nil // over already; storing it would only resurrect it
	}
	fl.m[f.Key] = f.clone()
	return nil
}

// Flow implements FlowStore.
func (s *MemoryStore) Flow(_ context.Context, key string) (*Flow, error) {
	now := s.now()
	s.flows.mu.Lock()
	defer s.flows.mu.Unlock()
	f := s.flows.liveLocked(key, now)
	if f == nil {
		return nil, ErrNotFound
	}
	return f.clone(), nil
}

// SettleFlow implements FlowStore.
func (s *MemoryStore) SettleFlow(_ context.Context, f *Flow) error {
	now := s.now()
	s.flows.mu.Lock()
	defer s.flows.mu.Unlock()
	old := s.flows.liveLocked(f.Key, now)
	if old == nil || old.State != FlowPending {
		return ErrNotFound
	}
	n := f.clone()
	n.Expires = old.Expires
	s.flows.m[f.Key] = n
	return nil
}

// TakeFlow implements FlowStore.
func (s *MemoryStore) TakeFlow(_ context.Context, key string) (*Flow, error) {
	now := s.now()
	s.flows.mu.Lock()
	defer s.flows.mu.Unlock()
	f := s.flows.liveLocked(key, now)
	if f == nil {
		return nil, ErrNotFound
	}
	delete(s.flows.m, key)
	return f, nil
}
