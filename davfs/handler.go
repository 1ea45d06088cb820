package davfs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"github.com/davgate/davgate/internal/slowbody"
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
		h.fail(w, r, http.StatusNotFound, errors.New("outside the prefix"))
		return
	}
	rest = strings.TrimPrefix(rest, "/")
	share, _, _ := strings.Cut(rest, "/")
	if share == "" {
		h.serveRoot(w, r)
		return
	}
	h.serveShare(w, r, share)
}

// fail is the one adapter from an error to a response: the client gets
// the status and its standard text, the log gets the cause.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="davgate", charset="UTF-8"`)
	}
	h.logFailure(r, status, err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, webdav.StatusText(status))
}

func (h *Handler) logFailure(r *http.Request, status int, err error) {
	if err == nil {
		return
	}
	level := slog.LevelDebug
	switch {
	case status == http.StatusLocked || status == http.StatusInsufficientStorage:
		// a file in use, a full disk: the share's state, not a fault
		level = slog.LevelWarn
	case status >= 500 && status != http.StatusBadGateway:
		level = slog.LevelError
	case status == http.StatusForbidden || status == http.StatusConflict || status == http.StatusBadRequest,
		status == http.StatusBadGateway: // a Destination davgate does not serve
		level = slog.LevelInfo
	}
	h.log.LogAttrs(r.Context(), level, "webdav request failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("error", err.Error()))
}

// sourceStatus maps a ShareSource error to its status.
func sourceStatus(err error) int {
	switch {
	case errors.Is(err, ErrNoShare):
		return http.StatusNotFound
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// serveRoot serves the prefix itself: a read-only collection whose
// members are the user's shares.
func (h *Handler) serveRoot(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodOptions:
		writeOptions(w, allowRoot)
	case "PROPFIND":
		h.propfindVirtual(w, r, h.prefix+"/", func() ([]string, error) {
			names, err := h.source.Names(r.Context())
			hrefs := make([]string, len(names)) // names may be the source's own
			for i, n := range names {
				hrefs[i] = h.prefix + "/" + n + "/"
			}
			return hrefs, err
		})
	case http.MethodGet, http.MethodHead:
		names, err := h.source.Names(r.Context())
		if err != nil {
			h.fail(w, r, sourceStatus(err), fmt.Errorf("list shares: %w", err))
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>davgate</title><ul>\n")
		for _, n := range names {
			u := (&url.URL{Path: h.prefix + "/" + n + "/"}).EscapedPath()
			fmt.Fprintf(w, "<li><a href=\"%s\">%s</a></li>\n", xmlEscape(u), xmlEscape(n))
		}
		fmt.Fprint(w, "</ul>\n")
	default:
		w.Header().Set("Allow", allowRoot)
		h.fail(w, r, http.StatusMethodNotAllowed, nil)
	}
}

// ServeServerRoot answers PROPFIND on the server's root, "/", above the
// prefix: a read-only collection whose one member is the prefix. A client
// given only the server's address (Finder's "Connect to Server", a
// network drive mapped to the host, a mobile app) then finds its way to
// the shares instead of failing on a 405. Mount it for PROPFIND on "/"
// behind the same authentication as the prefix, so that the client asks
// for credentials when it connects.
func (h *Handler) ServeServerRoot(w http.ResponseWriter, r *http.Request) {
	if r.Method != "PROPFIND" || r.URL.Path != "/" {
		w.Header().Set("Allow", allowRoot)
		h.fail(w, r, http.StatusMethodNotAllowed, nil)
		return
	}
	h.propfindVirtual(w, r, "/", func() ([]string, error) { return []string{h.prefix + "/"}, nil })
}

// propfindVirtual answers a PROPFIND of a virtual collection at self
// whose members' hrefs, asked only at Depth 1, come from members.
func (h *Handler) propfindVirtual(w http.ResponseWriter, r *http.Request, self string, members func() ([]string, error)) {
	depth, ok := h.propfindDepth(w, r)
	if !ok {
		return
	}
	pf, ok := h.readPropfind(w, r)
	if !ok {
		return
	}
	var hrefs []string
	if depth != 0 {
		var err error
		if hrefs, err = members(); err != nil {
			h.fail(w, r, sourceStatus(err), fmt.Errorf("list shares: %w", err))
			return
		}
	}
	h.writeVirtualList(w, pf, self, hrefs)
}

// writeVirtualList answers a PROPFIND of a virtual collection: the
// collection at self and, at Depth 1, its members, all collections (the
// share list and the shares, or the server root and the share list).
// They are dated by the server's start, and only self has an ETag (a
// share's own comes from its root on the file server, which the list does
// not visit). Properties they do not have are 404, as on any resource.
func (h *Handler) writeVirtualList(w http.ResponseWriter, pf propfindReq, self string, members []string) {
	started := h.started.UTC()
	value := func(n xml.Name, href string) (string, bool) {
		if n.Space != nsDAV {
			return "", false
		}
		switch n.Local {
		case "resourcetype":
			return "<D:collection/>", true
		case "displayname":
			name := strings.TrimSuffix(href, "/")
			return xmlEscape(name[strings.LastIndex(name, "/")+1:]), true
		case "getlastmodified":
			return started.Format(http.TimeFormat), true
		case "creationdate":
			return started.Format(time.RFC3339), true
		case "getetag":
			if href == self {
				return fmt.Sprintf(`"%x-0"`, h.started.UnixNano()), true
			}
		}
		return "", false
	}
	all := []xml.Name{{Space: nsDAV, Local: "resourcetype"}, {Space: nsDAV, Local: "displayname"},
		{Space: nsDAV, Local: "getlastmodified"}, {Space: nsDAV, Local: "creationdate"}, {Space: nsDAV, Local: "getetag"}}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<D:multistatus xmlns:D="DAV:">`)
	entry := func(href string) {
		var found, missing strings.Builder
		asked := pf.names
		if pf.mode != modeProp {
			asked = all
		}
		for _, n := range asked {
			if v, ok := value(n, href); ok {
				writeElement(&found, n, "", v, pf.mode != modePropname)
			} else if pf.mode == modeProp {
				writeElement(&missing, n, "", "", false)
			}
		}
		fmt.Fprintf(&b, `<D:response><D:href>%s</D:href>`, xmlEscape((&url.URL{Path: href}).EscapedPath()))
		if found.Len() > 0 || missing.Len() == 0 {
			fmt.Fprintf(&b, `<D:propstat><D:prop>%s</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>`, found.String())
		}
		if missing.Len() > 0 {
			fmt.Fprintf(&b, `<D:propstat><D:prop>%s</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>`, missing.String())
		}
		b.WriteString("</D:response>")
	}
	entry(self)
	for _, m := range members {
		entry(m)
	}
	b.WriteString("</D:multistatus>\n")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	w.Write([]byte(b.String()))
}

func xmlEscape(s string) string {
	if plainXML(s) {
		return s
	}
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// plainXML reports whether s is printable ASCII without a character that
// XML escapes, so that xmlEscape can return it as it is: most names,
// hrefs and dates in a listing of thousands are.
func plainXML(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '&', c == '\'', c == '<', c == '>':
			return false
		}
	}
	return true
}

// propfindDepth applies RFC 4918 section 9.1: a PROPFIND without Depth or
// with Depth: infinity is refused with 403 and the propfind-finite-depth
// precondition, since a whole-share walk is a denial of service.
func (h *Handler) propfindDepth(w http.ResponseWriter, r *http.Request) (depth int, ok bool) {
	switch d := r.Header.Get("Depth"); d {
	case "0":
		return 0, true
	case "1":
		return 1, true
	case "", "infinity":
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+
			`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>`+"\n")
		h.logFailure(r, http.StatusForbidden, errors.New("propfind with infinite depth"))
		return 0, false
	default:
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("bad depth %q", d))
		return 0, false
	}
}

// serveShare serves one request on a share with a file system made for it.
func (h *Handler) serveShare(w http.ResponseWriter, r *http.Request, share string) {
	ctx := r.Context()
	s, release, err := h.openShare(ctx, share)
	if err != nil {
		h.fail(w, r, sourceStatus(err), fmt.Errorf("open share %q: %w", share, err))
		return
	}
	defer release()
	s.sweep(ctx)
	s.serve(w, r)
}

// openShare mounts the share for the request's user; release hands the
// mount back with the last SMB failure the request saw.
func (h *Handler) openShare(ctx context.Context, share string) (s *shareRequest, release func(), err error) {
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
	return s, func() {
		if m.Release != nil {
			m.Release(fsys.Err())
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
	// other is the destination's share of a COPY or MOVE to another
	// share (and the source's for that share's request), where If
	// headers may name resources too.
	other *shareRequest
}

// name is the request's resource name inside the share ("/" for its root).
func (s *shareRequest) name(urlPath string) (string, bool) {
	rest, ok := strings.CutPrefix(urlPath, s.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	return clean(rest), true
}

func (s *shareRequest) serve(w http.ResponseWriter, r *http.Request) {
	name, ok := s.name(r.URL.Path)
	if !ok {
		s.h.fail(w, r, http.StatusNotFound, errors.New("outside the share"))
		return
	}
	if hiddenName(name) || hiddenName(s.destName(r)) {
		st := http.StatusNotFound
		switch r.Method {
		case http.MethodPut, "MKCOL", "LOCK", "COPY", "MOVE":
			st = http.StatusForbidden // a name clients may not create
		}
		s.h.fail(w, r, st, errors.New("name of a davgate temporary file"))
		return
	}
	if smbInvalid(name) && r.Method != http.MethodOptions {
		switch r.Method {
		case http.MethodPut, "MKCOL", "LOCK":
			s.h.fail(w, r, http.StatusBadRequest, fmt.Errorf("name %q cannot be stored on an SMB share", name))
		default:
			// a name no file on the share can have names no resource
			s.h.fail(w, r, http.StatusNotFound, fmt.Errorf("name %q cannot exist on an SMB share", name))
		}
		return
	}
	if !s.allowedName(w, r, name) {
		return
	}
	switch r.Method {
	case http.MethodDelete, "PROPPATCH", "MKCOL", "COPY", "MOVE":
		if !s.preconditions(w, r, name) {
			return
		}
	}
	switch r.Method {
	case http.MethodOptions:
		s.options(w, r, name)
	case http.MethodGet, http.MethodHead:
		s.get(w, r, name)
	// POST has no meaning on a file or collection (RFC 4918 section 9.5):
	// it falls to 405, so a foreign page's form POST to a stored HTML file
	// is not served as a page.
	case http.MethodPut:
		s.put(w, r, name)
	case "PROPFIND":
		if d := r.Header.Get("Depth"); d == "" || d == "infinity" {
			// infinite depth means Depth 0 on a file (RFC 4918 section 9.1)
			if fi, err := s.fsys.Stat(r.Context(), name); err == nil && !fi.IsDir() {
				s.propfind(w, r, name, 0)
				return
			}
		}
		if depth, ok := s.h.propfindDepth(w, r); ok {
			s.propfind(w, r, name, depth)
		}
	case "PROPPATCH":
		if s.checkLocks(w, r, target{name: name}) {
			body, err := io.ReadAll(http.MaxBytesReader(w, slowbody.Reader(w, r, slowbody.Idle, slowbody.Total), s.h.maxBody))
			if err != nil {
				st := http.StatusBadRequest
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					st = http.StatusRequestEntityTooLarge
				}
				s.h.fail(w, r, st, fmt.Errorf("proppatch body: %w", err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			s.delegate(w, r)
		}
	case "MKCOL":
		if s.checkLocks(w, r, target{name: name, member: true}) {
			s.delegate(w, r)
		}
	case http.MethodDelete:
		if s.checkLocks(w, r, target{name, true, true}) {
			s.delete(w, r, name)
		}
	case "COPY":
		s.copy(w, r, name)
	case "MOVE":
		s.move(w, r, name)
	case "LOCK":
		s.lock(w, r, name)
	case "UNLOCK":
		s.unlock(w, r, name)
	default:
		w.Header().Set("Allow", allowAny)
		s.h.fail(w, r, http.StatusMethodNotAllowed, fmt.Errorf("method %s", r.Method))
	}
}

// delegate hands the request to x/net/webdav, with davgate's error
// statuses in place of the ones it picks for SMB failures.
func (s *shareRequest) delegate(w http.ResponseWriter, r *http.Request) (status int) {
	ew := &errorWriter{ResponseWriter: w, fsys: s.fsys}
	wh := &webdav.Handler{
		Prefix:     s.prefix,
		FileSystem: s.fsys,
		LockSystem: passLocks{},
		Logger: func(r *http.Request, err error) {
			if ew.status >= 400 {
				if ew.cause != nil {
					err = ew.cause
				}
				s.h.logFailure(r, ew.status, err)
			}
		},
	}
	wh.ServeHTTP(ew, r)
	if ew.status == 0 {
		return http.StatusOK
	}
	return ew.status
}

// errorWriter replaces the status x/net/webdav writes for a failed file
// system call (mostly 405 or 404) with the one the SMB failure calls for:
// 403 access denied, 423 sharing violation, 507 disk full, 400 bad name,
// 409 directory not empty. Not-found and already-exists keep the status
// webdav chose, which follows the method's section of RFC 4918.
type errorWriter struct {
	http.ResponseWriter
	fsys    *FS
	status  int
	cause   error
	swallow bool
}

func (w *errorWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if code >= 400 && code != http.StatusPreconditionFailed {
		if err := w.fsys.Err(); err != nil {
			w.cause = err
			if st, ok := httpStatus(err); ok && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) && st != code {
				w.status = st
				w.swallow = true
				w.ResponseWriter.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.ResponseWriter.WriteHeader(st)
				fmt.Fprintln(w.ResponseWriter, webdav.StatusText(st))
				return
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *errorWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *errorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *errorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// options answers OPTIONS on a resource of a share.
func (s *shareRequest) options(w http.ResponseWriter, r *http.Request, name string) {
	allow := allowAny
	if fi, err := s.fsys.Stat(r.Context(), name); err == nil {
		allow = allowFile
		if fi.IsDir() {
			allow = allowCollection
		}
	}
	writeOptions(w, allow)
}

// href is the escaped URL path of a resource name.
func (s *shareRequest) href(name string, dir bool) string {
	p := path.Join(s.prefix, name)
	if dir {
		p += "/"
	}
	return (&url.URL{Path: p}).EscapedPath()
}

// get serves GET and HEAD: a file through http.ServeContent (Range and
// conditional requests), whose copy is steered to hand the response whole
// 1 MiB chunks; a collection as a plain HTML listing.
func (s *shareRequest) get(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	f, err := s.fsys.OpenFile(ctx, name, os.O_RDONLY, 0)
	if err != nil {
		s.failFS(w, r, err)
		return
	}
	defer f.Close()
	if r.Method == http.MethodGet && r.Header.Get("Range") == "" && !strings.HasSuffix(r.URL.Path, "/") {
		f.(*file).readAheadStart()
	}
	st, err := f.Stat()
	if err != nil {
		s.failFS(w, r, err)
		return
	}
	fi := st.(*fileInfo)
	if fi.IsDir() {
		s.listing(w, r, name, f)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/") {
		s.h.fail(w, r, http.StatusNotFound, errors.New("a file asked for as a collection"))
		return
	}
	w.Header().Set("ETag", fi.etag())
	w.Header().Set("Content-Type", contentType(fi.name))
	if rg := r.Header.Get("Range"); rg != "" && (!validRange(rg) || fi.size == 0) {
		// RFC 9110 section 14.2: ignored, the whole file (an empty one has
		// no range to serve)
		r.Header.Del("Range")
	}
	http.ServeContent(chunkWriter{w, f.(*file)}, r, fi.name, fi.mtime, f)
	if err := f.(*file).readErr; err != nil {
		// The status is out; the client sees a body cut short.
		s.h.log.LogAttrs(r.Context(), slog.LevelError, "webdav response cut short by a failed read",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
}

// validRange reports whether a Range header is a well-formed bytes range
// set (RFC 9110 section 14.1.2): "bytes=" and first-last, first- or -suffix
// specs with first <= last. Whether it fits the file is for
// http.ServeContent (416 if no range does); a malformed one is ignored.
func validRange(h string) bool {
	set, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return false
	}
	digits := func(s string) bool {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	for spec := range strings.SplitSeq(set, ",") {
		first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
		switch {
		case !ok:
			return false
		case first == "":
			// a suffix of 0 bytes is satisfiable by nothing; Go would
			// answer it with a broken Content-Range
			if !digits(last) || strings.Trim(last, "0") == "" {
				return false
			}
		case !digits(first) || (last != "" && !digits(last)):
			return false
		case last != "":
			f, err1 := strconv.ParseUint(first, 10, 63)
			l, err2 := strconv.ParseUint(last, 10, 63)
			if err1 != nil || err2 != nil || f > l {
				return false
			}
		}
	}
	return true
}

// chunkWriter passes the response writer on, except that http.ServeContent's
// io.CopyN from the file goes through file.writeTo.
type chunkWriter struct {
	http.ResponseWriter
	f *file
}

func (w chunkWriter) ReadFrom(src io.Reader) (int64, error) {
	if lr, ok := src.(*io.LimitedReader); ok && lr.R == io.Reader(w.f) {
		n, err := w.f.writeTo(w.ResponseWriter, lr.N)
		lr.N -= n
		return n, err
	}
	return io.Copy(writerOnly{w.ResponseWriter}, src)
}

type writerOnly struct{ io.Writer }

func (w chunkWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// listing writes a plain HTML list of a collection for browsers.
func (s *shareRequest) listing(w http.ResponseWriter, r *http.Request, name string, f webdav.File) {
	children, err := f.Readdir(0)
	if err != nil {
		s.failFS(w, r, err)
		return
	}
	slices.SortFunc(children, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	if r.Method == http.MethodHead {
		return
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "<!doctype html>\n<meta charset=\"utf-8\"><title>%s</title>\n<h1>%s</h1>\n<ul>\n",
		xmlEscape(path.Join(s.share, name)), xmlEscape(path.Join(s.share, name)))
	if name != "/" {
		fmt.Fprintf(bw, "<li><a href=\"%s\">../</a></li>\n", xmlEscape(s.href(path.Dir(name), true)))
	}
	for _, c := range children {
		label := c.Name()
		if c.IsDir() {
			label += "/"
		}
		fmt.Fprintf(bw, "<li><a href=\"%s\">%s</a></li>\n", xmlEscape(s.href(path.Join(name, c.Name()), c.IsDir())), xmlEscape(label))
	}
	bw.WriteString("</ul>\n")
	bw.Flush()
}

// allowedName refuses to create a resource whose name matches one of
// RefuseNames (403).
func (s *shareRequest) allowedName(w http.ResponseWriter, r *http.Request, name string) bool {
	check := ""
	switch r.Method {
	case http.MethodPut, "MKCOL", "LOCK":
		check = name
	case "COPY", "MOVE":
		check = s.destName(r)
	}
	if st, err := s.nameRefusal(r.Context(), check); st != 0 {
		s.h.fail(w, r, st, err)
		return false
	}
	return true
}

// nameRefusal says why the resource check may not be created, with its
// status (0 if it may): a name Windows cannot hold (400, for a new
// resource only) or one RefuseNames matches (403).
func (s *shareRequest) nameRefusal(ctx context.Context, check string) (int, error) {
	if check == "" || check == "/" {
		return 0, nil
	}
	if smbInvalid(check) {
		return http.StatusBadRequest, fmt.Errorf("name %q cannot be stored on an SMB share", check)
	}
	base := path.Base(check)
	if why := windowsRefuses(base); why != "" {
		if _, err := s.fsys.Stat(ctx, check); errors.Is(err, fs.ErrNotExist) {
			return http.StatusBadRequest, fmt.Errorf("name %q: %s", base, why)
		}
	}
	for _, pat := range s.h.refuse {
		// file servers do not tell names apart by case, nor do we
		if ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(base)); ok {
			return http.StatusForbidden, fmt.Errorf("name %q refused by configuration", base)
		}
	}
	return 0, nil
}

// windowsRefuses says why Windows cannot name a file base, or "" if it
// can: a trailing dot or space (which a Windows server strips, so "a." would
// replace "a") or a reserved device name, with or without an extension
// ("NUL", "aux.txt"). Samba stores such names but lists them under mangled
// 8.3 names, so a client would never find the file it wrote. Only new
// resources are refused; an existing one keeps working.
func windowsRefuses(base string) string {
	if strings.HasSuffix(base, ".") || strings.HasSuffix(base, " ") {
		return "ends with a dot or a space"
	}
	stem, _, _ := strings.Cut(base, ".")
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL":
		return "a reserved device name"
	}
	if len(stem) == 4 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) && stem[3] >= '0' && stem[3] <= '9' {
		return "a reserved device name"
	}
	return ""
}

// hiddenName reports whether a name lies in or is one of davgate's
// temporary files, which clients neither see nor touch.
func hiddenName(name string) bool {
	return strings.HasPrefix(path.Base(name), tempPrefix) || strings.Contains(name, "/"+tempPrefix)
}

// destName is the clean path of a COPY or MOVE destination, "" if none.
func (s *shareRequest) destName(r *http.Request) string {
	if r.Method != "COPY" && r.Method != "MOVE" {
		return ""
	}
	u, err := url.Parse(r.Header.Get("Destination"))
	if err != nil {
		return ""
	}
	return clean(u.Path)
}
