package authn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// LDAP checks passwords with an LDAP simple bind, against Active Directory
// or any LDAP directory (OpenLDAP with posixAccount users, ...).
//
// Two ways to find what to bind as:
//
//   - search-then-bind: with BaseDN and UserFilter set, the user's entry is
//     searched for (as the BindDN service account, or anonymously when
//     BindDN and BindTemplate are empty), then bound to with the password;
//   - a bind template: BindTemplate makes the bind name from the user name,
//     e.g. "{user}@example.com" (an AD userPrincipalName); if BaseDN and
//     UserFilter are set too, the entry is then read as the user.
//
// Passwords go only over TLS (ldaps:// or StartTLS) unless
// InsecurePlaintext is set. Required fields: URL, and BindTemplate or
// BaseDN with UserFilter. Call Check at start-up to report configuration
// mistakes early; Authenticate also returns them, wrapping ErrUnavailable.
//
// A configuration for Active Directory, search-then-bind:
//
//	LDAP{
//		URL:           "ldaps://dc1.example.com",
//		CAFile:        "/etc/davgate/ad-ca.pem",
//		BindDN:        "CN=davgate,OU=Services,DC=example,DC=com",
//		BindPassword:  "…",
//		BaseDN:        "DC=example,DC=com",
//		UserFilter:    "(&(objectClass=user)(sAMAccountName={user}))",
//		UserAttr:      "sAMAccountName",
//		Domain:        "EXAMPLE",
//		RequiredGroup: "CN=WebDAV Users,OU=Groups,DC=example,DC=com",
//		Attributes:    []string{"homeDirectory"},
//	}
//
// and for OpenLDAP with posixAccount users and posixGroup groups:
//
//	LDAP{
//		URL:             "ldap://ldap.example.org",
//		StartTLS:        true,
//		BaseDN:          "ou=people,dc=example,dc=org",
//		UserFilter:      "(&(objectClass=posixAccount)(uid={user}))",
//		UserAttr:        "uid",
//		RequiredGroup:   "cn=webdav,ou=groups,dc=example,dc=org",
//		GroupMembership: "memberUid",
//	}
type LDAP struct {
	// URL is the directory server: "ldaps://host[:636]" or "ldap://host[:389]"
	// (then with StartTLS, or InsecurePlaintext). Required.
	URL string
	// StartTLS upgrades an ldap:// connection to TLS before any bind.
	StartTLS bool
	// CAFile is a PEM file of the CA certificates the server's certificate
	// must chain to; "" uses the system's roots. It is read at each log-on,
	// so a replaced file takes effect without a restart.
	CAFile string
	// ServerName is the name the server's certificate must carry; "" uses
	// the host of URL. Set it when URL names the server by IP address and
	// its certificate holds only its DNS name.
	ServerName string
	// InsecurePlaintext allows binds over ldap:// without StartTLS: the
	// password then crosses the network in clear. For tests only.
	InsecurePlaintext bool

	// BindTemplate makes the bind name from the user name, replacing
	// {user}: "{user}@example.com" (AD UPN), `EXAMPLE\{user}`, or a DN like
	// "uid={user},ou=people,dc=example,dc=org" (then the user name is
	// DN-escaped). Used when BindDN is empty.
	BindTemplate string
	// BindDN and BindPassword are a service account that searches for the
	// user's entry. Both empty (and no BindTemplate): search anonymously.
	BindDN       string
	BindPassword string

	// BaseDN is the subtree searched for users (and where UserFilter runs).
	BaseDN string
	// UserFilter finds the user's entry; {user} is replaced by the user
	// name, escaped for filters (RFC 4515). It must match one entry, e.g.
	// "(&(objectClass=user)(sAMAccountName={user}))" (AD) or
	// "(&(objectClass=posixAccount)(uid={user}))".
	UserFilter string
	// UserAttr names the attribute of the entry that holds the canonical
	// user name used for sessions and share URLs (sAMAccountName, uid);
	// "" keeps the name as typed. Needs a search (BaseDN, UserFilter).
	UserAttr string
	// Domain is returned as Identity.Domain, e.g. the NetBIOS domain that
	// SMB log-ons to the file servers use; "" for none. A user name typed
	// as DOMAIN\user with this domain is taken as user.
	Domain string

	// RequiredGroup is the DN of a group the user must be a member of; ""
	// lets every user with a valid password in. Needs a search.
	RequiredGroup string
	// GroupMembership says how membership in RequiredGroup is found:
	//   "memberOf" (default): the user entry's memberOf values (AD, and
	//       OpenLDAP with the memberof overlay); direct membership only;
	//   "nested": AD only, membership through nested groups too
	//       (LDAP_MATCHING_RULE_IN_CHAIN, 1.2.840.113556.1.4.1941);
	//   "member": the group's member attribute holds the user's DN
	//       (groupOfNames, AD groups);
	//   "memberUid": the group's memberUid holds the user name (posixGroup).
	GroupMembership string

	// Attributes are read from the user's entry at log-on into
	// Identity.Attrs, keyed by the name as written here, first value only;
	// absent attributes are absent from Attrs. A value that is a UNC path
	// (\\server\share\dir) is also given as an smb:// URL under the name
	// plus URLAttrSuffix (".url"). Needs a search.
	Attributes []string

	// Timeout bounds connecting and each LDAP operation; default 10 s.
	Timeout time.Duration
}

