package davfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/cloudsoda/go-smb2"

	"github.com/davgate/davgate/internal/smbstatus"
)

// chunkSize is the size of one SMB read or write; servers cap a single
// request at 1 MiB (8 MiB for some, which we do not rely on).
const chunkSize = 1 << 20

// readAhead is how many chunks a sequential read keeps on their way from
// the server while the caller consumes the current one. With one, the
// server waits between reads for davgate to pass a chunk on; with two or
// more it always has a read to work on (a 1 GiB GET on loopback went from
// 0.84 to 1.11-1.16 times a direct sequential go-smb2 read, and a link with
// more latency needs more in flight). Each costs a 1 MiB buffer per GET.
const readAhead = 3

// copyChunkLimit is the largest file copied with FSCTL_SRV_COPYCHUNK: go-smb2
// (cloudsoda, 2026-09) restarts every 16 MiB batch at the source's first
// offset, so only a copy that fits one batch comes out right. Larger files
// are copied through davgate in chunks.
const copyChunkLimit = 16 << 20

// file is an open file or directory on an SMB share. A file made from a
// directory listing opens its SMB handle only when it is read.
type file struct {
	fsys *FS
	name string // clean webdav name
	path string // SMB path
	f    *smb2.File
	fi   *fileInfo
	flag int // for a lazy open; 0 means read-only
	// known: fi is the Handler's recent answer, not the server's for
	// this handle (see confirmSize)
	known bool

	off     int64 // read position
	buf     []byte
	bufOff  int64
	pending []*prefetch // reads ahead, in file order
	ahead   int         // reads ahead granted by the budget, once granted is set
	granted bool
	// readErr is the last failure to read from the server. Once a GET's
	// headers are out, a failed read can only cut the body short; the
	// handler logs it from here.
	readErr error

	dirents []os.FileInfo
	dirRead bool
}

// prefetch is one chunk being read ahead in the background.
type prefetch struct {
	off  int64
	buf  []byte
	n    int
	err  error
	done chan struct{}
}

func (f *file) open() error {
	if f.f != nil {
		return nil
	}
	sf, err := openRetry(f.fsys.share, f.path, f.flag)
	if err != nil {
		return f.fsys.fail("open", f.name, err)
	}
	f.f = sf
	return nil
}

func (f *file) Close() error {
	f.wait()
	f.fsys.bufs.put(f.buf)
	f.buf = nil
	f.fsys.bufs.give(f.ahead)
	f.ahead, f.granted = 0, false
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	if err != nil {
		return f.fsys.fail("close", f.name, err)
	}
	return nil
}

// wait lets a background read finish so the handle can be closed or
// reused, and drops what it read.
func (f *file) wait() {
	for _, pf := range f.pending {
		<-pf.done
		f.fsys.bufs.put(pf.buf)
	}
	f.pending = nil
}

// bufPool holds chunk buffers: a GET of a small file would otherwise
// allocate and clear 1 MiB. The Handler keeps one for all its requests; an
// FS made by NewFS alone allocates.
//
// It also keeps the budget of extra buffers: each transfer always has one
// chunk buffer, and takes its read-ahead (GET, a copy's source) or its
// writes in flight (PUT, a copy's target) from the budget, as many as are
// left, giving them back when it ends. Under more transfers than the budget
// covers, the later ones move one chunk at a time instead of davgate's
// memory growing with them. A zero limit is no budget.
type bufPool struct {
	p sync.Pool

	mu    sync.Mutex
	limit int // extra buffers in all; 0: no limit
	taken int
}

func (bp *bufPool) get() []byte {
	if bp != nil {
		if b, ok := bp.p.Get().(*[]byte); ok {
			return *b
		}
	}
	return make([]byte, chunkSize)
}

func (bp *bufPool) put(b []byte) {
	if bp != nil && cap(b) == chunkSize {
		b = b[:chunkSize]
		bp.p.Put(&b)
	}
}

// take grants up to want extra buffers, as many as the budget has left.
func (bp *bufPool) take(want int) int {
	if bp == nil || bp.limit <= 0 {
		return want
	}
	bp.mu.Lock()
	defer bp.mu.Unlock()
	n := max(0, min(want, bp.limit-bp.taken))
	bp.taken += n
	return n
}

// give returns n extra buffers that take granted.
func (bp *bufPool) give(n int) {
	if bp == nil || bp.limit <= 0 || n == 0 {
		return
	}
	bp.mu.Lock()
	bp.taken -= n
	bp.mu.Unlock()
}

// outstanding is how many extra buffers are granted now.
func (bp *bufPool) outstanding() int {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	return bp.taken
}

func (f *file) Stat() (os.FileInfo, error) { return f.stat() }

