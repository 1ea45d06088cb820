package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// CSRFToken is the session's anti-CSRF token: an HMAC of a fixed label
// under the session's key K. It needs no storage, is the same on every
// instance, and cannot be derived without the session token.
func (s *Session) CSRFToken() string {
	m := hmac.New(sha256.New, s.k)
	m.Write([]byte("davgate csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
