package main

import (
	"context"

	"github.com/davgate/davgate/authn"
)

// kerberos checks the Kerberos authenticator: the keytab holds the
// service principal's keys, and each KDC answers Kerberos for the realm
// (authn.Kerberos.ProbeKDC; with a KDC that lets the service log on, the
// keytab is proven against it too). A KDC that does not answer, answers
// for another realm or refuses the keytab's key fails. Not checked here:
// whether an AD KDC's key for the principal is the keytab's (a keytab
// left from before a key change); the first log-on fails on it, with
// authn.ErrKDCNotVerified.
func (c *checker) kerberos(ctx context.Context, what string, k *authn.Kerberos) {
	found, err := k.CheckKeytab()
	if err != nil {
		c.report("FAIL", what+".keytab", "%v", err)
		c.kdcs(ctx, what, k.KDCs) // TCP only: the probe needs the keytab
		return
	}
	c.report("ok", what+".keytab", "%s", found)
	for _, kdc := range k.KDCs {
		found, err := k.ProbeKDC(ctx, kdc)
		if err != nil {
			c.report("FAIL", what, "%v", err)
			continue
		}
		c.report("ok", what, "%s", found)
	}
}
