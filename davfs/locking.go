package davfs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lock timeouts used when HandlerOptions leave them zero.
const (
	defaultLockTimeout = time.Hour
	defaultMaxTimeout  = 24 * time.Hour
)

// Lock counts used when HandlerOptions leave them zero.
const (
	defaultMaxLocksPerUser  = 1000
	defaultMaxLocksPerShare = 10000
)

// lockName is the name a resource of this mount has in the lock system.
func (s *shareRequest) lockName(name string) string {
	if name == "/" {
		return "/" + s.scope
	}
	return "/" + s.scope + name
}

// resourceName maps a lock root back to the resource's name in the share.
func (s *shareRequest) resourceName(root string) string {
	n := strings.TrimPrefix(root, "/"+s.scope)
	if n == "" {
		return "/"
	}
	return n
}

// target is a resource a write touches; deep writes (DELETE, MOVE, COPY
// of a collection) touch everything below it too, and a write that adds
// or removes a member changes its parent collection (RFC 4918 section
// 7.5: a depth-0 lock on a collection protects its membership).
type target struct {
	name   string
	deep   bool
	member bool
}

// checkLocks applies the WebDAV locks and the If header (RFC 4918 section
// 7 and 10.4) before a write to the targets. The If header, if any, must
// evaluate true (else 412), and every lock on a target must have one of
// its tokens submitted by the user who holds it (else 423 Locked). A
// tagged list of the If header may name a resource of this share or of
// one of the shares tagged (the other share of a COPY or MOVE).
func (s *shareRequest) checkLocks(r *http.Request, targets []target, tagged ...*shareRequest) error {
	ctx := r.Context()
	var lists []ifList
	if hdr := r.Header.Get("If"); hdr != "" {
		var err error
		if lists, err = readIf(hdr); err != nil {
			return fail(http.StatusBadRequest, err)
		}
	}
	submitted := map[string]bool{}
	for _, t := range ifTokens(lists) {
		if l, err := s.h.locks.Get(ctx, t); err == nil && l.User == s.user {
			submitted[t] = true
		}
	}
	// RFC 4918 section 10.4.1: an If header that evaluates false fails
	// the request with 412, before locks are looked at.
	if lists != nil && !slices.ContainsFunc(lists, func(l ifList) bool { return s.evalIfList(r, l, targets[0].name, tagged) }) {
		return fail(http.StatusPreconditionFailed, errors.New("if header evaluated false"))
	}
	for _, t := range targets {
		locks, err := s.targetLocks(ctx, t)
		if err != nil {
			return fail(http.StatusServiceUnavailable, fmt.Errorf("find locks: %w", err))
		}
		held := map[string]bool{} // lock roots with a submitted token
		for _, l := range locks {
			if submitted[l.Token] {
				held[l.Root] = true
			}
		}
		for _, l := range locks {
			if !held[l.Root] {
				return s.locked(l.Root)
			}
		}
	}
	return nil
}

// targetLocks are the locks a write to t must hold a token of: those on
// t (and below it, for a deep write), and for a new or removed member a
// depth-0 lock on its parent.
func (s *shareRequest) targetLocks(ctx context.Context, t target) ([]Lock, error) {
	locks, err := s.h.locks.Find(ctx, s.lockName(t.name), t.deep)
	if err != nil || !t.member || t.name == "/" {
		return locks, err
	}
	parent := s.lockName(path.Dir(t.name))
	pl, err := s.h.locks.Find(ctx, parent, false)
	for _, l := range pl {
		if l.ZeroDepth && strings.EqualFold(l.Root, parent) {
			locks = append(locks, l)
		}
	}
	return locks, err
}

// noOthersLocks answers 423 when another user holds a lock on or below
// name, the destination of a MOVE or COPY; the user's own locks do not
// refuse it (an editor saves by moving a temporary file over the document
// it has locked). When the lock store cannot answer it fails closed with
// 503: a lock that cannot be read may be there.
func (s *shareRequest) noOthersLocks(r *http.Request, name string) error {
	locks, err := s.h.locks.Find(r.Context(), s.lockName(name), true)
	if err != nil {
		return fail(http.StatusServiceUnavailable, fmt.Errorf("find locks: %w", err))
	}
	for _, l := range locks {
		if l.User != s.user {
			return s.locked(l.Root)
		}
	}
	return nil
}

