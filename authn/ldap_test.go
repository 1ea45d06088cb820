package authn

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// TestLDAPActiveDirectory checks the LDAP authenticator against a Samba AD
// DC, which refuses simple binds over plain LDAP as a hardened Windows DC
// does.
func TestLDAPActiveDirectory(t *testing.T) {
	t.Parallel()
	dc := testenv.StartADDC(t, testenv.ADDCOptions{
		Users: map[string]string{
			"alice": "Alice-Pass-1", "bob": "Bob-Pass-1", "carol": "Carol-Pass-1",
			"dave": "Dave-Pass-1", "erin": "Erin-Pass-1", "frank": "Frank-Pass-1",
			"grace": "Grace-Pass-1", "svc-davgate": "Svc-Pass-1",
		},
		Groups:           map[string][]string{"webdav": {"alice", "carol", "dave", "erin", "frank"}, "outer": {"webdav", "grace"}},
		LockoutThreshold: 3,
	})
	dc.SetAttrs(t, "alice", map[string][]string{
		"homeDirectory": {`\\dc1.lab.test\home\alice smith`},
		"mail":          {"alice@lab.test"},
	})
	dc.DisableUser(t, "carol")
	dc.RequirePasswordChange(t, "dave")
	dc.ExpireAccount(t, "erin")

	searchThenBind := LDAP{
		URL:           dc.LDAPURL,
		CAFile:        dc.CAFile,
		BindDN:        dc.UserDN("svc-davgate"),
		BindPassword:  "Svc-Pass-1",
		BaseDN:        dc.BaseDN,
		UserFilter:    "(&(objectClass=user)(|(sAMAccountName={user})(userPrincipalName={user})))",
		UserAttr:      "sAMAccountName",
		Domain:        dc.Domain,
		RequiredGroup: dc.GroupDN("webdav"),
		Attributes:    []string{"homeDirectory", "mail", "department"},
	}
	upnStartTLS := LDAP{
		URL:          dc.LDAPPlainURL,
		StartTLS:     true,
		CAFile:       dc.CAFile,
		ServerName:   dc.Hostname,
		BindTemplate: "{user}@lab.test",
		BaseDN:       dc.BaseDN,
		UserFilter:   "(&(objectClass=user)(sAMAccountName={user}))",
		UserAttr:     "sAMAccountName",
		Domain:       dc.Domain,
		Attributes:   []string{"homeDirectory"},
	}
	with := func(a LDAP, f func(*LDAP)) *LDAP { f(&a); return &a }
	aliceAttrs := map[string]string{
		"homeDirectory":     `\\dc1.lab.test\home\alice smith`,
		"homeDirectory.url": "smb://dc1.lab.test/home/alice%20smith",
		"mail":              "alice@lab.test",
	}

	tests := []struct {
		name     string
		auth     *LDAP
		user, pw string
		want     Identity
		wantErr  error // checked with errors.Is
	}{
		{"ldaps search then bind", &searchThenBind, "alice", "Alice-Pass-1",
			Identity{User: "alice", Domain: "LAB", Attrs: aliceAttrs}, nil},
		{"user principal name typed", &searchThenBind, "alice@lab.test", "Alice-Pass-1",
			Identity{User: "alice", Domain: "LAB", Attrs: aliceAttrs}, nil},
		{"our domain typed", &searchThenBind, `LAB\alice`, "Alice-Pass-1",
			Identity{User: "alice", Domain: "LAB", Attrs: aliceAttrs}, nil},
		{"upper case typed", &searchThenBind, "ALICE", "Alice-Pass-1",
			Identity{User: "alice", Domain: "LAB", Attrs: aliceAttrs}, nil},
		{"upper case UPN and domain typed", &searchThenBind, `lab\ALICE`, "Alice-Pass-1",
			Identity{User: "alice", Domain: "LAB", Attrs: aliceAttrs}, nil},
		{"upper case, template without user_attr: folded", &LDAP{URL: dc.LDAPURL, CAFile: dc.CAFile, BindTemplate: "{user}@lab.test", Domain: "LAB"},
			"ALICE", "Alice-Pass-1", Identity{User: "alice", Domain: "LAB"}, nil},
		{"another domain typed", &searchThenBind, `EVIL\alice`, "Alice-Pass-1", Identity{}, errBadUserName}, // refused before the directory is asked
		{"starttls with a UPN template", &upnStartTLS, "alice", "Alice-Pass-1",
			Identity{User: "alice", Domain: "LAB", Attrs: map[string]string{
				"homeDirectory":     aliceAttrs["homeDirectory"],
				"homeDirectory.url": aliceAttrs["homeDirectory.url"],
			}}, nil},
		{"wrong password", &searchThenBind, "alice", "Alice-Pass-2", Identity{}, ErrWrongPassword},
		{"wrong password, template", &upnStartTLS, "alice", "nope", Identity{}, ErrWrongPassword},
		{"unknown user", &searchThenBind, "nobody", "Alice-Pass-1", Identity{}, ErrWrongPassword},
		{"unknown user, template", &upnStartTLS, "nobody", "Alice-Pass-1", Identity{}, ErrWrongPassword},
		{"empty password", &searchThenBind, "alice", "", Identity{}, ErrEmptyPassword},
		{"empty password, template", &upnStartTLS, "alice", "", Identity{}, ErrEmptyPassword},
		{"filter injection", &searchThenBind, "*", "Alice-Pass-1", Identity{}, ErrWrongPassword},
		{"filter injection 2", &searchThenBind, "al*)(sAMAccountName=alice", "Alice-Pass-1", Identity{}, ErrWrongPassword},
		{"control character", &searchThenBind, "alice\x00", "Alice-Pass-1", Identity{}, ErrBadCredentials},
		{"disabled account", &searchThenBind, "carol", "Carol-Pass-1", Identity{}, ErrAccountDisabled},
		{"must change password", &searchThenBind, "dave", "Dave-Pass-1", Identity{}, ErrMustChangePassword},
		{"account expired", &searchThenBind, "erin", "Erin-Pass-1", Identity{}, ErrAccountExpired},
		{"not in required group", &searchThenBind, "bob", "Bob-Pass-1", Identity{}, ErrNotInGroup},
		{"not in group, wrong password too", &searchThenBind, "bob", "wrong", Identity{}, ErrWrongPassword},
		{"required group, template, as the user", with(upnStartTLS, func(a *LDAP) { a.RequiredGroup = dc.GroupDN("webdav") }),
			"bob", "Bob-Pass-1", Identity{}, ErrNotInGroup},
		{"nested group", with(searchThenBind, func(a *LDAP) {
			a.RequiredGroup, a.GroupMembership, a.Attributes = dc.GroupDN("outer"), "nested", nil
		}), "alice", "Alice-Pass-1", Identity{User: "alice", Domain: "LAB"}, nil},
		{"README example: UPN template, nested group read as the user", &LDAP{
			URL: dc.LDAPURL, CAFile: dc.CAFile, BindTemplate: "{user}@lab.test", BaseDN: dc.BaseDN,
			UserFilter: "(&(objectClass=user)(sAMAccountName={user}))", UserAttr: "sAMAccountName", Domain: "LAB",
			RequiredGroup: dc.GroupDN("outer"), GroupMembership: "nested", Attributes: []string{"homeDirectory"},
		}, "alice", "Alice-Pass-1", Identity{User: "alice", Domain: "LAB", Attrs: map[string]string{
			"homeDirectory":     aliceAttrs["homeDirectory"],
			"homeDirectory.url": aliceAttrs["homeDirectory.url"],
		}}, nil},
		{"direct memberOf does not see nesting", with(searchThenBind, func(a *LDAP) {
			a.RequiredGroup, a.Attributes = dc.GroupDN("outer"), nil
		}), "alice", "Alice-Pass-1", Identity{}, ErrNotInGroup},
		{"group's member attribute", with(searchThenBind, func(a *LDAP) {
			a.RequiredGroup, a.GroupMembership, a.Attributes = dc.GroupDN("outer"), "member", nil
		}), "grace", "Grace-Pass-1", Identity{User: "grace", Domain: "LAB"}, nil},
		{"plain LDAP refused by the DC", &LDAP{URL: dc.LDAPPlainURL, InsecurePlaintext: true, BindTemplate: "{user}@lab.test"},
			"alice", "Alice-Pass-1", Identity{}, ErrUnavailable},
		{"plain LDAP refused by us", &LDAP{URL: dc.LDAPPlainURL, BindTemplate: "{user}@lab.test"},
			"alice", "Alice-Pass-1", Identity{}, ErrUnavailable},
		{"service account password wrong", with(searchThenBind, func(a *LDAP) { a.BindPassword = "x" }),
			"alice", "Alice-Pass-1", Identity{}, ErrUnavailable},
		{"certificate from another CA", with(searchThenBind, func(a *LDAP) { a.CAFile = otherCA(t) }),
			"alice", "Alice-Pass-1", Identity{}, ErrUnavailable},
		{"certificate for another name", with(searchThenBind, func(a *LDAP) { a.ServerName = "dc2.lab.test" }),
			"alice", "Alice-Pass-1", Identity{}, ErrUnavailable},
		{"server down", with(searchThenBind, func(a *LDAP) { a.URL = "ldaps://127.0.0.1:1" }),
			"alice", "Alice-Pass-1", Identity{}, ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.auth.Authenticate(context.Background(), tc.user, []byte(tc.pw))
			checkAuth(t, got, err, tc.want, tc.wantErr)
		})
	}

	t.Run("locked out", func(t *testing.T) {
		for range 3 {
			if _, err := searchThenBind.Authenticate(context.Background(), "frank", []byte("wrong")); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("wrong password: %v", err)
			}
		}
		_, err := searchThenBind.Authenticate(context.Background(), "frank", []byte("Frank-Pass-1"))
		checkAuth(t, Identity{}, err, Identity{}, ErrAccountLocked)
	})

	t.Run("audit log shows simple binds over TLS", func(t *testing.T) {
		log := dc.Log(t)
		for _, want := range []string{
			`[LDAP,simple bind/TLS] user [LAB]\[CN=alice,CN=Users,DC=lab,DC=test]`,
			`[LDAP,simple bind/TLS] user [LAB]\[alice@lab.test]`,
		} {
			if !auditHas(log, want, "status [NT_STATUS_OK]") {
				t.Errorf("audit log lacks a successful %q:\n%s", want, log)
			}
		}
	})

	t.Run("errors never carry the password", func(t *testing.T) {
		for _, a := range []*LDAP{&searchThenBind, &upnStartTLS} {
			_, err := a.Authenticate(context.Background(), "bob", []byte("Secret-Wrong-9"))
			if err == nil || strings.Contains(err.Error(), "Secret-Wrong-9") {
				t.Errorf("error %v", err)
			}
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := searchThenBind.Authenticate(ctx, "alice", []byte("Alice-Pass-1")); !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}

// TestLDAPPlainWhenAllowed: a DC with "ldap server require strong auth =
// no" takes plain simple binds, which InsecurePlaintext allows.
func TestLDAPPlainWhenAllowed(t *testing.T) {
	t.Parallel()
	dc := testenv.StartADDC(t, testenv.ADDCOptions{
		Users:          map[string]string{"alice": "Alice-Pass-1"},
		LDAPStrongAuth: "no",
	})
	a := &LDAP{URL: dc.LDAPPlainURL, InsecurePlaintext: true, BindTemplate: `LAB\{user}`, Domain: "LAB"}
	got, err := a.Authenticate(context.Background(), "alice", []byte("Alice-Pass-1"))
	checkAuth(t, got, err, Identity{User: "alice", Domain: "LAB"}, nil)
	_, err = a.Authenticate(context.Background(), "alice", []byte("wrong"))
	checkAuth(t, Identity{}, err, Identity{}, ErrWrongPassword)
	if log := dc.Log(t); !auditHas(log, "Auth: [LDAP,simple bind] user", `became [LAB]\[alice]`, "status [NT_STATUS_OK]") {
		t.Errorf("audit log lacks a plain simple bind:\n%s", log)
	}
}

// TestLDAPOpenLDAP checks the authenticator against slapd with
// posixAccount users and posixGroup groups.
func TestLDAPOpenLDAP(t *testing.T) {
	t.Parallel()
	s := testenv.StartSlapd(t)
	s.AddUser(t, testenv.SlapdUser{UID: "bob", Password: "bob-pass", Home: "/home/bob"})
	s.AddUser(t, testenv.SlapdUser{UID: "eve", Password: "eve-pass"})
	s.AddUser(t, testenv.SlapdUser{UID: "a,b", Password: "comma-pass"})
	s.AddUser(t, testenv.SlapdUser{UID: "nopw"})
	s.AddGroup(t, "webdav", "bob", "a,b")

	anonSearch := LDAP{
		URL:             s.URL,
		StartTLS:        true,
		CAFile:          s.CAFile,
		BaseDN:          s.PeopleDN,
		UserFilter:      "(&(objectClass=posixAccount)(uid={user}))",
		UserAttr:        "uid",
		RequiredGroup:   s.GroupDN("webdav"),
		GroupMembership: "memberUid",
		Attributes:      []string{"homeDirectory", "uidNumber"},
	}
	serviceSearch := anonSearch
	serviceSearch.URL, serviceSearch.StartTLS = s.LDAPSURL, false
	serviceSearch.BindDN, serviceSearch.BindPassword = s.AdminDN, s.AdminPassword
	dnTemplate := LDAP{URL: s.LDAPSURL, CAFile: s.CAFile, BindTemplate: "uid={user}," + s.PeopleDN}

	tests := []struct {
		name     string
		auth     *LDAP
		user, pw string
		want     Identity
		wantErr  error
	}{
		{"starttls anonymous search", &anonSearch, "bob", "bob-pass",
			Identity{User: "bob", Attrs: map[string]string{"homeDirectory": "/home/bob", "uidNumber": "10001"}}, nil},
		{"ldaps service account search", &serviceSearch, "bob", "bob-pass",
			Identity{User: "bob", Attrs: map[string]string{"homeDirectory": "/home/bob", "uidNumber": "10001"}}, nil},
		{"DN template", &dnTemplate, "bob", "bob-pass", Identity{User: "bob"}, nil},
		{"DN template escapes the user name", &dnTemplate, "a,b", "comma-pass", Identity{User: "a,b"}, nil},
		{"search escapes the user name", &anonSearch, "a,b", "comma-pass",
			Identity{User: "a,b", Attrs: map[string]string{"homeDirectory": "/home/a,b", "uidNumber": "10003"}}, nil},
		{"wrong password", &anonSearch, "bob", "bob-pass2", Identity{}, ErrWrongPassword},
		{"wrong password, template", &dnTemplate, "bob", "x", Identity{}, ErrWrongPassword},
		{"unknown user", &anonSearch, "mallory", "bob-pass", Identity{}, ErrWrongPassword},
		{"wildcard user", &anonSearch, "b*", "bob-pass", Identity{}, ErrWrongPassword},
		{"not in group", &anonSearch, "eve", "eve-pass", Identity{}, ErrNotInGroup},
		{"entry without a password", &dnTemplate, "nopw", "anything", Identity{}, ErrWrongPassword},
		{"empty password is not an anonymous bind", &dnTemplate, "bob", "", Identity{}, ErrEmptyPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.auth.Authenticate(context.Background(), tc.user, []byte(tc.pw))
			checkAuth(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func TestLDAPCheck(t *testing.T) {
	ok := LDAP{URL: "ldaps://dc", BaseDN: "dc=x", UserFilter: "(uid={user})"}
	tests := []struct {
		name string
		mod  func(*LDAP)
		want string // "" for no error, else a substring
	}{
		{"valid", func(*LDAP) {}, ""},
		{"template only", func(a *LDAP) { a.BaseDN, a.UserFilter, a.BindTemplate = "", "", "{user}@x" }, ""},
		{"bad scheme", func(a *LDAP) { a.URL = "http://dc" }, "want ldaps://"},
		{"plain without TLS", func(a *LDAP) { a.URL = "ldap://dc" }, "refusing"},
		{"starttls on ldaps", func(a *LDAP) { a.StartTLS = true }, "start_tls"},
		{"filter without user", func(a *LDAP) { a.UserFilter = "(uid=x)" }, "{user}"},
		{"nothing to bind as", func(a *LDAP) { a.BaseDN, a.UserFilter = "", "" }, "bind_template"},
		{"attributes without search", func(a *LDAP) {
			a.BaseDN, a.UserFilter, a.BindTemplate, a.Attributes = "", "", "{user}@x", []string{"mail"}
		}, "need base_dn"},
		{"bad membership", func(a *LDAP) { a.RequiredGroup, a.GroupMembership = "cn=g", "x" }, "group_membership"},
		{"bad group DN", func(a *LDAP) { a.RequiredGroup = "not a dn" }, "not a DN"},
		{"service account without password", func(a *LDAP) { a.BindDN = "cn=svc" }, "bind_password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := ok
			tc.mod(&a)
			err := a.Check()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Check() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUNCToURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{`\\fs1\home\alice`, "smb://fs1/home/alice"},
		{`\\fs1.lab.test\home`, "smb://fs1.lab.test/home"},
		{`\\fs1\home\a b\c#d`, "smb://fs1/home/a%20b/c%23d"},
		{`\\fs1\home\`, "smb://fs1/home"},
		{`\\fs1`, ""},
		{`\\fs1\home\..\etc`, ""},
		{`/home/alice`, ""},
		{`C:\Users\alice`, ""},
		{`\\user@fs1\home`, ""},
	}
	for _, tc := range tests {
		got, ok := uncToURL(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("uncToURL(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// auditHas reports whether one line of a DC's audit log holds all of subs.
func auditHas(log string, subs ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			return true
		}
	}
	return false
}

func checkAuth(t *testing.T, got Identity, err error, want Identity, wantErr error) {
	t.Helper()
	if wantErr == nil {
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("identity (-want +got):\n%s", diff)
		}
		return
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("err = %v, want %v", err, wantErr)
	}
	t.Logf("refused as expected: %v", err)
}

// otherCA writes a CA certificate that signed nothing the servers use.
func otherCA(t *testing.T) string {
	t.Helper()
	ca, _, _ := testenv.TestPKI(t)
	return ca
}
