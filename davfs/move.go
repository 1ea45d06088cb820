package davfs

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"
)

// destination parses the Destination header of COPY and MOVE into a name
// in this share. Another host is 502 (RFC 4918 section 9.8.8 and 9.9.4:
// the server cannot act on another resource space); another share of this
// server is a cross-share request, answered by crossShare, and ok is false.
func (s *shareRequest) destination(w http.ResponseWriter, r *http.Request) (string, bool) {
	hdr := r.Header.Get("Destination")
	if hdr == "" {
		s.h.fail(w, r, http.StatusBadRequest, errors.New("no Destination header"))
		return "", false
	}
	u, err := url.Parse(hdr)
	if err != nil {
		s.h.fail(w, r, http.StatusBadRequest, fmt.Errorf("bad Destination: %w", err))
		return "", false
	}
	if u.Host != "" && u.Host != r.Host {
		s.h.fail(w, r, http.StatusBadGateway, errors.New("destination on another host"))
		return "", false
	}
	// dot segments resolved as in the request's own path (RFC 3986 5.2.4),
	// before the share is told
	p := path.Clean("/" + u.Path)
	name, ok := s.name(p)
	if !ok {
		rest, under := strings.CutPrefix(p, s.h.prefix+"/")
		share, dst, _ := strings.Cut(rest, "/")
		if !under || share == "" {
			s.h.fail(w, r, http.StatusBadGateway, errors.New("destination outside the shares"))
			return "", false
		}
		s.crossShare(w, r, share, clean(dst))
		return "", false
	}
	return name, true
}

// move serves MOVE (RFC 4918 section 9.9). A missing Overwrite header
// means T (section 10.6). Replacing an existing destination never leaves
// the user with neither resource: a file replaces a file in one SMB rename
// (ReplaceIfExists); otherwise the destination is first renamed aside and
// renamed back if the move fails. Only the source's locks are checked
// (and the destination's locks of other users): an editor that holds a
// lock on a document saves by moving a temporary file over it.
func (s *shareRequest) move(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	h := s.h
	if name == "/" {
		h.fail(w, r, http.StatusForbidden, errors.New("move of the share itself"))
		return
	}
	dst, ok := s.destination(w, r)
	if !ok {
		return
	}
	if d := r.Header.Get("Depth"); d != "" && d != "infinity" {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("move with depth %q", d))
		return
	}
	if dst == "/" || s.overlaps(name, dst) {
		h.fail(w, r, http.StatusForbidden, errors.New("move onto itself, into itself, onto a folder that holds it or onto the root"))
		return
	}
	if !s.checkLocks(w, r, target{name, true, true}) {
		return
	}
	if s.fsys.sameFile(name, dst) {
		// a change of case only ("report.txt" to "Report.txt"), which the
		// server sees as the same name: a plain rename, never a
		// replacement, whatever Overwrite says
		if err := s.fsys.Rename(ctx, name, dst); err != nil {
			s.failFS(w, r, err)
			return
		}
		s.releaseLocks(r, name)
		w.WriteHeader(http.StatusCreated)
		return
	}
	if !s.noOthersLocks(w, r, dst) {
		return
	}
	src, err := s.fsys.Stat(ctx, name)
	if err != nil {
		s.failFS(w, r, err)
		return
	}
	old, err := s.fsys.Stat(ctx, dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := s.fsys.Rename(ctx, name, dst); err != nil {
			if errors.Is(err, ErrCrossDevice) {
				s.moveByCopy(w, r, name, src, dst, nil)
				return
			}
			if errors.Is(err, fs.ErrNotExist) {
				// section 9.9.4: the destination's parent is missing
				h.fail(w, r, http.StatusConflict, s.fsys.Err())
				return
			}
			s.failFS(w, r, err)
			return
		}
		s.releaseLocks(r, name)
		w.WriteHeader(http.StatusCreated)
		return
	case err != nil:
		s.failFS(w, r, err)
		return
	case !s.mayReplace(w, r, s.fsys, dst, old):
		return
	}
	if !src.IsDir() && !old.IsDir() {
		if err := s.fsys.Rename(ctx, name, dst); err != nil {
			if errors.Is(err, ErrCrossDevice) {
				s.moveByCopy(w, r, name, src, dst, old)
				return
			}
			s.failFS(w, r, err)
			return
		}
	} else {
		if s.fsys.caseTwins(dst) {
			h.fail(w, r, http.StatusConflict, errCaseTwins)
			return
		}
		aside := path.Join(path.Dir(dst), tempPrefix+randomHex(8))
		if err := s.fsys.Rename(ctx, dst, aside); err != nil {
			s.failFS(w, r, err)
			return
		}
		if err := s.fsys.Rename(ctx, name, dst); err != nil {
			if rerr := s.fsys.Rename(ctx, aside, dst); rerr != nil {
				h.log.ErrorContext(ctx, "move: put destination back", "path", dst, "aside", aside, "error", rerr.Error())
			} else if errors.Is(err, ErrCrossDevice) {
				s.moveByCopy(w, r, name, src, dst, old)
				return
			}
			s.failFS(w, r, err)
			return
		}
		if err := s.fsys.RemoveAll(ctx, aside); err != nil {
			h.log.WarnContext(ctx, "move: remove replaced destination", "aside", aside, "error", err.Error())
		}
	}
	s.releaseLocks(r, name)
	w.WriteHeader(http.StatusNoContent)
}

