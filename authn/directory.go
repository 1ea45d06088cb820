package authn

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// Why a directory (LDAP or Kerberos) refused a log-on. Each wraps
// ErrBadCredentials, so clients get the one fixed message while the log
// says which; a log-on page may still choose to tell a user whose password
// must be changed where to change it.
var (
	ErrWrongPassword      = fmt.Errorf("%w: wrong password or unknown user", ErrBadCredentials)
	ErrAccountDisabled    = fmt.Errorf("%w: account disabled", ErrBadCredentials)
	ErrAccountLocked      = fmt.Errorf("%w: account locked out", ErrBadCredentials)
	ErrAccountExpired     = fmt.Errorf("%w: account expired", ErrBadCredentials)
	ErrAccountRevoked     = fmt.Errorf("%w: account disabled, locked out or expired", ErrBadCredentials)
	ErrPasswordExpired    = fmt.Errorf("%w: password expired", ErrBadCredentials)
	ErrMustChangePassword = fmt.Errorf("%w: password must be changed", ErrBadCredentials)
	ErrLogonNotPermitted  = fmt.Errorf("%w: log-on not permitted at this time or from this workstation", ErrBadCredentials)
	ErrNotInGroup         = fmt.Errorf("%w: not a member of the required group", ErrBadCredentials)
	// ErrEmptyPassword: an empty password is refused before the directory
	// is asked, since an LDAP simple bind with a name and no password is an
	// anonymous bind that succeeds (RFC 4513 section 5.1.2).
	ErrEmptyPassword = fmt.Errorf("%w: empty password", ErrBadCredentials)
	// errBadUserName: a user name no directory should be asked about.
	errBadUserName = fmt.Errorf("%w: unacceptable user name", ErrBadCredentials)
)

// checkUserName refuses user names that are empty, long, or carry control
// characters, before they go into a filter, DN or principal.
func checkUserName(user string) error {
	if user == "" || len(user) > 256 || strings.ContainsFunc(user, unicode.IsControl) {
		return errBadUserName
	}
	return nil
}

// URLAttrSuffix is appended to an attribute's name in Identity.Attrs for
// the smb:// URL form of a value that is a UNC path: an LDAP authenticator
// reading homeDirectory = \\fs1\home\alice sets
//
//	Attrs["homeDirectory"]     = `\\fs1\home\alice`
//	Attrs["homeDirectory.url"] = "smb://fs1/home/alice"
const URLAttrSuffix = ".url"

// uncToURL turns a UNC path \\server\share[\dir...] into
// smb://server/share[/dir...], each segment percent-escaped. It reports
// false for anything else, and for paths with "." or ".." segments.
func uncToURL(unc string) (string, bool) {
	rest, ok := strings.CutPrefix(unc, `\\`)
	if !ok {
		return "", false
	}
	var segs []string
	for _, s := range strings.Split(rest, `\`) {
		switch s {
		case "":
			continue
		case ".", "..":
			return "", false
		}
		if strings.ContainsFunc(s, unicode.IsControl) || strings.Contains(s, "/") {
			return "", false
		}
		segs = append(segs, s)
	}
	if len(segs) < 2 || strings.ContainsAny(segs[0], "@?#") {
		return "", false
	}
	u := "smb://" + segs[0]
	for _, s := range segs[1:] {
		u += "/" + url.PathEscape(s)
	}
	return u, true
}

// splitDomainUser separates a domain given with the user name, as
// DOMAIN\user or user@domain, from the name.
func splitDomainUser(user string) (name, domain string) {
	if d, u, ok := strings.Cut(user, `\`); ok {
		return u, d
	}
	if i := strings.LastIndexByte(user, '@'); i >= 0 {
		return user[:i], user[i+1:]
	}
	return user, ""
}
