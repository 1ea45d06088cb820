package authn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/krberror"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/davgate/davgate/session"
)

// ErrKDCNotVerified: the KDC accepted the password but could not prove it
// is the realm's genuine KDC, by issuing a ticket for davgate's own
// service principal that the service keytab decrypts. A spoofed KDC (or
// a wrong or outdated keytab) looks like this; the log-on is refused.
var ErrKDCNotVerified = fmt.Errorf("%w: KDC not verified with the service keytab", ErrUnavailable)

// Kerberos checks passwords with a Kerberos AS exchange (kinit), then
// verifies the KDC: it asks for a service ticket for ServicePrincipal and
// decrypts it with that principal's keys from Keytab. Without that step
// anyone who can answer for the KDC's address could approve any password
// (CVE-2015-3206, the flaw in pam_krb5-style checks that Bargate's
// documentation warns about).
//
// Required: Realm, KDCs, ServicePrincipal, Keytab. A configuration for
// Active Directory, with a keytab from `ktpass` or `samba-tool domain
// exportkeytab --principal=HTTP/davgate.example.com`:
//
//	Kerberos{
//		Realm:            "EXAMPLE.COM",
//		KDCs:             []string{"dc1.example.com:88", "dc2.example.com:88"},
//		ServicePrincipal: "HTTP/davgate.example.com",
//		Keytab:           "/etc/davgate/davgate.keytab",
//		Domain:           "EXAMPLE",
//	}
//
// Users may type alice, alice@EXAMPLE.COM or EXAMPLE\alice. With an
// Active Directory KDC the service ticket carries a PAC (signed with the
// keytab's key), which gives the canonical account name, the NetBIOS
// domain and the user's groups; without one the identity is the name as
// typed, without the realm, in Domain (or Realm).
type Kerberos struct {
	// Realm is the Kerberos realm, upper case as AD has it: "EXAMPLE.COM".
	Realm string
	// KDCs are the realm's KDCs as host:port ("dc1.example.com:88"), tried
	// in order over TCP. No DNS SRV lookup is made.
	KDCs []string
	// ServicePrincipal is davgate's own service principal, whose keys are
	// in Keytab, e.g. "HTTP/davgate.example.com" (without the realm).
	ServicePrincipal string
	// Keytab is the path of a keytab holding ServicePrincipal's keys in
	// Realm. It is read at each log-on, so a replaced file (after a key
	// change) takes effect without a restart.
	Keytab string
	// Domain is returned as Identity.Domain, e.g. the NetBIOS domain that
	// SMB log-ons to the file servers use; "" uses the PAC's logon domain
	// (AD), else Realm. A user name typed as DOMAIN\user may name it, the
	// realm, or the realm's first label.
	Domain string
	// RequiredGroupSID is the SID of a group the user must be a member of
	// (directly or nested), e.g. "S-1-5-21-…-1105", checked in the PAC of
	// the verified ticket; "" lets every user in. Needs an AD KDC: without
	// a PAC the log-on is refused.
	RequiredGroupSID string
	// Timeout bounds the whole check; default 15 s.
	Timeout time.Duration
}

var _ Authenticator = (*Kerberos)(nil)

// Check reports a configuration that cannot work.
func (k *Kerberos) Check() error {
	switch {
	case k.Realm == "":
		return errors.New("kerberos: realm is required")
	case len(k.KDCs) == 0:
		return errors.New("kerberos: kdcs is required (host:port, e.g. dc1.example.com:88)")
	case k.ServicePrincipal == "" || strings.Contains(k.ServicePrincipal, "@"):
		return errors.New("kerberos: service_principal is required, without the realm (e.g. HTTP/davgate.example.com)")
	case k.Keytab == "":
		return errors.New("kerberos: keytab is required: the KDC is verified with the service principal's keys")
	}
	if k.RequiredGroupSID != "" && !strings.HasPrefix(k.RequiredGroupSID, "S-1-") {
		return fmt.Errorf("kerberos: required_group_sid %q: want a SID, S-1-5-21-…", k.RequiredGroupSID)
	}
	for _, kdc := range k.KDCs {
		if !strings.Contains(kdc, ":") {
			return fmt.Errorf("kerberos: kdc %q: want host:port", kdc)
		}
	}
	return nil
}

