package davfs

import (
	"context"
	"fmt"
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
// started under is gone). A change made on the file server directly shows
// after at most ttl.
//
// Several instances (HandlerOptions.MetaGenerations): each write also
// bumps the scope's shared generation, when it starts and when it ends,
// before its response leaves; each request that only reads reads the
// shared generation (a read sent after it started) before it looks at
// the cache (sync), and an instance that sees it moved drops the scope's
// entries and any Stat on its way. So a request that starts after a write's response, on any
// instance, never gets an answer read before the write: the write's end
// bump came first, the request sees a generation its entries were not
// read under, and entries read under the new one were read after the
// write. Shared generations are compared for equality, never order, so
// two reads answered out of order only cost a drop.
//
// When the shared generation fails (Redis down, hung past its timeouts,
// refusing writes when out of memory):
//
//   - A read that cannot learn it answers nothing from the cache and
//     stores nothing: the request asks the server (fail open to the
//     uncached path, never stale). The scope's entries are dropped too,
//     since a write through another instance may have failed its bump
//     while this read failed.
//   - A write whose bump fails goes on (the lock store decides whether it
//     may; with Redis down it refuses first). This instance drops its own
//     entries as always, so it never answers stale itself, but the other
//     instances do not learn of the change: to them it is like a change
//     made on the server directly, seen after at most ttl. And since a
//     failed bump means other instances' bumps may be failing too, this
//     instance answers nothing from the cache for the scope for ttl after
//     it (hold).
//   - Redis losing its data (a restart without persistence) is the same:
//     values are random, so a lost key never comes back as a value an
//     entry was read under, but writes bumped just before the loss may be
//     missed, for at most ttl.
//
// Entries are kept per user (the server's permissions differ between
// users) and per lock scope (Mount.ID: a share as the server names it).
type metaCache struct {
	ttl  time.Duration
	gens MetaGenerations // shared with other instances; nil for one instance

	mu     sync.Mutex
	scopes map[string]*scopeCache
}

// maxMetaEntries bounds the entries of one scope; over it they are all
// dropped.
const maxMetaEntries = 10000

type scopeCache struct {
	gen     uint64    // bumped by every change of the scope and of shared
	shared  uint64    // the shared generation the entries were read under
	hold    time.Time // a bump of shared failed: no answers before
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

// get returns the cached answer for name (nil if none, or the scope is
// held) and the generation a Stat made now must be stored under.
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
	if !ok || time.Now().Before(sc.hold) {
		return nil, sc.gen
	}
	if time.Now().After(e.expires) {
		delete(sc.entries, metaKey{user, name})
		return nil, sc.gen
	}
	return e.fi, sc.gen
}

// put stores fi for name unless the scope changed since gen or is held.
func (c *metaCache) put(scope, user, name string, fi *fileInfo, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := c.scopeLocked(scope)
	if sc.gen != gen || time.Now().Before(sc.hold) {
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
	c.scopeLocked(scope).drop()
}

// drop forgets the entries and any Stat on its way.
func (sc *scopeCache) drop() {
	sc.gen++
	sc.entries = nil
}

// change drops scope's entries here and bumps its shared generation, so
// that every other instance drops its own on its next request; a write
// calls it when it starts and when it ends. A failed bump holds the
// scope's cache here for ttl (see metaCache) and is returned to be
// logged; the write goes on.
func (c *metaCache) change(ctx context.Context, scope string) error {
	if c == nil {
		return nil
	}
	c.invalidate(scope)
	if c.gens == nil {
		return nil
	}
	// a client gone must not leave the change unannounced
	err := c.gens.Bump(context.WithoutCancel(ctx), scope)
	if err == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := c.scopeLocked(scope)
	sc.drop()
	sc.hold = time.Now().Add(c.ttl)
	return fmt.Errorf("bump the shared metadata generation: %w", err)
}

// sync brings scope's entries up to its shared generation before a
// request that only reads looks at them: one read of the shared
// generation, sent after the request started, shared with the requests on
// the scope that came meanwhile (genBatch). A reading request touches one
// scope; COPY and MOVE, which touch two, are writes. An error means the
// request must neither use nor fill the cache (see metaCache).
func (c *metaCache) sync(ctx context.Context, scope string) error {
	if c == nil || c.gens == nil {
		return nil
	}
	v, err := c.gens.Current(ctx, scope)
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := c.scopeLocked(scope)
	if err != nil {
		sc.drop()
		return fmt.Errorf("read the shared metadata generation: %w", err)
	}
	if v != sc.shared {
		sc.shared = v
		sc.drop()
	}
	return nil
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
