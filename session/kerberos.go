package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/cloudsoda/go-smb2"
	krb5client "github.com/jcmturner/gokrb5/v8/client"
	krb5config "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
)

// Mech is how the pool authenticates an SMB session.
type Mech string

const (
	// MechNTLM logs on with NTLMv2 (the default; also the zero Mech).
	MechNTLM Mech = "ntlm"
	// MechKerberos logs on with a Kerberos ticket for the file server's
	// SPN, obtained with the user's stored password; no NTLM is tried.
	MechKerberos Mech = "kerberos"
	// MechKerberosThenNTLM tries Kerberos and falls back to NTLM when
	// Kerberos fails for a reason other than a refusal of the credentials
	// (KDC unreachable, unknown SPN, the server refusing the mechanism).
	// A refused password is never tried a second time with NTLM: one
	// stale password must cost the directory one failed log-on.
	MechKerberosThenNTLM Mech = "kerberos-then-ntlm"
)

// ParseMech reads a mechanism name; "" is MechNTLM.
func ParseMech(s string) (Mech, error) {
	switch m := Mech(s); m {
	case "", MechNTLM:
		return MechNTLM, nil
	case MechKerberos, MechKerberosThenNTLM:
		return m, nil
	}
	return "", fmt.Errorf("%q is not an SMB authentication mechanism (ntlm, kerberos, kerberos-then-ntlm)", s)
}

// UsesKerberos reports whether m tries Kerberos.
func (m Mech) UsesKerberos() bool { return m == MechKerberos || m == MechKerberosThenNTLM }

// Kerberos holds what a Kerberos SMB log-on needs besides the user name
// and password.
type Kerberos struct {
	// Realm is the user's realm, upper case as AD has it: "EXAMPLE.COM".
	Realm string
	// KDCs are the realm's KDCs as host:port, tried in order over TCP; no
	// DNS lookups are made.
	KDCs []string
	// SPN is the file server's service principal name, without the
	// realm: "cifs/fs1.example.com". "" means "cifs/" + the host being
	// dialed, which must then be a name, not an IP address.
	SPN string
}

// Check reports settings that cannot work.
func (k Kerberos) Check() error {
	if k.Realm == "" {
		return errors.New("kerberos: no realm")
	}
	if len(k.KDCs) == 0 {
		return errors.New("kerberos: no KDCs")
	}
	for _, kdc := range k.KDCs {
		if _, port, err := net.SplitHostPort(kdc); err != nil || port == "" {
			return fmt.Errorf("kerberos: KDC %q: want host:port", kdc)
		}
	}
	if k.SPN != "" {
		if err := CheckSPN(k.SPN); err != nil {
			return err
		}
	}
	return nil
}

// CheckSPN checks a service principal name such as "cifs/fs1.example.com".
func CheckSPN(spn string) error {
	svc, host, ok := strings.Cut(spn, "/")
	if !ok || svc == "" || host == "" || strings.ContainsAny(spn, "@ \t\r\n") {
		return fmt.Errorf("kerberos: SPN %q: want service/host without a realm, e.g. cifs/fs1.example.com", spn)
	}
	return nil
}

// targetSPN is the SPN to ask a ticket for when dialing addr.
func (k Kerberos) targetSPN(addr string) (string, error) {
	if k.SPN != "" {
		return k.SPN, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return "", fmt.Errorf("kerberos: %s is an IP address; Kerberos needs the server's name: configure its SPN (e.g. cifs/fs1.example.com)", host)
	}
	return "cifs/" + host, nil
}

// Krb5Config is the gokrb5 configuration davgate uses for the realm: its
// KDCs only, over TCP, with no DNS lookups.
func (k Kerberos) Krb5Config() *krb5config.Config {
	c := krb5config.New()
	c.LibDefaults.DefaultRealm = k.Realm
	c.LibDefaults.DNSLookupKDC = false
	c.LibDefaults.DNSLookupRealm = false
	c.LibDefaults.UDPPreferenceLimit = 1 // TCP only
	c.Realms = []krb5config.Realm{{Realm: k.Realm, KDC: k.KDCs}}
	return c
}

