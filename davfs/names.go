package davfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// nameRefusal refuses to create the resource check: a name no SMB file can
// have, or one Windows cannot hold (400, for a new resource only), or one
// RefuseNames matches (403).
func (s *shareRequest) nameRefusal(ctx context.Context, check string) error {
	if check == "" || check == "/" {
		return nil
	}
	if smbInvalid(check) {
		return fail(http.StatusBadRequest, fmt.Errorf("name %q cannot be stored on an SMB share", check))
	}
	base := path.Base(check)
	if why := windowsRefuses(base); why != "" {
		if _, err := s.fsys.Stat(ctx, check); errors.Is(err, fs.ErrNotExist) {
			return fail(http.StatusBadRequest, fmt.Errorf("name %q: %s", base, why))
		}
	}
	for _, pat := range s.h.refuse {
		// file servers do not tell names apart by case, nor do we
		if ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(base)); ok {
			return fail(http.StatusForbidden, fmt.Errorf("name %q refused by configuration", base))
		}
	}
	return nil
}

// windowsRefuses says why Windows cannot name a file base, or "" if it
// can: a trailing dot or space (which a Windows server strips, so "a." would
// replace "a") or a reserved device name, with or without an extension
// ("NUL", "aux.txt"). Samba stores such names but lists them under mangled
// 8.3 names, so a client would never find the file it wrote. Only new
// resources are refused; an existing one keeps working.
func windowsRefuses(base string) string {
	if strings.HasSuffix(base, ".") || strings.HasSuffix(base, " ") {
		return "ends with a dot or a space"
	}
	stem, _, _ := strings.Cut(base, ".")
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL":
		return "a reserved device name"
	}
	if len(stem) == 4 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) && stem[3] >= '0' && stem[3] <= '9' {
		return "a reserved device name"
	}
	return ""
}

// hiddenName reports whether a name lies in or is one of davgate's
// temporary files, which clients neither see nor touch.
func hiddenName(name string) bool {
	return strings.HasPrefix(path.Base(name), tempPrefix) || strings.Contains(name, "/"+tempPrefix)
}

// destName is the clean URL path of a COPY or MOVE destination, "" if
// none.
func destName(r *http.Request) string {
	if r.Method != "COPY" && r.Method != "MOVE" {
		return ""
	}
	u, err := url.Parse(r.Header.Get("Destination"))
	if err != nil {
		return ""
	}
	return clean(u.Path)
}
