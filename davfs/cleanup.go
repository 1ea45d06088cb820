package davfs

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"time"
)

// leftovers remembers temporary files that could not be removed when an
// upload failed (typically because the file server went away) so that the
// next request on the same mount removes them. It lives in memory: after
// a restart, staleTempAge catches what is left.
type leftovers struct {
	mu    sync.Mutex
	paths map[string]map[string]bool // mount scope -> SMB paths
}

func (l *leftovers) add(scope, p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paths == nil {
		l.paths = map[string]map[string]bool{}
	}
	if l.paths[scope] == nil {
		l.paths[scope] = map[string]bool{}
	}
	l.paths[scope][p] = true
}

func (l *leftovers) take(scope string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for p := range l.paths[scope] {
		out = append(out, p)
	}
	delete(l.paths, scope)
	return out
}

// sweep removes the mount's remembered temporary files; those that still
// cannot be removed are remembered again.
func (s *shareRequest) sweep(ctx context.Context) {
	for _, p := range s.h.leftovers.take(s.scope) {
		err := s.fsys.share.Remove(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.h.leftovers.add(s.scope, p)
			continue
		}
		s.h.log.InfoContext(ctx, "removed the temporary file of a failed upload", "path", p)
	}
}

// removeTemp removes a failed upload's temporary file, or remembers it for
// the next request when the server cannot be reached.
func (s *shareRequest) removeTemp(ctx context.Context, p string) {
	err := s.fsys.share.Remove(p)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return
	}
	s.h.leftovers.add(s.scope, p)
	s.h.log.WarnContext(ctx, "remove temporary file; will retry", "path", p, "error", err.Error())
}

// staleTempAge is the age after which a listing removes a temporary file
// of davgate's that no upload is writing any more.
const staleTempAge = 24 * time.Hour