var _ Authenticator = (*LDAP)(nil)

// Check reports a configuration that cannot work.
func (a *LDAP) Check() error {
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return fmt.Errorf("ldap: url %q: want ldaps://host[:port] or ldap://host[:port]", a.URL)
	}
	if u.Scheme == "ldaps" && a.StartTLS {
		return errors.New("ldap: start_tls is for ldap:// URLs; ldaps:// is TLS already")
	}
	if u.Scheme == "ldap" && !a.StartTLS && !a.InsecurePlaintext {
		return errors.New("ldap: refusing to send passwords over plain ldap://: use ldaps:// or start_tls")
	}
	search := a.BaseDN != "" && a.UserFilter != ""
	if (a.BaseDN != "") != (a.UserFilter != "") {
		return errors.New("ldap: base_dn and user_filter go together")
	}
	if a.UserFilter != "" && !strings.Contains(a.UserFilter, "{user}") {
		return errors.New("ldap: user_filter must contain {user}")
	}
	if a.BindTemplate != "" && !strings.Contains(a.BindTemplate, "{user}") {
		return errors.New("ldap: bind_template must contain {user}")
	}
	if !search && a.BindTemplate == "" {
		return errors.New("ldap: set bind_template, or base_dn and user_filter")
	}
	if !search && (a.UserAttr != "" || a.RequiredGroup != "" || len(a.Attributes) > 0) {
		return errors.New("ldap: user_attr, required_group and attributes need base_dn and user_filter")
	}
	if a.BindDN != "" && a.BindPassword == "" {
		return errors.New("ldap: bind_dn without bind_password")
	}
	switch a.GroupMembership {
	case "", "memberOf", "nested", "member", "memberUid":
	default:
		return fmt.Errorf("ldap: group_membership %q: want memberOf, nested, member or memberUid", a.GroupMembership)
	}
	if a.RequiredGroup != "" {
		if _, err := ldap.ParseDN(a.RequiredGroup); err != nil {
			return fmt.Errorf("ldap: required_group %q is not a DN: %v", a.RequiredGroup, err)
		}
	}
	return nil
}

// Authenticate implements Authenticator. Refusals wrap ErrBadCredentials,
// through one of ErrWrongPassword, ErrAccountDisabled, ErrAccountLocked,
// ErrAccountExpired, ErrPasswordExpired, ErrMustChangePassword,
// ErrLogonNotPermitted, ErrNotInGroup or ErrEmptyPassword; a directory that
// cannot be reached, a failing service account or a configuration mistake
// wrap ErrUnavailable.
func (a *LDAP) Authenticate(ctx context.Context, user string, password []byte) (Identity, error) {
	if len(password) == 0 {
		return Identity{}, ErrEmptyPassword
	}
	if err := checkUserName(user); err != nil {
		return Identity{}, err
	}
	if err := a.Check(); err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	user, err := a.account(user)
	if err != nil {
		return Identity{}, err
	}
	conn, err := a.dial(ctx)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: ldap: %w", ErrUnavailable, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	search := a.BaseDN != ""
	var entry *ldap.Entry
	bindName := ""
	inGroup := true
	if a.BindDN != "" || a.BindTemplate == "" {
		// Search-then-bind, as the service account or anonymously.
		if a.BindDN != "" {
			if err := conn.Bind(a.BindDN, a.BindPassword); err != nil {
				return Identity{}, fmt.Errorf("%w: ldap: bind as service account %q: %w", ErrUnavailable, a.BindDN, err)
			}
		}
		if entry, err = a.find(conn, user); err != nil {
			return Identity{}, err
		}
		bindName = entry.DN
		// Membership is read with the service account's rights, before
		// the bind as the user, and reported only after the password.
		if inGroup, err = a.member(conn, entry, user); err != nil {
			return Identity{}, err
		}
	} else {
		bindName = a.templateBind(user)
	}

	// go-ldap takes the password as a string: a copy davgate cannot zero.
	if err := conn.Bind(bindName, string(password)); err != nil {
		return Identity{}, bindError(bindName, err)
	}

	if entry == nil && search {
		// Bound through the template: read the entry with the user's rights.
		if entry, err = a.find(conn, user); err != nil {
			if errors.Is(err, ErrWrongPassword) && !foreignUPN(user) {
				return Identity{}, fmt.Errorf("%w: ldap: bound as %q but its entry is not found with %s under %s", ErrUnavailable, bindName, a.UserFilter, a.BaseDN)
			}
			return Identity{}, err
		}
		if inGroup, err = a.member(conn, entry, user); err != nil {
			return Identity{}, err
		}
	}
	if !inGroup {
		return Identity{}, fmt.Errorf("ldap: %q not in %q: %w", bindName, a.RequiredGroup, ErrNotInGroup)
	}
	return a.identity(entry, user), nil
}

