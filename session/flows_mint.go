package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
// no session to list or revoke, no token that opens anything.

// PrepareFrom is CreateFrom without the store: it seals a new session of
// kind for s's user, labelled, and returns its token, its record as
// pending (the bytes Mint takes) and its Info. The token is refused
// (ErrRevoked) until Mint has stored the record. The password is
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
	pending, err = json.Marshal(r)
	if err != nil {
		return "", nil, Info{}, fmt.Errorf("prepare session from %s: %w", s.ID, err)
	}
	return token, pending, r.info(), nil
}

// Mint stores the session PrepareFrom prepared, as used now from the
// request's client address (WithClientAddr), and returns its Info. It
// checks that pending is the record of token's session, sealed under its
// key (else ErrInvalidToken), and that the session has not expired
// meanwhile (else ErrRevoked); other errors are store trouble.
func (m *Manager) Mint(ctx context.Context, token string, pending []byte) (Info, error) {
	t, err := openToken(m.keyring.Load(), token)
	if err != nil {
		return Info{}, err
	}
	defer clear(t.key[:])
	r := &Record{}
	if err := json.Unmarshal(pending, r); err != nil {
		return Info{}, ErrInvalidToken
	}
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
	r.LastUsed = now
	if addr := clientAddr(ctx); addr != "" {
		r.LastAddr = addr
	}
	if err := m.put(ctx, r); err != nil {
		return Info{}, fmt.Errorf("mint session: %w", err)
	}
	return r.info(), nil
}
