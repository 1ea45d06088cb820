package davfs

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/cloudsoda/go-smb2"
)

// An SMB server refuses to rename over a file that someone has open
// (access denied; a reader does not share delete access) and to open a
// file that is being renamed over (sharing violation). Both are usually
// over within milliseconds, so davgate retries them briefly before
// answering.

// renameWait bounds the retries of a rename over an existing file that is
// in use; uploadRenameWait those of the rename that ends an upload, which
// would otherwise throw away a body the client took long to send while
// someone finishes reading the old file.
const (
	renameWait       = 1300 * time.Millisecond
	uploadRenameWait = 10 * time.Second
)

// replace renames from over to (SMB paths), retrying for up to renameWait
// while the target is in use.
func replace(share *smb2.Share, from, to string) error {
	return replaceWithin(share, from, to, renameWait)
}

// replaceWithin renames from over to, retrying while the target is in use
// for up to wait. Access denied on an existing target that is not
// read-only means it is in use: that is retried, and reported as locked
// (423) if it stays so; any other refusal is returned at once.
func replaceWithin(share *smb2.Share, from, to string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	delay := 10 * time.Millisecond
	for {
		err := share.Rename(from, to)
		if err == nil {
			return nil
		}
		switch kind := errorKind(err); {
		case kind == ErrLocked:
		case kind == fs.ErrPermission && inUse(share, to):
			err = &inUseError{err}
		default:
			return err
		}
		if time.Now().Add(delay).After(deadline) {
			return err
		}
		time.Sleep(delay)
		delay = min(2*delay, time.Second)
	}
}

// inUse reports whether a refused rename target exists, is not read-only
// and may be opened for writing (or is refused with a sharing violation),
// so that the refusal can only mean someone has it open. A target the user
// may not write, such as one in a folder only others may change, is
// refused for want of permission instead (403, not 423).
func inUse(share *smb2.Share, p string) bool {
	st, err := share.Stat(p)
	if err != nil || st.IsDir() || readOnly(st) {
		return false
	}
	if _, ok := st.Sys().(*smb2.FileStat); !ok {
		return false
	}
	f, err := share.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		kind := errorKind(err)
		return kind == ErrLocked
	}
	f.Close()
	return true
}

// fileAttributeReadonly is FILE_ATTRIBUTE_READONLY ([MS-FSCC] 2.6).
const fileAttributeReadonly = 0x1

// readOnly reports whether fi is a file with the read-only attribute, which
// a Windows client may not replace, delete or write (a folder's is only a
// hint to Explorer). davgate refuses those changes itself (403): Samba lets
// a rename replace such a file, and go-smb2 clears the attribute to delete.
func readOnly(fi fs.FileInfo) bool {
	if fi == nil || fi.IsDir() {
		return false
	}
	switch st := fi.(type) {
	case *fileInfo:
		return st.attrs&fileAttributeReadonly != 0
	}
	s, ok := fi.Sys().(*smb2.FileStat)
	return ok && s.FileAttributes&fileAttributeReadonly != 0
}

// holdsReadOnly reports whether the folder name holds a read-only file at
// any depth: replacing the folder would delete it.
func (f *FS) holdsReadOnly(name string) bool {
	_, p, err := f.resolve("stat", name)
	if err != nil {
		return false
	}
	var walk func(p string) bool
	walk = func(p string) bool {
		list, err := f.share.ReadDir(p)
		if err != nil {
			return false
		}
		for _, c := range list {
			if readOnly(c) || (c.IsDir() && walk(joinSMB(p, c.Name()))) {
				return true
			}
		}
		return false
	}
	return walk(p)
}

// errReadOnly is the refusal of a change to a read-only file.
var errReadOnly = &os.PathError{Op: "change", Path: "a read-only file", Err: fs.ErrPermission}

// inUseError is an access-denied rename over a file that is not read-only:
// the target is in use.
type inUseError struct{ err error }

func (e *inUseError) Error() string        { return "target in use: " + e.err.Error() }
func (e *inUseError) Unwrap() error        { return e.err }
func (e *inUseError) Is(target error) bool { return target == ErrLocked }

// openRetry opens a file for reading, retrying a sharing violation a few
// times.
func openRetry(share *smb2.Share, p string, flag int) (*smb2.File, error) {
	delay := 10 * time.Millisecond
	for i := 0; ; i++ {
		f, err := share.OpenFile(p, flag, 0)
		if err == nil || i == 3 {
			return f, err
		}
		if kind := errorKind(err); !errors.Is(kind, ErrLocked) {
			return nil, err
		}
		time.Sleep(delay)
		delay *= 2
	}
}
