package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

func TestParseMech(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mech
		ok   bool
	}{
		{"", MechNTLM, true},
		{"ntlm", MechNTLM, true},
		{"kerberos", MechKerberos, true},
		{"kerberos-then-ntlm", MechKerberosThenNTLM, true},
		{"Kerberos", "", false},
		{"krb5", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMech(tc.in)
			if got != tc.want || (err == nil) != tc.ok {
				t.Errorf("ParseMech(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestKerberosTargetSPN(t *testing.T) {
	for _, tc := range []struct {
		name, spn, addr, want, err string
	}{
		{"default from host name", "", "fs1.example.com:445", "cifs/fs1.example.com", ""},
		{"configured wins", "cifs/fs1.example.com", "10.0.0.5:445", "cifs/fs1.example.com", ""},
		{"IPv4 needs a name", "", "10.0.0.5:445", "", "IP address"},
		{"IPv6 needs a name", "", "[fe80::1]:445", "", "IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Kerberos{SPN: tc.spn}.targetSPN(tc.addr)
			if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("targetSPN = %q, %v; want %q, error containing %q", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestKerberosCheck(t *testing.T) {
	ok := Kerberos{Realm: "EXAMPLE.COM", KDCs: []string{"dc1.example.com:88"}}
	for _, tc := range []struct {
		name string
		k    Kerberos
		err  string
	}{
		{"ok", ok, ""},
		{"no realm", Kerberos{KDCs: ok.KDCs}, "no realm"},
		{"no kdcs", Kerberos{Realm: ok.Realm}, "no KDCs"},
		{"kdc without port", Kerberos{Realm: ok.Realm, KDCs: []string{"dc1.example.com"}}, "host:port"},
		{"spn with realm", Kerberos{Realm: ok.Realm, KDCs: ok.KDCs, SPN: "cifs/fs1@EXAMPLE.COM"}, "without a realm"},
		{"spn without service", Kerberos{Realm: ok.Realm, KDCs: ok.KDCs, SPN: "fs1.example.com"}, "service/host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.k.Check()
			if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("Check() = %v, want error containing %q", err, tc.err)
			}
		})
	}
}

// TestKDCErrorClassification checks gokrb5's flattened error texts: the
// refusals of the credentials are final, everything else may fall back.
func TestKDCErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		text    string
		refusal bool
	}{
		{"[Root cause: KDC_Error] KDC_Error: AS Exchange Error: kerberos error response from KDC: KRB Error: (24) KDC_ERR_PREAUTH_FAILED Pre-authentication information was invalid", true},
		{"KDC_Error: AS Exchange Error: kerberos error response from KDC: KRB Error: (18) KDC_ERR_CLIENT_REVOKED Clients credentials have been revoked", true},
		{"KRB Error: (23) KDC_ERR_KEY_EXPIRED Password has expired; change password to reset", true},
		{"KRB Error: (6) KDC_ERR_C_PRINCIPAL_UNKNOWN Client not found in Kerberos database", true},
		{"KRB Error: (12) KDC_ERR_POLICY KDC policy rejects request", true},
		{"TGS Exchange Error: kerberos error response from KDC when requesting for cifs/x: KRB Error: (7) KDC_ERR_S_PRINCIPAL_UNKNOWN Server not found in Kerberos database", false},
		{"Networking_Error: AS Exchange Error: failed sending AS_REQ to KDC: failed to communicate with KDC 127.0.0.1:1", false},
		{"KRB Error: (37) KRB_AP_ERR_SKEW Clock skew too great", false},
	} {
		t.Run(tc.text[:min(40, len(tc.text))], func(t *testing.T) {
			err := kdcError("log-on", "alice@EXAMPLE.COM", errors.New(tc.text))
			if got := errors.Is(err, ErrLogonFailure); got != tc.refusal {
				t.Errorf("ErrLogonFailure = %v, want %v (%v)", got, tc.refusal, err)
			}
			if got := errors.Is(err, errKerberos); got == tc.refusal {
				t.Errorf("errKerberos (falls back to NTLM) = %v, want %v (%v)", got, !tc.refusal, err)
			}
		})
	}
}

const (
	krbPass  = "Krb-pass-1"
	krbStale = "Krb-stale-1"
)

// TestPoolKerberos logs on to a Samba AD DC's shares by Kerberos and
// proves from the DC's audit log which mechanism each log-on used.
func TestPoolKerberos(t *testing.T) {
	dc := testenv.StartADDC(t, testenv.ADDCOptions{
		Users: map[string]string{
			"kmount": krbPass, "kstale": krbPass, "kstale2": krbPass,
			"kfall": krbPass, "kfallkdc": krbPass, "konly": krbPass,
			"ktkt": krbPass, "ktkt2": krbPass,
		},
		Shares: []testenv.Share{{Name: "data"}, {Name: "secure", Extra: "smb encrypt = required"}},
	})
	dcURL := func(t *testing.T, share string) ShareURL {
		t.Helper()
		u, err := ParseShareURL("smb://" + dc.SMBAddr + "/" + share)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	krb := Kerberos{Realm: dc.Realm, KDCs: []string{dc.KDC}, SPN: dc.CIFSSPN()}
	creds := func(user, pass string, m Mech, k Kerberos) func() (Creds, error) {
		return func() (Creds, error) {
			return Creds{User: user, Domain: dc.Domain, Password: pass, Mech: m, Kerberos: k}, nil
		}
	}
	methods := func(user string) []testenv.SMBLogon { return dc.SMBLogons(t, user) }

	t.Run("mount by kerberos, also an encrypted share", func(t *testing.T) {
		p, logs := newTestPool(t, PoolOptions{})
		s := testSession("k-mount")
		c := creds("kmount", krbPass, MechKerberos, krb)
		use(t, p, s, c, dcURL(t, "data"), "k1.txt")
		use(t, p, s, c, dcURL(t, "secure"), "k2.txt")
		want := []testenv.SMBLogon{{Method: "krb5", Status: "NT_STATUS_OK"}}
		if diff := cmp.Diff(want, methods("kmount")); diff != "" {
			t.Errorf("SMB log-ons of kmount (-want +got):\n%s", diff)
		}
		if !strings.Contains(logs.String(), `"mech":"kerberos"`) {
			t.Errorf("pool log does not say the session used kerberos:\n%s", logs)
		}
		if strings.Contains(logs.String(), krbPass) {
			t.Errorf("pool log holds the password")
		}
	})

	for _, m := range []Mech{MechKerberos, MechKerberosThenNTLM} {
		user := map[Mech]string{MechKerberos: "kstale", MechKerberosThenNTLM: "kstale2"}[m]
		t.Run("stale password, "+string(m), func(t *testing.T) {
			p, logs := newTestPool(t, PoolOptions{})
			s := testSession("k-stale-" + string(m))
			c := creds(user, krbStale, m, krb)
			for i := range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, _, err := p.Mount(ctx, s, c, dcURL(t, "data"))
				cancel()
				if !errors.Is(err, ErrLogonFailure) {
					t.Fatalf("Mount %d: %v, want ErrLogonFailure", i, err)
				}
				if i == 0 && !strings.Contains(err.Error(), "KDC_ERR_PREAUTH_FAILED") {
					t.Errorf("error does not name the KDC's reason: %v", err)
				}
			}
			if got := p.dials.Load(); got != 1 {
				t.Errorf("%d dials, want 1", got)
			}
			if n := dc.FailedPreauths(t, user); n != 1 {
				t.Errorf("%d failed Kerberos pre-authentications of %s in the DC log, want exactly 1:\n%s", n, user, dc.Log(t))
			}
			if got := methods(user); len(got) != 0 {
				t.Errorf("SMB log-ons of %s after a refused Kerberos log-on: %v; want none (no NTLM fallback)", user, got)
			}
			if strings.Contains(logs.String(), krbStale) {
				t.Errorf("pool log holds the password")
			}
		})
	}

	t.Run("kerberos-then-ntlm falls back when the SPN is unknown", func(t *testing.T) {
		p, logs := newTestPool(t, PoolOptions{})
		bad := krb
		bad.SPN = "cifs/nosuch." + testenv.ADDNSDomain
		use(t, p, testSession("k-fall"), creds("kfall", krbPass, MechKerberosThenNTLM, bad), dcURL(t, "secure"), "f.txt")
		want := []testenv.SMBLogon{{Method: "NTLMSSP", Status: "NT_STATUS_OK"}}
		if diff := cmp.Diff(want, methods("kfall")); diff != "" {
			t.Errorf("SMB log-ons of kfall (-want +got):\n%s", diff)
		}
		if !strings.Contains(logs.String(), "KDC_ERR_S_PRINCIPAL_UNKNOWN") || !strings.Contains(logs.String(), `"mech":"ntlm"`) {
			t.Errorf("pool log does not tell the fallback and its reason:\n%s", logs)
		}
	})

	t.Run("kerberos-then-ntlm falls back when the KDC is unreachable", func(t *testing.T) {
		p, _ := newTestPool(t, PoolOptions{})
		down := krb
		down.KDCs = []string{"127.0.0.1:1"}
		use(t, p, testSession("k-fallkdc"), creds("kfallkdc", krbPass, MechKerberosThenNTLM, down), dcURL(t, "data"), "g.txt")
		want := []testenv.SMBLogon{{Method: "NTLMSSP", Status: "NT_STATUS_OK"}}
		if diff := cmp.Diff(want, methods("kfallkdc")); diff != "" {
			t.Errorf("SMB log-ons of kfallkdc (-want +got):\n%s", diff)
		}
	})

	t.Run("a ticket the server cannot read", func(t *testing.T) {
		// A ticket for another account's SPN: the KDC issues it, the DC's
		// file server cannot decrypt it.
		dc.AddService(t, "ksvc", "cifs/other."+testenv.ADDNSDomain)
		other := krb
		other.SPN = "cifs/other." + testenv.ADDNSDomain
		p, logs := newTestPool(t, PoolOptions{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// The password is good (the KDC said so): not ErrLogonFailure,
		// so the session lives on and a later request tries again.
		for range 2 {
			_, _, err := p.Mount(ctx, testSession("k-tkt"), creds("ktkt", krbPass, MechKerberos, other), dcURL(t, "data"))
			if err == nil || errors.Is(err, ErrLogonFailure) || !strings.Contains(err.Error(), "server refused the ticket") {
				t.Errorf("kerberos: Mount with a ticket the server refuses: %v, want a Kerberos error that is not ErrLogonFailure", err)
			}
		}
		if got := p.dials.Load(); got != 2 {
			t.Errorf("%d dials, want 2", got)
		}
		use(t, p, testSession("k-tkt2"), creds("ktkt2", krbPass, MechKerberosThenNTLM, other), dcURL(t, "data"), "t.txt")
		want := []testenv.SMBLogon{{Method: "NTLMSSP", Status: "NT_STATUS_OK"}}
		if diff := cmp.Diff(want, methods("ktkt2")); diff != "" {
			t.Errorf("SMB log-ons of ktkt2 (-want +got):\n%s", diff)
		}
		if !strings.Contains(logs.String(), "trying NTLM") {
			t.Errorf("pool log does not tell the fallback:\n%s", logs)
		}
		if n := dc.FailedPreauths(t, "ktkt2"); n != 0 {
			t.Errorf("%d failed pre-authentications of ktkt2, want 0", n)
		}
	})

	t.Run("kerberos alone does not fall back", func(t *testing.T) {
		p, _ := newTestPool(t, PoolOptions{})
		bad := krb
		bad.SPN = "cifs/nosuch." + testenv.ADDNSDomain
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _, err := p.Mount(ctx, testSession("k-only"), creds("konly", krbPass, MechKerberos, bad), dcURL(t, "data"))
		if err == nil || errors.Is(err, ErrLogonFailure) || !strings.Contains(err.Error(), "KDC_ERR_S_PRINCIPAL_UNKNOWN") {
			t.Errorf("Mount with an unknown SPN: %v; want a Kerberos error that is not ErrLogonFailure", err)
		}
		noSPN := krb
		noSPN.SPN = ""
		_, _, err = p.Mount(ctx, testSession("k-only-ip"), creds("konly", krbPass, MechKerberos, noSPN), dcURL(t, "data"))
		if err == nil || !strings.Contains(err.Error(), "IP address") {
			t.Errorf("Mount of an IP address without an SPN: %v; want an error asking for the SPN", err)
		}
		if got := methods("konly"); len(got) != 0 {
			t.Errorf("SMB log-ons of konly: %v, want none", got)
		}
	})

	t.Run("one-off Dial by kerberos", func(t *testing.T) {
		p, _ := newTestPool(t, PoolOptions{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		s, err := p.Dial(ctx, dc.SMBAddr, Creds{User: "kmount", Password: krbPass, Mech: MechKerberos, Kerberos: krb})
		if err != nil {
			t.Fatal(err)
		}
		s.Logoff()
		_, err = p.Dial(ctx, dc.SMBAddr, Creds{User: "kmount", Password: "wrong", Mech: MechKerberos, Kerberos: krb})
		if !errors.Is(err, ErrLogonFailure) {
			t.Errorf("Dial with a wrong password: %v, want ErrLogonFailure", err)
		}
	})
}

// TestPoolKerberosWhereNTLMIsRefused: a domain that refuses NTLM (as
// many now do) still serves Kerberos log-ons.
func TestPoolKerberosWhereNTLMIsRefused(t *testing.T) {
	dc := testenv.StartADDC(t, testenv.ADDCOptions{
		Users:  map[string]string{"knontlm": krbPass},
		Shares: []testenv.Share{{Name: "data"}},
		Global: "ntlm auth = disabled",
	})
	u, err := ParseShareURL("smb://" + dc.SMBAddr + "/data")
	if err != nil {
		t.Fatal(err)
	}
	krb := Kerberos{Realm: dc.Realm, KDCs: []string{dc.KDC}, SPN: dc.CIFSSPN()}
	p, _ := newTestPool(t, PoolOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := p.Dial(ctx, dc.SMBAddr, Creds{User: "knontlm", Domain: dc.Domain, Password: krbPass})
	if err == nil {
		s.Logoff()
		t.Fatalf("NTLM log-on accepted by a DC with ntlm auth = disabled")
	}
	if errors.Is(err, ErrLogonFailure) || !strings.Contains(err.Error(), "refuses NTLM") {
		t.Errorf("NTLM log-on refused by policy: %v; want an error saying so, not ErrLogonFailure", err)
	}
	use(t, p, testSession("k-nontlm"), func() (Creds, error) {
		return Creds{User: "knontlm", Domain: dc.Domain, Password: krbPass, Mech: MechKerberos, Kerberos: krb}, nil
	}, u, "n.txt")
	want := []testenv.SMBLogon{{Method: "NTLMSSP", Status: "NT_STATUS_NTLM_BLOCKED"}, {Method: "krb5", Status: "NT_STATUS_OK"}}
	if diff := cmp.Diff(want, dc.SMBLogons(t, "knontlm")); diff != "" {
		t.Errorf("SMB log-ons of knontlm (-want +got):\n%s", diff)
	}
}
