package davfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// creation checks a tus creation POST's headers and returns the share its
// target is in and the step that creates the upload there.
func (u *Uploads) creation(w http.ResponseWriter, r *http.Request) (string, func(*shareRequest) error, error) {
	if r.Header.Get("Upload-Defer-Length") != "" {
		return "", nil, fail(http.StatusBadRequest, errors.New("deferred upload length not supported"))
	}
	length, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
	if err != nil || length < 0 {
		return "", nil, fail(http.StatusBadRequest, fmt.Errorf("bad Upload-Length %q", r.Header.Get("Upload-Length")))
	}
	if length > u.max {
		return "", nil, fail(http.StatusRequestEntityTooLarge, fmt.Errorf("upload of %d bytes, at most %d", length, u.max))
	}
	meta, err := parseMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		return "", nil, fail(http.StatusBadRequest, err)
	}
	ow, ok := map[string]bool{"": true, "T": true, "F": false}[meta["overwrite"]]
	if !ok {
		return "", nil, fail(http.StatusBadRequest, fmt.Errorf("bad overwrite %q", meta["overwrite"]))
	}
	share, name, err := u.h.splitTarget(meta["target"])
	if err != nil {
		return "", nil, fail(http.StatusBadRequest, err)
	}
	return share, func(s *shareRequest) error {
		st := &uploadState{Share: share, Name: name, Length: length, Overwrite: ow, User: s.user,
			Created: time.Now().Unix(), Temp: tempPrefix + uploadTempInfix + randomHex(16)}
		return u.create(w, r, s, st)
	}, nil
}

