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

// create answers a tus creation POST: the target is checked as a PUT's
// would be (name rules, a collection, read-only, Overwrite F, another
// user's lock, free space) and an empty temporary file made beside it.
func (u *Uploads) create(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Header.Get("Upload-Defer-Length") != "" {
		u.h.fail(w, r, http.StatusBadRequest, errors.New("deferred upload length not supported"))
		return
	}
	length, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
	if err != nil || length < 0 {
		u.h.fail(w, r, http.StatusBadRequest, fmt.Errorf("bad Upload-Length %q", r.Header.Get("Upload-Length")))
		return
	}
	if length > u.max {
		u.h.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("upload of %d bytes, at most %d", length, u.max))
		return
	}
	meta, err := parseMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		u.h.fail(w, r, http.StatusBadRequest, err)
		return
	}
	ow, ok := map[string]bool{"": true, "T": true, "F": false}[meta["overwrite"]]
	if !ok {
		u.h.fail(w, r, http.StatusBadRequest, fmt.Errorf("bad overwrite %q", meta["overwrite"]))
		return
	}
	share, name, err := u.h.splitTarget(meta["target"])
	if err != nil {
		u.h.fail(w, r, http.StatusBadRequest, err)
		return
	}
	s, release, err := u.h.openShare(ctx, share)
	if err != nil {
		u.h.fail(w, r, sourceStatus(err), fmt.Errorf("open share %q: %w", share, err))
		return
	}
	defer release(nil)
	s.sweep(ctx)
	st := &uploadState{Share: share, Name: name, Length: length, Overwrite: ow, User: s.user,
		Created: time.Now().Unix(), Temp: tempPrefix + uploadTempInfix + randomHex(16)}
	if status, err := s.createUpload(ctx, st); status != 0 {
		s.failUpload(w, r, status, err)
		return
	}
	plain, _ := json.Marshal(st)
	id, err := u.seal.SealValue(uploadPurpose, plain)
	if err != nil {
		s.removeTemp(ctx, mustSMBPath(s, st.tempName()))
		u.h.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if length == 0 {
		// nothing to send: the upload is whole at once
		tmpPath := mustSMBPath(s, st.tempName())
		if status, err := s.finishUpload(ctx, st, tmpPath); status != 0 {
			s.failUpload(w, r, status, err)
			return
		}
	}
	w.Header().Set("Location", u.prefix+"/"+id)
	w.Header().Set("Upload-Offset", "0")
	w.Header().Set("Upload-Expires", time.Now().Add(uploadExpiry).UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusCreated)
}

func mustSMBPath(s *shareRequest, name string) string {
	p, _ := s.fsys.smbPathOf(name)
	return p
}

// createUpload checks the upload's target and creates its empty temporary
// file; a status and its cause when it may not.
func (s *shareRequest) createUpload(ctx context.Context, st *uploadState) (int, error) {
	if st.Name == "/" || hiddenName(st.Name) {
		return http.StatusForbidden, errors.New("upload onto the share root or a davgate temporary file")
	}
	if _, err := s.fsys.smbPathOf(st.Name); err != nil {
		return http.StatusBadRequest, err
	}
	if err := s.nameRefusal(ctx, st.Name); err != nil {
		return statusOf(err), err
	}
	old, status, err := s.uploadTarget(ctx, st.Name, st.Overwrite)
	if status != 0 {
		return status, err
	}
	if old == nil || st.Length > old.size {
		if avail, _, err := s.fsys.quota(); err == nil && st.Length >= quotaCheckSize && uint64(st.Length) > avail {
			return http.StatusInsufficientStorage, fmt.Errorf("upload of %d bytes, %d available", st.Length, avail)
		}
	}
	s.fsys.forget()
	f, err := s.fsys.share.OpenFile(mustSMBPath(s, st.tempName()), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		err = s.fsys.fail("create upload", st.Name, err)
		if errors.Is(err, fs.ErrNotExist) {
			return http.StatusConflict, err // no parent collection, as for PUT
		}
		status, _ := httpStatus(err)
		return status, err
	}
	if err := f.Close(); err != nil {
		return http.StatusInternalServerError, s.fsys.fail("close", st.Name, err)
	}
	return 0, nil
}

// uploadTarget checks that an upload may land on name: not a collection,
// not read-only, absent when overwrite is false (412), and not locked by
// another user (423; the user's own locks do not stand in the way, as a
// browser cannot submit their tokens). It returns the existing file.
func (s *shareRequest) uploadTarget(ctx context.Context, name string, overwrite bool) (*fileInfo, int, error) {
	var old *fileInfo
	s.fsys.forget()
	fi, err := s.fsys.Stat(ctx, name)
	switch {
	case err == nil:
		old = fi.(*fileInfo)
		if old.IsDir() {
			return nil, http.StatusConflict, errors.New("upload onto a collection")
		}
		if !overwrite {
			return nil, http.StatusPreconditionFailed, errors.New("upload target exists and overwrite is F")
		}
		if readOnly(old) {
			return nil, http.StatusForbidden, errReadOnly
		}
	case !errors.Is(err, fs.ErrNotExist):
		status, _ := httpStatus(err)
		return nil, status, err
	}
	root, err := s.othersLock(ctx, name, old == nil)
	if err != nil {
		return nil, http.StatusServiceUnavailable, fmt.Errorf("find locks: %w", err)
	}
	if root != "" {
		return nil, http.StatusLocked, &lockedError{root}
	}
	return old, 0, nil
}