// Authenticate implements Authenticator. Refusals wrap ErrBadCredentials,
// through ErrWrongPassword, ErrAccountRevoked (disabled, locked out or
// expired: the KDC does not say which), ErrPasswordExpired (expired or
// must be changed), ErrLogonNotPermitted or ErrEmptyPassword. A KDC that
// cannot be reached or a configuration mistake wraps ErrUnavailable, and
// a KDC that fails verification is ErrKDCNotVerified.
func (k *Kerberos) Authenticate(ctx context.Context, user string, password []byte) (Identity, error) {
	if len(password) == 0 {
		return Identity{}, ErrEmptyPassword
	}
	if err := checkUserName(user); err != nil {
		return Identity{}, err
	}
	if err := k.Check(); err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	name, err := k.principal(user)
	if err != nil {
		return Identity{}, err
	}
	kt, err := keytab.Load(k.Keytab)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: kerberos: load keytab: %w", ErrUnavailable, err)
	}
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// gokrb5 takes no context; its dials and reads time out on their own
	// (5 s per KDC), so the goroutine ends soon after an abandoned wait.
	type result struct {
		id  Identity
		err error
	}
	done := make(chan result, 1)
	// gokrb5 takes the password as a string (a copy davgate cannot zero),
	// made here: the goroutine may outlive the caller's password.
	pw := string(password)
	go func() {
		id, err := k.logOn(name, pw, kt)
		done <- result{id, err}
	}()
	select {
	case r := <-done:
		return r.id, r.err
	case <-ctx.Done():
		return Identity{}, fmt.Errorf("%w: kerberos: %w", ErrUnavailable, ctx.Err())
	}
}

