package davfs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MetaGenerations is where several davgate instances tell each other that
// a lock scope (Mount.ID) changed, so that none answers from its metadata
// cache what a write through another has changed (see metaCache).
type MetaGenerations interface {
	// Bump gives scope a new generation: one Current never returned for
	// it before.
	Bump(ctx context.Context, scope string) error
	// Current returns scope's generation: equal to an earlier answer only
	// if no Bump came between (0 for a scope never bumped).
	Current(ctx context.Context, scope string) (uint64, error)
}

// RedisMetaGenerations keeps the generations in Redis, under the prefix
// given to NewRedisMetaGenerations:
//
//	metagen:{<scope>}  a random 64-bit number, set anew by every Bump;
//	                   expires metaGenTTL after the last one
//
// A Bump is one SET, a Current one GET. The values are random rather than
// counted (INCR): a key lost (expired, or Redis restarted without its
// data) starts again from nothing, and a counter would then count up to
// values that entries were read under before, as if nothing had changed.
// A key that expires only costs the entries of the scope once: a missing
// key reads as 0, which no Bump sets.
type RedisMetaGenerations struct {
	c      redis.UniversalClient
	prefix string
}

var _ MetaGenerations = (*RedisMetaGenerations)(nil)

// metaGenTTL is how long a scope's generation outlives its last change:
// far beyond any metadata TTL, so that no entry outlives its key.
const metaGenTTL = 24 * time.Hour

// NewRedisMetaGenerations returns generations kept under prefix in the
// Redis that c talks to (session.NewRedisClient makes one). c stays the
// caller's to close.
func NewRedisMetaGenerations(c redis.UniversalClient, prefix string) *RedisMetaGenerations {
	return &RedisMetaGenerations{c: c, prefix: prefix}
}

func (g *RedisMetaGenerations) key(scope string) string { return g.prefix + "metagen:{" + scope + "}" }

// Bump implements MetaGenerations.
func (g *RedisMetaGenerations) Bump(ctx context.Context, scope string) error {
	if err := g.c.Set(ctx, g.key(scope), rand.Uint64()|1, metaGenTTL).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Current implements MetaGenerations.
func (g *RedisMetaGenerations) Current(ctx context.Context, scope string) (uint64, error) {
	v, err := g.c.Get(ctx, g.key(scope)).Uint64()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("redis: %w", err)
	}
	return v, nil
}

// genBatch shares one read of a scope's generation among the requests
// that asked for it while the read before was on its way, so that many
// requests on one share cost about one Redis round trip at a time rather
// than one each. A request needs a generation read after it started (see
// metaCache), and it gets one: a batch's read is sent only once the batch
// is closed to newcomers.
type genBatch struct {
	gens MetaGenerations

	mu     sync.Mutex
	scopes map[string]*genReads
}

// genReads is one scope's reads: next collects the requests for the read
// after the one on its way (reading).
type genReads struct {
	next    *genWait
	reading bool
}

type genWait struct {
	done chan struct{}
	v    uint64
	err  error
}

func newGenBatch(g MetaGenerations) *genBatch {
	return &genBatch{gens: g, scopes: map[string]*genReads{}}
}

// Bump implements MetaGenerations.
func (b *genBatch) Bump(ctx context.Context, scope string) error { return b.gens.Bump(ctx, scope) }

// Current implements MetaGenerations: the answer of a read sent after it
// was called.
func (b *genBatch) Current(ctx context.Context, scope string) (uint64, error) {
	b.mu.Lock()
	r := b.scopes[scope]
	if r == nil {
		r = &genReads{}
		b.scopes[scope] = r
	}
	if r.next == nil {
		r.next = &genWait{done: make(chan struct{})}
	}
	w := r.next
	if !r.reading {
		r.reading = true
		go b.read(scope, r)
	}
	b.mu.Unlock()
	select {
	case <-w.done:
		return w.v, w.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// read reads scope's generation for each batch in turn until none waits.
// The Redis client's timeouts bound each read; a request that stops
// waiting does not stop the read the others wait for.
func (b *genBatch) read(scope string, r *genReads) {
	for {
		b.mu.Lock()
		w := r.next
		r.next = nil
		if w == nil {
			r.reading = false
			delete(b.scopes, scope)
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		w.v, w.err = b.gens.Current(context.Background(), scope)
		close(w.done)
	}
}
