package session

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// Sealed values, before base64url (no padding):
//
//	version (1 byte, valueVersion) | key id (4 bytes, big endian) | nonce (12)
//	AES-256-GCM(master[key id], nonce, plain, aad = "val:" + purpose)
//
// The aad keeps a sealed value of one purpose from being taken for another
// one, or for a token ("tok") or a record ("rec").
const valueVersion = 1

// ErrInvalidValue is returned by OpenValue for a value that was not sealed
// for the purpose under a key of the keyring, or was altered.
var ErrInvalidValue = errors.New("invalid sealed value")

// SealValue seals plain under the newest master key for purpose, so that
// any instance with the keyring can open it and no client can read or
// forge it (davfs's resumable upload ids).
func (m *Manager) SealValue(purpose string, plain []byte) (string, error) {
	kr := m.keyring.Load()
	id := kr.NewestID()
	a, _ := kr.aead(id)
	raw := make([]byte, tokenHeader+nonceSize, tokenHeader+nonceSize+len(plain)+16)
	raw[0] = valueVersion
	binary.BigEndian.PutUint32(raw[1:5], id)
	nonce := raw[tokenHeader:]
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal value: %w", err)
	}
	raw = a.Seal(raw, nonce, plain, []byte("val:"+purpose))
	return tokenEncoding.EncodeToString(raw), nil
}

// OpenValue opens a value sealed by SealValue for purpose under any key of
// the keyring. Every failure is ErrInvalidValue.
func (m *Manager) OpenValue(purpose, sealed string) ([]byte, error) {
	raw, err := tokenEncoding.Strict().DecodeString(sealed)
	if err != nil || len(raw) < tokenHeader+nonceSize+16 || raw[0] != valueVersion {
		return nil, ErrInvalidValue
	}
	a, ok := m.keyring.Load().aead(binary.BigEndian.Uint32(raw[1:5]))
	if !ok {
		return nil, ErrInvalidValue
	}
	plain, err := a.Open(nil, raw[tokenHeader:tokenHeader+nonceSize], raw[tokenHeader+nonceSize:], []byte("val:"+purpose))
	if err != nil {
		return nil, ErrInvalidValue
	}
	return plain, nil
}
