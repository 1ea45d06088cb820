package authn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"github.com/davgate/davgate/session"
)

// PasswordBasic lets DAV clients send the real directory password in Basic
// auth, for deployments whose clients cannot hold a token. It breaks goal 3
// of the security model (the password crosses the wire on every request),
// so it is off unless configured.
//
// The first request with a user name and password is checked like a
// log-on (rate limits included) and mints a browser-kind session; later
// requests with the same credentials reuse that session. The cache is keyed
// by an HMAC of the credentials under a key that lives only in this
// process, so the credentials themselves are never stored, and the cached
// token is forgotten after CacheFor.
type PasswordBasic struct {
	logon    *Logon
	cacheFor time.Duration
	key      [32]byte

	mu    sync.Mutex
	cache map[[32]byte]cachedToken
}

type cachedToken struct {
	token   string
	expires time.Time
}

// NewPasswordBasic returns a PasswordBasic that logs on through l and caches
// sessions for cacheFor.
func NewPasswordBasic(l *Logon, cacheFor time.Duration) *PasswordBasic {
	p := &PasswordBasic{logon: l, cacheFor: cacheFor, cache: map[[32]byte]cachedToken{}}
	rand.Read(p.key[:])
	return p
}

func (p *PasswordBasic) mac(user, password string) [32]byte {
	h := hmac.New(sha256.New, p.key[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// session returns a session for the Basic credentials, or nil and the
// status to answer.
func (p *PasswordBasic) session(w http.ResponseWriter, r *http.Request, user, password string) (*session.Session, int) {
	k := p.mac(user, password)
	now := time.Now()
	p.mu.Lock()
	c, ok := p.cache[k]
	if ok && now.After(c.expires) {
		delete(p.cache, k)
		ok = false
	}
	p.mu.Unlock()
	if ok {
		if s, err := p.logon.Sessions.Open(r.Context(), c.token); err == nil {
			return s, 0
		}
		p.forget(k)
	}
	pw := []byte(password) // net/http's Basic password is a string; the copy is zeroed
	token, _, status := p.logon.logOn(w, r, user, pw, session.KindBrowser, "basic auth")
	clear(pw)
	if status != 0 {
		return nil, status
	}
	s, err := p.logon.Sessions.Open(r.Context(), token)
	if err != nil {
		return nil, http.StatusServiceUnavailable
	}
	p.mu.Lock()
	if len(p.cache) > 10000 {
		for ck, cv := range p.cache {
			if now.After(cv.expires) {
				delete(p.cache, ck)
			}
		}
	}
	p.cache[k] = cachedToken{token: token, expires: now.Add(p.cacheFor)}
	p.mu.Unlock()
	return s, 0
}

func (p *PasswordBasic) forget(k [32]byte) {
	p.mu.Lock()
	delete(p.cache, k)
	p.mu.Unlock()
}
