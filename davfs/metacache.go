package davfs

import (
	"sync"
	"time"
)

// metaCache keeps the answers of recent Stat calls (a file's or folder's
// size, times, attributes) for a short time, so that what clients ask
// again and again (Finder's and Explorer's PROPFIND Depth:0 of the same
// resources, HEAD, conditional headers) costs no SMB round trip.
//
// It never answers stale after a change made through this davgate: every
// write to a mounted directory (any method but GET, HEAD, PROPFIND and
// OPTIONS, and every change the file system makes) drops that directory's
// entries for every user, once when it starts and once when it ends, and
// a Stat that was on its way meanwhile is not stored (the generation it
// started under is gone). A change made on the file server directly, or
// through another davgate instance, shows after at most ttl.
//
// Entries are kept per user (the server's permissions differ between
// users) and per lock scope (Mount.ID: a share as the server names it).
type metaCache struct {
	ttl time.Duration

	mu     sync.Mutex
	scopes map[string]*scopeCache
}

// maxMetaEntries bounds the entries of one scope; over it they are all
// dropped.
const maxMetaEntries = 10000

type scopeCache struct {
	gen     uint64
	entries map[metaKey]metaEntry
}

type metaKey struct{ user, name string }

type metaEntry struct {
	fi      *fileInfo
	expires time.Time
}

func newMetaCache(ttl time.Duration) *metaCache {
	if ttl <= 0 {
		return nil
	}
	return &metaCache{ttl: ttl, scopes: map[string]*scopeCache{}}
}

// get returns the cached answer for name (nil if none) and the
// generation a Stat made now must be stored under.
func (c *metaCache) get(scope, user, name string) (*fileInfo, uint64) {
	if c == nil {
		return nil, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := c.scopes[scope]
	if sc == nil {
		return nil, 0
	}
	e, ok := sc.entries[metaKey{user, name}]
	if !ok {
		return nil, sc.gen
	}
	if time.Now().After(e.expires) {
		delete(sc.entries, metaKey{user, name})
		return nil, sc.gen
	}
	return e.fi, sc.gen
}

// put stores fi for name unless the scope changed since gen.
func (c *metaCache) put(scope, user, name string, fi *fileInfo, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := c.scopeLocked(scope)
	if sc.gen != gen {
		return
	}
	if sc.entries == nil || len(sc.entries) >= maxMetaEntries {
		sc.entries = map[metaKey]metaEntry{}
	}
	sc.entries[metaKey{user, name}] = metaEntry{fi: fi, expires: time.Now().Add(c.ttl)}
}

// invalidate drops what is cached of scope: it is being changed.
func (c *metaCache) invalidate(scope string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := c.scopeLocked(scope)
	sc.gen++
	sc.entries = nil
}

// scopeLocked returns scope's cache, made if need be; c.mu is held.
func (c *metaCache) scopeLocked(scope string) *scopeCache {
	sc := c.scopes[scope]
	if sc == nil {
		sc = &scopeCache{}
		c.scopes[scope] = sc
	}
	return sc
}
