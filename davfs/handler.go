package davfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Prefix is the URL path the tree is served under, e.g. "/dav". Required.
	Prefix string
	// Source gives the request's user their shares. Required.
	Source ShareSource
	// Locks holds WebDAV locks. Optional: an in-memory lock system is used
	// when nil.
	Locks LockSystem
	// Logger receives one line per failed request with its cause. Optional.
	Logger *slog.Logger
	// User names the request's logged-on user (set by authn in the
	// context). Optional; locks are bound to it.
	User func(ctx context.Context) string
	// MaxBodyBytes limits XML request bodies (PROPFIND, PROPPATCH, LOCK).
	// Optional, default 1 MiB.
	MaxBodyBytes int64
	// BufferMemory bounds the memory of the buffers transfers hold beyond
	// the one 1 MiB chunk each always has: a GET's read-ahead, a PUT's
	// writes in flight (up to 3 MiB each). Transfers that find it used up
	// move one chunk at a time until others end. Optional: 0, no bound.
	BufferMemory int64
	// RefuseNames are path.Match patterns, matched in any case, of file
	// names that may not be created (PUT, MKCOL, COPY, MOVE, LOCK), e.g.
	// "._*", ".DS_Store", "Thumbs.db", "desktop.ini". Optional: by default
	// every name is stored.
	RefuseNames []string
	// LockTimeout is granted to a LOCK without a Timeout header, and
	// MaxLockTimeout caps any timeout asked for. Optional: 1 h and 24 h.
	LockTimeout, MaxLockTimeout time.Duration
	// MetadataTTL is how long a file's or folder's metadata, once read,
	// answers again without asking the file server (PROPFIND Depth:0,
	// HEAD, conditional headers): changes made through this instance are
	// seen at once, changes made on the server directly after at most
	// this long. Optional: 0 asks every time.
	MetadataTTL time.Duration
	// MetaGenerations, shared by every instance in front of the same
	// servers, lets each see the others' changes at once too. Optional
	// with one instance; without it, another instance's changes show
	// after at most MetadataTTL.
	MetaGenerations MetaGenerations
	// MaxLocksPerUser and MaxLocksPerShare bound the unexpired locks one
	// user (over all shares) and one mounted directory may hold; a LOCK
	// over either is refused with 507. Optional: 1000 and 10000.
	MaxLocksPerUser, MaxLocksPerShare int
}

// Handler serves the share list at the prefix and WebDAV on each share
// below it.
type Handler struct {
	prefix  string
	source  ShareSource
	locks   LockSystem
	log     *slog.Logger
	user    func(ctx context.Context) string
	maxBody int64

	lockTimeoutDefault, maxLockTimeout time.Duration
	lockLimits                         LockLimits
	refuse                             []string
	leftovers                          leftovers
	places                             sync.Map // lock scope -> *propPlace
	meta                               *metaCache
	propfinds                          propfindBodies
	bufs                               bufPool
	// started dates the virtual collections (the share list and its
	// entries), which have no modification time of their own.
	started time.Time
}

// NewHandler returns the WebDAV handler. Mount it for both Prefix and
// Prefix+"/" so that no redirect happens.
func NewHandler(o HandlerOptions) *Handler {
	h := &Handler{
		prefix:  strings.TrimSuffix(o.Prefix, "/"),
		source:  o.Source,
		locks:   o.Locks,
		log:     o.Logger,
		user:    o.User,
		maxBody: o.MaxBodyBytes,
		started: time.Now(),
	}
	if h.locks == nil {
		h.locks = NewMemoryLocks()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.user == nil {
		h.user = func(context.Context) string { return "" }
	}
	if h.maxBody <= 0 {
		h.maxBody = 1 << 20
	}
	h.refuse = o.RefuseNames
	h.meta = newMetaCache(o.MetadataTTL)
	if h.meta != nil && o.MetaGenerations != nil {
		h.meta.gens = newGenBatch(o.MetaGenerations)
	}
	h.bufs.limit = int(o.BufferMemory / chunkSize)
	if o.BufferMemory > 0 && h.bufs.limit == 0 {
		h.bufs.limit = 1
	}
	h.lockTimeoutDefault, h.maxLockTimeout = o.LockTimeout, o.MaxLockTimeout
	if h.maxLockTimeout <= 0 {
		h.maxLockTimeout = defaultMaxTimeout
	}
	if h.lockTimeoutDefault <= 0 {
		h.lockTimeoutDefault = min(defaultLockTimeout, h.maxLockTimeout)
	}
	h.lockLimits = LockLimits{PerUser: o.MaxLocksPerUser, PerScope: o.MaxLocksPerShare}
	if h.lockLimits.PerUser <= 0 {
		h.lockLimits.PerUser = defaultMaxLocksPerUser
	}
	if h.lockLimits.PerScope <= 0 {
		h.lockLimits.PerScope = defaultMaxLocksPerShare
	}
	return h
}

// allowCollection and allowFile are the Allow headers of OPTIONS.
const (
	allowRoot       = "OPTIONS, GET, HEAD, PROPFIND"
	allowCollection = "OPTIONS, GET, HEAD, DELETE, PROPFIND, PROPPATCH, COPY, MOVE, MKCOL, LOCK, UNLOCK"
	allowFile       = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, COPY, MOVE, LOCK, UNLOCK"
	allowAny        = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, COPY, MOVE, MKCOL, LOCK, UNLOCK"
)

// OptionsHandler answers OPTIONS on any path outside the WebDAV tree (the
// Windows client probes "/"): DAV class 1 and 2, so that Finder mounts
// read-write, and MS-Author-Via for Office.
func OptionsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeOptions(w, allowAny)
	})
}