func (f *file) stat() (*fileInfo, error) {
	if f.fi != nil {
		return f.fi, nil
	}
	if err := f.open(); err != nil {
		return nil, err
	}
	st, err := f.f.Stat()
	if shortOfCredits(err) {
		st, err = f.fsys.share.Stat(f.path)
	}
	if err != nil {
		return nil, f.fsys.fail("stat", f.name, err)
	}
	name := path.Base(f.name)
	if f.name == "/" {
		name = "/"
	}
	f.fi = newFileInfo(name, st)
	return f.fi, nil
}

// shortOfCredits reports whether a stat of an open handle was refused as
// an invalid parameter. go-smb2 (cloudsoda, 2026-09) asks QUERY_INFO for
// an output buffer of up to 1 MiB, but charges it only the credits it
// could borrow: when requests in flight hold most of the connection's
// credits (8 GETs at once over one connection do), smbd refuses the
// request as invalid. A stat by name (CREATE and CLOSE, which charge one
// credit each, the CREATE answering the metadata) does not meet it; the
// handle's own stat costs one round trip less, so it is tried first.
func shortOfCredits(err error) bool {
	_, code := smbstatus.Classify(err)
	return code == smbstatus.InvalidParameter
}

// Read reads sequentially in chunks of 1 MiB and reads the next chunk
// ahead while the caller consumes this one, so a GET keeps the SMB link
// busy while the HTTP side writes.
func (f *file) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.off < f.bufOff || f.off >= f.bufOff+int64(len(f.buf)) {
		if err := f.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.buf[f.off-f.bufOff:])
	f.off += int64(n)
	return n, nil
}

// fill loads the chunk at f.off, from the read-ahead when it has it.
func (f *file) fill() error {
	if err := f.open(); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if f.off >= size {
		return io.EOF
	}
	var pf *prefetch
	if len(f.pending) > 0 && f.pending[0].off == f.off {
		pf = f.pending[0]
		<-pf.done
		f.pending = f.pending[1:]
	} else {
		f.wait()
		pf = f.read(f.off, size)
		<-pf.done
	}
	if pf.err != nil && !(errors.Is(pf.err, io.EOF) && pf.n > 0) {
		if errors.Is(pf.err, io.EOF) {
			return io.EOF
		}
		f.readErr = f.fsys.fail("read", f.name, pf.err)
		return f.readErr
	}
	if pf.n == 0 {
		return io.EOF
	}
	// hand the old buffer to the next read-ahead
	defer func(old []byte) { f.startPrefetch(size, old) }(f.buf)
	f.buf, f.bufOff = pf.buf[:pf.n], pf.off
	return nil
}

// confirmSize checks metadata the file was opened with from the
// Handler's recent answers against what the server reads: a file smaller
// than a chunk is read whole by the first read (see readAheadStart), so a
// length other than the one known means it changed on the server, and
// the server is asked. A larger file is asked at once.
func (f *file) confirmSize() {
	if !f.known {
		return
	}
	f.known = false
	if f.fi.size < chunkSize && len(f.pending) > 0 && f.pending[0].off == 0 {
		pf := f.pending[0]
		<-pf.done
		if pf.n == int(f.fi.size) && (pf.err == nil || errors.Is(pf.err, io.EOF)) {
			return
		}
	}
	f.fi = nil
}

// readAheadStart starts reading the first chunk before the size is known,
// so that a GET's first read overlaps its stat.
func (f *file) readAheadStart() {
	if f.f == nil || len(f.pending) > 0 {
		return
	}
	f.pending = append(f.pending, f.readInto(0, int64(chunkSize), nil))
}

// startPrefetch keeps readAhead chunks after the current one on their way,
// reusing buf (the chunk just consumed) for the first new one.
func (f *file) startPrefetch(size int64, buf []byte) {
	next := f.bufOff + int64(len(f.buf))
	if n := len(f.pending); n > 0 {
		next = f.pending[n-1].off + int64(len(f.pending[n-1].buf))
	}
	if !f.granted && next < size && len(f.buf) == chunkSize {
		left := int((size - next + chunkSize - 1) / chunkSize)
		f.ahead, f.granted = f.fsys.bufs.take(min(readAhead, left)), true
	}
	for len(f.pending) < f.ahead && next < size && len(f.buf) == chunkSize {
		pf := f.readInto(next, size, buf)
		buf = nil
		f.pending = append(f.pending, pf)
		next += int64(len(pf.buf))
	}
	f.fsys.bufs.put(buf)
}

func (f *file) read(off, size int64) *prefetch { return f.readInto(off, size, nil) }

func (f *file) readInto(off, size int64, buf []byte) *prefetch {
	n := min(int64(chunkSize), size-off)
	if buf == nil || cap(buf) < int(n) {
		buf = f.fsys.bufs.get()
	}
	pf := &prefetch{off: off, buf: buf[:n], done: make(chan struct{})}
	sf := f.f
	go func() {
		defer close(pf.done)
		pf.n, pf.err = sf.ReadAt(pf.buf, off)
	}()
	return pf
}

