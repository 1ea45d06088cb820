// Package davfs owns the WebDAV protocol over SMB shares: every method
// of RFC 4918 on /dav/ and /dav/<share>/... is served here (x/net/webdav
// lends only its Property types), on a file system over a directory of an
// SMB share opened as the requesting user, so the file server's own
// permissions apply.
//
// What lives where:
//
//   - handler.go: the Handler, its options and the dispatch of a request
//     to its method; respond.go: the one adapter that renders a handler's
//     error (status, safe text or RFC 4918 precondition element, one log
//     line, the SMB failure handed to the mount's release).
//   - get.go, put.go, propfind.go, proppatch.go, mkcol.go, delete.go,
//     transfer.go (COPY and MOVE, within and across shares), locking.go
//     (LOCK, UNLOCK and the If header): one file per method or two.
//   - multistatus.go: the one writer of 207 bodies and property XML;
//     virtual.go: the share list and the server root.
//   - fs.go, file.go, copytree.go, retry.go, acl.go, props.go, sidecar.go:
//     the SMB file system: names, handles, read-ahead and write-behind
//     buffers, atomic replacement, ACLs kept across replacement, dead
//     properties in streams or sidecar files.
//   - errors.go: *Error, an SMB failure with its kind and its verdict on
//     the connection, from the one status table in internal/smbstatus.
//   - lock.go, redislocks.go: the lock stores (memory, Redis);
//     upload*.go: resumable uploads (tus); zip.go: folder downloads.
//
// It protects the user's files against partial writes (PUT writes a temporary
// file and renames it over the target only once the whole body arrived, with
// the replaced file's ACL where the server lets the user read and set it) and
// keeps SMB error text away from clients. Names from clients are checked so
// that they cannot reach alternate data streams or climb out of the share's
// root. Locks are bound to the user who took them.
//
// What it needs from the file server: SMB 2.0.2 or later. Dead properties
// live in an alternate data stream of their resource (Windows and macOS
// servers have streams; Samba needs `vfs objects = streams_xattr`); a share
// without streams keeps them in hidden sidecar files instead (see
// sidecarPrefix), and all of WebDAV works on it.
package davfs

import (
	"context"
	"errors"
	"io/fs"
	"mime"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cloudsoda/go-smb2"
	"golang.org/x/text/unicode/norm"
)

// tempPrefix starts the names of davgate's temporary files; listings hide them.
const tempPrefix = ".~davgate-"

// FS is a file system over a directory of an SMB share, bound to one
// request's context. It is not meant to outlive the request: it remembers
// the last directory listing so that a Stat or open of a listed child
// costs no SMB round trip. Its errors are *Error, which carry the SMB
// status, the error kind and what they say about the connection.
type FS struct {
	share *smb2.Share
	root  string // SMB path of the root, backslash separated, "" for the share root

	mu        sync.Mutex
	listing   map[string]*fileInfo // webdav name -> info, from the last Readdir
	quotaInfo *quotaInfo
	stored    map[string]string // clean name -> SMB path of a name stored in another normal form
	marked    map[string]bool   // directories known to carry childPropsMarker
	sidecars  map[string]bool   // names whose sidecar file the last listing showed
	place     *propPlace        // where the mount keeps dead properties
	meta      *metaCache        // recent Stat answers of the Handler, nil for none
	scope     string            // the mount's lock scope, for meta
	user      string            // the request's user, for meta
	bufs      *bufPool          // set by the Handler; nil allocates
}

