package davfs

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
)

// mkcol serves MKCOL (RFC 4918 section 9.3): a body is 415 (section
// 9.3.1: davgate knows no extended MKCOL), an existing resource 405, a
// missing parent 409.
func (s *shareRequest) mkcol(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkLocks(r, []target{{name: s.name, member: true}}); err != nil {
		return err
	}
	if r.ContentLength > 0 {
		return fail(http.StatusUnsupportedMediaType, errors.New("mkcol with a body"))
	}
	if err := s.fsys.Mkdir(r.Context(), s.name, 0o777); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fail(http.StatusMethodNotAllowed, fmt.Errorf("mkcol: %w", err))
		}
		return failParent(err)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}
