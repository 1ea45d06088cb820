package session

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/davgate/davgate/internal/audit"
)

// Kind is the kind of a session, which sets its limits.
type Kind string

const (
	// KindBrowser is a browser session (cookie): short idle and absolute limits.
	KindBrowser Kind = "browser"
	// KindDevice is a device token (an app password): labelled, long-lived,
	// listed and revoked by its user.
	KindDevice Kind = "device"
)

// Limits are the idle and absolute limits of each session kind. A zero
// field takes its value from DefaultLimits.
type Limits struct {
	BrowserIdle, BrowserLifetime time.Duration
	DeviceIdle, DeviceLifetime   time.Duration
}

// DefaultLimits are the limits used for zero fields of Limits.
var DefaultLimits = Limits{
	BrowserIdle:     30 * time.Minute,
	BrowserLifetime: 12 * time.Hour,
	DeviceIdle:      30 * 24 * time.Hour,
	DeviceLifetime:  90 * 24 * time.Hour,
}

// Longest is the longest session lifetime of l (zero fields: DefaultLimits).
func (l Limits) Longest() time.Duration {
	_, b, _ := l.of(KindBrowser)
	_, d, _ := l.of(KindDevice)
	return max(b, d)
}

func (l Limits) of(k Kind) (idle, lifetime time.Duration, ok bool) {
	switch k {
	case KindBrowser:
		return cmp.Or(l.BrowserIdle, DefaultLimits.BrowserIdle), cmp.Or(l.BrowserLifetime, DefaultLimits.BrowserLifetime), true
	case KindDevice:
		return cmp.Or(l.DeviceIdle, DefaultLimits.DeviceIdle), cmp.Or(l.DeviceLifetime, DefaultLimits.DeviceLifetime), true
	}
	return 0, 0, false
}

// Info describes a session to its user. ID is the public id, unrelated to
// the secret session id.
type Info struct {
	ID       string
	Kind     Kind
	Label    string
	Created  time.Time
	LastUsed time.Time
	LastAddr string // the client address of the last use, if known
	Expires  time.Time
}

// Session is an open session. Key (H(sid)) identifies it inside davgate
// (pool, OnEnd); it is not secret by itself but is not shown to users.
type Session struct {
	Key string
	Info
	User  string
	Attrs map[string]string

	sid   []byte
	k     []byte
	rec   *Record // as read from the store; its seal was checked by Open
	audit *audit.Logger
}

// Password decrypts the session's stored password with its key K into a
// new slice. The caller uses it for one log-on and zeroes it (clear).
// It is audited without a server; use PasswordFor to name one.
func (s *Session) Password() ([]byte, error) {
	return s.PasswordFor(context.Background(), "")
}

// PasswordFor is Password for a log-on to server (host:port; "" for
// another use, such as sealing it into a new session), which the audit
// trail records with the session's public id.
func (s *Session) PasswordFor(ctx context.Context, server string) ([]byte, error) {
	p, err := openRecord(s.k, s.sid, s.rec)
	if err != nil {
		return nil, fmt.Errorf("session password: %w", err)
	}
	use := "smb_logon"
	if server == "" {
		use = "new_session"
	}
	s.audit.Log(ctx, audit.PasswordUnsealed, slog.String("user", s.User), slog.String("session", s.ID),
		slog.String("kind", string(s.Kind)), slog.String("server", server), slog.String("use", use))
	return p, nil
}

// LogValue keeps secrets out of logs that print a Session. (LogValue,
// String and GoString have value receivers so that a Session value is
// covered as well as a pointer.)
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("user", s.User), slog.String("kind", string(s.Kind)))
}

// String keeps the session key K out of fmt's %v and %+v.
func (s Session) String() string {
	return fmt.Sprintf("session %s of %s (%s)", s.ID, s.User, s.Kind)
}

// GoString keeps the session key K out of fmt's %#v.
func (s Session) GoString() string { return s.String() }

