package davfs

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"github.com/davgate/davgate/internal/slowbody"
)

// PROPFIND (RFC 4918 section 9.1): a Depth: 1 listing costs one SMB
// directory query; the dead properties of each child are read only when
// the request asks for dead properties and the collection's marker says
// some child may have them.

type propfindMode int

const (
	modeAllprop propfindMode = iota
	modePropname
	modeProp
)

type propfindReq struct {
	mode  propfindMode
	names []xml.Name // prop, or allprop's include
}

// parsePropfind reads a PROPFIND body (RFC 4918 section 14.20); an empty
// body means allprop.
func parsePropfind(body []byte) (propfindReq, error) {
	var pf propfindReq
	if len(bytes.TrimSpace(body)) == 0 {
		return pf, nil
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	var parent xml.Name
	seen := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return pf, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := checkNamespaces(t); err != nil {
				return pf, err
			}
			depth++
			switch depth {
			case 1:
				if t.Name != (xml.Name{Space: nsDAV, Local: "propfind"}) {
					return pf, errors.New("not a propfind")
				}
			case 2:
				parent = t.Name
				if t.Name.Space != nsDAV {
					break
				}
				switch t.Name.Local {
				case "allprop":
					pf.mode, seen = modeAllprop, true
				case "propname":
					pf.mode, seen = modePropname, true
				case "prop":
					pf.mode, seen = modeProp, true
				}
			case 3:
				if parent.Space == nsDAV && (parent.Local == "prop" || parent.Local == "include") {
					pf.names = append(pf.names, t.Name)
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	if !seen {
		return pf, errors.New("propfind without allprop, propname or prop")
	}
	return pf, nil
}

// wantsLocks reports whether the answer may show locks (lockdiscovery):
// allprop and propname do; a prop list (Finder's, Explorer's) only when it
// names it.
func (pf propfindReq) wantsLocks() bool {
	return pf.mode != modeProp || contains(pf.names, xml.Name{Space: nsDAV, Local: "lockdiscovery"})
}

// liveNames are the live properties allprop and propname report.
var liveNames = []xml.Name{
	{Space: nsDAV, Local: "resourcetype"},
	{Space: nsDAV, Local: "displayname"},
	{Space: nsDAV, Local: "getcontentlength"},
	{Space: nsDAV, Local: "getlastmodified"},
	{Space: nsDAV, Local: "creationdate"},
	{Space: nsDAV, Local: "getcontenttype"},
	{Space: nsDAV, Local: "getetag"},
	{Space: nsDAV, Local: "lockdiscovery"},
	{Space: nsDAV, Local: "supportedlock"},
}

// namedOnly are live properties reported only when asked for by name:
// RFC 4331 section 3 and 4 quota, and the Windows client's Win32 ones.
var namedOnly = map[xml.Name]bool{
	{Space: nsDAV, Local: "quota-available-bytes"}: true,
	{Space: nsDAV, Local: "quota-used-bytes"}:      true,
	{Space: nsMS, Local: "Win32CreationTime"}:      true,
	{Space: nsMS, Local: "Win32LastAccessTime"}:    true,
	{Space: nsMS, Local: "Win32LastModifiedTime"}:  true,
	{Space: nsMS, Local: "Win32FileAttributes"}:    true,
}

func isLive(n xml.Name) bool {
	if namedOnly[n] {
		return true
	}
	for _, l := range liveNames {
		if l == n {
			return true
		}
	}
	return false
}

// entry is one resource of a PROPFIND response.
type entry struct {
	name string
	fi   *fileInfo
	dead map[xml.Name]webdav.Property
}

// readPropfind reads and parses a PROPFIND body of at most maxBody bytes:
// 413 if it is longer, 400 if it is no propfind.
func (h *Handler) readPropfind(w http.ResponseWriter, r *http.Request) (propfindReq, error) {
	body, err := h.readBody(w, r)
	if err != nil {
		return propfindReq{}, err
	}
	if pf, ok := h.propfinds.get(body); ok {
		return pf, nil
	}
	pf, err := parsePropfind(body)
	if err != nil {
		return propfindReq{}, fail(http.StatusBadRequest, fmt.Errorf("propfind body: %w", err))
	}
	h.propfinds.put(body, pf)
	return pf, nil
}

// propfindBodies remembers the parsed PROPFIND bodies last seen: a client
// sends the same few again and again, and parsing one costs more than
// answering it from the metadata cache. Its entries are read only.
type propfindBodies struct {
	mu sync.Mutex
	m  map[string]propfindReq
}

// Bounds of propfindBodies: bodies up to maxPropfindBody bytes, up to
// maxPropfindBodies of them (past that it starts again).
const (
	maxPropfindBody   = 4 << 10
	maxPropfindBodies = 64
)

func (c *propfindBodies) get(body []byte) (propfindReq, bool) {
	if len(body) > maxPropfindBody {
		return propfindReq{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pf, ok := c.m[string(body)]
	return pf, ok
}

func (c *propfindBodies) put(body []byte, pf propfindReq) {
	if len(body) > maxPropfindBody {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxPropfindBodies {
		c.m = make(map[string]propfindReq, maxPropfindBodies)
	}
	c.m[string(body)] = pf
}

// readBody reads an XML request body (PROPFIND, PROPPATCH, LOCK) of at
// most maxBody bytes, 413 if it is longer, within the bounds for small
// bodies (package slowbody), 408 if it is cut off by them.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, slowbody.Reader(w, r, slowbody.Idle, slowbody.Total), h.maxBody))
	if err != nil {
		st := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			st = http.StatusRequestEntityTooLarge
		} else if slowbody.TimedOut(err) {
			st = http.StatusRequestTimeout
		}
		return nil, fail(st, fmt.Errorf("%s body: %w", strings.ToLower(r.Method), err))
	}
	return body, nil
}

// propfind serves PROPFIND with Depth 0 or 1; infinite depth means Depth
// 0 on a file (RFC 4918 section 9.1) and is refused on a collection.
func (s *shareRequest) propfind(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := s.name
	depth, err := propfindDepth(r)
	var fi *fileInfo
	if d := r.Header.Get("Depth"); d == "" || d == "infinity" {
		if st, serr := s.fsys.Stat(ctx, name); serr == nil && !st.IsDir() {
			fi, depth, err = st.(*fileInfo), 0, nil
		}
	}
	if err != nil {
		return err
	}
	pf, err := s.h.readPropfind(w, r)
	if err != nil {
		return err
	}
	entries, err := s.entries(ctx, name, fi, depth)
	if err != nil {
		return failFS(err)
	}
	s.loadDeadProps(pf, name, entries)
	var locks []Lock
	if pf.wantsLocks() { // a round trip to Redis with the Redis lock store
		if locks, err = s.h.locks.Find(ctx, s.lockName(name), depth == 1); err != nil {
			return fail(http.StatusServiceUnavailable, fmt.Errorf("find locks: %w", err))
		}
	}
	ms := startMultistatus(w)
	now := time.Now()
	for _, e := range entries {
		found, missing := s.entryProps(pf, e, locks, now)
		ms.props(s.href(e.name, e.fi.IsDir()), found, missing)
	}
	if err := ms.close(); err != nil {
		s.h.log.DebugContext(ctx, "propfind: write response", "error", err.Error())
	}
	return nil
}

// entries are the resource name (fi, if known) and, at Depth 1 of a
// collection, its members, from one directory listing.
func (s *shareRequest) entries(ctx context.Context, name string, fi *fileInfo, depth int) ([]*entry, error) {
	if fi == nil {
		st, err := s.fsys.Stat(ctx, name)
		if err != nil {
			return nil, err
		}
		fi = st.(*fileInfo)
	}
	entries := []*entry{{name: name, fi: fi}}
	if depth == 0 || !fi.IsDir() {
		return entries, nil
	}
	f, err := s.fsys.open(name)
	if err != nil {
		return nil, err
	}
	children, err := f.Readdir(0)
	f.Close()
	if err != nil {
		return nil, err
	}
	for _, c := range children {
		entries = append(entries, &entry{name: path.Join(name, c.Name()), fi: c.(*fileInfo)})
	}
	return entries, nil
}

// loadDeadProps reads the dead properties of the entries when pf asks
// for any: those of a listing's members only where the collection's
// marker says some may have them, several at a time.
func (s *shareRequest) loadDeadProps(pf propfindReq, name string, entries []*entry) {
	needDead := pf.mode != modeProp
	for _, n := range pf.names {
		if !isLive(n) {
			needDead = true
		}
	}
	if !needDead {
		return
	}
	if len(entries) > 1 {
		if p, err := s.fsys.smbPath(name); err == nil && !s.fsys.hasChildProps(p) {
			entries[0].dead, _ = s.fsys.readProps(p)
			return
		}
	}
	s.readDeadProps(entries)
}

// readDeadProps reads the dead properties of the entries, several at a
// time.
func (s *shareRequest) readDeadProps(entries []*entry) {
	const workers = 16
	work := make(chan *entry)
	var wg sync.WaitGroup
	for range min(workers, len(entries)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				p, err := s.fsys.smbPath(e.name)
				if err != nil {
					continue
				}
				e.dead, _ = s.fsys.readProps(p)
			}
		}()
	}
	sidecar := s.fsys.place.sidecar.Load()
	for i, e := range entries {
		if sidecar && i > 0 && !s.fsys.hasSidecar(e.name) {
			continue // listed without a sidecar: no dead properties
		}
		work <- e
	}
	close(work)
	wg.Wait()
}

// entryProps renders the properties pf asks for of the entry e: those it
// has, and those it lacks.
func (s *shareRequest) entryProps(pf propfindReq, e *entry, locks []Lock, now time.Time) (string, string) {
	var found, missing strings.Builder
	switch pf.mode {
	case modePropname:
		for _, n := range liveNames {
			if _, ok := s.liveValue(n, e, locks, now); ok {
				writeElement(&found, n, "", "", false)
			}
		}
		for _, n := range sortedNames(e.dead) {
			writeElement(&found, n, "", "", false)
		}
	case modeAllprop:
		for _, n := range liveNames {
			if v, ok := s.liveValue(n, e, locks, now); ok {
				writeElement(&found, n, "", v, true)
			}
		}
		for _, n := range sortedNames(e.dead) {
			p := e.dead[n]
			writeElement(&found, n, p.Lang, string(p.InnerXML), true)
		}
		for _, n := range pf.names {
			if isLive(n) && !contains(liveNames, n) {
				if v, ok := s.liveValue(n, e, locks, now); ok {
					writeElement(&found, n, "", v, true)
				}
			}
		}
	case modeProp:
		for _, n := range pf.names {
			if p, ok := e.dead[n]; ok && !isLive(n) {
				writeElement(&found, n, p.Lang, string(p.InnerXML), true)
			} else if v, ok := s.liveValue(n, e, locks, now); ok {
				writeElement(&found, n, "", v, true)
			} else {
				writeElement(&missing, n, "", "", false)
			}
		}
	}
	return found.String(), missing.String()
}

// sortedNames returns the property names of m in a stable order.
func sortedNames(m map[xml.Name]webdav.Property) []xml.Name {
	names := make([]xml.Name, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b xml.Name) int {
		if c := strings.Compare(a.Space, b.Space); c != 0 {
			return c
		}
		return strings.Compare(a.Local, b.Local)
	})
	return names
}

func contains(list []xml.Name, n xml.Name) bool {
	for _, l := range list {
		if l == n {
			return true
		}
	}
	return false
}

// liveValue computes a live property; ok is false when the resource has
// no such property.
func (s *shareRequest) liveValue(n xml.Name, e *entry, locks []Lock, now time.Time) (string, bool) {
	fi := e.fi
	if n.Space == nsMS {
		switch n.Local {
		case "Win32CreationTime":
			if fi.ctime.IsZero() {
				return "", false
			}
			return fi.ctime.UTC().Format(http.TimeFormat), true
		case "Win32LastModifiedTime":
			return fi.mtime.UTC().Format(http.TimeFormat), true
		case "Win32FileAttributes":
			return fmt.Sprintf("%08X", fi.attrs), true
		}
		return "", false
	}
	if n.Space != nsDAV {
		return "", false
	}
	switch n.Local {
	case "resourcetype":
		if fi.IsDir() {
			return "<D:collection/>", true
		}
		return "", true
	case "displayname":
		if e.name == "/" {
			return xmlEscape(s.share), true
		}
		return xmlEscape(path.Base(e.name)), true
	case "getcontentlength":
		if fi.IsDir() {
			return "", false
		}
		return strconv.FormatInt(fi.size, 10), true
	case "getlastmodified":
		return fi.mtime.UTC().Format(http.TimeFormat), true
	case "creationdate":
		t := fi.ctime
		if t.IsZero() {
			t = fi.mtime
		}
		return t.UTC().Format(time.RFC3339), true
	case "getcontenttype":
		if fi.IsDir() {
			return "", false
		}
		return xmlEscape(contentType(fi.name)), true
	case "getetag":
		// hex digits, a dash and literal quotes, which XML text needs not
		// escape and some clients' parsers do not decode (&#34;)
		return fi.etag(), true
	case "lockdiscovery":
		var b strings.Builder
		ln := s.lockName(e.name)
		for _, l := range locks {
			if l.covers(ln) {
				b.WriteString(s.activeLock(l, now))
			}
		}
		return b.String(), true
	case "supportedlock":
		return `<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>` +
			`<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>`, true
	case "quota-available-bytes", "quota-used-bytes":
		avail, used, err := s.fsys.quota()
		if err != nil {
			return "", false
		}
		if n.Local == "quota-used-bytes" {
			return strconv.FormatUint(used, 10), true
		}
		return strconv.FormatUint(avail, 10), true
	}
	return "", false
}