func (f *file) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = f.off + offset
	case io.SeekEnd:
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		abs = fi.Size() + offset
	default:
		return 0, f.fsys.fail("seek", f.name, fs.ErrInvalid)
	}
	if abs < 0 {
		return 0, f.fsys.fail("seek", f.name, fs.ErrInvalid)
	}
	f.off = abs
	return abs, nil
}

func (f *file) Write(p []byte) (int, error) {
	if f.f == nil && f.flag != 0 {
		if err := f.open(); err != nil {
			return 0, err
		}
	}
	if f.f == nil {
		return 0, f.fsys.fail("write", f.name, fs.ErrPermission)
	}
	n, err := f.f.WriteAt(p, f.off)
	f.off += int64(n)
	f.fi = nil
	if err != nil {
		return n, f.fsys.fail("write", f.name, err)
	}
	return n, nil
}

// ReadFrom copies r into the file. When r is a file of the same share, the
// server copies the data itself (FSCTL_SRV_COPYCHUNK) for files up to
// copyChunkLimit; otherwise the data is copied in 1 MiB chunks, two
// writes in flight while the next chunk is read (see writeBody).
func (f *file) ReadFrom(r io.Reader) (int64, error) {
	if f.f == nil {
		return 0, f.fsys.fail("write", f.name, fs.ErrPermission)
	}
	f.fi = nil
	if src, ok := r.(*file); ok && src.fsys.share == f.fsys.share && f.off == 0 && src.off == 0 {
		fi, err := src.Stat()
		if err != nil {
			return 0, err
		}
		if err := src.open(); err != nil {
			return 0, err
		}
		if fi.Size() > 0 && fi.Size() <= copyChunkLimit {
			n, err := f.f.ReadFrom(src.f)
			var ie *smb2.InvalidResponseError
			if err == nil {
				f.off += n
				return n, nil
			} else if !errors.As(err, &ie) {
				return 0, f.fsys.fail("copy", f.name, err)
			}
			// go-smb2 could not read the server's refusal (Samba's
			// answer to a copy onto a full disk, for one): copy through
			// davgate instead, which fails with a status of its own.
		}
	}
	n, err := writeBody(f.f, f.off, r, f.fsys.bufs)
	f.off += n
	var body *bodyError
	if errors.As(err, &body) {
		return n, body.err
	}
	if err != nil {
		return n, f.fsys.fail("write", f.name, err)
	}
	return n, nil
}

// Readdir lists the directory with one SMB directory query (continued
// while the server has more) and remembers the entries, so that Stat and
// OpenFile of a listed child cost no round trip. davgate's temporary files
// are left out.
func (f *file) Readdir(count int) ([]os.FileInfo, error) {
	if !f.dirRead {
		if err := f.open(); err != nil {
			return nil, err
		}
		list, err := f.f.Readdir(-1)
		if err != nil {
			return nil, f.fsys.fail("readdir", f.name, err)
		}
		infos := make([]*fileInfo, 0, len(list))
		var sidecars []string
		for _, st := range list {
			if strings.HasPrefix(st.Name(), tempPrefix) {
				if base := sidecarOf(st.Name()); base != "" {
					sidecars = append(sidecars, base)
				} else if time.Since(st.ModTime()) > staleTempAge && !strings.HasPrefix(st.Name(), sidecarPrefix) {
					// an upload's file, or the folder of a copy, left
					// by a davgate that stopped mid-way
					var failed []memberError
					f.fsys.removeMembers(path.Join(f.name, st.Name()), joinSMB(f.path, st.Name()), &failed)
				}
				continue
			}
			infos = append(infos, newFileInfo(st.Name(), st))
		}
		if len(sidecars) > 0 {
			f.fsys.sweepSidecars(f.path, list)
		}
		f.fsys.remember(f.name, infos, sidecars)
		f.dirents = make([]os.FileInfo, len(infos))
		for i, fi := range infos {
			f.dirents[i] = fi
		}
		f.dirRead = true
	}
	if count <= 0 {
		d := f.dirents
		f.dirents = nil
		return d, nil
	}
	if len(f.dirents) == 0 {
		return nil, io.EOF
	}
	n := min(count, len(f.dirents))
	d := f.dirents[:n]
	f.dirents = f.dirents[n:]
	return d, nil
}

// writeTo writes n bytes from the read position to w, handing w whole
// read-ahead chunks instead of copying them through a small buffer.
func (f *file) writeTo(w io.Writer, n int64) (int64, error) {
	var written int64
	for written < n {
		if f.off < f.bufOff || f.off >= f.bufOff+int64(len(f.buf)) {
			if err := f.fill(); err != nil {
				if err == io.EOF {
					return written, io.ErrUnexpectedEOF
				}
				return written, err
			}
		}
		b := f.buf[f.off-f.bufOff:]
		if int64(len(b)) > n-written {
			b = b[:n-written]
		}
		m, err := w.Write(b)
		f.off += int64(m)
		written += int64(m)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}
