package session

import (
	"context"
	"fmt"
	"strings"
)

// Store keeps session records under their key H(sid). Implementations
// expire a record at its Deadline (the earlier of its absolute expiry and
// LastUsed+Idle) and keep a per-user index for List.
type Store interface {
	// Put stores a new record.
	Put(ctx context.Context, r *Record) error
	// Get returns the record stored under key, or ErrNotFound when there is
	// none (never stored, deleted or expired).
	Get(ctx context.Context, key string) (*Record, error)
	// Touch replaces the record under r.Key with r and moves its expiry to
	// r.Deadline(), but only if the record still exists: a session deleted
	// meanwhile stays deleted (ErrNotFound).
	Touch(ctx context.Context, r *Record) error
	// List returns the user's live records, in no particular order.
	List(ctx context.Context, user string) ([]*Record, error)
	// Delete removes the user's records with the given keys; missing keys
	// are ignored. A store shared by several instances announces the ended
	// keys to their Watchers.
	Delete(ctx context.Context, user string, keys ...string) error
}

// Watcher is implemented by stores shared between instances. Watch calls
// ended with the key of every session deleted through any instance (its own
// included) until ctx is done, then returns ctx's error; other errors mean
// it could not watch at all.
type Watcher interface {
	Watch(ctx context.Context, ended func(key string)) error
}

// OpenStore opens the store named by spec: "memory" (or "") for a store in
// this process, or a redis:// or rediss:// URL (see NewRedisStore).
func OpenStore(ctx context.Context, spec string) (Store, error) {
	switch {
	case spec == "" || spec == "memory":
		return NewMemoryStore(), nil
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		return NewRedisStore(ctx, spec)
	default:
		return nil, fmt.Errorf("open store: unknown store %q: want \"memory\" or a redis:// URL", redactURL(spec))
	}
}

// redactURL drops anything before an @ (a password) from a store spec
// quoted in an error.
func redactURL(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + "…" + s[i:]
		}
		return "…" + s[i:]
	}
	return s
}
