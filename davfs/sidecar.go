package davfs

import (
	"bytes"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/davgate/davgate/internal/smbstatus"
)

// A share whose server has no alternate data streams (a stock Samba, with
// no `vfs objects = streams_xattr`) keeps dead properties in sidecar files
// instead: the properties of the file or folder dir\name live in
// dir\.~davgate-props.name, those of the mount's root in
// root\.~davgate-props. Like davgate's temporary files they are hidden
// from listings and cannot be named by a client. davgate carries them
// along with every rename (MOVE), copy and delete it makes; a change made
// on the server directly leaves an orphan, which a listing removes a day
// later.
const sidecarPrefix = tempPrefix + "props"

// propPlace says where a mounted directory keeps dead properties: in
// streams until the server refuses a stream name, then in sidecar files.
// The Handler keeps one per lock scope, so that it is learned once.
type propPlace struct{ sidecar atomic.Bool }

// useSidecar reports whether err, from opening a property stream, says
// that the share has no streams (OBJECT_NAME_INVALID for any name with a
// colon, or a refusal of streams as such), and remembers it.
func (f *FS) useSidecar(err error) bool {
	m, status := smbstatus.Classify(err)
	if status == smbstatus.ObjectNameInvalid || m.Kind == ErrNotSupported {
		f.place.sidecar.Store(true)
		return true
	}
	return false
}

// sidecarPath is the SMB path of the sidecar file of the resource at p.
func (f *FS) sidecarPath(p string) string {
	if p == f.root {
		return joinSMB(p, sidecarPrefix)
	}
	dir := parentSMB(p)
	base := p
	if dir != "" {
		base = p[len(dir)+1:]
	}
	return joinSMB(dir, sidecarPrefix+"."+base)
}

// sidecarOf names the resource whose sidecar file is called name, "" if
// name is no file sidecar.
func sidecarOf(name string) string {
	base, _ := strings.CutPrefix(name, sidecarPrefix+".")
	if base == name {
		return ""
	}
	return base
}

func (f *FS) readSidecar(p string) ([]byte, error) {
	sf, err := f.share.Open(f.sidecarPath(p))
	if err != nil {
		if kind := errorKind(err); kind == fs.ErrNotExist {
			return nil, nil
		}
		return nil, f.fail("read properties", p, err)
	}
	return f.readPropsFile(p, sf)
}

// writeInPlace overwrites the file sp with raw in one write, padded with
// spaces (which JSON ignores) to at least its old length, and cuts it to
// size only afterwards: a write the server refuses (a full disk, an
// extended attribute too large for the file system) leaves the old
// properties as they were; truncating first would lose them all.
func (f *FS) writeInPlace(p, sp string, raw []byte) error {
	sf, err := f.share.OpenFile(sp, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return f.fail("write properties", p, err)
	}
	defer sf.Close()
	st, err := sf.Stat()
	if err != nil {
		return f.fail("write properties", p, err)
	}
	data := raw
	if old := st.Size(); old > int64(len(raw)) {
		data = append(slices.Clip(raw), bytes.Repeat([]byte(" "), int(old)-len(raw))...)
	}
	if _, err := sf.WriteAt(data, 0); err != nil {
		return f.fail("write properties", p, err)
	}
	if len(data) > len(raw) {
		sf.Truncate(int64(len(raw))) // the padding is harmless if this fails
	}
	if err := sf.Close(); err != nil {
		return f.fail("write properties", p, err)
	}
	return nil
}

// renamedProps carries the sidecar of the resource renamed from from to
// to (a no-op where properties live in streams, which a rename carries):
// to's old properties go, from's take their place.
func (f *FS) renamedProps(from, to string) {
	if !f.place.sidecar.Load() {
		return
	}
	err := replace(f.share, f.sidecarPath(from), f.sidecarPath(to))
	if err != nil && errorKind(err) == fs.ErrNotExist {
		f.share.Remove(f.sidecarPath(to))
	}
}

// dropProps removes the sidecar of the resource at p, which is gone.
func (f *FS) dropProps(p string) {
	if f.place.sidecar.Load() && p != f.root {
		f.share.Remove(f.sidecarPath(p))
	}
}

// sweepSidecars removes the sidecars in a listing of the directory at p
// whose resource is gone (removed on the server directly) and that are
// older than staleTempAge.
func (f *FS) sweepSidecars(p string, list []os.FileInfo) {
	var names map[string]bool
	for _, st := range list {
		base := sidecarOf(st.Name())
		if base == "" || time.Since(st.ModTime()) <= staleTempAge {
			continue
		}
		if names == nil {
			names = make(map[string]bool, len(list))
			for _, e := range list {
				names[e.Name()] = true
			}
		}
		if !names[base] {
			f.share.Remove(joinSMB(p, st.Name()))
		}
	}
}
