package session

import (
	"context"
	"errors"
	"fmt"
	"maps"
)

// CreateFrom starts a new session of the given kind for the user of an open
// session s, sealing s's password under the new session's own key, so that a
// browser session can mint a device token without asking the password again.
// The new session has s's user and a copy of its attributes; it is revoked
// independently of s. The caller checks the label (authn's label rules).
//
// It uses only Session.Password and Create, so that it does not depend on
// how records are sealed.
func (m *Manager) CreateFrom(ctx context.Context, s *Session, kind Kind, label string) (token string, info Info, err error) {
	if s == nil {
		return "", Info{}, errors.New("create session from: no session")
	}
	pw, err := s.PasswordFor(ctx, "")
	if err != nil {
		return "", Info{}, fmt.Errorf("create session from %s: %w", s.ID, err)
	}
	defer clear(pw)
	token, info, err = m.Create(ctx, s.User, pw, kind, label, maps.Clone(s.Attrs))
	if err != nil {
		return "", Info{}, fmt.Errorf("create session from %s: %w", s.ID, err)
	}
	return token, info, nil
}
