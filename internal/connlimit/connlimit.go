// Package connlimit bounds the connections that have not yet carried an
// authenticated request, so that idle or slow connections from anyone
// cannot use up the server's file descriptors and memory.
//
// A connection counts from accept until MarkAuthenticated is called with
// the context of a request on it (authn does so when a token is
// accepted); from then on it does not count, for as long as it is kept
// alive. Over the limit, a new connection is closed at once.
package connlimit

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
)

// Listener wraps a net.Listener; use its ConnContext in http.Server.
type Listener struct {
	net.Listener
	max int64
	log *slog.Logger

	unauth atomic.Int64 // connections open and not authenticated

	mu       sync.Mutex
	refusing bool  // a burst of refusals is going on
	refused  int64 // connections closed in this burst
}

// New returns ln bounded to max unauthenticated connections (max > 0).
func New(ln net.Listener, max int, log *slog.Logger) *Listener {
	return &Listener{Listener: ln, max: int64(max), log: log}
}

// Accept returns the next connection under the limit; those over it are
// closed without a byte read or written.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.unauth.Add(1) > l.max {
			l.unauth.Add(-1)
			c.Close()
			l.noteRefused()
			continue
		}
		l.noteAccepted()
		return &conn{Conn: c, l: l}, nil
	}
}

// noteRefused logs the first refusal of a burst, at warn.
func (l *Listener) noteRefused() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refused++
	if !l.refusing {
		l.refusing = true
		l.log.Warn("unauthenticated connection limit reached: closing new connections", "max_unauthenticated_conns", l.max)
	}
}

// noteAccepted ends a burst of refusals, logging how many there were.
func (l *Listener) noteAccepted() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refusing {
		l.log.Info("unauthenticated connection limit: accepting again", "closed", l.refused)
		l.refusing, l.refused = false, 0
	}
}

// Unauthenticated reports how many connections count against the limit.
func (l *Listener) Unauthenticated() int { return int(l.unauth.Load()) }

// ConnContext is for http.Server.ConnContext: it lets MarkAuthenticated
// find the connection from a request's context.
func (l *Listener) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if cc, ok := c.(*conn); ok && cc.l == l {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

type connKey struct{}

// MarkAuthenticated takes the connection that carries the request of ctx
// off the count. It does nothing for a context without one.
func MarkAuthenticated(ctx context.Context) {
	if c, ok := ctx.Value(connKey{}).(*conn); ok {
		c.release()
	}
}

type conn struct {
	net.Conn
	l    *Listener
	done atomic.Bool // off the count: authenticated or closed
}

func (c *conn) release() {
	if c.done.CompareAndSwap(false, true) {
		c.l.unauth.Add(-1)
	}
}

func (c *conn) Close() error {
	c.release()
	return c.Conn.Close()
}
