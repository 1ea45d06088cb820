package session

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"
)

// Token layout, before base64url (RFC 4648 §5, no padding):
//
//	version (1 byte, tokenVersion)
//	key id  (4 bytes, big endian): the master key that sealed it
//	nonce   (12 bytes, random)
//	AES-256-GCM(master[key id], nonce, plaintext, aad = "tok")
//
// plaintext = sid (16) | K (32) | expiry (8, big-endian Unix seconds).
// The version and key id are not in the aad: any other version is refused,
// and a changed key id selects another key (or none), so GCM fails.
const (
	tokenVersion   = 1
	sidSize        = 16
	sessionKeySize = 32
	nonceSize      = 12
	tokenPlainSize = sidSize + sessionKeySize + 8
	tokenHeader    = 1 + 4
	tokenRawSize   = tokenHeader + nonceSize + tokenPlainSize + 16
)

var tokenAAD = []byte("tok")

var tokenEncoding = base64.RawURLEncoding

// tokenData is what a token carries.
type tokenData struct {
	sid    [sidSize]byte
	key    [sessionKeySize]byte // K, the per-session key
	expiry time.Time            // absolute end of the session, whole seconds
}

// sealToken seals t under the keyring's newest key.
func sealToken(kr *Keyring, t *tokenData) (string, error) {
	id := kr.NewestID()
	a, _ := kr.aead(id)
	raw := make([]byte, tokenHeader+nonceSize, tokenRawSize)
	raw[0] = tokenVersion
	binary.BigEndian.PutUint32(raw[1:5], id)
	nonce := raw[tokenHeader : tokenHeader+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal token: %w", err)
	}
	plain := make([]byte, 0, tokenPlainSize)
	plain = append(plain, t.sid[:]...)
	plain = append(plain, t.key[:]...)
	plain = binary.BigEndian.AppendUint64(plain, uint64(t.expiry.Unix()))
	raw = a.Seal(raw, nonce, plain, tokenAAD)
	clear(plain)
	return tokenEncoding.EncodeToString(raw), nil
}

// openToken opens a token sealed by sealToken. Every failure is
// ErrInvalidToken; it does not check the expiry.
func openToken(kr *Keyring, tok string) (*tokenData, error) {
	if len(tok) != tokenEncoding.EncodedLen(tokenRawSize) {
		return nil, ErrInvalidToken
	}
	raw, err := tokenEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) != tokenRawSize || raw[0] != tokenVersion {
		return nil, ErrInvalidToken
	}
	a, ok := kr.aead(binary.BigEndian.Uint32(raw[1:5]))
	if !ok {
		return nil, ErrInvalidToken
	}
	nonce := raw[tokenHeader : tokenHeader+nonceSize]
	plain, err := a.Open(nil, nonce, raw[tokenHeader+nonceSize:], tokenAAD)
	if err != nil || len(plain) != tokenPlainSize {
		return nil, ErrInvalidToken
	}
	t := &tokenData{}
	copy(t.sid[:], plain[:sidSize])
	copy(t.key[:], plain[sidSize:sidSize+sessionKeySize])
	t.expiry = time.Unix(int64(binary.BigEndian.Uint64(plain[sidSize+sessionKeySize:])), 0)
	clear(plain)
	return t, nil
}