// NewFS returns a file system rooted at root (slash separated, relative to
// the share) whose SMB requests carry ctx's values but not its
// cancellation: go-smb2 (cloudsoda @0c5d69b) gives up waiting for its
// writer when a request's context ends while the packet is being written,
// and the next request then reuses the send buffer that is still on its
// way out and reads the abandoned write's result, which corrupts the
// connection for every user of it. So an SMB request, once sent, always
// runs to its end; a request whose client went away stops at the next
// read from or write to the client instead.
func NewFS(ctx context.Context, share *smb2.Share, root string) *FS {
	root = strings.Trim(strings.ReplaceAll(root, "\\", "/"), "/")
	return &FS{
		share: share.WithContext(context.WithoutCancel(ctx)),
		root:  strings.ReplaceAll(root, "/", `\`),
		place: &propPlace{},
	}
}

// fail turns err (from go-smb2, or a kind of this package) into an *Error
// for the operation op on name, unless it is one already.
func (f *FS) fail(op, name string, err error) error {
	if _, ok := errors.AsType[*Error](err); ok {
		return err
	}
	return mapError(op, name, err)
}

// clean turns a webdav name into its canonical form: slash separated,
// leading slash, no trailing slash, Unicode NFC.
//
// Names are normalised to NFC: Windows, browsers and most tools send NFC,
// macOS sends NFD. Storing NFC means a file created from Finder is found
// from Windows, and a Finder request in NFD finds a file created from
// Windows.
func clean(name string) string {
	name = path.Clean("/" + name)
	if !isASCII(name) {
		name = norm.NFC.String(name)
	}
	return name
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// smbInvalid reports whether no file on an SMB share can have the name:
// it holds a backslash (an SMB separator), a colon (alternate data
// streams), one of * ? " < > | (wildcards and reserved characters, which
// the server refuses with OBJECT_NAME_INVALID), a control character, or
// bytes that are not UTF-8 (SMB names are UTF-16; they would become
// U+FFFD, and different names the same file).
func smbInvalid(name string) bool {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c < 0x20, c == '\\', c == ':', c == '*', c == '?', c == '"', c == '<', c == '>', c == '|':
			return true
		}
	}
	return !utf8.ValidString(name)
}

// smbPath maps a clean webdav name to the SMB path below the share; a name
// no SMB file can have (smbInvalid) is ErrBadName.
func (f *FS) smbPath(name string) (string, error) {
	if smbInvalid(name) {
		return "", ErrBadName
	}
	if p, ok := f.storedPath(name); ok {
		return p, nil
	}
	rel := strings.TrimPrefix(name, "/")
	if rel == "" {
		return f.root, nil
	}
	rel = strings.ReplaceAll(rel, "/", `\`)
	if f.root == "" {
		return rel, nil
	}
	return f.root + `\` + rel, nil
}

// storedPath finds name or its nearest ancestor among the names found
// stored in another Unicode normal form.
func (f *FS) storedPath(name string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.stored) == 0 {
		return "", false
	}
	for n := name; n != "/"; n = path.Dir(n) {
		if p, ok := f.stored[n]; ok {
			rest := strings.TrimPrefix(name, n)
			return p + strings.ReplaceAll(rest, "/", `\`), true
		}
	}
	return "", false
}

// findStored looks for name in its parent directory under another Unicode
// normal form (a file stored in NFD by a client that wrote to the share
// directly) and remembers its SMB path. It costs one directory listing and
// is only tried for a non-ASCII name that was not found.
func (f *FS) findStored(name string) bool {
	if isASCII(name) || name == "/" {
		return false
	}
	dir, base := path.Dir(name), path.Base(name)
	if _, known := f.storedPath(dir); !known && !isASCII(dir) {
		f.findStored(dir) // the parent may be stored differently too
	}
	dp, err := f.smbPath(dir)
	if err != nil {
		return false
	}
	d, err := f.share.Open(dp)
	if err != nil {
		return false
	}
	list, err := d.Readdir(-1)
	d.Close()
	if err != nil {
		return false
	}
	for _, e := range list {
		if e.Name() != base && norm.NFC.String(e.Name()) == base {
			p := joinSMB(dp, e.Name())
			f.mu.Lock()
			if f.stored == nil {
				f.stored = map[string]string{}
			}
			f.stored[name] = p
			f.mu.Unlock()
			return true
		}
	}
	return false
}

func (f *FS) resolve(op, name string) (clean_, smb string, err error) {
	c := clean(name)
	p, err := f.smbPath(c)
	if err != nil {
		return "", "", f.fail(op, c, err)
	}
	return c, p, nil
}

// forget drops the listing cache and the Handler's recent Stat answers of
// the mount; every change to the tree calls it.
func (f *FS) forget() {
	f.mu.Lock()
	f.listing = nil
	f.mu.Unlock()
	f.meta.invalidate(f.scope)
}

func (f *FS) cached(name string) *fileInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listing[name]
}

// hasSidecar reports whether the last listing showed a sidecar file for
// the resource name.
func (f *FS) hasSidecar(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sidecars[name]
}

func (f *FS) remember(dir string, infos []*fileInfo, sidecars []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sidecars = make(map[string]bool, len(sidecars))
	for _, n := range sidecars {
		f.sidecars[path.Join(dir, n)] = true
	}
	if f.listing == nil {
		f.listing = make(map[string]*fileInfo, len(infos))
	}
	for _, fi := range infos {
		f.listing[path.Join(dir, fi.name)] = fi
	}
}

// Mkdir creates a directory.
func (f *FS) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	name, p, err := f.resolve("mkdir", name)
	if err != nil {
		return err
	}
	if p == f.root {
		return f.fail("mkdir", name, fs.ErrExist)
	}
	f.forget()
	if err := f.share.Mkdir(p, perm); err != nil {
		return f.fail("mkdir", name, err)
	}
	return nil
}

// open opens a file or directory for reading; see OpenFile.
func (f *FS) open(name string) (*file, error) {
	return f.OpenFile(context.Background(), name, os.O_RDONLY, 0)
}

// OpenFile opens a file or directory. A read-only open of a child that the
// last directory listing returned is lazy: no SMB handle is opened until
// the content is read.
func (f *FS) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (*file, error) {
	name, p, err := f.resolve("open", name)
	if err != nil {
		return nil, err
	}
	write := flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0
	if !write {
		if fi := f.cached(name); fi != nil {
			return &file{fsys: f, name: name, path: p, fi: fi}, nil
		}
	} else {
		f.forget()
	}
	var sf *smb2.File
	if write {
		sf, err = f.share.OpenFile(p, flag, perm)
	} else {
		sf, err = openRetry(f.share, p, flag)
	}
	if err != nil && errors.Is(err, fs.ErrNotExist) && f.findStored(name) {
		p, _ = f.smbPath(name)
		sf, err = f.share.OpenFile(p, flag, perm)
	}
	if err != nil {
		return nil, f.fail("open", name, err)
	}
	return &file{fsys: f, name: name, path: p, f: sf}, nil
}

// statOpen is the metadata of the file fl opened for reading, which the
// Handler then remembers (see metaCache).
func (f *FS) statOpen(fl *file) (*fileInfo, error) {
	if fl.fi != nil {
		return fl.fi, nil
	}
	_, gen := f.meta.get(f.scope, f.user, fl.name)
	fi, err := fl.stat()
	if err == nil {
		f.meta.put(f.scope, f.user, fl.name, fi, gen)
	}
	return fi, err
}

// openKnown opens name for reading as open does, and gives the file the
// Handler's recent answer for its metadata, when there is one, so that a
// GET need not ask the server again (see file.confirmSize).
func (f *FS) openKnown(name string) (*file, error) {
	fl, err := f.open(name)
	if err != nil || fl.fi != nil {
		return fl, err
	}
	if fi, _ := f.meta.get(f.scope, f.user, fl.name); fi != nil && !fi.IsDir() {
		fl.fi, fl.known = fi, true
	}
	return fl, nil
}

// RemoveAll removes name and, for a directory, everything below it. A
// missing name is not an error. The root cannot be removed.
func (f *FS) RemoveAll(ctx context.Context, name string) error {
	name, p, err := f.resolve("remove", name)
	if err != nil {
		return err
	}
	if p == f.root {
		return f.fail("remove", name, fs.ErrPermission)
	}
	f.forget()
	err = f.removeAll(name, p)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err == nil {
		f.dropProps(p)
	}
	return err
}

func (f *FS) removeAll(name, p string) error {
	err := f.share.Remove(p)
	if err == nil {
		return nil
	}
	kind := errorKind(err)
	if kind != ErrNotEmpty && kind != ErrIsDir {
		return f.fail("remove", name, err)
	}
	d, err := f.share.Open(p)
	if err != nil {
		return f.fail("remove", name, err)
	}
	children, err := d.Readdir(-1)
	d.Close()
	if err != nil {
		return f.fail("remove", name, err)
	}
	for _, c := range children {
		if err := f.removeAll(path.Join(name, c.Name()), joinSMB(p, c.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := f.share.Remove(p); err != nil {
		return f.fail("remove", name, err)
	}
	return nil
}

// Rename renames oldName to newName, replacing an existing file at newName
// in one SMB operation (FileRenameInformation with ReplaceIfExists).
func (f *FS) Rename(ctx context.Context, oldName, newName string) error {
	oldName, op, err := f.resolve("rename", oldName)
	if err != nil {
		return err
	}
	_, np, err := f.resolve("rename", newName)
	if err != nil {
		return err
	}
	if op == f.root || np == f.root {
		return f.fail("rename", oldName, fs.ErrPermission)
	}
	f.forget()
	if err := replace(f.share, op, np); err != nil {
		return f.fail("rename", oldName, err)
	}
	f.renamedProps(op, np)
	if from, to := parentSMB(op), parentSMB(np); from != to && !f.place.sidecar.Load() && f.hasChildProps(from) {
		f.markChildProps(to)
	}
	return nil
}

// Stat returns the *fileInfo of name, answered from the last listing
// when it has name, or from the Handler's recent answers (see metaCache).
func (f *FS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	name, p, err := f.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	if fi := f.cached(name); fi != nil {
		return fi, nil
	}
	fi, gen := f.meta.get(f.scope, f.user, name)
	if fi != nil {
		return fi, nil
	}
	st, err := f.share.Stat(p)
	if err != nil && errors.Is(err, fs.ErrNotExist) && f.findStored(name) {
		p, _ = f.smbPath(name)
		st, err = f.share.Stat(p)
	}
	if err != nil {
		return nil, f.fail("stat", name, err)
	}
	fi = newFileInfo(path.Base(name), st)
	f.meta.put(f.scope, f.user, name, fi, gen)
	return fi, nil
}

// quota returns the space available to the user and the space in use on
// the file system holding the root, as the SMB server reports them
// (FileFsFullSizeInformation). It is asked once per FS.
func (f *FS) quota() (avail, used uint64, err error) {
	f.mu.Lock()
	q := f.quotaInfo
	f.mu.Unlock()
	if q != nil {
		return q.avail, q.used, q.err
	}
	q = &quotaInfo{}
	st, err := f.share.Statfs(f.root)
	if err != nil {
		q.err = f.fail("statfs", "/", err)
	} else {
		bs := st.BlockSize()
		q.avail = st.AvailableBlockCount() * bs
		total, free := st.TotalBlockCount()*bs, st.FreeBlockCount()*bs
		if total >= free {
			q.used = total - free
		}
	}
	f.mu.Lock()
	f.quotaInfo = q
	f.mu.Unlock()
	return q.avail, q.used, q.err
}

type quotaInfo struct {
	avail, used uint64
	err         error
}

// fileInfo is an os.FileInfo from SMB metadata.
type fileInfo struct {
	name  string
	size  int64
	mode  os.FileMode
	mtime time.Time
	ctime time.Time // creation time
	attrs uint32
}

func newFileInfo(name string, st os.FileInfo) *fileInfo {
	fi := &fileInfo{name: name, size: st.Size(), mode: st.Mode(), mtime: st.ModTime()}
	if s, ok := st.Sys().(*smb2.FileStat); ok {
		fi.ctime = s.CreationTime
		fi.attrs = s.FileAttributes
	}
	if fi.mode.IsDir() {
		fi.size = 0
	}
	fi.mode &^= os.ModeSymlink
	return fi
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() os.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return fi.mtime }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return nil }

// etag is the last write time in nanoseconds and the size, as Apache does;
// collections get one too (RFC 4918 section 8.6 allows it, clients use it
// to notice changed folders).
func (fi *fileInfo) etag() string {
	return `"` + strconv.FormatInt(fi.mtime.UnixNano(), 16) + "-" + strconv.FormatInt(fi.size, 16) + `"`
}

// contentType is chosen by the name's extension, never by reading content.
func contentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// smbPathOf maps a clean webdav name to its SMB path.
func (f *FS) smbPathOf(name string) (string, error) {
	return f.smbPath(clean(name))
}

// copyFileFrom copies the file src of sfs (f itself, or another share's
// FS) to dst of f through a temporary file next to dst, renamed over dst
// once the data and the dead properties are there; only within one share
// can the server copy by itself. With keepACL (dst exists), dst's
// security descriptor is copied onto the temporary file while the data is
// (see keepSecurity); aclErr says what of it could not be, which does not
// fail the copy.
func (f *FS) copyFileFrom(sfs *FS, src, dst string, keepACL bool) (aclErr, err error) {
	src, sp, err := sfs.resolve("copy", src)
	if err != nil {
		return nil, err
	}
	dst, dp, err := f.resolve("copy", dst)
	if err != nil {
		return nil, err
	}
	tmp := path.Join(path.Dir(dst), tempPrefix+randomHex(8))
	tp, err := f.smbPath(tmp)
	if err != nil {
		return nil, err
	}
	in := &file{fsys: sfs, name: src, path: sp}
	defer in.Close()
	if err := in.open(); err != nil {
		return nil, err
	}
	sf, err := f.share.OpenFile(tp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, f.fail("copy", dst, err)
	}
	out := &file{fsys: f, name: dst, path: tp, f: sf}
	defer func() {
		if err != nil {
			out.Close()
			f.share.Remove(tp)
		}
	}()
	var kept chan error
	if keepACL {
		kept = make(chan error, 1)
		go func() { kept <- keepSecurity(f.share, dp, sf, tp) }()
	}
	_, err = out.ReadFrom(in)
	if kept != nil {
		aclErr = <-kept
	}
	if err != nil {
		return nil, err
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	f.copyProps(sfs, sp, tp)
	if err := replace(f.share, tp, dp); err != nil {
		f.dropProps(tp)
		return nil, f.fail("copy", dst, err)
	}
	f.renamedProps(tp, dp)
	return aclErr, nil
}

// caseTwins reports whether name's folder holds another entry whose name
// differs from name's only in case, as a case-sensitive disk behind Samba
// can. Samba then resolves a rename to either one, so name must not be
// renamed aside and back: the way back could land on the twin.
func (f *FS) caseTwins(name string) bool {
	_, dp, err := f.resolve("stat", path.Dir(name))
	if err != nil {
		return false
	}
	list, err := f.share.ReadDir(dp)
	if err != nil {
		return false
	}
	base, n := path.Base(name), 0
	for _, e := range list {
		if strings.EqualFold(norm.NFC.String(e.Name()), base) {
			n++
		}
	}
	return n > 1
}

// sameFile reports whether the names a and b, which differ only in case,
// are one file on a server that ignores case (Windows, Samba by default),
// by the file ids of both: a rename from one to the other is then a
// change of case, not a replacement.
func (f *FS) sameFile(a, b string) bool {
	if !strings.EqualFold(a, b) {
		return false
	}
	ia := f.fileID(a)
	return ia != 0 && ia == f.fileID(b)
}

// fileID is the server's id of the file or folder name (the inode on
// Samba), 0 if it does not exist or the server does not say.
func (f *FS) fileID(name string) uint64 {
	_, p, err := f.resolve("stat", name)
	if err != nil {
		return 0
	}
	sf, err := f.share.Open(p)
	if err != nil {
		return 0
	}
	defer sf.Close()
	st, err := sf.Stat()
	if err != nil {
		return 0
	}
	if fs, ok := st.Sys().(*smb2.FileStat); ok {
		return fs.FileId
	}
	return 0
}

// within reports whether dst of f is the resource name of sfs or lies
// below it, by file ids: two shares that overlap on the server (a share
// and a folder of it, "homes" and "homes/alice") name one folder twice,
// and a copy of a folder into itself would never end, or replace its own
// source.
func within(sfs *FS, name string, f *FS, dst string) bool {
	id := sfs.fileID(name)
	if id == 0 {
		return false
	}
	for p := dst; ; p = path.Dir(p) {
		if f.fileID(p) == id {
			return true
		}
		if p == "/" {
			return false
		}
	}
}

// joinSMB joins an SMB directory path ("" for the share root) and a name.
func joinSMB(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + `\` + name
}