// dialKerberos logs in to the KDC with c's password, gets a ticket for
// the server's SPN, and sets up an SMB session with it. The gokrb5 client
// (TGT, ticket cache, password) is destroyed before it returns: the SMB
// session keeps only its own session keys, and a redial logs in again.
//
// Refusals of the credentials by the KDC wrap ErrLogonFailure. Other
// failures, including a server's refusal of the ticket, wrap errKerberos.
func (p *Pool) dialKerberos(ctx context.Context, addr string, c Creds) (*smb2.Session, error) {
	k := c.Kerberos
	if err := k.Check(); err != nil {
		return nil, fmt.Errorf("smb log-on to %s: %w: %w", addr, errKerberos, err)
	}
	spn, err := k.targetSPN(addr)
	if err != nil {
		return nil, fmt.Errorf("smb log-on to %s: %w: %w", addr, errKerberos, err)
	}
	if c.User == "" || strings.ContainsAny(c.User, `/@\`) {
		return nil, fmt.Errorf("smb log-on to %s: %w: user name %q is not a Kerberos principal name", addr, errKerberos, c.User)
	}
	cl := krb5client.NewWithPassword(c.User, k.Realm, c.Password, k.Krb5Config(), krb5client.DisablePAFXFAST(true))
	// gokrb5 takes no context; its KDC dials and reads time out on their
	// own (a few seconds per KDC). If ctx ends first, the goroutine
	// destroys the client when gokrb5 gives up.
	done := make(chan error, 1)
	go func() {
		if err := cl.Login(); err != nil {
			done <- kdcError("log-on", c.User+"@"+k.Realm, err)
			return
		}
		// The ticket lands in cl's cache, where Krb5Initiator finds it,
		// so an unknown SPN is found before any SMB connection is made.
		if _, _, err := cl.GetServiceTicket(spn); err != nil {
			done <- kdcError("ticket for "+spn, c.User+"@"+k.Realm, err)
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			cl.Destroy()
			return nil, fmt.Errorf("smb log-on to %s: %w", addr, err)
		}
	case <-ctx.Done():
		go func() { <-done; cl.Destroy() }()
		return nil, fmt.Errorf("smb log-on to %s: %w: kerberos: %w", addr, errKerberos, ctx.Err())
	}
	defer cl.Destroy()
	s, err := p.dialSMB(ctx, addr, &smb2.Krb5Initiator{Client: cl, TargetSPN: spn})
	if err != nil {
		if _, refused := logonStatus(err); refused || errors.Is(err, fs.ErrPermission) {
			// The KDC has just accepted the password, so the server's
			// refusal of the ticket is not about the password (its keys
			// differ from the KDC's, or the account may not use it): not
			// ErrLogonFailure, and NTLM cannot count a wrong password.
			return nil, fmt.Errorf("smb log-on to %s: %w: server refused the ticket for %s: %v", addr, errKerberos, spn, err)
		}
		// The server could not be reached or would not speak Kerberos.
		return nil, fmt.Errorf("%w: %w", errKerberos, dialError(addr, err))
	}
	return s, nil
}

// errKerberos marks a Kerberos failure that says nothing against the
// credentials, after which kerberos-then-ntlm tries NTLM.
var errKerberos = errors.New("kerberos failed")

// krbErrorCode finds the KDC's error code in gokrb5's error text ("KRB
// Error: (24) KDC_ERR_PREAUTH_FAILED ..."): gokrb5 v8 does not keep the
// KRBError value in the errors its client returns.
var krbErrorCode = regexp.MustCompile(`KRB Error: \((\d+)\)`)

// krbRefusals are the KDC's answers that mean "these credentials will not
// do": retrying, or trying them with NTLM, can only lock the account.
var krbRefusals = map[int32]bool{
	errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN: true, // no such user
	errorcode.KDC_ERR_POLICY:              true, // logon restrictions
	errorcode.KDC_ERR_CLIENT_REVOKED:      true, // disabled, locked out, expired
	errorcode.KDC_ERR_KEY_EXPIRED:         true, // password expired or must change
	errorcode.KDC_ERR_PREAUTH_FAILED:      true, // wrong password
}

// kdcCode reports the KDC error code in err, if any.
func kdcCode(err error) (int32, bool) {
	m := krbErrorCode.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	n, perr := strconv.ParseInt(m[1], 10, 32)
	return int32(n), perr == nil
}

// kdcError classifies a failed exchange with the KDC for principal.
func kdcError(step, principal string, err error) error {
	code, ok := kdcCode(err)
	if ok && krbRefusals[code] {
		return fmt.Errorf("kerberos %s as %s: %w: %s", step, principal, ErrLogonFailure, errorcode.Lookup(code))
	}
	if ok {
		return fmt.Errorf("kerberos %s as %s: %w: %s", step, principal, errKerberos, errorcode.Lookup(code))
	}
	return fmt.Errorf("kerberos %s as %s: %w: %w", step, principal, errKerberos, err)
}
