package authn

import (
	"strings"
	"unicode"
)

// One user, one identity: every spelling a directory accepts for one
// account (alice, ALICE, LAB\alice, alice@lab.example.com) must end in
// the same Identity.User, since sessions, revoke-all and the session list
// are keyed by it, and must count against the same rate limit, since each
// spelling would otherwise get its own free guesses.
//
// Authenticators return the canonical name (the directory's spelling
// where it has one); the rate limit, which must be keyed before the
// directory is asked, uses an identity key made from the typed name. An
// Authenticator that knows better than foldName how its directory
// compares names implements userKeyer.

// userKeyer is implemented by Authenticators that normalise a typed user
// name into the key its log-on attempts are counted under: every spelling
// of one account must give one key. The key need not be the canonical
// name, only the same for all of an account's spellings.
type userKeyer interface {
	UserKey(typed string) string
}

// identityKey is the rate-limit key of a typed user name.
func identityKey(a Authenticator, typed string) string {
	if k, ok := a.(userKeyer); ok {
		return k.UserKey(typed)
	}
	name, _ := foldName(typed)
	return name
}

// foldName folds a user name the way Windows and Samba compare them,
// case-insensitively, into lower case: two names fold alike exactly when
// their upper-case forms (rune by rune, Unicode simple case mapping, as
// Windows' RtlUpcaseUnicodeString does) are equal. Go's Unicode tables
// stand in for Windows' upcase table; they differ in a few rarely used
// characters. Names Unicode-normalised differently (NFC, NFD) stay
// different, as on the file servers. ok is false for a name holding a
// rune whose lower-case form upper-cases to another rune (the Kelvin
// sign, ...): such a name could not be told apart from another account's,
// and is refused.
func foldName(s string) (name string, ok bool) {
	ok = true
	name = strings.Map(func(r rune) rune {
		up := unicode.ToUpper(r)
		lo := unicode.ToLower(up)
		if unicode.ToUpper(lo) != up {
			ok = false
		}
		return lo
	}, s)
	return name, ok
}

// sameDomain reports whether typed names domain, given in NetBIOS form
// (LAB) or DNS form (lab.example.com): equal to it case-insensitively, or
// one's first DNS label is the other (the usual NetBIOS name of an AD
// domain; a domain whose NetBIOS name is not its first label must be
// typed as configured).
func sameDomain(typed, domain string) bool {
	if typed == "" || domain == "" {
		return false
	}
	if strings.EqualFold(typed, domain) {
		return true
	}
	t, _, tdns := strings.Cut(typed, ".")
	d, _, ddns := strings.Cut(domain, ".")
	return tdns != ddns && strings.EqualFold(t, d)
}
