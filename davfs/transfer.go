package davfs

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// transfer serves COPY (RFC 4918 section 9.8) and MOVE (section 9.9), to
// the same share or to another share of this server, as a file manager
// that shows the share list as folders sends it. A missing Overwrite
// header means T (section 10.6). Nothing is lost on the way: a file lands
// in a temporary file renamed over the destination at the end (see
// copyFileFrom); a collection is built under a temporary name and renamed
// into place when whole, a destination it replaces renamed aside until
// then (see copyAcross). A MOVE within a share is an SMB rename (one that
// replaces a file in one step, ReplaceIfExists); elsewhere it is a copy
// and then the removal of the source, which, where it cannot be removed
// entirely, stays next to its copy, and the answer is 207 naming what
// stayed.
//
// Locks: a MOVE is checked against the source's locks and other users'
// locks on the destination (an editor that holds a lock on a document
// saves by moving a temporary file over it), a COPY against the
// destination's.
func (s *shareRequest) transfer(w http.ResponseWriter, r *http.Request) (err error) {
	move := r.Method == "MOVE"
	if move && s.name == "/" {
		return fail(http.StatusForbidden, errors.New("move of the share itself"))
	}
	d, dst, release, err := s.destination(r)
	if err != nil {
		return err
	}
	defer func() { release(smbCause(err)) }()
	if err := s.transferable(r, d, dst, move); err != nil {
		return err
	}
	if move {
		if err := s.checkLocks(r, []target{{s.name, true, true}}, d); err != nil {
			return err
		}
		if d == s && s.fsys.sameFile(s.name, dst) {
			return s.renameCase(w, r, dst)
		}
		if err := d.noOthersLocks(r, dst); err != nil {
			return err
		}
	} else if err := d.checkLocks(r, []target{{dst, true, true}}, s); err != nil {
		return err
	}
	src, old, err := s.transferStat(r, d, dst)
	if err != nil {
		return err
	}
	if move && d == s {
		if done, err := s.renameWithin(r, s.name, dst, src, old); done {
			if err == nil {
				s.releaseLocks(r, s.name)
				writeCreated(w, old != nil)
			}
			return err
		}
	}
	if err := d.copyAcross(r.Context(), s.fsys, s.name, src, dst, old, r.Header.Get("Depth") != "0"); err != nil {
		return failParent(err) // section 9.8.5: the destination's parent is missing
	}
	if move {
		if err := s.removeMoved(w, r); err != nil {
			return err
		}
	}
	writeCreated(w, old != nil)
	return nil
}

// destination resolves the Destination header of a COPY or MOVE: the
// share d it names (s itself, or another share of this server mounted
// for the request and handed back by release) and the name dst there.
// Another host, or a path outside the shares, is 502 (RFC 4918 section
// 9.8.8 and 9.9.4: the server cannot act on another resource space); a
// share that is not there is 409 (section 9.8.5: the parent is missing).
func (s *shareRequest) destination(r *http.Request) (d *shareRequest, dst string, release func(error), err error) {
	hdr := r.Header.Get("Destination")
	if hdr == "" {
		return nil, "", nil, fail(http.StatusBadRequest, errors.New("no Destination header"))
	}
	u, err := url.Parse(hdr)
	if err != nil {
		return nil, "", nil, fail(http.StatusBadRequest, fmt.Errorf("bad Destination: %w", err))
	}
	if u.Host != "" && u.Host != r.Host {
		return nil, "", nil, fail(http.StatusBadGateway, errors.New("destination on another host"))
	}
	// dot segments resolved as in the request's own path (RFC 3986
	// 5.2.4), before the share is told
	p := path.Clean("/" + u.Path)
	if name, ok := s.inShare(p); ok {
		return s, name, func(error) {}, nil
	}
	rest, under := strings.CutPrefix(p, s.h.prefix+"/")
	share, dst, _ := strings.Cut(rest, "/")
	if !under || share == "" {
		return nil, "", nil, fail(http.StatusBadGateway, errors.New("destination outside the shares"))
	}
	d, rel, err := s.h.openShare(r.Context(), share)
	if err != nil {
		st := sourceStatus(err)
		if st == http.StatusNotFound {
			st = http.StatusConflict
		}
		return nil, "", nil, fail(st, fmt.Errorf("open destination share %q: %w", share, err))
	}
	s.h.changing(r.Context(), d.scope)
	if src := s.announce; src != nil { // a 207 of failed members announces both
		s.announce = func() { src(); s.h.changing(r.Context(), d.scope) }
	}
	release = func(err error) {
		s.h.changing(r.Context(), d.scope) // after the change, for a Stat made meanwhile
		rel(err)
	}
	return d, clean(dst), release, nil
}

// transferable refuses a COPY or MOVE that cannot be: a Depth it does not
// take (400; a MOVE moves everything, a COPY takes 0 or infinity), a
// share's root as source of a MOVE or as destination, a destination name
// refused (see nameRefusal), or a destination that is the source, lies
// below it or holds it (403).
func (s *shareRequest) transferable(r *http.Request, d *shareRequest, dst string, move bool) error {
	switch depth := r.Header.Get("Depth"); {
	case depth == "" || depth == "infinity":
	case depth == "0" && !move:
	default:
		return fail(http.StatusBadRequest, fmt.Errorf("%s with depth %q", r.Method, depth))
	}
	if dst == "/" {
		return fail(http.StatusForbidden, errors.New("copy or move onto a share itself"))
	}
	if err := d.nameRefusal(r.Context(), dst); err != nil {
		return err
	}
	if s.overlapsIn(d, s.name, dst, move) {
		return fail(http.StatusForbidden, errors.New("copy or move onto or into itself, or onto a folder that holds it"))
	}
	return nil
}

