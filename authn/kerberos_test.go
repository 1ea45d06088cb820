package authn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// TestKerberos checks passwords against a Samba AD DC's KDC and verifies
// the KDC with davgate's service keytab.
func TestKerberos(t *testing.T) {
	t.Parallel()
	dc := testenv.StartADDC(t, testenv.ADDCOptions{
		Users:  map[string]string{"alice": "Alice-Pass-1", "bob": "Bob-Pass-1", "carol": "Carol-Pass-1", "dave": "Dave-Pass-1"},
		Groups: map[string][]string{"webdav": {"alice"}, "outer": {"webdav"}},
	})
	dc.DisableUser(t, "carol")
	dc.RequirePasswordChange(t, "dave")
	const spn = "HTTP/davgate.lab.test"
	kt := dc.AddService(t, "davgate-http", spn)
	good := Kerberos{Realm: dc.Realm, KDCs: []string{dc.KDC}, ServicePrincipal: spn, Keytab: kt, Domain: dc.Domain}
	with := func(f func(*Kerberos)) *Kerberos { k := good; f(&k); return &k }

	tests := []struct {
		name     string
		auth     *Kerberos
		user, pw string
		want     Identity
		wantErr  error
	}{
		{"good password", &good, "alice", "Alice-Pass-1", Identity{User: "alice", Domain: "LAB"}, nil},
		{"realm typed", &good, "alice@LAB.TEST", "Alice-Pass-1", Identity{User: "alice", Domain: "LAB"}, nil},
		{"realm in lower case", &good, "alice@lab.test", "Alice-Pass-1", Identity{User: "alice", Domain: "LAB"}, nil},
		{"upper case typed", &good, "ALICE", "Alice-Pass-1", Identity{User: "alice", Domain: "LAB"}, nil},
		{"upper case with realm typed", &good, "Alice@lab.test", "Alice-Pass-1", Identity{User: "alice", Domain: "LAB"}, nil},
		{"domain typed", &good, `LAB\alice`, "Alice-Pass-1", Identity{User: "alice", Domain: "LAB"}, nil},
		{"canonical name and domain from the PAC", with(func(k *Kerberos) { k.Domain = "" }), "ALICE", "Alice-Pass-1",
			Identity{User: "alice", Domain: "LAB"}, nil},
		{"required group", with(func(k *Kerberos) { k.RequiredGroupSID = dc.SID(t, "webdav") }), "alice", "Alice-Pass-1",
			Identity{User: "alice", Domain: "LAB"}, nil},
		{"required group, nested", with(func(k *Kerberos) { k.RequiredGroupSID = dc.SID(t, "outer") }), "alice", "Alice-Pass-1",
			Identity{User: "alice", Domain: "LAB"}, nil},
		{"not in required group", with(func(k *Kerberos) { k.RequiredGroupSID = dc.SID(t, "webdav") }), "bob", "Bob-Pass-1",
			Identity{}, ErrNotInGroup},
		{"realm's first label typed", with(func(k *Kerberos) { k.Domain = "" }), `lab\alice`, "Alice-Pass-1",
			Identity{User: "alice", Domain: "LAB"}, nil},
		{"wrong password", &good, "alice", "Alice-Pass-2", Identity{}, ErrWrongPassword},
		{"unknown user", &good, "nobody", "Alice-Pass-1", Identity{}, ErrWrongPassword},
		{"other realm", &good, "alice@EVIL.TEST", "Alice-Pass-1", Identity{}, ErrBadCredentials},
		{"service instance", &good, "alice/admin", "Alice-Pass-1", Identity{}, ErrBadCredentials},
		{"empty password", &good, "alice", "", Identity{}, ErrEmptyPassword},
		{"disabled account", &good, "carol", "Carol-Pass-1", Identity{}, ErrAccountRevoked},
		{"must change password", &good, "dave", "Dave-Pass-1", Identity{}, ErrPasswordExpired},
		{"keytab with another key (spoofed KDC)", with(func(k *Kerberos) { k.Keytab = foreignKeytab(t, kt, spn, dc.Realm) }),
			"alice", "Alice-Pass-1", Identity{}, ErrKDCNotVerified},
		{"keytab for another principal", with(func(k *Kerberos) { k.ServicePrincipal = "HTTP/other.lab.test" }),
			"alice", "Alice-Pass-1", Identity{}, ErrKDCNotVerified},
		{"missing keytab", with(func(k *Kerberos) { k.Keytab = filepath.Join(t.TempDir(), "none") }),
			"alice", "Alice-Pass-1", Identity{}, ErrUnavailable},
		{"KDC down", with(func(k *Kerberos) { k.KDCs = []string{"127.0.0.1:1"} }),
			"alice", "Alice-Pass-1", Identity{}, ErrUnavailable},
		{"no keytab configured", with(func(k *Kerberos) { k.Keytab = "" }),
			"alice", "Alice-Pass-1", Identity{}, ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.auth.Authenticate(context.Background(), tc.user, []byte(tc.pw))
			checkAuth(t, got, err, tc.want, tc.wantErr)
			if err != nil && strings.Contains(err.Error(), tc.pw) && tc.pw != "" {
				t.Errorf("error carries the password: %v", err)
			}
		})
	}

	t.Run("a spoofed KDC refusal is not a wrong password", func(t *testing.T) {
		k := with(func(k *Kerberos) { k.Keytab = foreignKeytab(t, kt, spn, dc.Realm) })
		_, err := k.Authenticate(context.Background(), "alice", []byte("Alice-Pass-1"))
		if errors.Is(err, ErrBadCredentials) {
			t.Errorf("err = %v: must not count as bad credentials", err)
		}
	})

	t.Run("audit log shows the AS exchange", func(t *testing.T) {
		if log := dc.Log(t); !auditHas(log, "[Kerberos KDC,ENC-TS Pre-authentication]", "alice@LAB.TEST", "status [NT_STATUS_OK]") {
			t.Errorf("audit log lacks alice's pre-authentication:\n%s", log)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := good.Authenticate(ctx, "alice", []byte("Alice-Pass-1")); !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}

func TestKerberosCheck(t *testing.T) {
	ok := Kerberos{Realm: "EXAMPLE.COM", KDCs: []string{"dc1:88"}, ServicePrincipal: "HTTP/dav.example.com", Keytab: "/k"}
	tests := []struct {
		name string
		mod  func(*Kerberos)
		want string
	}{
		{"valid", func(*Kerberos) {}, ""},
		{"no realm", func(k *Kerberos) { k.Realm = "" }, "realm"},
		{"no KDC", func(k *Kerberos) { k.KDCs = nil }, "kdcs"},
		{"KDC without port", func(k *Kerberos) { k.KDCs = []string{"dc1"} }, "host:port"},
		{"principal with realm", func(k *Kerberos) { k.ServicePrincipal += "@EXAMPLE.COM" }, "service_principal"},
		{"no keytab", func(k *Kerberos) { k.Keytab = "" }, "keytab"},
		{"group not a SID", func(k *Kerberos) { k.RequiredGroupSID = "CN=webdav" }, "required_group_sid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := ok
			tc.mod(&k)
			err := k.Check()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Check() = %v, want %q", err, tc.want)
			}
		})
	}
}

