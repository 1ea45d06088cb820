package authn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// What davgate check-config can learn of the Kerberos authenticator
// without a user's password: that the keytab holds the service
// principal's keys, and that each KDC answers Kerberos for the realm.
// Whether the KDC's key matches the keytab's shows fully only in a
// log-on (an Active Directory KDC gives no service a ticket of its own
// without a user's), except with a KDC that lets the service principal
// log on with its keys (MIT), where ProbeKDC proves it.

// CheckKeytab loads the keytab and reports its keys of ServicePrincipal
// in Realm: how many, their key version and encryption types. A keytab
// that does not load or holds no key of the principal is an error.
func (k *Kerberos) CheckKeytab() (string, error) {
	if err := k.Check(); err != nil {
		return "", err
	}
	kt, err := keytab.Load(k.Keytab)
	if err != nil {
		return "", fmt.Errorf("load keytab %s: %w", k.Keytab, err)
	}
	spn := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, k.ServicePrincipal)
	kvno, n := uint32(0), 0
	var etypes []string
	for _, e := range kt.Entries {
		if !strings.EqualFold(e.Principal.Realm, k.Realm) || !slices.Equal(e.Principal.Components, spn.NameString) {
			continue
		}
		n++
		kvno = max(kvno, e.KVNO)
		etypes = append(etypes, etypeName(e.Key.KeyType))
	}
	if n == 0 {
		return "", fmt.Errorf("keytab %s holds no key of %s@%s", k.Keytab, k.ServicePrincipal, k.Realm)
	}
	return fmt.Sprintf("%s: %d keys of %s@%s, kvno %d (%s)", k.Keytab, n, k.ServicePrincipal, k.Realm, kvno, strings.Join(etypes, ", ")), nil
}

func etypeName(id int32) string {
	switch id {
	case etypeID.AES128_CTS_HMAC_SHA1_96:
		return "aes128-cts-hmac-sha1-96"
	case etypeID.AES256_CTS_HMAC_SHA1_96:
		return "aes256-cts-hmac-sha1-96"
	case etypeID.AES128_CTS_HMAC_SHA256_128:
		return "aes128-cts-hmac-sha256-128"
	case etypeID.AES256_CTS_HMAC_SHA384_192:
		return "aes256-cts-hmac-sha384-192"
	case etypeID.RC4_HMAC:
		return "rc4-hmac"
	}
	return "etype " + strconv.Itoa(int(id))
}

// ProbeKDC asks kdc (host:port) for a ticket as ServicePrincipal with the
// keytab's keys: a KDC that issues one proves the keytab (the ticket
// decrypts with it); one that answers that it knows no such client (AD:
// services do not log on) proves only that it speaks Kerberos for Realm.
// Anything else (no answer, another realm, a wrong key) is an error.
func (k *Kerberos) ProbeKDC(ctx context.Context, kdc string) (string, error) {
	kt, err := keytab.Load(k.Keytab)
	if err != nil {
		return "", fmt.Errorf("load keytab %s: %w", k.Keytab, err)
	}
	done := make(chan error, 1)
	go func() { done <- k.logOnAsService(kdc, kt) }()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	select {
	case err = <-done:
	case <-ctx.Done():
		return "", fmt.Errorf("KDC %s: %w", kdc, ctx.Err())
	}
	if err == nil {
		return fmt.Sprintf("KDC %s issued a ticket for %s that decrypts with the keytab", kdc, k.ServicePrincipal), nil
	}
	if m := krbErrorCode.FindStringSubmatch(err.Error()); m != nil {
		if code, _ := strconv.Atoi(m[1]); int32(code) == errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN {
			return fmt.Sprintf("KDC %s answers for realm %s (it logs no service on, as AD: the keytab is proven at the first log-on)", kdc, k.Realm), nil
		}
	}
	return "", fmt.Errorf("KDC %s: %w", kdc, err)
}

// logOnAsService is an AS exchange as ServicePrincipal with kt against kdc
// alone, then a service ticket for ServicePrincipal decrypted with kt.
func (k *Kerberos) logOnAsService(kdc string, kt *keytab.Keytab) error {
	one := *k
	one.KDCs = []string{kdc}
	cl := client.NewWithKeytab(k.ServicePrincipal, k.Realm, kt, one.config(), client.DisablePAFXFAST(true))
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		return err
	}
	tkt, _, err := cl.GetServiceTicket(k.ServicePrincipal)
	if err != nil {
		return fmt.Errorf("ticket for %s: %w", k.ServicePrincipal, err)
	}
	spn := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, k.ServicePrincipal)
	if err := tkt.DecryptEncPart(kt, &spn); err != nil {
		return errors.Join(fmt.Errorf("ticket for %s (kvno %d) does not decrypt with keytab %s", k.ServicePrincipal, tkt.EncPart.KVNO, k.Keytab), err)
	}
	return nil
}
