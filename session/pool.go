package session

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudsoda/go-smb2"
)

// Creds are what the pool logs on to a file server with, and how.
type Creds struct {
	User, Domain, Password string
	// Mech chooses NTLM (default, also ""), Kerberos, or Kerberos with
	// NTLM as fallback.
	Mech Mech
	// Kerberos holds the realm, KDCs and target SPN; required when Mech
	// uses Kerberos. The Kerberos principal is User@Kerberos.Realm;
	// Domain is used by NTLM only.
	Kerberos Kerberos
}

// LogValue keeps the password out of logs.
func (c Creds) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", c.User), slog.String("domain", c.Domain), slog.String("mech", string(c.mech())))
}

func (c Creds) mech() Mech { return cmp.Or(c.Mech, MechNTLM) }

// String keeps the password out of %v and %+v.
func (c Creds) String() string { return c.Domain + `\` + c.User }

// GoString keeps the password out of %#v.
func (c Creds) GoString() string { return c.String() }

// PoolOptions configure a Pool. All fields are optional.
type PoolOptions struct {
	// IdleTimeout closes an SMB session unused this long. Default 5m.
	IdleTimeout time.Duration
	// DialTimeout bounds connecting and logging on. Default 15s.
	DialTimeout time.Duration
	// CheckAfter: a connection unused this long is checked with an SMB
	// echo before it is handed out again, so a file server restarted
	// meanwhile costs a transparent redial instead of a failed request.
	// Default 10s; negative: never check before use.
	CheckAfter time.Duration
	// ReplyTimeout closes an SMB connection whose server has owed a reply
	// this long without sending anything (servers answer slow operations
	// with an interim reply at once), failing the requests that wait on it
	// instead of leaving them hanging; the next request redials. Default
	// 60s; negative: wait as long as TCP does.
	ReplyTimeout time.Duration
	// Logger receives connection events; default discards.
	Logger *slog.Logger
	// Events hears of connection events, for metrics; default none.
	Events PoolEvents
	// Refusals, when set, shares refused log-ons between all sessions of
	// a user and all instances using the same store: once a file server
	// refuses a session's stored password, every session of that user
	// created (its password verified) before the refusal fails at that
	// server without dialing, and dials with stored passwords are taken
	// one at a time per user and server. A changed password thus costs
	// the account one failed log-on in all, whatever the number of
	// sessions and instances. The price: a session created with the new
	// password shortly before the refusal was seen is ended too; it costs
	// its device a new log-on, never a failed log-on at the server.
	Refusals RefusalStore
	// RefusalMemory is how long a refusal is remembered; at least the
	// longest session lifetime. Default 90 days.
	RefusalMemory time.Duration
}

// PoolEvents are callbacks on the pool's connection events, for metrics.
// Nil fields are skipped; set ones must be quick and safe for concurrent
// use. They are given no credentials, user names, addresses or session
// ids.
type PoolEvents struct {
	// Dialed: one SMB log-on attempt with mech ended with result "ok",
	// "refused" (the credentials, ErrLogonFailure) or "error".
	Dialed func(mech Mech, result string)
	// ConnOpened and ConnClosed: a TCP connection to a file server was
	// opened, and later closed (once per connection, whoever closes it).
	ConnOpened, ConnClosed func()
	// Hung: a connection was closed because its server owed a reply for
	// ReplyTimeout and sent nothing (see watchedConn).
	Hung func()
	// Redialed: a pooled connection that was lost or dropped after an
	// error is being dialed again.
	Redialed func()
}

// withDefaults fills the nil callbacks with ones that do nothing.
func (e PoolEvents) withDefaults() PoolEvents {
	if e.Dialed == nil {
		e.Dialed = func(Mech, string) {}
	}
	for _, f := range []*func(){&e.ConnOpened, &e.ConnClosed, &e.Hung, &e.Redialed} {
		if *f == nil {
			*f = func() {}
		}
	}
	return e
}

// Pool keeps one SMB session per (davgate session, file server) and its
// mounted shares, reuses them across requests, closes them after an idle
// period or when the davgate session ends (Close), and redials with the
// stored credentials when a connection dies.
//
// When a file server refuses the stored credentials, the pool remembers it
// for that session key and never dials with them again: Mount returns an
// error wrapping ErrLogonFailure at once, so one stale password costs the
// directory one failed log-on, not one per request. The memory outlives
// Close, so requests racing with the revocation do not retry either.
//
// Pool is safe for concurrent use.
type Pool struct {
	idle       time.Duration
	dialTO     time.Duration
	checkAfter time.Duration
	replyTO    time.Duration
	log        *slog.Logger
	// tcp holds the countedConn under each live *smb2.Session (see
	// closedByServer).
	tcp        sync.Map
	events     PoolEvents
	refusals   RefusalStore
	refusalTTL time.Duration

	dials atomic.Int64 // successful and failed dials, for tests

	mu     sync.Mutex
	conns  map[connKey]*conn
	failed map[string]failure // session key -> refused log-on
}

type connKey struct{ key, addr string }

type failure struct {
	err error
	at  time.Time
}

// failureMemory is how long a refused log-on is remembered per session key;
// longer than any sane session would keep retrying.
const failureMemory = 24 * time.Hour

// conn is one SMB session to one server for one davgate session.
type conn struct {
	// mu serialises dialing and mounting, so concurrent Mounts dial once;
	// it guards the fields below.
	mu       sync.Mutex
	sess     *smb2.Session
	shares   map[string]*smb2.Share
	lastUsed time.Time
	dialed   bool // a session was set up before: the next dial is a redial

	// guarded by Pool.mu
	refs   int
	gen    uint64 // bumped on every acquire; an idle timer of an older gen is void
	timer  *time.Timer
	closed bool // removed from the pool
}

// NewPool returns an empty Pool.
func NewPool(o PoolOptions) *Pool {
	p := &Pool{
		idle:       cmp.Or(o.IdleTimeout, 5*time.Minute),
		dialTO:     cmp.Or(o.DialTimeout, 15*time.Second),
		checkAfter: cmp.Or(o.CheckAfter, 10*time.Second),
		replyTO:    cmp.Or(o.ReplyTimeout, 60*time.Second),
		log:        o.Logger,
		events:     o.Events.withDefaults(),
		refusals:   o.Refusals,
		refusalTTL: cmp.Or(o.RefusalMemory, 90*24*time.Hour),
		conns:      make(map[connKey]*conn),
		failed:     make(map[string]failure),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p
}

// Dial connects and logs on to addr with c, for a one-off use such as
// checking a password at log-on; the caller logs the session off. Refused
// credentials return an error wrapping ErrLogonFailure: an NTLM session
// setup refused by the server, or a Kerberos log-on refused by the KDC
// (wrong password, account disabled, locked out or expired, password
// expired). Such a refusal is final, also in MechKerberosThenNTLM mode;
// other Kerberos failures (KDC unreachable, unknown SPN, a ticket the
// server refuses although the KDC accepted the password) are not
// ErrLogonFailure, and in that mode are followed by an NTLM log-on.
func (p *Pool) Dial(ctx context.Context, addr string, c Creds) (*smb2.Session, error) {
	s, _, err := p.dial(ctx, addr, c)
	if err == nil {
		p.tcp.Delete(s) // the caller's session, not the pool's
	}
	return s, err
}

// dial is Dial that also says which mechanism logged on.
func (p *Pool) dial(ctx context.Context, addr string, c Creds) (*smb2.Session, Mech, error) {
	ctx, cancel := context.WithTimeout(ctx, p.dialTO)
	defer cancel()
	switch m := c.mech(); m {
	case MechNTLM:
		s, err := p.dialNTLM(ctx, addr, c)
		return s, MechNTLM, err
	case MechKerberos, MechKerberosThenNTLM:
		p.dials.Add(1)
		s, err := p.dialKerberos(ctx, addr, c)
		p.dialed(MechKerberos, err)
		if err == nil {
			return s, MechKerberos, nil
		}
		if m == MechKerberos || !errors.Is(err, errKerberos) || ctx.Err() != nil {
			return nil, m, err
		}
		p.log.LogAttrs(ctx, slog.LevelWarn, "smb kerberos log-on failed; trying NTLM",
			slog.String("addr", addr), slog.String("user", c.User), slog.Any("err", err))
		s, err = p.dialNTLM(ctx, addr, c)
		return s, MechNTLM, err
	default:
		return nil, m, fmt.Errorf("smb log-on to %s: unknown mechanism %q", addr, m)
	}
}

// maxCreditBalance is how many SMB2 credits davgate asks a server for.
// go-smb2's default of 128 is too few for concurrent requests on one
// session: its QUERY_INFO and QUERY_DIRECTORY requests need 16 credits each
// and go out with too low a CreditCharge when fewer are left, which the
// server refuses with INVALID_PARAMETER (seen with 16 parallel GETs). Samba
// grants up to 8192 and Windows Server up to 512 by default; asking for
// more than a server grants is harmless.
const maxCreditBalance = 1024

// newDialer returns the dialer every SMB log-on of the pool uses.
func newDialer(i smb2.Initiator) *smb2.Dialer {
	return &smb2.Dialer{Initiator: i, MaxCreditBalance: maxCreditBalance}
}

// dialSMB connects to addr over a watched TCP connection (watchConn) and
// logs on with i.
func (p *Pool) dialSMB(ctx context.Context, addr string, i smb2.Initiator) (*smb2.Session, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("establishing TCP connection: %w", err)
	}
	p.events.ConnOpened()
	tc := newCountedConn(nc, p.events.ConnClosed)
	s, err := newDialer(i).DialConn(ctx, watchConn(tc, p.replyTO, p.hangLogger(addr)), addr)
	if err != nil {
		tc.Close()
		return nil, err
	}
	p.tcp.Store(s, tc)
	return s, nil
}

// dialed reports one log-on attempt's result to the events.
func (p *Pool) dialed(m Mech, err error) {
	result := "ok"
	switch {
	case errors.Is(err, ErrLogonFailure):
		result = "refused"
	case err != nil:
		result = "error"
	}
	p.events.Dialed(m, result)
}

// countedConn is the TCP connection under one SMB session, as go-smb2
// (through the watchdog) uses it. It tells onClose when it is first
// closed, so that a gauge of open connections stays right however often
// go-smb2, the watchdog and the pool close it, and it spares go-smb2's
// framing half its system calls: go-smb2 writes each frame's 4-byte length
// and then its body, and reads them the same way, so that a small request
// costs two writes (two TCP segments, with Nagle off) and a reply two
// reads. countedConn holds a length back and sends it with the body in
// one writev, and reads through a small buffer, which takes a small reply
// (and often the next) in one read and hands a large read straight to
// the socket. A 4 KiB GET (CREATE, READ, CLOSE) goes from 12 system calls
// on the SMB side to about 6.
type countedConn struct {
	net.Conn
	once    sync.Once
	onClose func()
	// broken is set once a Read has failed: the server closed the
	// connection (it restarted, or dropped the session), or it was closed
	// here. go-smb2 reads all the time, so it is set as soon as the end
	// arrives, before any request would fail on it.
	broken atomic.Bool

	r *bufio.Reader // used by go-smb2's one receiving goroutine
	// held is a frame length written and not yet sent (go-smb2 has one
	// sending goroutine; a frame's length and body come one after the
	// other from it)
	held []byte
	hdr  [4]byte
}

// connReadBuffer holds a few small SMB replies: a CREATE or CLOSE reply
// is a few hundred bytes, a 4 KiB READ's just over 4 KiB.
const connReadBuffer = 16 << 10

func newCountedConn(nc net.Conn, onClose func()) *countedConn {
	c := &countedConn{Conn: nc, onClose: onClose}
	c.r = bufio.NewReaderSize(socketReader{c}, connReadBuffer)
	return c
}

func (c *countedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// socketReader reads the socket under a countedConn, noting its end.
type socketReader struct{ c *countedConn }

func (s socketReader) Read(p []byte) (int, error) {
	n, err := s.c.Conn.Read(p)
	if err != nil {
		s.c.broken.Store(true)
	}
	return n, err
}

// Write sends p, except that a frame length (4 bytes, the first zero: a
// NetBIOS session message) is held and sent with the next write, in one
// system call (net.Buffers uses writev on a TCP connection).
func (c *countedConn) Write(p []byte) (int, error) {
	if c.held == nil && len(p) == 4 && p[0] == 0 {
		c.held = c.hdr[:copy(c.hdr[:], p)]
		return len(p), nil
	}
	if c.held == nil {
		return c.Conn.Write(p)
	}
	bufs := net.Buffers{c.held, p}
	c.held = nil
	n, err := bufs.WriteTo(c.Conn)
	return max(0, int(n)-4), err
}

func (c *countedConn) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}

func (p *Pool) dialNTLM(ctx context.Context, addr string, c Creds) (*smb2.Session, error) {
	p.dials.Add(1)
	s, err := p.dialSMB(ctx, addr, &smb2.NTLMInitiator{User: c.User, Password: c.Password, Domain: c.Domain})
	if err != nil {
		err = dialError(addr, err)
	}
	p.dialed(MechNTLM, err)
	return s, err
}

// Mount returns share u.Share on server u.Addr() for session s, bound to
// ctx, dialing with creds() only when the session has no live connection
// to that server. The caller must call release exactly once when done,
// with the error the work ended with (nil if none): file-system errors
// keep the connection, other errors get it checked and dropped if dead, so
// that the next Mount redials.
//
// Errors: one wrapping ErrLogonFailure when the server refused the
// credentials, now or earlier for this session key (never retried); one
// wrapping fs.ErrNotExist when the server has no such share; others for
// connection trouble. u.Path is not used: the caller resolves it in the share.
func (p *Pool) Mount(ctx context.Context, s *Session, creds func() (Creds, error), u ShareURL) (share *smb2.Share, release func(err error), err error) {
	if u.Share == "" {
		return nil, nil, fmt.Errorf("mount %s: no share name", u)
	}
	ck := connKey{key: s.Key, addr: u.Addr()}
	c, err := p.acquire(ck)
	if err != nil {
		return nil, nil, err
	}
	sh, err := p.mount(ctx, ck, c, s, creds, u.Share)
	if err != nil {
		p.unref(ck, c)
		return nil, nil, err
	}
	var once sync.Once
	release = func(err error) {
		once.Do(func() { p.release(ck, c, err) })
	}
	return sh.WithContext(ctx), release, nil
}

// acquire returns the connection entry for ck with a reference taken.
func (p *Pool) acquire(ck connKey) (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.failed[ck.key]; ok {
		return nil, f.err
	}
	c := p.conns[ck]
	if c == nil {
		c = &conn{}
		p.conns[ck] = c
	}
	c.refs++
	c.gen++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	return c, nil
}

// mount finds or makes the SMB session and tree connection, holding c.mu.
func (p *Pool) mount(ctx context.Context, ck connKey, c *conn, s *Session, creds func() (Creds, error), name string) (*smb2.Share, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		p.mu.Lock()
		f, failed := p.failed[ck.key]
		closed := c.closed
		p.mu.Unlock()
		switch {
		case failed:
			// Another Mount was refused while this one waited for c.mu.
			return nil, f.err
		case closed:
			return nil, fmt.Errorf("mount %s: %w", name, ErrRevoked)
		}

		fresh := false
		if c.sess != nil && p.closedByServer(c.sess) {
			p.log.LogAttrs(ctx, slog.LevelInfo, "smb connection closed by the server, redialing", slog.String("addr", ck.addr), slog.String("session", s.ID))
			p.dropLocked(c)
		}
		if c.sess != nil && p.checkAfter >= 0 && time.Since(c.lastUsed) >= p.checkAfter {
			if err := p.echo(c.sess); err != nil {
				p.log.LogAttrs(ctx, slog.LevelInfo, "smb connection lost, redialing", slog.String("addr", ck.addr), slog.String("session", s.ID), slog.Any("err", err))
				p.dropLocked(c)
			}
		}
		if c.sess == nil {
			if c.dialed {
				p.events.Redialed()
			}
			sess, err := p.dialStored(ctx, ck, s, creds)
			if err != nil {
				return nil, err
			}
			c.sess, c.shares, fresh, c.dialed = sess, make(map[string]*smb2.Share), true, true
		}
		sh := c.shares[name]
		if sh == nil {
			var err error
			sh, err = p.treeConnect(ctx, c.sess, name)
			if err != nil {
				if isBadShare(err) {
					return nil, fmt.Errorf("mount %s: %w: %w", name, fs.ErrNotExist, err)
				}
				if judge(err) == connFine {
					return nil, fmt.Errorf("mount %s: %w", name, err)
				}
				p.dropLocked(c)
				if fresh || attempt > 0 || ctx.Err() != nil {
					return nil, fmt.Errorf("mount %s: %w", name, err)
				}
				continue // the cached session was dead: redial once
			}
			c.shares[name] = sh
		}
		c.lastUsed = time.Now()
		return sh, nil
	}
}

// dialStored logs on to ck.addr with session s's stored credentials. With
// a RefusalStore it holds the (user, server) lease while it checks for a
// refusal and dials, so that of all sessions and instances only one dials
// with a stale password, and the others see its mark.
func (p *Pool) dialStored(ctx context.Context, ck connKey, s *Session, creds func() (Creds, error)) (*smb2.Session, error) {
	if p.refusals != nil {
		release, err := p.refusals.Lease(ctx, s.User, ck.addr, p.dialTO+5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("smb log-on to %s: %w", ck.addr, err)
		}
		defer release()
		at, err := p.refusals.RefusedSince(ctx, s.User, ck.addr)
		if err != nil {
			return nil, fmt.Errorf("smb log-on to %s: %w", ck.addr, err)
		}
		if !at.IsZero() && s.Created.Before(at) {
			err := fmt.Errorf("smb log-on to %s: %w: the server refused this user's password at %s, after this session's log-on; not dialing",
				ck.addr, ErrLogonFailure, at.UTC().Format(time.RFC3339))
			p.rememberFailure(ck.key, err)
			p.log.LogAttrs(ctx, slog.LevelWarn, "smb server refused the user's password since this session logged on; not dialing",
				slog.String("addr", ck.addr), slog.String("user", s.User), slog.String("session", s.ID))
			return nil, err
		}
	}
	cr, err := creds()
	if err != nil {
		return nil, fmt.Errorf("smb credentials: %w", err)
	}
	sess, mech, err := p.dial(ctx, ck.addr, cr)
	cr.Password = ""
	if errors.Is(err, ErrLogonFailure) {
		p.rememberFailure(ck.key, err)
		p.log.LogAttrs(ctx, slog.LevelWarn, "smb server refused stored credentials; not retrying",
			slog.String("addr", ck.addr), slog.String("user", cr.User), slog.String("session", s.ID), slog.Any("err", err))
		if p.refusals != nil {
			if merr := p.refusals.MarkRefused(context.WithoutCancel(ctx), s.User, ck.addr, time.Now(), p.refusalTTL); merr != nil {
				p.log.LogAttrs(ctx, slog.LevelError, "remember refused password", slog.String("addr", ck.addr), slog.Any("err", merr))
			}
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	p.log.LogAttrs(ctx, slog.LevelDebug, "smb session opened", slog.String("addr", ck.addr), slog.String("user", cr.User),
		slog.String("mech", string(mech)), slog.String("session", s.ID))
	return sess, nil
}

func (p *Pool) rememberFailure(key string, err error) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, f := range p.failed {
		if now.Sub(f.at) > failureMemory {
			delete(p.failed, k)
		}
	}
	p.failed[key] = failure{err: err, at: now}
}

// echo checks a session with a bounded SMB echo.
func (p *Pool) echo(s *smb2.Session) error {
	ctx, cancel := context.WithTimeout(context.Background(), min(p.dialTO, 5*time.Second))
	defer cancel()
	return s.WithContext(ctx).Echo()
}

// treeConnect mounts a share on a shared SMB session. It does not use the
// request's cancellation: go-smb2 breaks the whole connection when a
// request is cancelled while its packet is being written (a client that
// hangs up at that moment would cost every request on the session), so
// the tree connect is bounded by the dial timeout instead.
func (p *Pool) treeConnect(ctx context.Context, s *smb2.Session, name string) (*smb2.Share, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.dialTO)
	defer cancel()
	return s.WithContext(ctx).Mount(name)
}

// dropLocked logs off and forgets c's SMB session; c.mu is held.
func (p *Pool) dropLocked(c *conn) {
	if c.sess == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.sess.WithContext(ctx).Logoff() // also closes the TCP connection
	p.tcp.Delete(c.sess)
	c.sess, c.shares = nil, nil
}

// release ends one use of c: it checks the connection after a doubtful
// error and starts the idle timer when c is no longer in use.
func (p *Pool) release(ck connKey, c *conn, err error) {
	if v := judge(err); v != connFine {
		c.mu.Lock()
		if c.sess != nil {
			if v == connDead {
				p.dropLocked(c)
			} else if e := p.echo(c.sess); e != nil {
				p.log.Info("smb connection failed its health check; dropped", slog.String("addr", ck.addr), slog.Any("err", e))
				p.dropLocked(c)
			}
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.lastUsed = time.Now()
	c.mu.Unlock()
	p.unref(ck, c)
}

// unref drops a reference and arms the idle timer on the last one.
func (p *Pool) unref(ck connKey, c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.refs--
	if c.refs > 0 || c.closed {
		return
	}
	gen := c.gen
	c.timer = time.AfterFunc(p.idle, func() { p.closeIdle(ck, c, gen) })
}

func (p *Pool) closeIdle(ck connKey, c *conn, gen uint64) {
	p.mu.Lock()
	if c.closed || c.refs > 0 || c.gen != gen || p.conns[ck] != c {
		p.mu.Unlock()
		return
	}
	c.closed = true
	delete(p.conns, ck)
	p.mu.Unlock()
	p.log.Debug("smb session idle; closed", slog.String("addr", ck.addr))
	c.mu.Lock()
	p.dropLocked(c)
	c.mu.Unlock()
}

// Close logs off every SMB session of a davgate session key (call it when
// the session ends; Manager.OnEnd(pool.Close)). Uses in flight fail.
func (p *Pool) Close(key string) {
	p.closeMatching(func(ck connKey) bool { return ck.key == key })
}

// CloseAll logs off every SMB session, e.g. at shutdown. The pool stays
// usable.
func (p *Pool) CloseAll() {
	p.closeMatching(func(connKey) bool { return true })
}

func (p *Pool) closeMatching(match func(connKey) bool) {
	var cs []*conn
	p.mu.Lock()
	for ck, c := range p.conns {
		if match(ck) {
			c.closed = true
			if c.timer != nil {
				c.timer.Stop()
				c.timer = nil
			}
			delete(p.conns, ck)
			cs = append(cs, c)
		}
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		p.dropLocked(c)
		c.mu.Unlock()
	}
}

// closedByServer reports whether the TCP connection under sess has ended
// (see countedConn.broken): then the session is dropped and redialed at
// once, rather than answering from it (or from caches filled through it)
// until a request fails.
func (p *Pool) closedByServer(sess *smb2.Session) bool {
	tc, ok := p.tcp.Load(sess)
	return ok && tc.(*countedConn).broken.Load()
}