// ManagerOptions configure a Manager. Keyring and Store are required.
type ManagerOptions struct {
	Keyring *Keyring
	Store   Store
	Limits  Limits           // zero fields: DefaultLimits
	Now     func() time.Time // optional, time.Now
	Logger  *slog.Logger     // optional, discards
	Audit   *audit.Logger    // optional: mints, revocations, unseals, keyring reloads
	// TouchEvery is the least time between two updates of a session's
	// last use in the store (and so of its idle deadline). Default 1m.
	TouchEvery time.Duration
}

// Manager creates, opens, lists and ends sessions. It is safe for
// concurrent use.
type Manager struct {
	keyring    atomic.Pointer[Keyring]
	store      Store
	limits     Limits
	now        func() time.Time
	log        *slog.Logger
	audit      *audit.Logger
	touchEvery time.Duration

	// verified are records already opened and checked (see Open).
	verified verifiedRecords

	mu    sync.Mutex
	onEnd []func(key string)
}

// NewManager returns a Manager. It panics if a required option is missing.
func NewManager(o ManagerOptions) *Manager {
	if o.Keyring == nil || o.Store == nil {
		panic("session: NewManager needs a Keyring and a Store")
	}
	m := &Manager{
		store:      o.Store,
		limits:     o.Limits,
		now:        o.Now,
		log:        o.Logger,
		audit:      o.Audit,
		touchEvery: cmp.Or(o.TouchEvery, time.Minute),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.keyring.Store(o.Keyring)
	return m
}

// SetKeyring replaces the keyring (after the file changed, on SIGHUP).
// Requests in flight finish with the keyring they started with.
func (m *Manager) SetKeyring(k *Keyring) {
	if k != nil {
		m.keyring.Store(k)
		m.audit.Log(context.Background(), audit.KeyringReloaded,
			slog.Any("key_ids", k.IDs()), slog.Any("newest", k.NewestID()))
	}
}

// Create starts a session for a user whose password the caller has just
// verified, and returns its token (to be shown to the client once) and its
// Info. The password is stored only sealed under the token's session key;
// Create keeps no reference to it, so the caller may zero it afterwards.
func (m *Manager) Create(ctx context.Context, user string, password []byte, kind Kind, label string, attrs map[string]string) (token string, info Info, err error) {
	token, r, err := m.seal(ctx, user, password, kind, label, attrs)
	if err != nil {
		return "", Info{}, fmt.Errorf("create session: %w", err)
	}
	if err := m.put(ctx, r); err != nil {
		return "", Info{}, fmt.Errorf("create session: %w", err)
	}
	return token, r.info(), nil
}

// seal makes a new session's token and record, not yet stored: until the
// record is in the store the token opens nothing.
func (m *Manager) seal(ctx context.Context, user string, password []byte, kind Kind, label string, attrs map[string]string) (string, *Record, error) {
	idle, lifetime, ok := m.limits.of(kind)
	if !ok {
		return "", nil, fmt.Errorf("unknown kind %q", kind)
	}
	if user == "" {
		return "", nil, errors.New("empty user name")
	}
	t := &tokenData{}
	if _, err := rand.Read(t.sid[:]); err != nil {
		return "", nil, err
	}
	if _, err := rand.Read(t.key[:]); err != nil {
		return "", nil, err
	}
	defer clear(t.key[:])
	id, err := newPublicID()
	if err != nil {
		return "", nil, err
	}
	now := m.now()
	t.expiry = now.Add(lifetime).Truncate(time.Second)
	r := &Record{
		Key:      storeKey(t.sid[:]),
		ID:       id,
		User:     user,
		Kind:     kind,
		Label:    label,
		Attrs:    attrs,
		Created:  now,
		LastUsed: now,
		LastAddr: clientAddr(ctx),
		Expires:  t.expiry,
		Idle:     idle,
	}
	if r.Sealed, err = sealRecord(t.key[:], t.sid[:], r, password); err != nil {
		return "", nil, err
	}
	token, err := sealToken(m.keyring.Load(), t)
	if err != nil {
		return "", nil, err
	}
	return token, r, nil
}

// put stores a sealed session's record, which mints it: from now on its
// token works. The log and the audit trail say so here, at the moment.
func (m *Manager) put(ctx context.Context, r *Record) error {
	if err := m.store.Put(ctx, r); err != nil {
		return err
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "session created", slog.String("user", r.User), slog.String("session", r.ID), slog.String("kind", string(r.Kind)))
	m.audit.Log(ctx, audit.TokenMinted, slog.String("user", r.User), slog.String("session", r.ID),
		slog.String("kind", string(r.Kind)), slog.String("label", r.Label))
	return nil
}

// Open returns the session of a token. Errors: ErrInvalidToken (malformed,
// altered, or its master key is no longer in the keyring), ErrRevoked (the
// session was revoked, or its absolute or idle limit has passed — an
// expired token is ErrRevoked, not ErrInvalidToken); any other error is
// store trouble. Open records the use, at most once per TouchEvery.
func (m *Manager) Open(ctx context.Context, token string) (*Session, error) {
	t, err := openToken(m.keyring.Load(), token)
	if err != nil {
		return nil, err
	}
	now := m.now()
	if !now.Before(t.expiry) {
		return nil, ErrRevoked
	}
	key := storeKey(t.sid[:])
	r, err := m.store.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrRevoked
	}
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	if !m.verified.seen(t.key[:], r) {
		pw, err := openRecord(t.key[:], t.sid[:], r)
		if err != nil {
			m.log.LogAttrs(ctx, slog.LevelWarn, "session record altered in the store", slog.String("session", r.ID), slog.Any("err", err))
			return nil, ErrRevoked
		}
		clear(pw)
		m.verified.add(t.key[:], r)
	}
	sealed := r.clone() // the fields as sealed, before Touch moves them
	idle, _, ok := m.limits.of(r.Kind)
	if !ok || !now.Before(r.Expires) || !now.Before(r.LastUsed.Add(idle)) {
		_ = m.end(ctx, r.User, key) // the store's TTL removes it anyway
		return nil, ErrRevoked
	}
	addr := clientAddr(ctx)
	if now.Sub(r.LastUsed) >= m.touchEvery || (addr != "" && addr != r.LastAddr) {
		r.LastUsed = now
		if addr != "" {
			r.LastAddr = addr
		}
		r.Idle = idle
		switch err := m.store.Touch(ctx, r); {
		case errors.Is(err, ErrNotFound):
			return nil, ErrRevoked
		case err != nil:
			// The session is valid; a later request retries the touch.
			m.log.LogAttrs(ctx, slog.LevelWarn, "session touch failed", slog.String("session", r.ID), slog.Any("err", err))
		}
	}
	return &Session{
		Key:   key,
		Info:  r.info(),
		User:  r.User,
		Attrs: r.Attrs,
		sid:   append([]byte(nil), t.sid[:]...),
		k:     append([]byte(nil), t.key[:]...),
		rec:   sealed,
		audit: m.audit,
	}, nil
}

