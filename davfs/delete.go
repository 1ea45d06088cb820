package davfs

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
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
func (s *shareRequest) delete(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkLocks(r, []target{{s.name, true, true}}); err != nil {
		return err
	}
	if fi, err := s.fsys.Stat(r.Context(), s.name); err != nil {
		return failFS(err)
	} else if readOnly(fi) {
		return fail(http.StatusForbidden, errReadOnly)
	}
	name, p, err := s.fsys.resolve("remove", s.name)
	if err != nil {
		return failFS(err)
	}
	if p == s.fsys.root {
		return fail(http.StatusForbidden, errors.New("delete of the share itself"))
	}
	s.fsys.forget()
	failed := s.removeTree(name, p)
	switch {
	case len(failed) == 0:
		s.releaseLocks(r, name)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case len(failed) == 1 && failed[0].name == name:
		return failFS(failed[0].err)
	}
	return s.writeMemberErrors(w, failed)
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
			failed[i] = memberError{path.Dir(m.name), s.fsys.fail("remove", m.name, ErrLocked)}
		}
	}
	return slices.CompactFunc(failed, func(a, b memberError) bool { return a.name == b.name })
}

// writeMemberErrors answers 207 naming each member that failed and its
// status (RFC 4918 section 9.6.1 for DELETE, 9.9.4 for MOVE); the
// failures go to the log and the mount's release.
func (s *shareRequest) writeMemberErrors(w http.ResponseWriter, failed []memberError) error {
	s.changed()
	ms := startMultistatus(w)
	errs := make([]error, len(failed))
	for i, m := range failed {
		st, _ := httpStatus(m.err)
		ms.response(s.href(m.name, false), st)
		errs[i] = fmt.Errorf("%s: %w", m.name, m.err)
	}
	ms.close()
	return sent(http.StatusMultiStatus, errors.Join(errs...))
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
	if kind := errorKind(err); kind != ErrNotEmpty && kind != ErrIsDir {
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
