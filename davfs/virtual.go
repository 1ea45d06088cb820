package davfs

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// serveRoot serves the prefix itself: a read-only collection whose
// members are the user's shares.
func (h *Handler) serveRoot(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodOptions:
		writeOptions(w, allowRoot)
		return nil
	case "PROPFIND":
		return h.propfindVirtual(w, r, h.prefix+"/", func() ([]string, error) {
			names, err := h.source.Names(r.Context())
			hrefs := make([]string, len(names)) // names may be the source's own
			for i, n := range names {
				hrefs[i] = h.prefix + "/" + n + "/"
			}
			return hrefs, err
		})
	case http.MethodGet, http.MethodHead:
		return h.shareList(w, r)
	}
	w.Header().Set("Allow", allowRoot)
	return fail(http.StatusMethodNotAllowed, nil)
}

// shareList answers GET of the prefix: the shares as an HTML list.
func (h *Handler) shareList(w http.ResponseWriter, r *http.Request) error {
	names, err := h.source.Names(r.Context())
	if err != nil {
		return fail(sourceStatus(err), fmt.Errorf("list shares: %w", err))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!doctype html><title>davgate</title><ul>\n")
	for _, n := range names {
		u := (&url.URL{Path: h.prefix + "/" + n + "/"}).EscapedPath()
		fmt.Fprintf(w, "<li><a href=\"%s\">%s</a></li>\n", xmlEscape(u), xmlEscape(n))
	}
	fmt.Fprint(w, "</ul>\n")
	return nil
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
		h.respond(w, r, fail(http.StatusMethodNotAllowed, nil))
		return
	}
	h.respond(w, r, h.propfindVirtual(w, r, "/", func() ([]string, error) { return []string{h.prefix + "/"}, nil }))
}

// propfindVirtual answers a PROPFIND of a virtual collection at self
// whose members' hrefs, asked only at Depth 1, come from members: the
// collection and its members, all collections (the share list and the
// shares, or the server root and the share list). They are dated by the
// server's start, and only self has an ETag (a share's own comes from its
// root on the file server, which the list does not visit). Properties
// they do not have are 404, as on any resource.
func (h *Handler) propfindVirtual(w http.ResponseWriter, r *http.Request, self string, members func() ([]string, error)) error {
	depth, err := propfindDepth(r)
	if err != nil {
		return err
	}
	pf, err := h.readPropfind(w, r)
	if err != nil {
		return err
	}
	hrefs := []string{self}
	if depth != 0 {
		m, err := members()
		if err != nil {
			return fail(sourceStatus(err), fmt.Errorf("list shares: %w", err))
		}
		hrefs = append(hrefs, m...)
	}
	ms := startMultistatus(w)
	for _, href := range hrefs {
		found, missing := h.virtualProps(pf, self, href)
		ms.props((&url.URL{Path: href}).EscapedPath(), found, missing)
	}
	return ms.close()
}

// virtualNames are the properties of a virtual collection.
var virtualNames = []xml.Name{{Space: nsDAV, Local: "resourcetype"}, {Space: nsDAV, Local: "displayname"},
	{Space: nsDAV, Local: "getlastmodified"}, {Space: nsDAV, Local: "creationdate"}, {Space: nsDAV, Local: "getetag"}}

// virtualProps renders the properties pf asks for of the virtual
// collection at href: those it has, and those it lacks.
func (h *Handler) virtualProps(pf propfindReq, self, href string) (found, missing string) {
	var f, m strings.Builder
	asked := pf.names
	if pf.mode != modeProp {
		asked = virtualNames
	}
	for _, n := range asked {
		if v, ok := h.virtualValue(n, self, href); ok {
			writeElement(&f, n, "", v, pf.mode != modePropname)
		} else if pf.mode == modeProp {
			writeElement(&m, n, "", "", false)
		}
	}
	return f.String(), m.String()
}

func (h *Handler) virtualValue(n xml.Name, self, href string) (string, bool) {
	if n.Space != nsDAV {
		return "", false
	}
	started := h.started.UTC()
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

// propfindDepth applies RFC 4918 section 9.1: a PROPFIND without Depth or
// with Depth: infinity is refused with 403 and the propfind-finite-depth
// precondition, since a whole-share walk is a denial of service.
func propfindDepth(r *http.Request) (int, error) {
	switch d := r.Header.Get("Depth"); d {
	case "0":
		return 0, nil
	case "1":
		return 1, nil
	case "", "infinity":
		return 0, failCond(http.StatusForbidden, "propfind-finite-depth", "", fmt.Errorf("propfind with infinite depth"))
	default:
		return 0, fail(http.StatusBadRequest, fmt.Errorf("bad depth %q", d))
	}
}
