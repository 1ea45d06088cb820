package authn

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/go-ldap/ldap/v3"
)

// One user, one identity: every spelling a directory accepts for one
// account (alice, ALICE, LAB\alice, lab.example.com\alice,
// alice@lab.example.com, alice@alt.example under an extra UPN suffix)
// must end in the same Identity.User, since sessions, revoke-all and the
// session list are keyed by it, and must count against the same rate
// limit, since each spelling would otherwise get its own free guesses.
//
// Authenticators return the canonical name (the directory's spelling
// where it has one). The rate limit must be keyed before the directory is
// asked, so its key is made from the typed name: the bare account name,
// without any DOMAIN\ or @suffix, folded (bareKey). For our own domain,
// in NetBIOS or DNS form, that is the account name the directory is asked
// about. A UPN under a suffix that is not one of our domains (an extra
// UPN suffix, which only the directory knows) is keyed by its local part:
// AD's UPN is by default, and by near-universal practice,
// sAMAccountName@suffix, so it shares the account's count. A name in a
// domain that is not ours (OTHER\alice, lab.evil\alice) is refused
// before any directory is asked (davgate serves one domain, so that one
// name is one account) and also counts under alice. Keying by the bare
// name can only make two names share a count (fewer guesses, never
// more); an account whose UPN's local part differs from its
// sAMAccountName still gets a second count under that local part until a
// success clears both. Resolving a UPN through the directory before
// counting was not chosen: it needs a service account, and asks the
// directory (a search per attempt) about the very requests the limit
// exists to turn away.
//
// An Authenticator that knows better than bareKey how its directory
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
	return bareKey(typed)
}

// bareKey is the key of a name no backend rule applies to (a domain not
// ours, a UPN under another suffix): the bare account name, without any
// DOMAIN\ or @suffix, folded. Every spelling of one account name so
// shares one count; a name in another domain, refused anyway, can only
// add to that count, never give more guesses.
func bareKey(typed string) string {
	name, _ := splitDomainUser(typed)
	k, _ := foldName(name)
	return k
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

// knownDomain reports whether typed names our domain, whose NetBIOS name
// is netbios and DNS name dns (either may be ""): equal to either
// case-insensitively, or a single label equal to the DNS name's first
// (the usual NetBIOS name of an AD domain). A DNS name is never taken
// for the NetBIOS name by its first label (lab.evil is not LAB). Without
// a DNS name, sameDomain decides.
func knownDomain(typed, netbios, dns string) bool {
	if dns == "" {
		return sameDomain(typed, netbios)
	}
	if typed == "" {
		return false
	}
	first, _, _ := strings.Cut(dns, ".")
	return strings.EqualFold(typed, netbios) || strings.EqualFold(typed, dns) ||
		!strings.Contains(typed, ".") && strings.EqualFold(typed, first)
}

// foreignUPN reports whether an account name (after LDAP.account) is a
// UPN under a suffix that is not one of our domains.
func foreignUPN(name string) bool { return strings.Contains(name, "@") }

// upnSuffix is the domain of a BindTemplate "{user}@domain", else "".
func (a *LDAP) upnSuffix() string {
	if d, ok := strings.CutPrefix(a.BindTemplate, "{user}@"); ok && !strings.Contains(d, "{user}") {
		return d
	}
	return ""
}

// dnsDomain is the directory's DNS domain: the bind template's UPN
// suffix, else the DC= components of BaseDN (DC=lab,DC=example,DC=com is
// lab.example.com), else "".
func (a *LDAP) dnsDomain() string {
	if d := a.upnSuffix(); d != "" {
		return d
	}
	dn, err := ldap.ParseDN(a.BaseDN)
	if err != nil {
		return ""
	}
	var labels []string
	for _, rdn := range dn.RDNs {
		if len(rdn.Attributes) == 1 && strings.EqualFold(rdn.Attributes[0].Type, "dc") {
			labels = append(labels, rdn.Attributes[0].Value)
		} else {
			labels = labels[:0]
		}
	}
	return strings.Join(labels, ".")
}

// account turns a typed name into the name the directory is asked
// about: DOMAIN\user and user@domain with one of our domains become
// user; DOMAIN\user with another domain is refused; user@suffix with
// another suffix stays whole, a UPN for the directory to resolve, and is
// refused where the directory cannot give its canonical name (no search,
// or no user_attr), since it would otherwise be an identity of its own.
func (a *LDAP) account(typed string) (string, error) {
	dns := a.dnsDomain()
	if d, u, ok := strings.Cut(typed, `\`); ok {
		if !knownDomain(d, a.Domain, dns) || u == "" {
			return "", fmt.Errorf("ldap: user %q is not in domain %s: %w", typed, a.Domain, errBadUserName)
		}
		return u, nil
	}
	name, d := splitDomainUser(typed)
	if d == "" {
		return typed, nil
	}
	if knownDomain(d, a.Domain, dns) {
		return name, nil
	}
	if name == "" || a.BaseDN == "" || a.UserAttr == "" {
		return "", fmt.Errorf("ldap: user %q: a UPN under another suffix needs base_dn, user_filter and user_attr: %w", typed, errBadUserName)
	}
	return typed, nil
}

// templateBind is the bind name BindTemplate makes for an account name;
// a UPN under another suffix is bound as itself when the template is a
// UPN ("{user}@domain"), as AD resolves a UPN under any of its suffixes.
func (a *LDAP) templateBind(user string) string {
	if foreignUPN(user) && a.upnSuffix() != "" {
		return user
	}
	return strings.ReplaceAll(a.BindTemplate, "{user}", a.templateValue(user))
}

// UserKey implements userKeyer: bareKey. Every name account accepts is
// our domain's account under its bare name, or a UPN the directory may
// resolve, which bareKey keys by its local part.
func (a *LDAP) UserKey(typed string) string { return bareKey(typed) }
