package session

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Admin tokens let the operator's command (davgate sessions) prove to a
// running davgate that it can read the master keyring, without any other
// secret: an admin token seals, under the newest master key with its own
// aad, an expiry and the SHA-256 of the one request it is for ("METHOD
// /path?query"). It is refused for any other request, after its expiry
// (AdminTokenLife), or once its key is gone from the keyring. It never
// opens as a session token, nor a session token as it.
//
// Layout, before base64url: key id (4) | nonce (12) | AES-256-GCM(master,
// expiry (8, Unix s) | SHA-256(request) (32), aad = "adm").

// AdminTokenLife is how long an admin token is accepted.
const AdminTokenLife = 30 * time.Second

var adminAAD = []byte("adm")

// ErrBadAdminToken: the admin token is malformed, altered, expired, for
// another request, or sealed under a key this keyring does not hold.
var ErrBadAdminToken = errors.New("invalid admin token")

// SealAdmin returns an admin token for request, valid until now +
// AdminTokenLife.
func (k *Keyring) SealAdmin(request string, now time.Time) (string, error) {
	id := k.NewestID()
	a, _ := k.aead(id)
	raw := make([]byte, 4+nonceSize, 4+nonceSize+8+sha256.Size+a.Overhead())
	binary.BigEndian.PutUint32(raw, id)
	nonce := raw[4 : 4+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal admin token: %w", err)
	}
	h := sha256.Sum256([]byte(request))
	plain := binary.BigEndian.AppendUint64(nil, uint64(now.Add(AdminTokenLife).Unix()))
	plain = append(plain, h[:]...)
	return tokenEncoding.EncodeToString(a.Seal(raw, nonce, plain, adminAAD)), nil
}

// OpenAdmin checks an admin token for request at now.
func (k *Keyring) OpenAdmin(token, request string, now time.Time) error {
	raw, err := tokenEncoding.DecodeString(token)
	if err != nil || len(raw) < 4+nonceSize {
		return ErrBadAdminToken
	}
	a, ok := k.aead(binary.BigEndian.Uint32(raw))
	if !ok {
		return ErrBadAdminToken
	}
	plain, err := a.Open(nil, raw[4:4+nonceSize], raw[4+nonceSize:], adminAAD)
	if err != nil || len(plain) != 8+sha256.Size {
		return ErrBadAdminToken
	}
	h := sha256.Sum256([]byte(request))
	exp := time.Unix(int64(binary.BigEndian.Uint64(plain)), 0)
	if subtle.ConstantTimeCompare(plain[8:], h[:]) != 1 || !now.Before(exp) {
		return ErrBadAdminToken
	}
	return nil
}

// OpenAdmin checks an admin token for request with the manager's current
// keyring.
func (m *Manager) OpenAdmin(token, request string) error {
	return m.keyring.Load().OpenAdmin(token, request, m.now())
}
