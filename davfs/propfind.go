package davfs

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// PROPFIND is served by davgate rather than x/net/webdav, which opens and
// stats every child of a listing, reads content to guess types, has no
// getetag for collections, no quota and no lockdiscovery. Here a Depth: 1
// listing costs one SMB directory query; the dead properties stream of
// each child is read only when the request asks for dead properties.

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
func (h *Handler) readPropfind(w http.ResponseWriter, r *http.Request) (propfindReq, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, slowbody.Reader(w, r, slowbody.Idle, slowbody.Total), h.maxBody))
	if err != nil {
		h.fail(w, r, http.StatusRequestEntityTooLarge, err)
		return propfindReq{}, false
	}
	pf, err := parsePropfind(body)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("propfind body: %w", err))
		return propfindReq{}, false
	}
	return pf, true
}

// propfind serves PROPFIND with Depth 0 or 1 (the caller refused others).
func (s *shareRequest) propfind(w http.ResponseWriter, r *http.Request, name string, depth int) {
	ctx := r.Context()
	h := s.h
	pf, ok := h.readPropfind(w, r)
	if !ok {
		return
	}
	st, err := s.fsys.Stat(ctx, name)
	if err != nil {
		s.failFS(w, r, err)
		return
	}
	entries := []*entry{{name: name, fi: st.(*fileInfo)}}
	if depth == 1 && st.IsDir() {
		f, err := s.fsys.OpenFile(ctx, name, os.O_RDONLY, 0)
		if err != nil {
			s.failFS(w, r, err)
			return
		}
		children, err := f.Readdir(0)
		f.Close()
		if err != nil {
			s.failFS(w, r, err)
			return
		}
		for _, c := range children {
			entries = append(entries, &entry{name: path.Join(name, c.Name()), fi: c.(*fileInfo)})
		}
	}
	needDead := pf.mode != modeProp
	for _, n := range pf.names {
		if !isLive(n) {
			needDead = true
		}
	}
	if needDead {
		if len(entries) > 1 {
			if p, err := s.fsys.smbPath(name); err == nil && !s.fsys.hasChildProps(p) {
				entries[0].dead, _ = s.fsys.readProps(p)
				needDead = false
			}
		}
		if needDead {
			s.loadDeadProps(entries)
		}
	}
	locks, err := h.locks.Find(ctx, s.lockName(name), depth == 1)
	if err != nil {
		h.fail(w, r, http.StatusServiceUnavailable, fmt.Errorf("find locks: %w", err))
		return
	}

	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<D:multistatus xmlns:D="DAV:">`)
	now := time.Now()
	for _, e := range entries {
		s.writeResponse(bw, pf, e, locks, now)
	}
	bw.WriteString("</D:multistatus>\n")
	if err := bw.Flush(); err != nil {
		h.log.DebugContext(ctx, "propfind: write response", "error", err.Error())
	}
}

// loadDeadProps reads the dead properties of the entries, several at a
// time.
func (s *shareRequest) loadDeadProps(entries []*entry) {
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

func (s *shareRequest) writeResponse(w *bufio.Writer, pf propfindReq, e *entry, locks []Lock, now time.Time) {
	w.WriteString("<D:response><D:href>")
	w.WriteString(xmlEscape(s.href(e.name, e.fi.IsDir())))
	w.WriteString("</D:href>")
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
	if found.Len() > 0 || missing.Len() == 0 {
		w.WriteString("<D:propstat><D:prop>")
		w.WriteString(found.String())
		w.WriteString("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>")
	}
	if missing.Len() > 0 {
		w.WriteString("<D:propstat><D:prop>")
		w.WriteString(missing.String())
		w.WriteString("</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>")
	}
	w.WriteString("</D:response>\n")
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

// writeElement writes a property element, empty when withValue is false;
// a property outside DAV: declares its namespace as the default one.
func writeElement(b *strings.Builder, n xml.Name, lang, value string, withValue bool) {
	dav := n.Space == nsDAV
	b.WriteString("<")
	if dav {
		b.WriteString("D:")
	}
	b.WriteString(n.Local)
	if !dav {
		b.WriteString(` xmlns="`)
		b.WriteString(xmlEscape(n.Space))
		b.WriteString(`"`)
	}
	if lang != "" {
		b.WriteString(` xml:lang="`)
		b.WriteString(xmlEscape(lang))
		b.WriteString(`"`)
	}
	b.WriteString(">")
	if withValue {
		b.WriteString(value)
	}
	b.WriteString("</")
	if dav {
		b.WriteString("D:")
	}
	b.WriteString(n.Local)
	b.WriteString(">")
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