// lockedError is a refusal for another user's lock on root.
type lockedError struct{ root string }

func (e *lockedError) Error() string { return "locked by another user: " + e.root }

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

// failUpload answers a refused upload: 423 with the lock's precondition
// body, anything else through the handler's adapter.
func (s *shareRequest) failUpload(w http.ResponseWriter, r *http.Request, status int, err error) {
	var le *lockedError
	if status == http.StatusLocked && errors.As(err, &le) {
		s.h.respond(w, r, s.locked(le.root))
		return
	}
	s.h.fail(w, r, status, err)
}

// patch appends the body at Upload-Offset, which must be the upload's
// offset (else 409), and completes the upload with its last byte.
func (u *Uploads) patch(w http.ResponseWriter, r *http.Request, q *uploadReq) {
	ctx := r.Context()
	if !isOctetStream(r) {
		u.h.fail(w, r, http.StatusUnsupportedMediaType, errors.New("PATCH without application/offset+octet-stream"))
		return
	}
	at, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || at < 0 {
		u.h.fail(w, r, http.StatusBadRequest, fmt.Errorf("bad Upload-Offset %q", r.Header.Get("Upload-Offset")))
		return
	}
	off, _, status, err := q.offset(ctx)
	if status != 0 {
		u.h.fail(w, r, status, err)
		return
	}
	if at != off {
		w.Header().Set("Upload-Offset", strconv.FormatInt(off, 10))
		u.h.fail(w, r, http.StatusConflict, fmt.Errorf("Upload-Offset %d, the upload is at %d", at, off))
		return
	}
	left := q.st.Length - off
	if r.ContentLength > left {
		u.h.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("%d bytes sent, %d left", r.ContentLength, left))
		return
	}
	if left > 0 {
		n, status, err := q.write(ctx, r.Body, off, left)
		off += n
		if status != 0 {
			q.s.failUpload(w, r, status, err)
			return
		}
	}
	if off == q.st.Length {
		if status, err := q.s.finishUpload(ctx, q.st, q.tmpPath); status != 0 {
			q.s.failUpload(w, r, status, err)
			return
		}
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(off, 10))
	w.Header().Set("Upload-Expires", time.Now().Add(uploadExpiry).UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusNoContent)
}

// write appends up to left bytes of body to the temporary file at off,
// streaming as PUT does (writeBody). A body cut short keeps what arrived:
// every write before the cut has succeeded, so the file's size is the
// offset to resume from. A failed write drops what this request wrote,
// since writes in flight may have left a hole.
func (q *uploadReq) write(ctx context.Context, body io.Reader, off, left int64) (int64, int, error) {
	s := q.s
	s.fsys.forget()
	f, err := s.fsys.share.OpenFile(q.tmpPath, os.O_WRONLY, 0)
	if err != nil {
		err = s.fsys.fail("open upload", q.st.Name, err)
		status, _ := httpStatus(err)
		return 0, status, err
	}
	n, werr := writeBody(f, off, io.LimitReader(body, left), s.fsys.bufs)
	cerr := f.Close()
	var be *bodyError
	switch {
	case errors.As(werr, &be):
		s.h.log.InfoContext(ctx, "upload request body cut short; the upload resumes from its offset",
			"path", q.st.Name, "offset", off+n)
		return n, http.StatusBadRequest, fmt.Errorf("upload %s: read body: %w", q.st.Name, werr)
	case werr == nil && cerr != nil:
		werr = cerr
	}
	if werr != nil {
		err := s.fsys.fail("write", q.st.Name, werr)
		if terr := s.fsys.share.Truncate(q.tmpPath, off); terr != nil {
			s.removeTemp(ctx, q.tmpPath) // an upload with a hole must not go on
		}
		status, _ := httpStatus(err)
		return 0, status, err
	}
	return n, 0, nil
}

// finishUpload renames the whole upload over its target, with PUT's rules:
// the target checked again (a lock taken, a file created meanwhile), the
// replaced file's ACL and dead properties kept. An upload that can never
// land (Overwrite F on a file that now exists) is removed.
func (s *shareRequest) finishUpload(ctx context.Context, st *uploadState, tmpPath string) (int, error) {
	old, status, err := s.uploadTarget(ctx, st.Name, st.Overwrite)
	if status == http.StatusPreconditionFailed || status == http.StatusConflict {
		s.removeTemp(ctx, tmpPath)
	}
	if status != 0 {
		return status, err
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
		err := s.fsys.fail("rename", st.Name, err)
		status, _ := httpStatus(err)
		return status, err
	}
	s.fsys.forget() // the metadata cache, after the change
	s.logKeepSecurity(ctx, st.Name, aclErr)
	return 0, nil
}