func writeOptions(w http.ResponseWriter, allow string) {
	w.Header().Set("DAV", "1, 2")
	w.Header().Set("MS-Author-Via", "DAV")
	w.Header().Set("Allow", allow)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// BufferMiB is how many MiB of the BufferMemory budget transfers hold now.
func (h *Handler) BufferMiB() int { return h.bufs.outstanding() * chunkSize >> 20 }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, h.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		h.respond(w, r, fail(http.StatusNotFound, errors.New("outside the prefix")))
		return
	}
	rest = strings.TrimPrefix(rest, "/")
	share, _, _ := strings.Cut(rest, "/")
	if share == "" {
		h.respond(w, r, h.serveRoot(w, r))
		return
	}
	h.serveShare(w, r, share)
}

// serveShare serves one request on a share with a file system made for
// it, and hands the mount back with the SMB failure the answer rests on.
func (h *Handler) serveShare(w http.ResponseWriter, r *http.Request, share string) {
	h.serveMounted(w, r, share, func(s *shareRequest) error { return s.serve(w, r) })
}

// serveMounted mounts share for the request's user, sweeps it and serves
// the request with f: respond renders f's error, and the mount goes back
// with the SMB failure behind it, so the pool keeps, checks or drops the
// connection. WebDAV methods, tus uploads and zip downloads all end here.
func (h *Handler) serveMounted(w http.ResponseWriter, r *http.Request, share string, f func(s *shareRequest) error) {
	ctx := r.Context()
	s, release, err := h.openShare(ctx, share)
	if err != nil {
		h.respond(w, r, fail(sourceStatus(err), fmt.Errorf("open share %q: %w", share, err)))
		return
	}
	s.sweep(ctx)
	err = h.withMeta(r, s, f)
	release(h.respond(w, r, err))
	if he, ok := errors.AsType[*httpError](err); ok && he.abort {
		// a streamed body cut short must not end cleanly
		panic(http.ErrAbortHandler)
	}
}

// withMeta serves s with f under the metadata cache's rules: a request
// that only reads first learns what other instances changed, and one that
// reads nothing from the cache if it cannot (fsys.meta nil); a write drops
// what is cached of the scope, here and on every instance, when it starts
// and again when it ends, for a Stat made meanwhile (see metaCache).
func (h *Handler) withMeta(r *http.Request, s *shareRequest, f func(s *shareRequest) error) error {
	ctx := r.Context()
	if readOnlyMethod(r.Method) {
		if err := h.meta.sync(ctx, s.scope); err != nil {
			h.log.WarnContext(ctx, "metadata cache not used", "scope", s.scope, "error", err.Error())
			s.fsys.meta = nil
		}
		return f(s)
	}
	h.changing(ctx, s.scope)
	defer h.changing(ctx, s.scope)
	s.announce = func() { h.changing(ctx, s.scope) }
	return f(s)
}

// changed announces, before a write's answer starts, that the changes it
// reports are made: a 207 long enough to leave in parts could otherwise
// reach the client before the end of the request tells other instances,
// and the client's next request through one of them be answered from its
// cache. The end of the request announces again, for anything after.
func (s *shareRequest) changed() {
	if s.announce != nil {
		s.announce()
	}
}

// changing drops what is cached of scope on every instance: it is being
// changed. A failure is logged; the change goes on.
func (h *Handler) changing(ctx context.Context, scope string) {
	if err := h.meta.change(ctx, scope); err != nil {
		h.log.WarnContext(ctx, "other instances may answer from their metadata cache for up to its TTL",
			"scope", scope, "error", err.Error())
	}
}