// locked answers 423 with the lock-token-submitted precondition (RFC 4918
// section 16) naming the locked resource at root.
func (s *shareRequest) locked(root string) error {
	return failCond(http.StatusLocked, "lock-token-submitted", s.href(s.resourceName(root), false),
		errors.New("resource locked, no lock token submitted"))
}

// evalIfList evaluates one list of an If header: all its conditions must
// hold for its resource (the tagged one, else the request's).
func (s *shareRequest) evalIfList(r *http.Request, l ifList, name string, tagged []*shareRequest) bool {
	if l.resource != "" {
		u, err := url.Parse(l.resource)
		if err != nil {
			return false
		}
		p := path.Clean("/" + u.Path)
		n, ok := s.inShare(p)
		if !ok {
			for _, o := range tagged {
				if _, ok := o.inShare(p); ok {
					return o.evalIfList(r, l, "", nil)
				}
			}
			return false
		}
		name = n
	}
	var etag string
	etagRead := false
	for _, c := range l.conditions {
		var ok bool
		if c.token != "" {
			lk, err := s.h.locks.Get(r.Context(), c.token)
			ok = err == nil && lk.covers(s.lockName(name))
		} else {
			if !etagRead {
				etagRead = true
				if fi, err := s.fsys.Stat(r.Context(), name); err == nil {
					etag = fi.(*fileInfo).etag()
				}
			}
			ok = etag != "" && strings.TrimPrefix(c.etag, "W/") == etag
		}
		if ok == c.not {
			return false
		}
	}
	return true
}

// releaseLocks removes the locks on name and below after it was deleted
// or moved away (RFC 4918 section 9.6.1 and 9.9.1).
func (s *shareRequest) releaseLocks(r *http.Request, name string) {
	ctx := r.Context()
	root := s.lockName(name)
	locks, err := s.h.locks.Find(ctx, root, true)
	if err != nil {
		s.h.log.WarnContext(ctx, "find locks to release", "error", err.Error())
		return
	}
	for _, l := range locks {
		if strings.EqualFold(l.Root, root) || lockBelow(l.Root, root) {
			s.h.locks.Unlock(ctx, l.Token)
		}
	}
}

// Bounds of a lock's owner: it is stored with the lock and written back
// in every lockdiscovery, so an unbounded one lets one user fill the lock
// store. RFC 4918 section 14.17 leaves its content to the client; clients
// send a name or a URL, far below these. Over them the LOCK is a bad
// request (400).
const (
	maxOwnerBytes = 4 << 10 // the re-serialised owner
	maxOwnerDepth = 16      // elements nested inside <owner>
)

// errOwnerTooLarge: the LOCK body's owner is over maxOwnerBytes or nested
// deeper than maxOwnerDepth.
var errOwnerTooLarge = errors.New("lock owner too large or too deep")

// lockInfo is the body of a LOCK request (RFC 4918 section 14.11).
type lockInfo struct {
	shared bool
	owner  string
}

// parseLockInfo reads a lockinfo body. The owner is re-serialised with
// its namespaces spelled out, so it stays well-formed wherever it is
// written back.
func parseLockInfo(body []byte) (lockInfo, error) {
	var li lockInfo
	dec := xml.NewDecoder(bytes.NewReader(body))
	var stack []xml.Name
	var owner strings.Builder
	inOwner := 0
	sawLockinfo, sawScope, sawWrite := false, false, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return li, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := checkNamespaces(t); err != nil {
				return li, err
			}
			if inOwner > 0 {
				if inOwner > maxOwnerDepth {
					return li, errOwnerTooLarge
				}
				writeStart(&owner, t)
				inOwner++
				break
			}
			stack = append(stack, t.Name)
			switch {
			case len(stack) == 1:
				if t.Name != (xml.Name{Space: "DAV:", Local: "lockinfo"}) {
					return li, errors.New("not a lockinfo")
				}
				sawLockinfo = true
			case len(stack) == 3 && stack[1].Space == "DAV:" && stack[1].Local == "lockscope" && t.Name.Space == "DAV:":
				switch t.Name.Local {
				case "exclusive":
					sawScope = true
				case "shared":
					sawScope, li.shared = true, true
				}
			case len(stack) == 3 && stack[1].Space == "DAV:" && stack[1].Local == "locktype" && t.Name.Space == "DAV:" && t.Name.Local == "write":
				sawWrite = true
			case len(stack) == 2 && t.Name.Space == "DAV:" && t.Name.Local == "owner":
				inOwner = 1
			}
		case xml.EndElement:
			if inOwner > 1 {
				fmt.Fprintf(&owner, "</%s>", t.Name.Local)
				inOwner--
				break
			}
			inOwner = 0
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if inOwner > 0 {
				xml.EscapeText(&owner, t)
			}
		}
		if owner.Len() > maxOwnerBytes {
			return li, errOwnerTooLarge
		}
	}
	if !sawLockinfo || !sawScope || !sawWrite {
		return li, errors.New("lockinfo lacks lockscope or locktype write")
	}
	li.owner = owner.String()
	return li, nil
}

