package davfs

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/net/webdav"
)

// Dead properties (RFC 4918 section 4) live in an alternate data stream of
// the resource they describe, so that an SMB rename (MOVE) carries them,
// every davgate instance sees them, and no side store can drift from the
// share. The share needs streams: Samba on Linux with
// `vfs objects = streams_xattr` (Windows and macOS servers have them
// natively). Without streams PROPPATCH answers 207 with 403 for each
// property and the rest of WebDAV works.
const propsStream = ":davgate.props"

// childPropsMarker is an empty stream on a directory saying that some of
// its children may have dead properties. A listing that asks for dead
// properties reads the children's streams only when it is there, so a
// directory without any costs one lookup instead of one per child. It is
// set whenever properties are written and never removed (a stale marker
// only costs time).
const childPropsMarker = ":davgate.childprops"

// parentSMB is the SMB path of the directory holding p ("" for the share
// root).
func parentSMB(p string) string {
	i := strings.LastIndexByte(p, '\\')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// markChildProps sets the marker on the directory dir.
func (f *FS) markChildProps(dir string) {
	f.mu.Lock()
	done := f.marked[dir]
	f.mu.Unlock()
	if done {
		return
	}
	sf, err := f.share.OpenFile(dir+childPropsMarker, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return
	}
	sf.Close()
	f.mu.Lock()
	if f.marked == nil {
		f.marked = map[string]bool{}
	}
	f.marked[dir] = true
	f.mu.Unlock()
}

// hasChildProps reports whether children of dir may have dead properties.
func (f *FS) hasChildProps(dir string) bool {
	if f.place.sidecar.Load() {
		return true // the listing shows which have (see file.Readdir)
	}
	_, err := f.share.Stat(dir + childPropsMarker)
	if err == nil {
		return true
	}
	if f.useSidecar(err) {
		return true
	}
	switch errorKind(err) {
	case fs.ErrNotExist, ErrBadName, ErrNotSupported:
		return false // none, or no streams at all
	}
	return true
}

// storedProp is a dead property as stored, JSON encoded.
type storedProp struct {
	Space string `json:"ns"`
	Local string `json:"name"`
	Lang  string `json:"lang,omitempty"`
	XML   string `json:"xml"`
}

const (
	nsDAV = "DAV:"
	nsMS  = "urn:schemas-microsoft-com:"
)

// protectedProps are computed by davgate and cannot be set (RFC 4331
// section 3 and 4 for the quota properties).
var protectedProps = map[xml.Name]bool{
	{Space: nsDAV, Local: "quota-available-bytes"}: true,
	{Space: nsDAV, Local: "quota-used-bytes"}:      true,
}

// win32Props are the Windows client's properties: they set SMB metadata
// and are answered from it, never stored.
var win32Props = map[xml.Name]bool{
	{Space: nsMS, Local: "Win32CreationTime"}:     true,
	{Space: nsMS, Local: "Win32LastAccessTime"}:   true,
	{Space: nsMS, Local: "Win32LastModifiedTime"}: true,
	{Space: nsMS, Local: "Win32FileAttributes"}:   true,
}

// maxPropsSize bounds the stored properties of one resource.
const maxPropsSize = 64 << 10

// readProps returns the dead properties stored for the SMB path p.
func (f *FS) readProps(p string) (map[xml.Name]webdav.Property, error) {
	raw, err := f.readPropsRaw(p)
	if err != nil || raw == nil {
		return nil, err
	}
	var list []storedProp
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, nil // unreadable properties are no properties
	}
	m := make(map[xml.Name]webdav.Property, len(list))
	for _, sp := range list {
		n := xml.Name{Space: sp.Space, Local: sp.Local}
		m[n] = webdav.Property{XMLName: n, Lang: sp.Lang, InnerXML: []byte(sp.XML)}
	}
	return m, nil
}

func (f *FS) readPropsRaw(p string) ([]byte, error) {
	if f.place.sidecar.Load() {
		return f.readSidecar(p)
	}
	sf, err := f.share.Open(p + propsStream)
	if err != nil {
		if f.useSidecar(err) {
			return f.readSidecar(p)
		}
		if kind := errorKind(err); kind == fs.ErrNotExist || kind == ErrBadName {
			return nil, nil
		}
		return nil, f.fail("read properties", p, err)
	}
	return f.readPropsFile(p, sf)
}

// readPropsFile reads an open property stream or sidecar of p, up to one
// byte past maxPropsSize, and closes it.
func (f *FS) readPropsFile(p string, sf io.ReadCloser) ([]byte, error) {
	defer sf.Close()
	raw, err := io.ReadAll(io.LimitReader(sf, maxPropsSize+1))
	if err != nil {
		return nil, f.fail("read properties", p, err)
	}
	return raw, nil
}

// writeProps replaces the stored dead properties of p; an empty map
// removes the stream.
func (f *FS) writeProps(p string, m map[xml.Name]webdav.Property) error {
	if len(m) == 0 {
		sp := p + propsStream
		if f.place.sidecar.Load() {
			sp = f.sidecarPath(p)
		}
		err := f.share.Remove(sp)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return f.fail("write properties", p, err)
		}
		return nil
	}
	list := make([]storedProp, 0, len(m))
	for n, pr := range m {
		list = append(list, storedProp{Space: n.Space, Local: n.Local, Lang: pr.Lang, XML: string(pr.InnerXML)})
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return err
	}
	if len(raw) > maxPropsSize {
		return &os.PathError{Op: "write properties", Path: p, Err: ErrNoSpace}
	}
	return f.writePropsRaw(p, raw)
}

// writePropsRaw stores raw as the properties of p without ever leaving
// them empty (see writeInPlace), in p's stream or, on a share without
// streams, its sidecar file.
func (f *FS) writePropsRaw(p string, raw []byte) error {
	if f.place.sidecar.Load() {
		return f.writeInPlace(p, f.sidecarPath(p), raw)
	}
	if p != f.root {
		f.markChildProps(parentSMB(p))
	}
	err := f.writeInPlace(p, p+propsStream, raw)
	if err != nil && f.useSidecar(err) {
		return f.writeInPlace(p, f.sidecarPath(p), raw)
	}
	return err
}

// copyProps copies the dead properties of the resource at from (SMB path
// in sfs, which may be f) to the resource at to in f. A failure is
// recorded, not returned: the content the properties describe matters
// more.
func (f *FS) copyProps(sfs *FS, from, to string) {
	raw, err := sfs.readPropsRaw(from)
	if err != nil || raw == nil {
		return
	}
	f.writePropsRaw(to, raw)
}

// keepProps gives the temporary file tmp, about to be renamed over the
// resource at target (PUT), target's dead properties. A sidecar stays
// where it is and needs nothing.
func (f *FS) keepProps(target, tmp string) {
	raw, err := f.readPropsRaw(target)
	if err != nil || raw == nil || f.place.sidecar.Load() {
		return
	}
	f.writePropsRaw(tmp, raw)
}

// parseWin32Time reads a Win32 time property: an HTTP date, as Windows
// sends, or RFC 3339. ok is false for anything else and for dates outside
// the years 1678 to 2261, the ones go-smb2 can send (it counts in Unix
// nanoseconds; an SMB timestamp itself starts in 1601).
func parseWin32Time(v string) (t time.Time, ok bool) {
	t, err := http.ParseTime(v)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return time.Time{}, false
		}
	}
	if t.Year() < 1678 || t.Year() > 2261 {
		return time.Time{}, false
	}
	return t, true
}