// templateValue escapes the user name for BindTemplate: DN-escaped when
// the template is a DN.
func (a *LDAP) templateValue(user string) string {
	if strings.Contains(a.BindTemplate, "=") {
		return ldap.EscapeDN(user)
	}
	return user
}

func (a *LDAP) timeout() time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return 10 * time.Second
}

// dial connects and, for ldap:// with StartTLS, upgrades to TLS.
func (a *LDAP) dial(ctx context.Context) (*ldap.Conn, error) {
	u, _ := url.Parse(a.URL) // checked by Check
	tc, err := a.tlsConfig(u)
	if err != nil {
		return nil, err
	}
	timeout := a.timeout()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	conn, err := ldap.DialURL(a.URL, ldap.DialWithDialer(&net.Dialer{Timeout: timeout}), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", a.URL, err)
	}
	conn.SetTimeout(timeout)
	if u.Scheme == "ldap" && a.StartTLS {
		if err := conn.StartTLS(tc); err != nil {
			conn.Close()
			return nil, fmt.Errorf("start TLS with %s: %w", a.URL, err)
		}
	}
	return conn, nil
}

func (a *LDAP) tlsConfig(u *url.URL) (*tls.Config, error) {
	tc := &tls.Config{ServerName: a.ServerName, MinVersion: tls.VersionTLS12}
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", a.CAFile)
		}
	}
	return tc, nil
}

// find searches for the user's one entry. No entry, or several, is
// ErrWrongPassword: the client learns nothing about which names exist.
func (a *LDAP) find(conn *ldap.Conn, user string) (*ldap.Entry, error) {
	attrs := append([]string{}, a.Attributes...)
	if a.UserAttr != "" {
		attrs = append(attrs, a.UserAttr)
	}
	if a.RequiredGroup != "" && (a.GroupMembership == "" || a.GroupMembership == "memberOf") {
		attrs = append(attrs, "memberOf")
	}
	if len(attrs) == 0 {
		attrs = []string{"1.1"} // no attributes (RFC 4511 section 4.5.1.8)
	}
	filter := strings.ReplaceAll(a.UserFilter, "{user}", ldap.EscapeFilter(user))
	req := ldap.NewSearchRequest(a.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(a.timeout()/time.Second), false, filter, attrs, nil)
	res, err := conn.Search(req)
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return nil, fmt.Errorf("%w: ldap: search %s under %s: %w", ErrUnavailable, filter, a.BaseDN, err)
	}
	if res == nil {
		res = &ldap.SearchResult{}
	}
	switch n := len(res.Entries); {
	case n == 0:
		return nil, fmt.Errorf("ldap: no entry for %s under %s: %w", filter, a.BaseDN, ErrWrongPassword)
	case n > 1 || err != nil:
		return nil, fmt.Errorf("ldap: several entries for %s under %s: %w", filter, a.BaseDN, ErrWrongPassword)
	}
	return res.Entries[0], nil
}

// member reports whether the entry belongs to RequiredGroup.
func (a *LDAP) member(conn *ldap.Conn, entry *ldap.Entry, user string) (bool, error) {
	if a.RequiredGroup == "" {
		return true, nil
	}
	switch a.GroupMembership {
	case "", "memberOf":
		want, _ := ldap.ParseDN(a.RequiredGroup) // checked by Check
		for _, v := range entry.GetEqualFoldAttributeValues("memberOf") {
			if dn, err := ldap.ParseDN(v); err == nil && dn.EqualFold(want) {
				return true, nil
			}
		}
		return false, nil
	case "nested":
		return a.exists(conn, entry.DN, ldap.ScopeBaseObject,
			"(memberOf:1.2.840.113556.1.4.1941:="+ldap.EscapeFilter(a.RequiredGroup)+")")
	case "member":
		return a.exists(conn, a.RequiredGroup, ldap.ScopeBaseObject, "(member="+ldap.EscapeFilter(entry.DN)+")")
	default: // memberUid
		return a.exists(conn, a.RequiredGroup, ldap.ScopeBaseObject, "(memberUid="+ldap.EscapeFilter(a.canonical(entry, user))+")")
	}
}