// principal turns what the user typed into a principal name in Realm.
func (k *Kerberos) principal(user string) (string, error) {
	name, domain := splitDomainUser(user)
	// The realm's first label stands in for an unconfigured NetBIOS
	// domain (LAB for LAB.TEST), as is usual in AD.
	short, _, _ := strings.Cut(k.Realm, ".")
	if domain != "" && !strings.EqualFold(domain, k.Realm) && !strings.EqualFold(domain, k.Domain) && !strings.EqualFold(domain, short) {
		return "", fmt.Errorf("kerberos: user %q is not in realm %s: %w", user, k.Realm, errBadUserName)
	}
	// A "/" would name a service or admin instance, not a user.
	if name == "" || strings.ContainsAny(name, `/@\`) {
		return "", errBadUserName
	}
	return name, nil
}

// UserKey implements userKeyer: the principal's name, folded (AD's KDC
// compares names case-insensitively; for a case-sensitive KDC the shared
// count only errs on the safe side).
func (k *Kerberos) UserKey(typed string) string {
	name, err := k.principal(typed)
	if err != nil {
		return bareKey(typed)
	}
	key, _ := foldName(name)
	return key
}

func (k *Kerberos) config() *config.Config {
	return session.Kerberos{Realm: k.Realm, KDCs: k.KDCs}.Krb5Config()
}

// logOn is the AS exchange with the password, then the KDC's proof, then
// the identity from the verified ticket.
func (k *Kerberos) logOn(name, password string, kt *keytab.Keytab) (Identity, error) {
	cl := client.NewWithPassword(name, k.Realm, password, k.config(), client.DisablePAFXFAST(true))
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		return Identity{}, kdcError(name, err)
	}
	tkt, _, err := cl.GetServiceTicket(k.ServicePrincipal)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: kerberos: ticket for %s: %v", ErrKDCNotVerified, k.ServicePrincipal, err)
	}
	spn := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, k.ServicePrincipal)
	if err := k.verify(&tkt, spn, name, kt); err != nil {
		return Identity{}, err
	}
	// The KDC's spelling of the client name; the PAC's account name (AD)
	// wins over it.
	id := Identity{User: tkt.DecryptedEncPart.CName.PrincipalNameString(), Domain: k.Domain}
	// The PAC's signatures are checked with the keytab's key too.
	isPAC, p, err := tkt.GetPACType(kt, &spn, log.New(io.Discard, "", 0))
	switch {
	case err != nil:
		return Identity{}, fmt.Errorf("%w: kerberos: PAC of the ticket for %s: %v", ErrKDCNotVerified, k.ServicePrincipal, err)
	case isPAC && p.KerbValidationInfo != nil:
		info := p.KerbValidationInfo
		if n := info.EffectiveName.String(); n != "" {
			id.User = n
		}
		if id.Domain == "" {
			id.Domain = info.LogonDomainName.String()
		}
		if k.RequiredGroupSID != "" && !slices.Contains(info.GetGroupMembershipSIDs(), k.RequiredGroupSID) {
			return Identity{}, fmt.Errorf("kerberos: %s not in group %s: %w", name, k.RequiredGroupSID, ErrNotInGroup)
		}
	case k.RequiredGroupSID != "":
		return Identity{}, fmt.Errorf("%w: kerberos: required_group_sid needs a PAC, and the ticket has none (not an AD KDC?)", ErrUnavailable)
	}
	if id.Domain == "" {
		id.Domain = k.Realm
	}
	return id, nil
}

// verify proves the KDC genuine: the ticket for our own principal must
// decrypt with our keys and name the client that logged on.
func (k *Kerberos) verify(tkt *messages.Ticket, spn types.PrincipalName, name string, kt *keytab.Keytab) error {
	if !strings.EqualFold(tkt.Realm, k.Realm) {
		return fmt.Errorf("%w: kerberos: ticket for %s is from realm %q", ErrKDCNotVerified, k.ServicePrincipal, tkt.Realm)
	}
	if err := tkt.DecryptEncPart(kt, &spn); err != nil {
		return fmt.Errorf("%w: kerberos: ticket for %s (kvno %d) does not decrypt with keytab %s: %v",
			ErrKDCNotVerified, k.ServicePrincipal, tkt.EncPart.KVNO, k.Keytab, err)
	}
	enc := tkt.DecryptedEncPart
	if !strings.EqualFold(enc.CRealm, k.Realm) || !strings.EqualFold(enc.CName.PrincipalNameString(), name) {
		return fmt.Errorf("%w: kerberos: ticket names %s@%s, not %s@%s",
			ErrKDCNotVerified, enc.CName.PrincipalNameString(), enc.CRealm, name, k.Realm)
	}
	if now := time.Now(); now.After(enc.EndTime) || now.Add(5*time.Minute).Before(enc.StartTime) {
		return fmt.Errorf("%w: kerberos: ticket for %s is not valid now", ErrKDCNotVerified, k.ServicePrincipal)
	}
	return nil
}

// krbErrorCode finds the KDC's error code in gokrb5's flattened error text
// ("KRB Error: (24) KDC_ERR_PREAUTH_FAILED ..."): gokrb5 v8 does not keep
// the KRBError value in the errors it returns.
var krbErrorCode = regexp.MustCompile(`KRB Error: \((\d+)\)`)

// kdcError classifies a failed AS exchange.
func kdcError(name string, err error) error {
	if m := krbErrorCode.FindStringSubmatch(err.Error()); m != nil {
		code, _ := strconv.Atoi(m[1])
		var reason error
		switch int32(code) {
		case errorcode.KDC_ERR_PREAUTH_FAILED, errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN:
			reason = ErrWrongPassword
		case errorcode.KDC_ERR_CLIENT_REVOKED:
			reason = ErrAccountRevoked
		case errorcode.KDC_ERR_KEY_EXPIRED:
			reason = ErrPasswordExpired
		case errorcode.KDC_ERR_POLICY:
			reason = ErrLogonNotPermitted
		}
		if reason != nil {
			return fmt.Errorf("kerberos: AS exchange for %s refused (%s): %w", name, errorcode.Lookup(int32(code)), reason)
		}
		return fmt.Errorf("%w: kerberos: AS exchange for %s: %s", ErrUnavailable, name, errorcode.Lookup(int32(code)))
	}
	var ke krberror.Krberror
	if errors.As(err, &ke) && ke.RootCause == krberror.KRBMsgError && strings.Contains(err.Error(), "password/keytab incorrect") {
		// No pre-authentication: the reply did not decrypt with the password.
		return fmt.Errorf("kerberos: AS reply for %s does not decrypt: %w", name, ErrWrongPassword)
	}
	return fmt.Errorf("%w: kerberos: AS exchange for %s: %v", ErrUnavailable, name, err)
}
