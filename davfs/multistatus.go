package davfs

import (
	"bufio"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// multistatus writes a 207 Multi-Status body (RFC 4918 section 13): the
// one writer for PROPFIND, PROPPATCH, the virtual collections and the
// members a DELETE or MOVE could not remove. Responses go out through a
// 64 KiB buffer as they are made, so a listing of 10,000 entries is never
// held whole.
type multistatus struct {
	w *bufio.Writer
}

// msWriters holds the 64 KiB buffers of multistatus bodies: most are a
// few hundred bytes (a PROPFIND Depth:0), and a new buffer each time
// would cost more than the request.
var msWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// startMultistatus writes the status and the opening of the body.
func startMultistatus(w http.ResponseWriter) *multistatus {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	bw := msWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	bw.WriteString(xmlHeader + `<D:multistatus xmlns:D="DAV:">`)
	return &multistatus{w: bw}
}

// propstat is one propstat element: properties already rendered as XML
// (see writeElement), their status, and optionally a precondition or
// postcondition element and a description.
type propstat struct {
	status int
	props  string
	errXML string
	desc   string
}

// response writes a response for the escaped URL path href: with
// propstats, or with status alone when there are none.
func (m *multistatus) response(href string, status int, stats ...propstat) {
	w := m.w
	w.WriteString("<D:response><D:href>")
	w.WriteString(xmlEscape(href))
	w.WriteString("</D:href>")
	if len(stats) == 0 {
		writeStatus(w, status)
	}
	for _, ps := range stats {
		w.WriteString("<D:propstat><D:prop>")
		w.WriteString(ps.props)
		w.WriteString("</D:prop>")
		writeStatus(w, ps.status)
		if ps.errXML != "" {
			w.WriteString("<D:error>")
			w.WriteString(ps.errXML)
			w.WriteString("</D:error>")
		}
		if ps.desc != "" {
			w.WriteString("<D:responsedescription>")
			w.WriteString(xmlEscape(ps.desc))
			w.WriteString("</D:responsedescription>")
		}
		w.WriteString("</D:propstat>")
	}
	w.WriteString("</D:response>\n")
}

// props writes the response of a PROPFIND entry: the properties found
// with 200, those asked for and missing with 404 (section 9.1).
func (m *multistatus) props(href string, found, missing string) {
	var stats [2]propstat
	n := 0
	if found != "" || missing == "" {
		stats[n] = propstat{status: http.StatusOK, props: found}
		n++
	}
	if missing != "" {
		stats[n] = propstat{status: http.StatusNotFound, props: missing}
		n++
	}
	m.response(href, 0, stats[:n]...)
}

// close ends the body and sends what is buffered; m is not to be used
// after.
func (m *multistatus) close() error {
	m.w.WriteString("</D:multistatus>\n")
	err := m.w.Flush()
	m.w.Reset(nil)
	msWriters.Put(m.w)
	m.w = nil
	return err
}

func writeStatus(w *bufio.Writer, status int) {
	switch status {
	case http.StatusOK:
		w.WriteString("<D:status>HTTP/1.1 200 OK</D:status>")
	case http.StatusNotFound:
		w.WriteString("<D:status>HTTP/1.1 404 Not Found</D:status>")
	default:
		w.WriteString("<D:status>HTTP/1.1 ")
		w.WriteString(strconv.Itoa(status))
		w.WriteString(" ")
		w.WriteString(http.StatusText(status))
		w.WriteString("</D:status>")
	}
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

// propBody writes the body of a LOCK answer (RFC 4918 section 9.10.1):
// a prop element holding the lock's lockdiscovery.
func propBody(w http.ResponseWriter, status int, activeLock string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	var b strings.Builder
	b.WriteString(xmlHeader)
	b.WriteString(`<D:prop xmlns:D="DAV:">`)
	writeElement(&b, xml.Name{Space: nsDAV, Local: "lockdiscovery"}, "", activeLock, true)
	b.WriteString("</D:prop>\n")
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