// writeStart writes a start element with its namespace as the default
// namespace, so it needs no prefix declared elsewhere.
func writeStart(b *strings.Builder, t xml.StartElement) {
	fmt.Fprintf(b, `<%s xmlns="%s"`, t.Name.Local, xmlEscape(t.Name.Space))
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		if a.Name.Space != "" {
			continue // a namespaced attribute would need a prefix of its own
		}
		fmt.Fprintf(b, ` %s="%s"`, a.Name.Local, xmlEscape(a.Value))
	}
	b.WriteString(">")
}

// checkNamespaces refuses an empty namespace prefix declaration
// (xmlns:p=""), which XML Namespaces 1.0 forbids (litmus propfind_invalid2).
func checkNamespaces(t xml.StartElement) error {
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" && a.Value == "" {
			return fmt.Errorf("empty namespace declaration for prefix %q", a.Name.Local)
		}
	}
	return nil
}

// lockTimeout picks the timeout from a Timeout header (RFC 4918 section
// 10.7): the first value understood, capped at the maximum.
func (h *Handler) lockTimeout(hdr string) time.Duration {
	for _, v := range strings.Split(hdr, ",") {
		v = strings.TrimSpace(v)
		if strings.EqualFold(v, "Infinite") {
			return h.maxLockTimeout
		}
		if n, ok := strings.CutPrefix(v, "Second-"); ok {
			if secs, err := strconv.ParseUint(n, 10, 32); err == nil && secs > 0 {
				return min(time.Duration(secs)*time.Second, h.maxLockTimeout)
			}
		}
	}
	return h.lockTimeoutDefault
}

func newLockToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// lock serves LOCK: a new lock, or the refresh of one when the body is
// empty (RFC 4918 section 9.10).
func (s *shareRequest) lock(w http.ResponseWriter, r *http.Request) error {
	body, err := s.h.readBody(w, r)
	if err != nil {
		return err
	}
	timeout := s.h.lockTimeout(r.Header.Get("Timeout"))
	now := time.Now()
	if len(bytes.TrimSpace(body)) == 0 {
		return s.refreshLock(w, r, timeout, now)
	}
	li, err := parseLockInfo(body)
	if err != nil {
		return fail(http.StatusBadRequest, fmt.Errorf("lock body: %w", err))
	}
	zeroDepth := false
	switch d := r.Header.Get("Depth"); d {
	case "", "infinity":
	case "0":
		zeroDepth = true
	default:
		return fail(http.StatusBadRequest, fmt.Errorf("lock depth %q", d))
	}
	l := Lock{
		Token:     newLockToken(),
		Root:      s.lockName(s.name),
		User:      s.user,
		Shared:    li.shared,
		ZeroDepth: zeroDepth,
		OwnerXML:  li.owner,
		Timeout:   timeout,
		Expires:   now.Add(timeout),
	}
	if err := s.createLock(r.Context(), l); err != nil {
		return err
	}
	created, err := s.lockedResource(r.Context())
	if err != nil {
		s.h.locks.Unlock(r.Context(), l.Token)
		return err
	}
	w.Header().Set("Lock-Token", "<"+l.Token+">")
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	propBody(w, status, s.activeLock(l, now))
	return nil
}

