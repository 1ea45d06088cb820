package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Record is what a Store keeps for one session. It holds no secret that
// opens anything by itself: the password only as ciphertext under K, which
// the store never sees.
type Record struct {
	Key      string            `json:"-"`  // H(sid) = hex(SHA-256(sid)); the store key
	ID       string            `json:"id"` // public id, random, not derived from sid
	User     string            `json:"user"`
	Kind     Kind              `json:"kind"`
	Label    string            `json:"label"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Sealed   []byte            `json:"ct"` // nonce | AES-256-GCM(K, password, aad = "pw"|sid|user)
	Created  time.Time         `json:"created"`
	LastUsed time.Time         `json:"last_used"`
	Expires  time.Time         `json:"expires"` // absolute end
	Idle     time.Duration     `json:"idle"`    // idle limit after LastUsed
}

// Deadline is when the record ends unless touched: the earlier of its
// absolute expiry and its idle deadline.
func (r *Record) Deadline() time.Time {
	d := r.Expires
	if r.Idle > 0 {
		if idle := r.LastUsed.Add(r.Idle); idle.Before(d) {
			d = idle
		}
	}
	return d
}

func (r *Record) info() Info {
	return Info{ID: r.ID, Kind: r.Kind, Label: r.Label, Created: r.Created, LastUsed: r.LastUsed, Expires: r.Expires}
}

func (r *Record) clone() *Record {
	c := *r
	c.Sealed = append([]byte(nil), r.Sealed...)
	if r.Attrs != nil {
		c.Attrs = make(map[string]string, len(r.Attrs))
		for k, v := range r.Attrs {
			c.Attrs[k] = v
		}
	}
	return &c
}

// storeKey is H(sid), the key a session's record is stored under.
func storeKey(sid []byte) string {
	h := sha256.Sum256(sid)
	return hex.EncodeToString(h[:])
}

// newPublicID returns a random public session id, independent of sid.
func newPublicID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return tokenEncoding.EncodeToString(b[:]), nil
}

func passwordAAD(sid []byte, user string) []byte {
	aad := make([]byte, 0, 2+len(sid)+len(user))
	aad = append(aad, "pw"...)
	aad = append(aad, sid...)
	return append(aad, user...)
}

// sealPassword returns nonce | AES-256-GCM(k, password, aad = "pw"|sid|user).
func sealPassword(k, sid []byte, user, password string) ([]byte, error) {
	a, err := newAEAD(k)
	if err != nil {
		return nil, fmt.Errorf("seal password: %w", err)
	}
	out := make([]byte, nonceSize, nonceSize+len(password)+a.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("seal password: %w", err)
	}
	return a.Seal(out, out[:nonceSize], []byte(password), passwordAAD(sid, user)), nil
}

var errBadCiphertext = errors.New("stored password does not open with this session's key")

// openPassword reverses sealPassword.
func openPassword(k, sid []byte, user string, sealed []byte) (string, error) {
	a, err := newAEAD(k)
	if err != nil {
		return "", err
	}
	if len(sealed) < nonceSize+a.Overhead() {
		return "", errBadCiphertext
	}
	p, err := a.Open(nil, sealed[:nonceSize], sealed[nonceSize:], passwordAAD(sid, user))
	if err != nil {
		return "", errBadCiphertext
	}
	return string(p), nil
}