// overlapsIn reports whether the destination dst in d of a COPY or MOVE
// of name is name itself, lies below it, or holds it (replacing dst would
// delete the source), by name or, under another case or through another
// share that overlaps this one on the server, by the server's file ids.
// Within a share a COPY onto a name that differs only in case is the
// source too; a MOVE there is a change of case (see renameCase).
func (s *shareRequest) overlapsIn(d *shareRequest, name, dst string, move bool) bool {
	if d == s {
		return dst == name || isBelow(dst, name) || lockBelow(name, dst) ||
			(isBelow(strings.ToLower(dst), strings.ToLower(name)) && within(s.fsys, name, s.fsys, dst)) ||
			(!move && s.fsys.sameFile(name, dst))
	}
	return (d.scope == s.scope && (dst == name || isBelow(dst, name))) ||
		within(s.fsys, name, d.fsys, dst) || within(d.fsys, dst, s.fsys, name)
}

// transferStat stats the source and the destination (old, nil if there
// is none) and refuses a replacement that may not be (see mayReplace).
func (s *shareRequest) transferStat(r *http.Request, d *shareRequest, dst string) (src, old fs.FileInfo, err error) {
	src, err = s.fsys.Stat(r.Context(), s.name)
	if err != nil {
		return nil, nil, failFS(err)
	}
	old, err = d.fsys.Stat(r.Context(), dst)
	if errors.Is(err, fs.ErrNotExist) {
		return src, nil, nil
	}
	if err != nil {
		return nil, nil, failFS(err)
	}
	return src, old, mayReplace(r, d.fsys, dst, old)
}

// mayReplace refuses to replace the existing destination dst of fsys when
// Overwrite is F (412), and a read-only file or a folder that holds one
// (403).
func mayReplace(r *http.Request, fsys *FS, dst string, old fs.FileInfo) error {
	switch {
	case r.Header.Get("Overwrite") == "F":
		return fail(http.StatusPreconditionFailed, errors.New("destination exists and Overwrite is F"))
	case readOnly(old) || (old.IsDir() && fsys.holdsReadOnly(dst)):
		return fail(http.StatusForbidden, errReadOnly)
	}
	return nil
}

// renameCase ends a MOVE that changes only the case of a name
// ("report.txt" to "Report.txt"), which the server sees as the same name:
// a plain rename, never a replacement, whatever Overwrite says.
func (s *shareRequest) renameCase(w http.ResponseWriter, r *http.Request, dst string) error {
	if err := s.fsys.Rename(r.Context(), s.name, dst); err != nil {
		return failFS(err)
	}
	s.releaseLocks(r, s.name)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// renameWithin moves name to dst within the share by SMB renames: a file
// to a new name or over a file in one, otherwise with the destination
// renamed aside first and back if the move fails, so that the user never
// has neither. done is false when the server cannot rename there (the
// destination on another file system under the share: NOT_SAME_DEVICE),
// and the move must be copied.
func (s *shareRequest) renameWithin(r *http.Request, name, dst string, src, old fs.FileInfo) (done bool, err error) {
	ctx := r.Context()
	if old == nil || (!src.IsDir() && !old.IsDir()) {
		err := s.fsys.Rename(ctx, name, dst)
		switch {
		case errors.Is(err, ErrCrossDevice):
			return false, nil
		case err != nil && old == nil:
			return true, failParent(err) // section 9.9.4: the destination's parent is missing
		case err != nil:
			return true, failFS(err)
		}
		return true, nil
	}
	if s.fsys.caseTwins(dst) {
		return true, fail(http.StatusConflict, errCaseTwins)
	}
	aside := path.Join(path.Dir(dst), tempPrefix+randomHex(8))
	if err := s.fsys.Rename(ctx, dst, aside); err != nil {
		return true, failFS(err)
	}
	if err := s.fsys.Rename(ctx, name, dst); err != nil {
		if rerr := s.fsys.Rename(ctx, aside, dst); rerr != nil {
			s.h.log.ErrorContext(ctx, "move: put destination back", "path", dst, "aside", aside, "error", rerr.Error())
		} else if errors.Is(err, ErrCrossDevice) {
			return false, nil
		}
		return true, failFS(err)
	}
	if err := s.fsys.RemoveAll(ctx, aside); err != nil {
		s.h.log.WarnContext(ctx, "move: remove replaced destination", "aside", aside, "error", err.Error())
	}
	return true, nil
}

// removeMoved removes the source of a MOVE done by copying, and its locks.
// A source that cannot be removed entirely stays, next to its copy, and the
// answer is 207 naming what stayed.
func (s *shareRequest) removeMoved(w http.ResponseWriter, r *http.Request) error {
	if _, sp, err := s.fsys.resolve("move", s.name); err == nil {
		s.fsys.forget()
		if failed := s.removeTree(s.name, sp); len(failed) > 0 {
			return s.writeMemberErrors(w, failed)
		}
	}
	s.releaseLocks(r, s.name)
	return nil
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