// createLock stores the new lock l: 423 with no-conflicting-lock (RFC
// 4918 section 9.10.6) against another's, 507 over the lock bounds.
func (s *shareRequest) createLock(ctx context.Context, l Lock) error {
	err := s.h.locks.Create(ctx, l, s.h.lockLimits)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrLockConflict):
		return failCond(http.StatusLocked, "no-conflicting-lock", s.href(s.name, false), err)
	case errors.Is(err, ErrTooManyLocks):
		// RFC 4918 has no status for a lock count bound; 507 (section
		// 11.5: the server cannot store what the request needs) says the
		// store is full for this user or share, unlike 423, which would
		// name a conflicting lock that is not there, or 503, which
		// invites a retry that cannot succeed.
		return &httpError{status: http.StatusInsufficientStorage, err: err,
			text: "Too many locks held by this user or on this share"}
	}
	return fail(http.StatusServiceUnavailable, fmt.Errorf("create lock: %w", err))
}

// lockedResource makes sure the locked resource exists: a LOCK on an
// unmapped URL creates an empty one (RFC 4918 section 7.3), reported by
// created.
func (s *shareRequest) lockedResource(ctx context.Context) (created bool, err error) {
	_, err = s.fsys.Stat(ctx, s.name)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, failFS(err)
	}
	f, err := s.fsys.OpenFile(ctx, s.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return false, failParent(err)
	}
	f.Close()
	return true, nil
}

// refreshLock extends the lock whose token the If header submits; the
// lock must cover the request's resource (RFC 4918 section 9.10.2).
func (s *shareRequest) refreshLock(w http.ResponseWriter, r *http.Request, timeout time.Duration, now time.Time) error {
	ctx := r.Context()
	lists, err := readIf(r.Header.Get("If"))
	if err != nil {
		return fail(http.StatusBadRequest, fmt.Errorf("lock refresh: %w", err))
	}
	for _, t := range ifTokens(lists) {
		l, err := s.h.locks.Get(ctx, t)
		if err != nil || !l.covers(s.lockName(s.name)) || l.User != s.user {
			continue
		}
		l, err = s.h.locks.Refresh(ctx, t, timeout, now.Add(timeout))
		if err != nil {
			continue
		}
		propBody(w, http.StatusOK, s.activeLock(l, now))
		return nil
	}
	return fail(http.StatusPreconditionFailed, errors.New("lock refresh: no matching lock token"))
}

// unlock serves UNLOCK (RFC 4918 section 9.11).
func (s *shareRequest) unlock(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, ok := lockToken(r.Header.Get("Lock-Token"))
	if !ok {
		return fail(http.StatusBadRequest, errors.New("unlock without a Lock-Token"))
	}
	l, err := s.h.locks.Get(ctx, t)
	if err != nil || !l.covers(s.lockName(s.name)) {
		return failCond(http.StatusConflict, "lock-token-matches-request-uri", "",
			errors.New("unlock: no such lock on this resource"))
	}
	if l.User != s.user {
		return fail(http.StatusForbidden, errors.New("unlock: lock belongs to another user"))
	}
	if err := s.h.locks.Unlock(ctx, t); err != nil && !errors.Is(err, ErrNoSuchLock) {
		return fail(http.StatusServiceUnavailable, fmt.Errorf("unlock: %w", err))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// activeLock renders a lock as a DAV:activelock element.
func (s *shareRequest) activeLock(l Lock, now time.Time) string {
	scope, depth := "exclusive", "infinity"
	if l.Shared {
		scope = "shared"
	}
	if l.ZeroDepth {
		depth = "0"
	}
	secs := max(int64(l.Expires.Sub(now).Round(time.Second)/time.Second), 0)
	owner := ""
	if l.OwnerXML != "" {
		owner = "<D:owner>" + l.OwnerXML + "</D:owner>"
	}
	return fmt.Sprintf(`<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:%s/></D:lockscope>`+
		`<D:depth>%s</D:depth>%s<D:timeout>Second-%d</D:timeout>`+
		`<D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>%s</D:href></D:lockroot></D:activelock>`,
		scope, depth, owner, secs, xmlEscape(l.Token), xmlEscape(s.href(s.resourceName(l.Root), false)))
}