func (a *LDAP) exists(conn *ldap.Conn, base string, scope int, filter string) (bool, error) {
	req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 1, int(a.timeout()/time.Second), false,
		filter, []string{"1.1"}, nil)
	res, err := conn.Search(req)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return false, fmt.Errorf("%w: ldap: required group %q does not exist", ErrUnavailable, a.RequiredGroup)
	case err != nil:
		return false, fmt.Errorf("%w: ldap: group check %s on %s: %w", ErrUnavailable, filter, base, err)
	}
	return len(res.Entries) > 0, nil
}

// canonical is the identity's user name: the directory's value of
// UserAttr, else the typed name folded (directories compare user names
// case-insensitively: sAMAccountName, and uid with caseIgnoreMatch).
func (a *LDAP) canonical(entry *ldap.Entry, user string) string {
	if entry != nil && a.UserAttr != "" {
		if v := entry.GetEqualFoldAttributeValue(a.UserAttr); v != "" {
			return v
		}
	}
	name, _ := foldName(user)
	return name
}

func (a *LDAP) identity(entry *ldap.Entry, user string) Identity {
	id := Identity{User: a.canonical(entry, user), Domain: a.Domain}
	if entry == nil || len(a.Attributes) == 0 {
		return id
	}
	id.Attrs = make(map[string]string, len(a.Attributes))
	for _, name := range a.Attributes {
		v := entry.GetEqualFoldAttributeValue(name)
		if v == "" {
			continue
		}
		id.Attrs[name] = v
		if u, ok := uncToURL(v); ok {
			id.Attrs[name+URLAttrSuffix] = u
		}
	}
	return id
}

// adSubCode finds Active Directory's reason in a bind error's diagnostic
// message: "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext
// error, data 52e, v4563".
var adSubCode = regexp.MustCompile(`\bdata ([0-9a-fA-F]{3,8})\b`)

// adReasons maps AD's sub-codes (Win32 error codes in hex) to reasons.
var adReasons = map[string]error{
	"525": ErrWrongPassword,      // ERROR_NO_SUCH_USER
	"52e": ErrWrongPassword,      // ERROR_LOGON_FAILURE
	"530": ErrLogonNotPermitted,  // ERROR_INVALID_LOGON_HOURS
	"531": ErrLogonNotPermitted,  // ERROR_INVALID_WORKSTATION
	"532": ErrPasswordExpired,    // ERROR_PASSWORD_EXPIRED
	"533": ErrAccountDisabled,    // ERROR_ACCOUNT_DISABLED
	"701": ErrAccountExpired,     // ERROR_ACCOUNT_EXPIRED
	"773": ErrMustChangePassword, // ERROR_PASSWORD_MUST_CHANGE
	"775": ErrAccountLocked,      // ERROR_ACCOUNT_LOCKED_OUT
}

// bindError classifies a failed bind as the user.
func bindError(bindName string, err error) error {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("%w: ldap: bind as %q: %w", ErrUnavailable, bindName, err)
	}
	switch le.ResultCode {
	case ldap.LDAPResultInvalidCredentials:
		reason := ErrWrongPassword
		code := ""
		if le.Err != nil {
			if m := adSubCode.FindStringSubmatch(le.Err.Error()); m != nil {
				code = strings.ToLower(m[1])
				if r, ok := adReasons[code]; ok {
					reason = r
				}
			}
		}
		if code != "" {
			return fmt.Errorf("ldap: bind as %q refused (AD code %s): %w", bindName, code, reason)
		}
		return fmt.Errorf("ldap: bind as %q refused: %w", bindName, reason)
	case ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultConfidentialityRequired:
		return fmt.Errorf("%w: ldap: the directory refuses simple binds on this connection (use ldaps:// or start_tls): %w", ErrUnavailable, err)
	case ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultInappropriateAuthentication:
		return fmt.Errorf("ldap: bind as %q refused: %w (%v)", bindName, ErrWrongPassword, le)
	default:
		return fmt.Errorf("%w: ldap: bind as %q: %w", ErrUnavailable, bindName, err)
	}
}
