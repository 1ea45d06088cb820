package testenv

import (
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestSlapd(t *testing.T) {
	s := StartSlapd(t)
	s.AddUser(t, SlapdUser{UID: "bob", Password: "bob-pass"})
	s.AddGroup(t, "staff", "bob")
	tc, err := s.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		dial func() (*ldap.Conn, error)
	}{
		{"ldaps", func() (*ldap.Conn, error) { return ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(tc)) }},
		{"starttls", func() (*ldap.Conn, error) {
			c, err := ldap.DialURL(s.URL)
			if err != nil {
				return nil, err
			}
			return c, c.StartTLS(tc)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Bind(s.UserDN("bob"), "bob-pass"); err != nil {
				t.Fatalf("bind: %v", err)
			}
			if err := c.Bind(s.UserDN("bob"), "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				t.Errorf("wrong password: %v", err)
			}
			res, err := c.Search(ldap.NewSearchRequest(s.GroupsDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				"(&(objectClass=posixGroup)(memberUid=bob))", []string{"cn"}, nil))
			if err != nil || len(res.Entries) != 1 {
				t.Fatalf("group search: %v %v", err, res)
			}
		})
	}
}
