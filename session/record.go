package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
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
	Sealed   []byte            `json:"ct"` // nonce | AES-256-GCM(K, pad(password) | sealedFields, aad = "rec"|sid)
	Created  time.Time         `json:"created"`
	LastUsed time.Time         `json:"last_used"`
	LastAddr string            `json:"last_addr,omitempty"` // client address of the last use; outside the seal like LastUsed
	Expires  time.Time         `json:"expires"`             // absolute end
	Idle     time.Duration     `json:"idle"`                // idle limit after LastUsed
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
	return Info{ID: r.ID, Kind: r.Kind, Label: r.Label, Created: r.Created, LastUsed: r.LastUsed, LastAddr: r.LastAddr, Expires: r.Expires}
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

// sealedFields are the security-relevant fields of a Record, sealed with
// the password so that an edit of the plain copies in the store is found.
// LastUsed and LastAddr are left out: Touch changes them; LastUsed only
// shortens a session, and LastAddr is only shown to the user.
type sealedFields struct {
	ID      string            `json:"id"`
	User    string            `json:"user"`
	Kind    Kind              `json:"kind"`
	Label   string            `json:"label"`
	Attrs   map[string]string `json:"attrs,omitempty"`
	Created int64             `json:"created"` // Unix nanoseconds
	Expires int64             `json:"expires"`
	Idle    time.Duration     `json:"idle"`
}

func fieldsOf(r *Record) sealedFields {
	return sealedFields{ID: r.ID, User: r.User, Kind: r.Kind, Label: r.Label, Attrs: r.Attrs,
		Created: r.Created.UnixNano(), Expires: r.Expires.UnixNano(), Idle: r.Idle}
}

// equal reports whether two field sets agree (attrs compared by content).
func (f sealedFields) equal(g sealedFields) bool {
	if f.ID != g.ID || f.User != g.User || f.Kind != g.Kind || f.Label != g.Label ||
		f.Created != g.Created || f.Expires != g.Expires || f.Idle != g.Idle || len(f.Attrs) != len(g.Attrs) {
		return false
	}
	for k, v := range f.Attrs {
		if w, ok := g.Attrs[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// padBucket is the unit the password is padded to before sealing, so that
// the ciphertext's length does not give away the password's.
const padBucket = 256

// padPassword returns len(password) as two bytes, the password and zeros,
// padBucket bytes or a multiple of it.
func padPassword(password []byte) []byte {
	n := (2 + len(password) + padBucket - 1) / padBucket * padBucket
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b, uint16(len(password)))
	copy(b[2:], password)
	return b
}

func recordAAD(sid []byte) []byte {
	return append([]byte("rec"), sid...)
}

// sealRecord returns nonce | AES-256-GCM(k, pad(password) | fields(r),
// aad = "rec"|sid): the password and every security-relevant field of r.
func sealRecord(k, sid []byte, r *Record, password []byte) ([]byte, error) {
	if len(password) > 0xffff {
		return nil, errors.New("seal record: password too long")
	}
	a, err := newAEAD(k)
	if err != nil {
		return nil, fmt.Errorf("seal record: %w", err)
	}
	f, err := json.Marshal(fieldsOf(r))
	if err != nil {
		return nil, fmt.Errorf("seal record: %w", err)
	}
	plain := append(padPassword(password), f...)
	defer clear(plain)
	out := make([]byte, nonceSize, nonceSize+len(plain)+a.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("seal record: %w", err)
	}
	return a.Seal(out, out[:nonceSize], plain, recordAAD(sid)), nil
}

// errBadRecord means a stored record does not open with its session's key,
// or its plain fields differ from the sealed ones: it was altered in the
// store. Open treats it as ErrRevoked and logs it.
var errBadRecord = errors.New("stored session record does not match its seal")

// openRecord opens r.Sealed and checks r's plain fields against it. It
// returns the password; the caller zeroes it.
func openRecord(k, sid []byte, r *Record) ([]byte, error) {
	a, err := newAEAD(k)
	if err != nil {
		return nil, err
	}
	if len(r.Sealed) < nonceSize+a.Overhead() {
		return nil, errBadRecord
	}
	plain, err := a.Open(nil, r.Sealed[:nonceSize], r.Sealed[nonceSize:], recordAAD(sid))
	if err != nil {
		return nil, errBadRecord
	}
	defer clear(plain)
	n := 0
	if len(plain) >= 2 {
		n = int(binary.BigEndian.Uint16(plain))
	}
	pad := (2 + n + padBucket - 1) / padBucket * padBucket
	if len(plain) < pad {
		return nil, errBadRecord
	}
	var f sealedFields
	if err := json.Unmarshal(plain[pad:], &f); err != nil || !f.equal(fieldsOf(r)) {
		return nil, errBadRecord
	}
	return append([]byte(nil), plain[2:2+n]...), nil
}
