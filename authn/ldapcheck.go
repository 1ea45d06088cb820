package authn

import (
	"context"
	"fmt"
)

// CheckService connects to the directory as Authenticate does (TLS or
// StartTLS included) and binds as the service account when BindDN is
// set, for davgate check-config. It sends no user's password.
func (a *LDAP) CheckService(ctx context.Context) error {
	if err := a.Check(); err != nil {
		return err
	}
	conn, err := a.dial(ctx)
	if err != nil {
		return fmt.Errorf("ldap: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if a.BindDN == "" {
		return nil
	}
	if err := conn.Bind(a.BindDN, a.BindPassword); err != nil {
		return fmt.Errorf("ldap: bind as service account %q: %w", a.BindDN, err)
	}
	return nil
}