// List returns the user's live sessions, oldest first.
func (m *Manager) List(ctx context.Context, user string) ([]Info, error) {
	recs, err := m.store.List(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	now := m.now()
	out := make([]Info, 0, len(recs))
	for _, r := range recs {
		if now.Before(r.Deadline()) {
			out = append(out, r.info())
		}
	}
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Revoke ends the user's session with the given public id. It returns
// ErrNotFound if the user has no such session.
func (m *Manager) Revoke(ctx context.Context, user, publicID string) error {
	recs, err := m.store.List(ctx, user)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	for _, r := range recs {
		if r.ID == publicID {
			if err := m.end(ctx, user, r.Key); err != nil {
				return fmt.Errorf("revoke session: %w", err)
			}
			m.log.LogAttrs(ctx, slog.LevelInfo, "session revoked", slog.String("user", user), slog.String("session", r.ID))
			m.auditRevoked(ctx, r.User, r.ID, r.Kind, r.Label, "revoked")
			return nil
		}
	}
	return ErrNotFound
}

// RevokeSession ends s, e.g. on logout or when a file server refused its
// stored credentials.
func (m *Manager) RevokeSession(ctx context.Context, s *Session) error {
	if err := m.end(ctx, s.User, s.Key); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "session revoked", slog.String("user", s.User), slog.String("session", s.ID))
	m.auditRevoked(ctx, s.User, s.ID, s.Kind, s.Label, "revoked")
	return nil
}

// EndStale ends s because the file server at server (host:port) refused
// its stored password: the session is revoked, never retried, and the
// audit trail says why.
func (m *Manager) EndStale(ctx context.Context, s *Session, server string) error {
	if err := m.end(ctx, s.User, s.Key); err != nil {
		return fmt.Errorf("end session with stale password: %w", err)
	}
	m.audit.Log(ctx, audit.StalePasswordEnd, slog.String("user", s.User), slog.String("session", s.ID),
		slog.String("kind", string(s.Kind)), slog.String("label", s.Label), slog.String("server", server))
	m.auditRevoked(ctx, s.User, s.ID, s.Kind, s.Label, "stale_password")
	return nil
}

// auditRevoked records a session ended on purpose, with why.
func (m *Manager) auditRevoked(ctx context.Context, user, id string, kind Kind, label, reason string) {
	m.audit.Log(ctx, audit.TokenRevoked, slog.String("user", user), slog.String("session", id),
		slog.String("kind", string(kind)), slog.String("label", label), slog.String("reason", reason))
}

// RevokeAll ends all of the user's sessions.
func (m *Manager) RevokeAll(ctx context.Context, user string) error {
	recs, err := m.store.List(ctx, user)
	if err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = r.Key
	}
	if err := m.end(ctx, user, keys...); err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "sessions revoked", slog.String("user", user), slog.Int("count", len(keys)))
	for _, r := range recs {
		m.auditRevoked(ctx, r.User, r.ID, r.Kind, r.Label, "revoked_all")
	}
	return nil
}

