package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
)

// A device session for an app log-on flow is made in two steps, so that
// nothing usable exists before the app collects it:
//
//	approval    PrepareFrom seals the session (token and record, the
//	            password under the new session's K) but stores nothing;
//	            the caller keeps both in the flow, sealed to the app's
//	            poll key
//	collection  Mint stores the record: the session exists, is listed
//	            and audited as minted from this moment
//
// A flow approved and never collected expires with everything it holds:
// no session to list or revoke, no token that opens anything. And as a
// device minted at approval would have ended with the user's "log out
// everywhere", Mint refuses once the session that approved it has ended.

// pendingSession is what PrepareFrom hands Mint: the record, and the
// store key of the session it was prepared from.
type pendingSession struct {
	Record *Record `json:"r"`
	From   string  `json:"from"`
}

// PrepareFrom is CreateFrom without the store: it seals a new session of
// kind for s's user, labelled, and returns its token, its record as
// pending (the bytes Mint takes) and its Info. The token is refused
// (ErrRevoked) until Mint has stored the record, which it does only
// while s lives. The password is
// unsealed from s (audited) and sealed again under the new session's
// key; pending holds it only as that ciphertext.
func (m *Manager) PrepareFrom(ctx context.Context, s *Session, kind Kind, label string) (token string, pending []byte, info Info, err error) {
	if s == nil {
		return "", nil, Info{}, errors.New("prepare session: no session")
	}
	pw, err := s.PasswordFor(ctx, "")
	if err != nil {
		return "", nil, Info{}, fmt.Errorf("prepare session from %s: %w", s.ID, err)
	}
	defer clear(pw)
	token, r, err := m.seal(ctx, s.User, pw, kind, label, maps.Clone(s.Attrs))
	if err != nil {
		return "", nil, Info{}, fmt.Errorf("prepare session from %s: %w", s.ID, err)
	}
	pending, err = json.Marshal(pendingSession{Record: r, From: s.Key})
	if err != nil {
		return "", nil, Info{}, fmt.Errorf("prepare session from %s: %w", s.ID, err)
	}
	return token, pending, r.info(), nil
}

// Mint stores the session PrepareFrom prepared, as used now from the
// request's client address (WithClientAddr), and returns its Info. It
// checks that pending is the record of token's session, sealed under its
// key (else ErrInvalidToken), and that neither it has expired nor the
// session it was prepared from ended meanwhile (revoked, logged out,
// expired: else ErrRevoked); other errors are store trouble.
func (m *Manager) Mint(ctx context.Context, token string, pending []byte) (Info, error) {
	t, err := openToken(m.keyring.Load(), token)
	if err != nil {
		return Info{}, err
	}
	defer clear(t.key[:])
	var p pendingSession
	if err := json.Unmarshal(pending, &p); err != nil || p.Record == nil {
		return Info{}, ErrInvalidToken
	}
	r := p.Record
	r.Key = storeKey(t.sid[:])
	pw, err := openRecord(t.key[:], t.sid[:], r)
	if err != nil || !r.Expires.Equal(t.expiry) {
		return Info{}, ErrInvalidToken
	}
	clear(pw)
	now := m.now()
	if !now.Before(r.Expires) {
		return Info{}, ErrRevoked
	}
	if err := m.alive(ctx, p.From, now); err != nil {
		return Info{}, err
	}
	r.LastUsed = now
	if addr := clientAddr(ctx); addr != "" {
		r.LastAddr = addr
	}
	if err := m.put(ctx, r); err != nil {
		return Info{}, fmt.Errorf("mint session: %w", err)
	}
	return r.info(), nil
}

// alive returns nil if the session under store key lives, ErrRevoked if
// it ended, or the store's trouble.
func (m *Manager) alive(ctx context.Context, key string, now time.Time) error {
	r, err := m.store.Get(ctx, key)
	if errors.Is(err, ErrNotFound) || (err == nil && !now.Before(r.Deadline())) {
		return ErrRevoked
	}
	if err != nil {
		return fmt.Errorf("mint session: %w", err)
	}
	return nil
}