// foreignKeytab writes a keytab for the same principal and key version as
// the real one but other keys: what an attacker who answers for the KDC
// would need davgate to hold.
func foreignKeytab(t *testing.T, real, spn, realm string) string {
	t.Helper()
	r, err := keytab.Load(real)
	if err != nil || len(r.Entries) == 0 {
		t.Fatalf("load keytab: %v", err)
	}
	kt := keytab.New()
	for _, id := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96} {
		if err := kt.AddEntry(spn, realm, "not the service's password", time.Now(), uint8(r.Entries[0].KVNO), id); err != nil {
			t.Fatal(err)
		}
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "foreign.keytab")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKerberosLockout: wrong Kerberos passwords lock an account as wrong
// LDAP binds do, and both authenticators then say so. (AD code 532,
// password expired, is not tested: Samba treats a maximum password age
// under one day as none, and pwdLastSet cannot be set into the past.)
func TestKerberosLockout(t *testing.T) {
	t.Parallel()
	dc := testenv.StartADDC(t, testenv.ADDCOptions{
		Users:            map[string]string{"alice": "Alice-Pass-1", "frank": "Frank-Pass-1"},
		LockoutThreshold: 2,
	})
	kt := dc.AddService(t, "davgate-http", "HTTP/davgate.lab.test")
	krb := &Kerberos{Realm: dc.Realm, KDCs: []string{dc.KDC}, ServicePrincipal: "HTTP/davgate.lab.test", Keytab: kt}
	ldp := &LDAP{URL: dc.LDAPURL, CAFile: dc.CAFile, BindTemplate: "{user}@lab.test"}

	for range 2 {
		if _, err := krb.Authenticate(context.Background(), "frank", []byte("wrong")); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	_, err := krb.Authenticate(context.Background(), "frank", []byte("Frank-Pass-1"))
	checkAuth(t, Identity{}, err, Identity{}, ErrAccountRevoked)
	_, err = ldp.Authenticate(context.Background(), "frank", []byte("Frank-Pass-1"))
	checkAuth(t, Identity{}, err, Identity{}, ErrAccountLocked)
	got, err := krb.Authenticate(context.Background(), "alice", []byte("Alice-Pass-1"))
	checkAuth(t, got, err, Identity{User: "alice", Domain: "LAB"}, nil)

}
