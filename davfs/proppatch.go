package davfs

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudsoda/go-smb2"
	"golang.org/x/net/webdav"
)

// proppatch serves PROPPATCH (RFC 4918 section 9.2): all changes or none,
// answered 207 whatever happens (section 9.2.1), with a status per
// property.
func (s *shareRequest) proppatch(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkLocks(r, []target{{name: s.name}}); err != nil {
		return err
	}
	body, err := s.h.readBody(w, r)
	if err != nil {
		return err
	}
	patches, err := parseProppatch(body)
	if err != nil {
		return fail(http.StatusBadRequest, fmt.Errorf("proppatch body: %w", err))
	}
	st, err := s.fsys.Stat(r.Context(), s.name)
	if err != nil {
		return failFS(err)
	}
	stats, err := s.fsys.patch(s.name, patches)
	s.changed()
	ms := startMultistatus(w)
	ms.response(s.href(s.name, st.IsDir()), 0, stats...)
	ms.close()
	if err != nil {
		return sent(http.StatusMultiStatus, err)
	}
	return nil
}

var (
	nameSet          = xml.Name{Space: nsDAV, Local: "set"}
	nameRemove       = xml.Name{Space: nsDAV, Local: "remove"}
	nameProp         = xml.Name{Space: nsDAV, Local: "prop"}
	namePropUpdate   = xml.Name{Space: nsDAV, Local: "propertyupdate"}
	errBadProppatch  = errors.New("not a propertyupdate of set and remove")
	errRemoveHasData = errors.New("a property to remove has a value")
)

// parseProppatch reads a propertyupdate body (RFC 4918 section 14.19):
// its set and remove instructions in document order, each property with
// its value re-serialised with every namespace spelled out (see
// writeStart), so that it stays well-formed wherever it is written back,
// and its xml:lang, inherited from the elements around it.
func parseProppatch(body []byte) ([]webdav.Proppatch, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	root, err := nextStart(dec)
	if err != nil {
		return nil, err
	}
	if root.Name != namePropUpdate {
		return nil, errBadProppatch
	}
	var patches []webdav.Proppatch
	lang := xmlLang(root, "")
	for {
		op, err := nextStart(dec)
		if err == io.EOF {
			return patches, nil
		}
		if err != nil {
			return nil, err
		}
		if op.Name != nameSet && op.Name != nameRemove {
			return nil, errBadProppatch
		}
		pp, err := readInstruction(dec, op, xmlLang(op, lang))
		if err != nil {
			return nil, err
		}
		patches = append(patches, pp)
	}
}

// nextStart returns the next start element at this level, io.EOF when
// the enclosing element (or the document) ends first.
func nextStart(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, checkNamespaces(t)
		case xml.EndElement:
			return xml.StartElement{}, io.EOF
		}
	}
}

// readInstruction reads one set or remove: its prop elements and the
// properties inside them.
func readInstruction(dec *xml.Decoder, op xml.StartElement, lang string) (webdav.Proppatch, error) {
	pp := webdav.Proppatch{Remove: op.Name == nameRemove}
	for {
		prop, err := nextStart(dec)
		if err == io.EOF {
			return pp, nil
		}
		if err != nil {
			return pp, err
		}
		if prop.Name != nameProp {
			return pp, errBadProppatch
		}
		plang := xmlLang(prop, lang)
		for {
			t, err := nextStart(dec)
			if err == io.EOF {
				break
			}
			if err != nil {
				return pp, err
			}
			value, err := readValue(dec)
			if err != nil {
				return pp, err
			}
			if pp.Remove && value != "" {
				return pp, errRemoveHasData
			}
			pp.Props = append(pp.Props, webdav.Property{XMLName: t.Name, Lang: xmlLang(t, plang), InnerXML: []byte(value)})
		}
	}
}

