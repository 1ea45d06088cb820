package davfs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// Lock is a WebDAV write lock (RFC 4918 section 6 and 7).
type Lock struct {
	// Token is the lock token, a "urn:uuid:" URI (RFC 4918 section 6.5).
	Token string
	// Root is the locked resource: "/" + the mount's lock scope + the
	// resource's path, slash separated, no trailing slash.
	Root string
	// User is the logged-on user who took the lock; only they may use,
	// refresh or remove it.
	User string
	// Shared is true for a shared lock, false for an exclusive one.
	Shared bool
	// ZeroDepth is true for a lock on Root alone; otherwise the lock
	// covers everything below Root too.
	ZeroDepth bool
	// OwnerXML is the verbatim <owner> content of the LOCK request.
	OwnerXML string
	// Timeout is the granted timeout; Expires is when the lock ends.
	Timeout time.Duration
	Expires time.Time
}

// covers reports whether the lock applies to name. Lock names compare
// without regard to case: the file servers davgate fronts (Windows, Samba
// by default) take "Report.txt" and "report.txt" for one file, so a lock
// on one holds against the other.
func (l *Lock) covers(name string) bool {
	if strings.EqualFold(l.Root, name) {
		return true
	}
	return !l.ZeroDepth && lockBelow(name, l.Root)
}

// lockBelow is isBelow for lock names, without regard to case.
func lockBelow(name, dir string) bool {
	return isBelow(strings.ToLower(name), strings.ToLower(dir))
}

// isBelow reports whether name lies strictly below dir.
func isBelow(name, dir string) bool {
	if dir == "/" {
		return name != "/"
	}
	return strings.HasPrefix(name, dir+"/")
}

// conflicts reports whether two locks may not both be held (RFC 4918
// section 6.1 and 6.2): their scopes overlap and one is exclusive.
func (l *Lock) conflicts(o *Lock) bool {
	if l.Shared && o.Shared {
		return false
	}
	return l.covers(o.Root) || o.covers(l.Root)
}

// Errors of a LockSystem.
var (
	ErrLockConflict = errors.New("conflicting lock")
	ErrNoSuchLock   = errors.New("no such lock")
	// ErrTooManyLocks: the user, or the lock's scope, already holds as
	// many unexpired locks as LockLimits allow.
	ErrTooManyLocks = errors.New("too many locks")
)

// LockLimits bound the unexpired locks one user may hold (across every
// scope) and one scope (a mounted directory) may hold, so that no user
// can fill the lock store. Zero is no bound.
type LockLimits struct {
	PerUser, PerScope int
}

// over reports whether one more lock would pass a bound, given how many
// the user and the scope hold now.
func (ll LockLimits) over(user, scope int) bool {
	return (ll.PerUser > 0 && user >= ll.PerUser) || (ll.PerScope > 0 && scope >= ll.PerScope)
}

// LockSystem stores WebDAV locks. It is an interface so that several
// davgate instances can share locks through Redis; NewMemoryLocks keeps
// them in one process. Expired locks are never returned.
type LockSystem interface {
	// Create stores l unless an unexpired lock conflicts with it
	// (ErrLockConflict) or l would pass lim (ErrTooManyLocks). The checks
	// and the store are one atomic step.
	Create(ctx context.Context, l Lock, lim LockLimits) error
	// Get returns the lock with token, or ErrNoSuchLock.
	Get(ctx context.Context, token string) (Lock, error)
	// Refresh sets the timeout and expiry of the lock with token, or
	// returns ErrNoSuchLock.
	Refresh(ctx context.Context, token string, timeout time.Duration, expires time.Time) (Lock, error)
	// Unlock removes the lock with token, or returns ErrNoSuchLock.
	Unlock(ctx context.Context, token string) error
	// Find returns the locks that cover name and, when below is true, the
	// locks on resources below name as well.
	Find(ctx context.Context, name string, below bool) ([]Lock, error)
}

// MemoryLocks is a LockSystem in one process's memory. A lock check
// looks up the name and its ancestors in an index by name; only a deep
// check (a folder's DELETE, MOVE or COPY) and Create look at every lock.
type MemoryLocks struct {
	now func() time.Time

	mu     sync.Mutex
	locks  map[string]*Lock            // by token
	byName map[string]map[string]*Lock // by nameKey(Root), then token
}

var _ LockSystem = (*MemoryLocks)(nil)

// NewMemoryLocks returns an empty in-memory lock system.
func NewMemoryLocks() *MemoryLocks {
	return &MemoryLocks{now: time.Now, locks: make(map[string]*Lock), byName: make(map[string]map[string]*Lock)}
}

// remove drops a lock; the caller holds m.mu.
func (m *MemoryLocks) remove(l *Lock) {
	delete(m.locks, l.Token)
	k := nameKey(l.Root)
	delete(m.byName[k], l.Token)
	if len(m.byName[k]) == 0 {
		delete(m.byName, k)
	}
}

// expire drops expired locks; the caller holds m.mu.
func (m *MemoryLocks) expire() {
	now := m.now()
	for _, l := range m.locks {
		if !now.Before(l.Expires) {
			m.remove(l)
		}
	}
}

// live returns the unexpired lock with token; the caller holds m.mu.
func (m *MemoryLocks) live(token string) (*Lock, bool) {
	l, ok := m.locks[token]
	if ok && !m.now().Before(l.Expires) {
		m.remove(l)
		return nil, false
	}
	return l, ok
}

func (m *MemoryLocks) Create(ctx context.Context, l Lock, lim LockLimits) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire()
	user, scope, sc := 0, 0, lockScope(l.Root)
	for _, o := range m.locks {
		if l.conflicts(o) {
			return ErrLockConflict
		}
		if o.User == l.User {
			user++
		}
		if lockScope(o.Root) == sc {
			scope++
		}
	}
	if lim.over(user, scope) {
		return ErrTooManyLocks
	}
	k := nameKey(l.Root)
	if m.byName[k] == nil {
		m.byName[k] = make(map[string]*Lock)
	}
	m.locks[l.Token], m.byName[k][l.Token] = &l, &l
	return nil
}

func (m *MemoryLocks) Get(ctx context.Context, token string) (Lock, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.live(token)
	if !ok {
		return Lock{}, ErrNoSuchLock
	}
	return *l, nil
}

func (m *MemoryLocks) Refresh(ctx context.Context, token string, timeout time.Duration, expires time.Time) (Lock, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.live(token)
	if !ok {
		return Lock{}, ErrNoSuchLock
	}
	l.Timeout, l.Expires = timeout, expires
	return *l, nil
}

func (m *MemoryLocks) Unlock(ctx context.Context, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.live(token)
	if !ok {
		return ErrNoSuchLock
	}
	m.remove(l)
	return nil
}

func (m *MemoryLocks) Find(ctx context.Context, name string, below bool) ([]Lock, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []Lock
	add := func(l *Lock) {
		if now.Before(l.Expires) && (l.covers(name) || (below && lockBelow(l.Root, name))) {
			out = append(out, *l)
		}
	}
	if below {
		for _, l := range m.locks {
			add(l)
		}
		return out, nil
	}
	k := nameKey(name)
	for i := 1; i <= len(k); i++ {
		if i == len(k) || k[i] == '/' {
			for _, l := range m.byName[k[:i]] {
				add(l)
			}
		}
	}
	return out, nil
}
