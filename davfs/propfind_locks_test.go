package davfs

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
)

// findCounter counts the lock lookups of a LockSystem.
type findCounter struct {
	LockSystem
	finds atomic.Int64
}

func (c *findCounter) Find(ctx context.Context, name string, below bool) ([]Lock, error) {
	c.finds.Add(1)
	return c.LockSystem.Find(ctx, name, below)
}

// A PROPFIND looks up locks only when its answer may show them
// (lockdiscovery; allprop and propname): with the Redis lock store a
// lookup is a round trip, and Finder's and Explorer's PROPFINDs name the
// properties they want, without lockdiscovery (issue 12, "Speed").
func TestPropfindLocksOnlyWhenAsked(t *testing.T) {
	locks := &findCounter{LockSystem: NewMemoryLocks()}
	e := newTestEnv(t, func(o *HandlerOptions) { o.Locks = locks })
	e.expect(t, 201, "PUT", "/dav/data/f", strings.NewReader("one"))
	for _, c := range []struct {
		name, body string
		finds      int64
	}{
		{"Finder's props", finderProps, 0},
		{"lockdiscovery named", `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:lockdiscovery/></D:prop></D:propfind>`, 1},
		{"allprop", "", 1},
		{"propname", `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := locks.finds.Load()
			e.expect(t, 207, "PROPFIND", "/dav/data/f", strings.NewReader(c.body), "Depth", "0")
			if got := locks.finds.Load() - before; got != c.finds {
				t.Errorf("%d lock lookups, want %d", got, c.finds)
			}
		})
	}
}