// readValue re-serialises the content of the element just started, up to
// its end.
func readValue(dec *xml.Decoder) (string, error) {
	var b strings.Builder
	for depth := 0; ; {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := checkNamespaces(t); err != nil {
				return "", err
			}
			writeStart(&b, t)
			depth++
		case xml.EndElement:
			if depth == 0 {
				return b.String(), nil
			}
			b.WriteString("</" + t.Name.Local + ">")
			depth--
		case xml.CharData:
			xml.EscapeText(&b, t)
		}
		if b.Len() > maxPropsSize {
			return "", fmt.Errorf("property value over %d bytes", maxPropsSize)
		}
	}
}

// xmlLang is the xml:lang of an element, or the one it inherits.
func xmlLang(t xml.StartElement, inherited string) string {
	for _, a := range t.Attr {
		if a.Name.Local == "lang" && (a.Name.Space == "xml" || a.Name.Space == "http://www.w3.org/XML/1998/namespace") {
			return a.Value
		}
	}
	return inherited
}

// win32Set is what a PROPPATCH's Win32 properties ask for: the times to
// set (zero: keep) and the read-only bit (-1: keep).
type win32Set struct {
	mtime, atime time.Time
	readOnly     int
}

// patch applies a PROPPATCH to the resource name: all changes or none.
// Protected properties fail with 403 and a Win32 value that cannot be set
// with 409, the rest then with 424 (section 9.2), before anything is
// changed. A failure of the store becomes the status of every property;
// err is that failure, for the log.
func (f *FS) patch(name string, patches []webdav.Proppatch) ([]propstat, error) {
	var all []xml.Name
	for _, p := range patches {
		for _, pr := range p.Props {
			all = append(all, pr.XMLName)
		}
	}
	if bad := slices.DeleteFunc(slices.Clone(all), func(n xml.Name) bool { return !protectedProps[n] }); len(bad) > 0 {
		return refused(all, bad, propstat{status: http.StatusForbidden,
			errXML: `<D:cannot-modify-protected-property/>`}), nil
	}
	w32, bad := win32Values(patches)
	if len(bad) > 0 {
		return refused(all, bad, propstat{status: http.StatusConflict,
			desc: "not a date from 1678 to 2261, or not hexadecimal attributes"}), nil
	}
	if err := f.applyPatch(name, patches, w32); err != nil {
		st, ok := httpStatus(err)
		if !ok || st == http.StatusNotFound {
			st = http.StatusInternalServerError
		}
		return []propstat{{status: st, props: emptyProps(all)}}, err
	}
	return []propstat{{status: http.StatusOK, props: emptyProps(all)}}, nil
}

// refused answers the properties bad with ps and the rest of all with 424
// Failed Dependency.
func refused(all, bad []xml.Name, ps propstat) []propstat {
	ps.props = emptyProps(bad)
	out := []propstat{ps}
	if dep := slices.DeleteFunc(slices.Clone(all), func(n xml.Name) bool { return slices.Contains(bad, n) }); len(dep) > 0 {
		out = append(out, propstat{status: http.StatusFailedDependency, props: emptyProps(dep)})
	}
	return out
}

func emptyProps(names []xml.Name) string {
	var b strings.Builder
	for _, n := range names {
		writeElement(&b, n, "", "", false)
	}
	return b.String()
}

// win32Values reads the Win32 properties a PROPPATCH sets; bad are those
// whose value cannot be set (a date that is no date, or one out of range,
// attributes that are not hexadecimal).
func win32Values(patches []webdav.Proppatch) (w32 win32Set, bad []xml.Name) {
	w32.readOnly = -1
	for _, p := range patches {
		for _, pr := range p.Props {
			if !win32Props[pr.XMLName] || p.Remove {
				continue
			}
			v := strings.TrimSpace(string(pr.InnerXML))
			if pr.XMLName.Local == "Win32FileAttributes" {
				if a, err := strconv.ParseUint(v, 16, 32); err != nil {
					bad = append(bad, pr.XMLName)
				} else {
					w32.readOnly = int(a & fileAttributeReadonly)
				}
				continue
			}
			t, ok := parseWin32Time(v)
			switch {
			case !ok:
				bad = append(bad, pr.XMLName)
			case pr.XMLName.Local == "Win32LastModifiedTime":
				w32.mtime = t
			case pr.XMLName.Local == "Win32LastAccessTime":
				w32.atime = t
			}
		}
	}
	return w32, bad
}