// create answers a tus creation POST: the target is checked as a PUT's
// would be (name rules, a collection, read-only, Overwrite F, another
// user's lock, free space) and an empty temporary file made beside it.
func (u *Uploads) create(w http.ResponseWriter, r *http.Request, s *shareRequest, st *uploadState) error {
	ctx := r.Context()
	if err := s.createUpload(ctx, st); err != nil {
		return err
	}
	plain, _ := json.Marshal(st)
	id, err := u.seal.SealValue(uploadPurpose, plain)
	if err != nil {
		s.removeTemp(ctx, mustSMBPath(s, st.tempName()))
		return fail(http.StatusInternalServerError, fmt.Errorf("seal upload id: %w", err))
	}
	if st.Length == 0 {
		// nothing to send: the upload is whole at once
		if err := s.finishUpload(ctx, st, mustSMBPath(s, st.tempName())); err != nil {
			return err
		}
	}
	w.Header().Set("Location", u.prefix+"/"+id)
	w.Header().Set("Upload-Offset", "0")
	w.Header().Set("Upload-Expires", time.Now().Add(uploadExpiry).UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func mustSMBPath(s *shareRequest, name string) string {
	p, _ := s.fsys.smbPathOf(name)
	return p
}

// createUpload checks the upload's target and creates its empty temporary
// file.
func (s *shareRequest) createUpload(ctx context.Context, st *uploadState) error {
	if st.Name == "/" || hiddenName(st.Name) {
		return fail(http.StatusForbidden, errors.New("upload onto the share root or a davgate temporary file"))
	}
	if _, err := s.fsys.smbPathOf(st.Name); err != nil {
		return fail(http.StatusBadRequest, err)
	}
	if err := s.nameRefusal(ctx, st.Name); err != nil {
		return err
	}
	old, err := s.uploadTarget(ctx, st.Name, st.Overwrite)
	if err != nil {
		return err
	}
	if old == nil || st.Length > old.size {
		if avail, _, err := s.fsys.quota(); err == nil && st.Length >= quotaCheckSize && uint64(st.Length) > avail {
			return fail(http.StatusInsufficientStorage, fmt.Errorf("upload of %d bytes, %d available", st.Length, avail))
		}
	}
	s.fsys.forget()
	f, err := s.fsys.share.OpenFile(mustSMBPath(s, st.tempName()), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return failParent(s.fsys.fail("create upload", st.Name, err)) // no parent collection: 409, as for PUT
	}
	if err := f.Close(); err != nil {
		return failFS(s.fsys.fail("close", st.Name, err))
	}
	return nil
}

// uploadTarget checks that an upload may land on name: not a collection,
// not read-only, absent when overwrite is false (412), and not locked by
// another user (423; the user's own locks do not stand in the way, as a
// browser cannot submit their tokens). It returns the existing file.
func (s *shareRequest) uploadTarget(ctx context.Context, name string, overwrite bool) (*fileInfo, error) {
	var old *fileInfo
	s.fsys.forget()
	fi, err := s.fsys.Stat(ctx, name)
	switch {
	case err == nil:
		old = fi.(*fileInfo)
		if old.IsDir() {
			return nil, fail(http.StatusConflict, errors.New("upload onto a collection"))
		}
		if !overwrite {
			return nil, fail(http.StatusPreconditionFailed, errors.New("upload target exists and overwrite is F"))
		}
		if readOnly(old) {
			return nil, fail(http.StatusForbidden, errReadOnly)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, failFS(err)
	}
	root, err := s.othersLock(ctx, name, old == nil)
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, fmt.Errorf("find locks: %w", err))
	}
	if root != "" {
		return nil, s.locked(root)
	}
	return old, nil
}

// othersLock returns the root of a lock another user holds on name (or, for
// a new member, a depth-0 lock on its folder), "" if none.
func (s *shareRequest) othersLock(ctx context.Context, name string, member bool) (string, error) {
	locks, err := s.h.locks.Find(ctx, s.lockName(name), false)
	if err != nil {
		return "", err
	}
	if member && name != "/" {
		parent := s.lockName(path.Dir(name))
		pl, err := s.h.locks.Find(ctx, parent, false)
		if err != nil {
			return "", err
		}
		for _, l := range pl {
			if l.ZeroDepth && strings.EqualFold(l.Root, parent) {
				locks = append(locks, l)
			}
		}
	}
	for _, l := range locks {
		if l.User != s.user {
			return l.Root, nil
		}
	}
	return "", nil
}

// patch appends the body at Upload-Offset, which must be the upload's
// offset (else 409 with the offset), and completes the upload with its
// last byte.
func (q *uploadReq) patch(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if !isOctetStream(r) {
		return fail(http.StatusUnsupportedMediaType, errors.New("PATCH without application/offset+octet-stream"))
	}
	at, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || at < 0 {
		return fail(http.StatusBadRequest, fmt.Errorf("bad Upload-Offset %q", r.Header.Get("Upload-Offset")))
	}
	off, _, err := q.offset(ctx)
	if err != nil {
		return err
	}
	if at != off {
		return failHeader(http.StatusConflict, fmt.Errorf("Upload-Offset %d, the upload is at %d", at, off),
			"Upload-Offset", strconv.FormatInt(off, 10))
	}
	left := q.st.Length - off
	if r.ContentLength > left {
		return fail(http.StatusRequestEntityTooLarge, fmt.Errorf("%d bytes sent, %d left", r.ContentLength, left))
	}
	if left > 0 {
		n, err := q.write(ctx, r.Body, off, left)
		if err != nil {
			return err
		}
		off += n
	}
	if off == q.st.Length {
		if err := q.s.finishUpload(ctx, q.st, q.tmpPath); err != nil {
			return err
		}
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(off, 10))
	w.Header().Set("Upload-Expires", time.Now().Add(uploadExpiry).UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// write appends up to left bytes of body to the temporary file at off,
// streaming as PUT does (writeBody). A body cut short keeps what arrived:
// every write before the cut has succeeded, so the file's size is the
// offset to resume from. A failed write drops what this request wrote,
// since writes in flight may have left a hole.
func (q *uploadReq) write(ctx context.Context, body io.Reader, off, left int64) (int64, error) {
	s := q.s
	s.fsys.forget()
	f, err := s.fsys.share.OpenFile(q.tmpPath, os.O_WRONLY, 0)
	if err != nil {
		return 0, failFS(s.fsys.fail("open upload", q.st.Name, err))
	}
	n, werr := writeBody(f, off, io.LimitReader(body, left), s.fsys.bufs)
	cerr := f.Close()
	if _, ok := errors.AsType[*bodyError](werr); ok {
		s.h.log.InfoContext(ctx, "upload request body cut short; the upload resumes from its offset",
			"path", q.st.Name, "offset", off+n)
		return n, fail(http.StatusBadRequest, fmt.Errorf("upload %s: read body: %w", q.st.Name, werr))
	}
	if werr == nil {
		werr = cerr
	}
	if werr != nil {
		err := s.fsys.fail("write", q.st.Name, werr)
		if terr := s.fsys.share.Truncate(q.tmpPath, off); terr != nil {
			s.removeTemp(ctx, q.tmpPath) // an upload with a hole must not go on
		}
		return 0, failFS(err)
	}
	return n, nil
}

// finishUpload renames the whole upload over its target, with PUT's rules:
// the target checked again (a lock taken, a file created meanwhile), the
// replaced file's ACL and dead properties kept. An upload that can never
// land (Overwrite F on a file that now exists) is removed.
func (s *shareRequest) finishUpload(ctx context.Context, st *uploadState, tmpPath string) error {
	old, err := s.uploadTarget(ctx, st.Name, st.Overwrite)
	if err != nil {
		if st := statusOf(err); st == http.StatusPreconditionFailed || st == http.StatusConflict {
			s.removeTemp(ctx, tmpPath)
		}
		return err
	}
	share := s.fsys.share
	target := mustSMBPath(s, st.Name)
	var aclErr error
	if old != nil {
		if f, err := share.OpenFile(tmpPath, os.O_WRONLY, 0); err == nil {
			aclErr = keepSecurity(share, target, f, tmpPath)
			f.Close()
		}
		s.fsys.keepProps(target, tmpPath)
	}
	s.fsys.forget()
	if err := replaceWithin(share, tmpPath, target, uploadRenameWait); err != nil {
		return failFS(s.fsys.fail("rename", st.Name, err))
	}
	s.fsys.forget() // the metadata cache, after the change
	s.logKeepSecurity(ctx, st.Name, aclErr)
	return nil
}
