package davfs

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
)

// memberError is a member of a collection that DELETE could not remove.
type memberError struct {
	name string // clean webdav name
	err  error
}

// delete serves DELETE (RFC 4918 section 9.6). A collection is removed
// member by member; a member that cannot go (a file in use, one the user
// may not delete) is left with its ancestors, the rest goes, and the
// answer is 207 naming each member that stayed and why (section 9.6.1),
// instead of a bare 423 for a folder half gone.
func (s *shareRequest) delete(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	if fi, err := s.fsys.Stat(ctx, name); err != nil {
		s.failFS(w, r, err)
		return
	} else if readOnly(fi) {
		s.h.fail(w, r, http.StatusForbidden, errReadOnly)
		return
	}
	name, p, err := s.fsys.resolve("remove", name)
	if err != nil {
		s.failFS(w, r, err)
		return
	}
	if p == s.fsys.root {
		s.h.fail(w, r, http.StatusForbidden, errors.New("delete of the share itself"))
		return
	}
	s.fsys.forget()
	failed := s.removeTree(name, p)
	switch {
	case len(failed) == 0:
		s.releaseLocks(r, name)
		w.WriteHeader(http.StatusNoContent)
	case len(failed) == 1 && failed[0].name == name:
		s.failFS(w, r, failed[0].err)
	default:
		s.writeMemberErrors(w, r, failed)
	}
}

// removeTree removes name (at SMB path p) and what is below it, as far as
// it can, and returns the members that stayed. An upload in progress keeps
// its folder: the client sees the folder in use, not davgate's temporary
// file.
func (s *shareRequest) removeTree(name, p string) []memberError {
	var failed []memberError
	if s.fsys.removeMembers(name, p, &failed) {
		s.fsys.dropProps(p)
	}
	for i, m := range failed {
		if hiddenName(m.name) {
			failed[i] = memberError{path.Dir(m.name), &os.PathError{Op: "remove", Path: m.name, Err: ErrLocked}}
		}
	}
	return slices.CompactFunc(failed, func(a, b memberError) bool { return a.name == b.name })
}

// writeMemberErrors answers 207 naming each member that failed and its
// status (RFC 4918 section 9.6.1 for DELETE, 9.9.4 for MOVE).
func (s *shareRequest) writeMemberErrors(w http.ResponseWriter, r *http.Request, failed []memberError) {
	for _, m := range failed {
		st, _ := httpStatus(m.err)
		s.h.logFailure(r, st, m.err)
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	bw := bufio.NewWriter(w)
	bw.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<D:multistatus xmlns:D="DAV:">`)
	for _, m := range failed {
		st, _ := httpStatus(m.err)
		fmt.Fprintf(bw, "<D:response><D:href>%s</D:href><D:status>HTTP/1.1 %d %s</D:status></D:response>\n",
			xmlEscape(s.href(m.name, false)), st, http.StatusText(st))
	}
	bw.WriteString("</D:multistatus>\n")
	bw.Flush()
}

// removeMembers removes the resource at the SMB path p (webdav name name)
// and, for a collection, everything below it, going on past members that
// cannot be removed; those are added to failed, their ancestors are kept
// and not reported (they fail only because of them).
func (f *FS) removeMembers(name, p string, failed *[]memberError) (removed bool) {
	err := f.share.Remove(p)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if kind, _ := classify(err); kind != ErrNotEmpty && kind != ErrIsDir {
		*failed = append(*failed, memberError{name, f.fail("remove", name, err)})
		return false
	}
	children, err := f.share.ReadDir(p)
	if err != nil {
		*failed = append(*failed, memberError{name, f.fail("remove", name, err)})
		return false
	}
	all := true
	for _, c := range children {
		cn := path.Join(name, c.Name())
		if readOnly(c) {
			*failed = append(*failed, memberError{cn, errReadOnly})
			all = false
			continue
		}
		if !f.removeMembers(cn, joinSMB(p, c.Name()), failed) {
			all = false
		}
	}
	if !all {
		return false
	}
	if err := f.share.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		*failed = append(*failed, memberError{name, f.fail("remove", name, err)})
		return false
	}
	return true
}
