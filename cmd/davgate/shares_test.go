package main

import (
	"strings"
	"testing"

	"github.com/davgate/davgate/session"
	"github.com/google/go-cmp/cmp"
)

func TestConfigSMBKerberos(t *testing.T) {
	tests := []struct {
		name, edit, want string // want: "" accepted, else a substring of the error
	}{
		{"kerberos share", `
smb: {kerberos: {realm: EXAMPLE.COM, kdcs: ["dc1.example.com:88"]}}
shares: [{name: home, url: "smb://fs1.example.com/homes/{user}", auth: kerberos}]`, ""},
		{"kerberos-then-ntlm with spn", `
smb: {kerberos: {realm: EXAMPLE.COM, kdcs: ["dc1.example.com:88"]}}
shares: [{name: home, url: "smb://10.0.0.5/homes/{user}", auth: kerberos-then-ntlm, spn: cifs/fs1.example.com}]`, ""},
		{"realm and kdcs from auth.kerberos", `
auth: {backend: kerberos, kerberos: {realm: EXAMPLE.COM, kdcs: ["dc1.example.com:88"], service_principal: HTTP/dav.example.com, keytab: /k}}
shares: [{name: home, url: "smb://fs1.example.com/homes/{user}", auth: kerberos}]`, ""},
		{"ntlm explicit", `shares: [{name: d, url: "smb://fs1/d", auth: ntlm}]`, ""},
		{"unknown auth", `shares: [{name: d, url: "smb://fs1/d", auth: krb5}]`, "shares[0].auth"},
		{"spn without kerberos", `shares: [{name: d, url: "smb://fs1/d", spn: cifs/fs1}]`, "shares[0].spn: only used with auth kerberos"},
		{"spn with realm", `
smb: {kerberos: {realm: EXAMPLE.COM, kdcs: ["dc1:88"]}}
shares: [{name: d, url: "smb://fs1/d", auth: kerberos, spn: "cifs/fs1@EXAMPLE.COM"}]`, "shares[0].spn"},
		{"kerberos without realm", `shares: [{name: d, url: "smb://fs1/d", auth: kerberos}]`, "smb.kerberos"},
		{"kdc without port", `
smb: {kerberos: {realm: EXAMPLE.COM, kdcs: ["dc1"]}}
shares: [{name: d, url: "smb://fs1/d", auth: kerberos}]`, "host:port"},
		{"unknown kerberos key", `smb: {kerberos: {realm: EXAMPLE.COM, kdc: ["dc1:88"]}}`, "unknown key kdc"},
		{"unknown share key", `shares: [{name: d, url: "smb://fs1/d", mech: ntlm}]`, "unknown key mech"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig([]byte(overrideConfig(goodConfig, strings.TrimSpace(tt.edit))))
			if err == nil {
				_, err = configShares(c)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigSharesKerberosSettings(t *testing.T) {
	c, err := parseConfig([]byte(overrideConfig(goodConfig, `auth: {backend: kerberos, kerberos: {realm: EXAMPLE.COM, kdcs: ["dc1.example.com:88"], service_principal: HTTP/dav.example.com, keytab: /k}}
shares: [{name: home, url: "smb://10.0.0.5/homes/{user}", auth: kerberos, spn: cifs/fs1.example.com}, {name: data, url: "smb://fs2/data"}]`)))
	if err != nil {
		t.Fatal(err)
	}
	shares, err := configShares(c)
	if err != nil {
		t.Fatal(err)
	}
	want := session.Kerberos{Realm: "EXAMPLE.COM", KDCs: []string{"dc1.example.com:88"}, SPN: "cifs/fs1.example.com"}
	if shares[0].mech != session.MechKerberos || !cmp.Equal(shares[0].krb, want) {
		t.Errorf("home: mech %q, kerberos %+v; want kerberos, %+v", shares[0].mech, shares[0].krb, want)
	}
	if shares[1].mech != session.MechNTLM || !cmp.Equal(shares[1].krb, session.Kerberos{}) {
		t.Errorf("data: mech %q, kerberos %+v; want ntlm and no Kerberos settings", shares[1].mech, shares[1].krb)
	}
}

func TestParseSharesErrors(t *testing.T) {
	tests := []struct {
		name   string
		shares []ShareConfig
		want   string
	}{
		{"IP host needs an SPN", []ShareConfig{{Name: "a", URL: "smb://10.0.0.5/a", Auth: "kerberos"}}, "shares[0].spn: required"},
		{"IPv6 host needs an SPN", []ShareConfig{{Name: "a", URL: "smb://[fe80::1]/a", Auth: "kerberos-then-ntlm"}}, "shares[0].spn: required"},
		{"no share", []ShareConfig{{Name: "a", URL: "smb://fs1/"}}, "names no share"},
		{"unknown variable", []ShareConfig{{Name: "a", URL: "smb://fs1/homes/{usr}"}}, "unknown variable {usr}"},
		{"variable in host", []ShareConfig{{Name: "a", URL: "smb://{ldap:server}/homes"}}, "shares[0].url"},
		{"mixed auth on one server", []ShareConfig{
			{Name: "a", URL: "smb://fs1/a"},
			{Name: "b", URL: "smb://fs1:445/b", Auth: "kerberos"},
		}, "shares[1]: same server fs1:445 as shares[0]"},
		{"two SPNs for one server", []ShareConfig{
			{Name: "a", URL: "smb://10.0.0.5/a", Auth: "kerberos", SPN: "cifs/fs1"},
			{Name: "b", URL: "smb://10.0.0.5/b", Auth: "kerberos", SPN: "cifs/fs2"},
		}, "same server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseShares(tt.shares)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := parseShares([]ShareConfig{
		{Name: "a", URL: "smb://fs1/a", Auth: "kerberos"},
		{Name: "b", URL: "smb://fs1/b/{user}", Auth: "kerberos"},
		{Name: "c", URL: "smb://fs2/c/{domain}/{ldap:department}"},
		{Name: "h", URL: "{ldap:homeDirectory.url}", Auth: "kerberos"},
	}); err != nil {
		t.Errorf("good shares refused: %v", err)
	}
}

func TestShareURLFromSession(t *testing.T) {
	alice := &session.Session{User: "alice", Attrs: map[string]string{
		"domain":            "LAB",
		"department":        "sales",
		"homeDirectory":     `\\fs1.lab.test\homes\alice`,
		"homeDirectory.url": "smb://fs1.lab.test/homes/alice",
		"badURL":            "smb://fs1/homes/../root",
		"serverOnly":        "smb://fs1/",
		"climb":             "..",
	}}
	tests := []struct {
		name, url string
		want      string // expanded URL, or "error: substring"
	}{
		{"user and domain", "smb://fs1/homes/{domain}/{user}", "smb://fs1/homes/LAB/alice"},
		{"ldap attribute", "smb://fs1/depts/{ldap:department}/{user}", "smb://fs1/depts/sales/alice"},
		{"ldap attribute in another case", "smb://fs1/depts/{ldap:Department}", "smb://fs1/depts/sales"},
		{"ldap attribute in the share name", "smb://fs1/{ldap:department}", "smb://fs1/sales"},
		{"missing ldap attribute", "smb://fs1/depts/{ldap:division}", "error: alice has no division attribute"},
		{"unc value is not one segment", "smb://fs1/x/{ldap:homeDirectory}", "error: slash or backslash"},
		{"climbing value", "smb://fs1/x/{ldap:climb}", "error: .."},
		{"domain is not an ldap attribute", "smb://fs1/x/{ldap:domain}", "error: no domain attribute"},
		{"whole URL", "{ldap:homeDirectory.url}", "smb://fs1.lab.test/homes/alice"},
		{"whole URL, missing", "{ldap:profilePath.url}", "error: no profilePath.url attribute"},
		{"whole URL, not a URL", "{ldap:homeDirectory}", "error: want smb://"},
		{"whole URL that climbs", "{ldap:badURL}", `error: ".." is not allowed`},
		{"whole URL without a share", "{ldap:serverOnly}", "error: not smb://host/share"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defs, err := parseShares([]ShareConfig{{Name: "s", URL: tt.url}})
			if err != nil {
				t.Fatal(err)
			}
			u, err := shareURL(&defs[0], alice)
			if wantErr, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), wantErr) {
					t.Fatalf("shareURL = %s, %v; want an error containing %q", u, err, wantErr)
				}
				return
			}
			if err != nil || u.String() != tt.want {
				t.Fatalf("shareURL = %s, %v; want %s", u, err, tt.want)
			}
		})
	}
}