// end deletes the records and runs the OnEnd callbacks here; a shared
// store's Watchers run them on the other instances.
func (m *Manager) end(ctx context.Context, user string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	err := m.store.Delete(ctx, user, keys...)
	for _, k := range keys {
		m.ended(k)
	}
	return err
}

// OnEnd registers f to be called with Session.Key whenever a session ends:
// revoked through this Manager, found expired by Open, or (with Watch
// running on a shared store) revoked through another instance. f may be
// called more than once for a key and must be quick and idempotent, e.g.
// Pool.Close.
func (m *Manager) OnEnd(f func(key string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onEnd = append(m.onEnd, f)
}

func (m *Manager) ended(key string) {
	m.verified.forget(key)
	m.mu.Lock()
	fs := slices.Clone(m.onEnd)
	m.mu.Unlock()
	for _, f := range fs {
		f(key)
	}
}

// Watch runs the OnEnd callbacks for sessions ended on other instances
// sharing the store, until ctx is done; run it in its own goroutine. With a
// store that is not a Watcher (MemoryStore) there is nothing to watch and
// it returns nil at once. Otherwise it keeps retrying while the store is
// unreachable (logging each failure) and returns ctx's error.
//
// Watch only speeds up closing other instances' SMB connections: Open
// checks the store on every call, so a revoked token is refused everywhere
// even if a notification is lost.
func (m *Manager) Watch(ctx context.Context) error {
	w, ok := m.store.(Watcher)
	if !ok {
		return nil
	}
	backoff := 500 * time.Millisecond
	for {
		err := w.Watch(ctx, m.ended)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.log.LogAttrs(ctx, slog.LevelWarn, "cannot watch for ended sessions; retrying",
			slog.Any("err", err), slog.Duration("retry_in", backoff))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
