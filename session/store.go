package session

import (
	"context"
	"fmt"
	"net/url"
	"path"
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
// this process, a redis:// or rediss:// URL (see NewRedisStore), or a
// file:///path or bolt:/path for a file on local disk (see OpenBoltStore).
func OpenStore(ctx context.Context, spec string) (Store, error) {
	switch {
	case spec == "" || spec == "memory":
		return NewMemoryStore(), nil
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		return NewRedisStore(ctx, spec)
	case IsFileStore(spec):
		path, err := FileStorePath(spec)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return OpenBoltStore(path)
	default:
		return nil, fmt.Errorf("open store: unknown store %q: want \"memory\", a redis:// URL or file:///path", redactURL(spec))
	}
}

// IsFileStore reports whether spec names a file store (file: or bolt:).
func IsFileStore(spec string) bool {
	return strings.HasPrefix(spec, "file:") || strings.HasPrefix(spec, "bolt:")
}

// FileStorePath is the file a file store spec names: file:///abs/path
// (file:/abs/path too) or bolt:/abs/path. The path must be absolute.
func FileStorePath(spec string) (string, error) {
	p, ok := strings.CutPrefix(spec, "bolt:")
	if !ok {
		u, err := url.Parse(spec)
		if err != nil || u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") || u.RawQuery != "" {
			return "", fmt.Errorf("store %q: want file:///absolute/path", spec)
		}
		p = u.Path
	}
	if !path.IsAbs(p) || path.Clean(p) != p || strings.HasSuffix(p, "/") {
		return "", fmt.Errorf("store %q: the file must be an absolute, clean path", spec)
	}
	return p, nil
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