// applyPatch stores the dead properties of a PROPPATCH and sets what its
// Win32 properties ask for. Win32LastModifiedTime and Win32LastAccessTime
// set the SMB timestamps and Win32FileAttributes the read-only attribute;
// the rest of the attributes and Win32CreationTime are accepted and not
// stored (go-smb2 has no call that sets them).
func (f *FS) applyPatch(name string, patches []webdav.Proppatch, w32 win32Set) error {
	_, p, err := f.resolve("proppatch", name)
	if err != nil {
		return err
	}
	m, err := f.readProps(p)
	if err != nil {
		return err
	}
	if m == nil {
		m = map[xml.Name]webdav.Property{}
	}
	changed := false
	for _, pp := range patches {
		for _, pr := range pp.Props {
			if win32Props[pr.XMLName] {
				continue
			}
			changed = true
			if pp.Remove {
				delete(m, pr.XMLName)
			} else {
				m[pr.XMLName] = pr
			}
		}
	}
	f.forget()
	if changed || !w32.mtime.IsZero() || !w32.atime.IsZero() {
		if err := f.writeKeepingTimes(name, p, m, changed, w32); err != nil {
			return err
		}
	}
	if w32.readOnly >= 0 {
		return f.setReadOnly(name, p, w32.readOnly == 1)
	}
	return nil
}

// writeKeepingTimes writes the properties m of the resource at p (when
// changed) and sets its times to those w32 asks for, or back to what they
// were: writing the properties' stream sets the resource's modification
// time (the server's doing), which would change its ETag and
// Last-Modified though its content did not.
func (f *FS) writeKeepingTimes(name, p string, m map[xml.Name]webdav.Property, changed bool, w32 win32Set) error {
	// A handle held open meanwhile keeps a PUT from renaming new content
	// over the resource between reading its times and setting them back
	// (the PUT waits for it), which would date the new content with the
	// old time and ETag.
	held, err := f.share.Open(p)
	if err != nil {
		return f.fail("open", name, err)
	}
	defer held.Close()
	before, err := held.Stat()
	if err != nil {
		return f.fail("stat", name, err)
	}
	if changed {
		if err := f.writeProps(p, m); err != nil {
			return err
		}
	}
	mtime, atime := w32.mtime, w32.atime
	if mtime.IsZero() {
		mtime = before.ModTime()
	}
	if atime.IsZero() {
		atime = mtime
		if st, ok := before.Sys().(*smb2.FileStat); ok && !st.LastAccessTime.IsZero() {
			atime = st.LastAccessTime
		}
	}
	if err := f.share.Chtimes(p, atime, mtime); err != nil {
		return f.fail("set times", name, err)
	}
	return nil
}

// setReadOnly sets or clears the read-only attribute of the resource at p
// (Explorer's Properties dialog); go-smb2 has no call for hidden, system
// or archive.
func (f *FS) setReadOnly(name, p string, readOnly bool) error {
	st, err := f.share.Stat(p)
	if err != nil {
		return f.fail("stat", name, err)
	}
	fst, ok := st.Sys().(*smb2.FileStat)
	if !ok || (fst.FileAttributes&fileAttributeReadonly != 0) == readOnly {
		return nil
	}
	mode := os.FileMode(0o666)
	if readOnly {
		mode = 0o444
	}
	if err := f.share.Chmod(p, mode); err != nil {
		return f.fail("set attributes", name, err)
	}
	return nil
}
