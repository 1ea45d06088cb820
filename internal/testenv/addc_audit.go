package testenv

import (
	"strings"
	"testing"
)

// FailedAuths counts the authentications through service that the DC
// refused so far, whoever they named, from its audit lines
//
//	Auth: [LDAP,simple bind/TLS] user [(null)]\[adalice@lab.test] ... status [NT_STATUS_WRONG_PASSWORD]
//	Auth: [Kerberos KDC,ENC-TS Pre-authentication] user [(null)]\[adalice@LAB.TEST] ... status [...]
//
// service is the first field: "LDAP" or "Kerberos KDC". Use it to prove
// that no spelling of a user name got a refused guess to the DC past a
// rate limit.
func (d *ADDC) FailedAuths(t testing.TB, service string) int {
	n := 0
	for _, l := range strings.Split(d.Log(t), "\n") {
		if !strings.HasPrefix(l, "Auth: ["+service+",") {
			continue
		}
		if _, status, ok := strings.Cut(l, "status ["); ok && !strings.HasPrefix(status, "NT_STATUS_OK]") {
			n++
		}
	}
	return n
}