// passLocks is the webdav.LockSystem handed to x/net/webdav: davgate
// checks locks itself before delegating, so webdav's checks always pass.
type passLocks struct{}

func (passLocks) Confirm(time.Time, string, string, ...webdav.Condition) (func(), error) {
	return func() {}, nil
}
func (passLocks) Create(time.Time, webdav.LockDetails) (string, error) {
	return "urn:davgate:none", nil
}
func (passLocks) Refresh(time.Time, string, time.Duration) (webdav.LockDetails, error) {
	return webdav.LockDetails{}, webdav.ErrNoSuchLock
}
func (passLocks) Unlock(time.Time, string) error { return nil }

// copy serves COPY (RFC 4918 section 9.8). A file is copied by the server
// (FSCTL_SRV_COPYCHUNK, see file.ReadFrom) into a temporary file next to
// the destination, with its dead properties, and renamed over the
// destination only when complete; a failed copy leaves the destination as
// it was. A file copied over a file keeps the replaced file's ACL, as a
// copy over an existing file on a Windows share does (see keepSecurity).
// A collection is copied as to another share (copyAcross): its files
// several at a time, a replaced destination renamed aside until the copy
// is whole.
func (s *shareRequest) copy(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	h := s.h
	dst, ok := s.destination(w, r)
	if !ok {
		return
	}
	if s.overlaps(name, dst) || s.fsys.sameFile(name, dst) {
		h.fail(w, r, http.StatusForbidden, errors.New("copy onto or into itself, or onto a folder that holds it"))
		return
	}
	if !s.checkLocks(w, r, target{dst, true, true}) {
		return
	}
	src, err := s.fsys.Stat(ctx, name)
	if err != nil {
		s.failFS(w, r, err)
		return
	}
	old, err := s.fsys.Stat(ctx, dst)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.failFS(w, r, err)
		return
	}
	exists := err == nil
	if exists && !s.mayReplace(w, r, s.fsys, dst, old) {
		return
	}
	if src.IsDir() || (exists && old.IsDir()) {
		depth := r.Header.Get("Depth")
		if depth != "" && depth != "0" && depth != "infinity" {
			h.fail(w, r, http.StatusBadRequest, fmt.Errorf("copy with depth %q", depth))
			return
		}
		if !exists {
			old = nil
		}
		if err := s.copyAcross(ctx, s.fsys, name, src, dst, old, depth != "0"); err != nil {
			s.failCopy(w, r, err)
			return
		}
		writeCreated(w, exists)
		return
	}
	aclErr, err := s.fsys.copyFile(ctx, name, dst, exists)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// section 9.8.5: the destination's parent is missing (the
			// source was there a moment ago)
			h.fail(w, r, http.StatusConflict, s.fsys.Err())
			return
		}
		s.failFS(w, r, err)
		return
	}
	s.logKeepSecurity(ctx, dst, aclErr)
	writeCreated(w, exists)
}

// overlaps reports whether the destination dst of a COPY or MOVE of name
// is name itself, lies below it, or holds it (replacing dst would delete
// the source), by name or, under another case, by the server's file ids.
func (s *shareRequest) overlaps(name, dst string) bool {
	return dst == name || isBelow(dst, name) || lockBelow(name, dst) ||
		(isBelow(strings.ToLower(dst), strings.ToLower(name)) && within(s.fsys, name, s.fsys, dst))
}

// mayReplace answers 412 for a destination that exists when Overwrite is
// F, and 403 for a read-only file or a folder that holds one, and then
// reports false. old is the destination dst of fsys.
func (s *shareRequest) mayReplace(w http.ResponseWriter, r *http.Request, fsys *FS, dst string, old fs.FileInfo) bool {
	switch {
	case r.Header.Get("Overwrite") == "F":
		s.h.fail(w, r, http.StatusPreconditionFailed, errors.New("destination exists and Overwrite is F"))
		return false
	case readOnly(old) || (old.IsDir() && fsys.holdsReadOnly(dst)):
		s.h.fail(w, r, http.StatusForbidden, errReadOnly)
		return false
	}
	return true
}

// failCopy answers a failed copyAcross: 409 when the destination's parent
// is missing (RFC 4918 section 9.8.5), else the error's status.
func (s *shareRequest) failCopy(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		s.h.fail(w, r, http.StatusConflict, err)
		return
	}
	s.failFS(w, r, err)
}

// writeCreated ends a COPY or MOVE: 204 when it replaced a resource,
// 201 when it made a new one.
func writeCreated(w http.ResponseWriter, replaced bool) {
	if replaced {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusCreated)
}