func TestSameServerConflict(t *testing.T) {
	defs, err := parseShares([]ShareConfig{
		{Name: "data", URL: "smb://fs1.lab.test/data"},
		{Name: "home", URL: "{ldap:homeDirectory.url}", Auth: "kerberos"},
		{Name: "k", URL: "smb://fs2.lab.test/k", Auth: "kerberos"},
	})
	if err != nil {
		t.Fatal(err)
	}
	src := &shareSource{shares: defs}
	for _, tt := range []struct {
		home, want string // want: "" no conflict, else a substring of the error
	}{
		{"smb://fs1.lab.test/homes/alice", "also used by share data"},
		{"smb://fs1.lab.test:445/homes/alice", "also used by share data"},
		{"smb://fs2.lab.test/homes/alice", ""},
		{"smb://fs3.lab.test/homes/alice", ""},
	} {
		t.Run(tt.home, func(t *testing.T) {
			sess := &session.Session{User: "alice", Attrs: map[string]string{"homeDirectory.url": tt.home}}
			u, err := shareURL(&defs[1], sess)
			if err != nil {
				t.Fatal(err)
			}
			err = src.sameServerConflict(&defs[1], u.Addr(), sess)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("conflict = %v, want %q", err, tt.want)
			}
		})
	}
}

// Lock scopes: a folder of a share lives in its share's name space, so
// overlapping shares share locks; different shares and servers do not;
// the server's name is hashed.
func TestLockScope(t *testing.T) {
	parse := func(s string) session.ShareURL {
		u, err := session.ParseShareURL(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	share := lockScope(parse("smb://files.example.com/Data"))
	if got := lockScope(parse("smb://FILES.example.com/data/p9")); got != share+"/p9" {
		t.Errorf("folder of the share: %q, want %q", got, share+"/p9")
	}
	if strings.Contains(share, "files") || strings.Contains(share, "/") {
		t.Errorf("share scope %q shows the server or a slash", share)
	}
	for _, other := range []string{"smb://files.example.com/other", "smb://files2.example.com/data", "smb://files.example.com:4450/data"} {
		if got := lockScope(parse(other)); got == share {
			t.Errorf("%s has the scope of smb://files.example.com/data", other)
		}
	}
}