// readOnlyMethod reports whether a method never changes a share.
func readOnlyMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, "PROPFIND", http.MethodOptions:
		return true
	}
	return false
}

// openShare mounts the share for the request's user; release hands the
// mount back with the SMB failure the request ended on (nil if none).
func (h *Handler) openShare(ctx context.Context, share string) (s *shareRequest, release func(error), err error) {
	m, err := h.source.Open(ctx, share)
	if err != nil {
		return nil, nil, err
	}
	fsys := NewFS(ctx, m.Share, m.Root)
	fsys.bufs = &h.bufs
	s = &shareRequest{
		h:      h,
		fsys:   fsys,
		share:  share,
		scope:  m.ID,
		prefix: h.prefix + "/" + share,
		user:   h.user(ctx),
	}
	if s.scope == "" {
		s.scope = share
	}
	pl, _ := h.places.LoadOrStore(s.scope, &propPlace{})
	fsys.place = pl.(*propPlace)
	fsys.meta, fsys.scope, fsys.user = h.meta, s.scope, s.user
	return s, func(err error) {
		if m.Release != nil {
			m.Release(err)
		}
	}, nil
}

// shareRequest is one request on one share.
type shareRequest struct {
	h      *Handler
	fsys   *FS
	share  string // share name in the URL
	scope  string // Mount.ID or the share name: the locks' name space
	prefix string // e.g. /dav/data
	user   string
	name   string // the request's resource in the share, "/" for its root
	// announce tells the metadata cache of every instance that a write's
	// changes are made (nil for a request that only reads; see changed)
	announce func()
}

// inShare is the resource name inside the share ("/" for its root) of a
// URL path, ok false when the path lies outside the share.
func (s *shareRequest) inShare(urlPath string) (string, bool) {
	rest, ok := strings.CutPrefix(urlPath, s.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	return clean(rest), true
}

// serve dispatches a request on the share to its method's handler, once
// the names and preconditions it carries are admitted.
func (s *shareRequest) serve(w http.ResponseWriter, r *http.Request) error {
	name, ok := s.inShare(r.URL.Path)
	if !ok {
		return fail(http.StatusNotFound, errors.New("outside the share"))
	}
	s.name = name
	if err := s.admit(r); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodOptions:
		return s.options(w, r)
	case http.MethodGet, http.MethodHead:
		return s.get(w, r)
	// POST has no meaning on a file or collection (RFC 4918 section 9.5):
	// it falls to 405, so a foreign page's form POST to a stored HTML file
	// is not served as a page.
	case http.MethodPut:
		return s.put(w, r)
	case "PROPFIND":
		return s.propfind(w, r)
	case "PROPPATCH":
		return s.proppatch(w, r)
	case "MKCOL":
		return s.mkcol(w, r)
	case http.MethodDelete:
		return s.delete(w, r)
	case "COPY", "MOVE":
		return s.transfer(w, r)
	case "LOCK":
		return s.lock(w, r)
	case "UNLOCK":
		return s.unlock(w, r)
	}
	w.Header().Set("Allow", allowAny)
	return fail(http.StatusMethodNotAllowed, fmt.Errorf("method %s", r.Method))
}

// admit refuses a request whose names davgate does not serve (its
// temporary files: 404, or 403 to create one; a name no SMB file can
// have: 404, or 400 to create one; one RefuseNames matches: 403) and one
// whose conditional headers fail (412).
func (s *shareRequest) admit(r *http.Request) error {
	name := s.name
	if hiddenName(name) || hiddenName(destName(r)) {
		st := http.StatusNotFound
		switch r.Method {
		case http.MethodPut, "MKCOL", "LOCK", "COPY", "MOVE":
			st = http.StatusForbidden // a name clients may not create
		}
		return fail(st, errors.New("name of a davgate temporary file"))
	}
	creates := false
	switch r.Method {
	case http.MethodPut, "MKCOL", "LOCK":
		creates = true
	}
	if smbInvalid(name) && r.Method != http.MethodOptions {
		if creates {
			return fail(http.StatusBadRequest, fmt.Errorf("name %q cannot be stored on an SMB share", name))
		}
		// a name no file on the share can have names no resource
		return fail(http.StatusNotFound, fmt.Errorf("name %q cannot exist on an SMB share", name))
	}
	if creates {
		if err := s.nameRefusal(r.Context(), name); err != nil {
			return err
		}
	}
	switch r.Method {
	case http.MethodDelete, "PROPPATCH", "MKCOL", "COPY", "MOVE":
		return s.preconditions(r)
	}
	return nil
}
