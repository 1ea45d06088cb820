package authn

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// The secrets of a login flow. Two, unrelated:
//
//	code        16 random bytes, in the URL the user opens (login_url)
//	poll secret 32 random bytes, only in the app's poll token
//
// The store key is K = SHA-256("davgate login flow" | code); the poll
// token is base64url(K | poll secret), so it finds the flow without
// carrying the code (K does not give the code back). The store keeps of
// the poll secret only
//
//	verifier  SHA-256("davgate login flow poll" | secret), checked in
//	          constant time on every poll
//	poll key  the X25519 public key of the private key
//	          SHA-256("davgate login flow key" | secret)
//
// On approval the device token and the device session's record (not yet
// in the session store: sealDevice) are sealed to the poll key (an ephemeral
// X25519 key, AES-256-GCM under SHA-256 of the shared secret and both
// public keys, aad = K), so the approving instance needs no secret of the
// app's, and a store dump (with or without the master keys) yields no
// token: only the poll token opens it.

const (
	flowCodeLen   = 16
	flowSecretLen = 32
	flowKeyLen    = sha256.Size
)

// errFlowPoll is any poll token that does not open its flow.
var errFlowPoll = errors.New("malformed poll token")

// flowSecrets are a new flow's code and poll secret, and what derives from them.
type flowSecrets struct {
	code, pollToken string
	key             string // the store key, base64url(K)
	verifier        []byte
	pollKey         []byte // X25519 public key
}

func newFlowSecrets() (flowSecrets, error) {
	var code [flowCodeLen]byte
	var secret [flowSecretLen]byte
	if _, err := rand.Read(code[:]); err != nil {
		return flowSecrets{}, fmt.Errorf("flow secrets: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return flowSecrets{}, fmt.Errorf("flow secrets: %w", err)
	}
	k := flowKeyOf(code[:])
	priv, err := flowPrivateKey(secret[:])
	if err != nil {
		return flowSecrets{}, err
	}
	return flowSecrets{
		code:      base64.RawURLEncoding.EncodeToString(code[:]),
		pollToken: base64.RawURLEncoding.EncodeToString(append(k[:], secret[:]...)),
		key:       base64.RawURLEncoding.EncodeToString(k[:]),
		verifier:  flowVerifier(secret[:]),
		pollKey:   priv.PublicKey().Bytes(),
	}, nil
}

func flowKeyOf(code []byte) [flowKeyLen]byte {
	return sha256.Sum256(append([]byte("davgate login flow|"), code...))
}

func flowVerifier(secret []byte) []byte {
	v := sha256.Sum256(append([]byte("davgate login flow poll|"), secret...))
	return v[:]
}

func flowPrivateKey(secret []byte) (*ecdh.PrivateKey, error) {
	s := sha256.Sum256(append([]byte("davgate login flow key|"), secret...))
	priv, err := ecdh.X25519().NewPrivateKey(s[:])
	if err != nil {
		return nil, fmt.Errorf("flow key: %w", err)
	}
	return priv, nil
}

// flowKeyFromCode returns the store key of a URL code, or false if the
// code is malformed.
func flowKeyFromCode(code string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(code)
	if err != nil || len(b) != flowCodeLen {
		return "", false
	}
	k := flowKeyOf(b)
	return base64.RawURLEncoding.EncodeToString(k[:]), true
}

// pollSecret splits a poll token into the store key and the secret.
func pollSecret(token string) (key string, secret []byte, err error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != flowKeyLen+flowSecretLen {
		return "", nil, errFlowPoll
	}
	return base64.RawURLEncoding.EncodeToString(b[:flowKeyLen]), b[flowKeyLen:], nil
}

// pollMatches reports whether secret is the one behind verifier.
func pollMatches(verifier, secret []byte) bool {
	return subtle.ConstantTimeCompare(flowVerifier(secret), verifier) == 1
}

// sealToPollKey seals token to the X25519 public key pub: ephemeral public
// key | nonce | AES-256-GCM ciphertext.
func sealToPollKey(pub []byte, key, token string) ([]byte, error) {
	peer, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("seal flow token: %w", err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seal flow token: %w", err)
	}
	shared, err := eph.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("seal flow token: %w", err)
	}
	aead, err := flowAEAD(shared, eph.PublicKey().Bytes(), pub)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), eph.PublicKey().Bytes()...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal flow token: %w", err)
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, []byte(token), []byte(key)), nil
}

// openWithPollSecret opens what sealToPollKey sealed, with the poll secret.
func openWithPollSecret(secret []byte, key string, sealed []byte) (string, error) {
	priv, err := flowPrivateKey(secret)
	if err != nil {
		return "", err
	}
	if len(sealed) < 32 {
		return "", errors.New("open flow token: too short")
	}
	eph, err := ecdh.X25519().NewPublicKey(sealed[:32])
	if err != nil {
		return "", fmt.Errorf("open flow token: %w", err)
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		return "", fmt.Errorf("open flow token: %w", err)
	}
	aead, err := flowAEAD(shared, sealed[:32], priv.PublicKey().Bytes())
	if err != nil {
		return "", err
	}
	rest := sealed[32:]
	if len(rest) < aead.NonceSize() {
		return "", errors.New("open flow token: too short")
	}
	pt, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], []byte(key))
	if err != nil {
		return "", fmt.Errorf("open flow token: %w", err)
	}
	return string(pt), nil
}

func flowAEAD(shared, ephPub, pub []byte) (cipher.AEAD, error) {
	h := sha256.New()
	h.Write([]byte("davgate login flow seal|"))
	h.Write(shared)
	h.Write(ephPub)
	h.Write(pub)
	block, err := aes.NewCipher(h.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("flow cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("flow cipher: %w", err)
	}
	return aead, nil
}

// flowDevice is what an approval seals to the poll key: the device
// session's token and its record, pending until the poll mints it
// (session.Manager.PrepareFrom, Mint).
type flowDevice struct {
	Token  string `json:"t"`
	Record []byte `json:"r"`
}

// sealDevice seals a prepared device session to the poll key pub.
func sealDevice(pub []byte, key, token string, pending []byte) ([]byte, error) {
	b, err := json.Marshal(flowDevice{Token: token, Record: pending})
	if err != nil {
		return nil, fmt.Errorf("seal flow device: %w", err)
	}
	return sealToPollKey(pub, key, string(b))
}

// openDevice opens what sealDevice sealed, with the poll secret.
func openDevice(secret []byte, key string, sealed []byte) (token string, pending []byte, err error) {
	plain, err := openWithPollSecret(secret, key, sealed)
	if err != nil {
		return "", nil, err
	}
	var d flowDevice
	if err := json.Unmarshal([]byte(plain), &d); err != nil || d.Token == "" {
		return "", nil, errors.New("open flow token: malformed")
	}
	return d.Token, d.Record, nil
}
