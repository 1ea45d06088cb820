package session

import (
	"bytes"
	"crypto/sha256"
	"sync"
)

// verifiedRecords remembers which stored records Open has already opened
// and checked, so that a record seen again unchanged is not decrypted
// again on every request (about a third of a cached PROPFIND's CPU went
// to it). An entry holds the record's ciphertext and sealed fields as
// checked and a SHA-256 of the session key that opened them, never the
// key or the password: a record whose ciphertext or any sealed field has
// changed since, or a token with another key, is opened in full again. It
// is bounded: past maxVerified entries it starts afresh.
type verifiedRecords struct {
	mu sync.Mutex
	m  map[string]verifiedRecord // by store key
}

type verifiedRecord struct {
	keyHash [sha256.Size]byte
	sealed  []byte
	fields  sealedFields
}

const maxVerified = 100000

// seen reports whether r, under the session key k, is a record already
// opened and checked.
func (v *verifiedRecords) seen(k []byte, r *Record) bool {
	v.mu.Lock()
	e, ok := v.m[r.Key]
	v.mu.Unlock()
	return ok && e.keyHash == sha256.Sum256(k) && bytes.Equal(e.sealed, r.Sealed) && e.fields.equal(fieldsOf(r))
}

// add remembers r as opened and checked under k.
func (v *verifiedRecords) add(k []byte, r *Record) {
	e := verifiedRecord{keyHash: sha256.Sum256(k), sealed: bytes.Clone(r.Sealed), fields: fieldsOf(r)}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerified {
		v.m = make(map[string]verifiedRecord)
	}
	v.m[r.Key] = e
}

// forget drops the entry of an ended session.
func (v *verifiedRecords) forget(key string) {
	v.mu.Lock()
	delete(v.m, key)
	v.mu.Unlock()
}
