package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestADDC(t *testing.T) {
	Need(t, "smbclient", "ip")
	dc := StartADDC(t, ADDCOptions{
		Users:  map[string]string{"alice": "Alice-Pass-1"},
		Groups: map[string][]string{"staff": {"alice"}},
		Shares: []Share{{Name: "secure", Extra: "smb encrypt = required"}},
	})

	t.Run("ldaps bind as user", func(t *testing.T) {
		tc, err := dc.TLSConfig()
		if err != nil {
			t.Fatal(err)
		}
		c, err := ldap.DialURL(dc.LDAPURL, ldap.DialWithTLSConfig(tc))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Bind(dc.UPN("alice"), "Alice-Pass-1"); err != nil {
			t.Fatalf("bind: %v", err)
		}
		res, err := c.Search(ldap.NewSearchRequest(dc.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(sAMAccountName=alice)", []string{"memberOf"}, nil))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("search: %v, %d entries", err, len(res.Entries))
		}
		if got := res.Entries[0].GetAttributeValue("memberOf"); !strings.EqualFold(got, dc.GroupDN("staff")) {
			t.Errorf("memberOf = %q, want %q", got, dc.GroupDN("staff"))
		}
		if err := c.Bind(dc.UPN("alice"), "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Errorf("bind with a wrong password: %v, want invalid credentials", err)
		}
	})

	t.Run("plain simple bind refused", func(t *testing.T) {
		c, err := ldap.DialURL(dc.LDAPPlainURL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Bind(dc.UPN("alice"), "Alice-Pass-1"); !ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired) {
			t.Errorf("plain bind: %v, want strong auth required", err)
		}
	})

	t.Run("smb with kerberos on an encrypted share", func(t *testing.T) {
		smbclient, _ := lookPath("smbclient")
		cmd := exec.Command(smbclient, "//"+dc.Hostname+"/secure", "--ip-address="+dc.IP,
			"-U", "alice@"+dc.Realm+"%Alice-Pass-1", "--use-kerberos=required", "--client-protection=encrypt", "-s", "/dev/null", "-c", "ls")
		cmd.Env = append(os.Environ(), "KRB5_CONFIG="+dc.Krb5Conf, "KRB5CCNAME=MEMORY:")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("smbclient: %v\n%s", err, out)
		}
		if log := dc.Log(t); !strings.Contains(log, "[SMB2,krb5] user [LAB]\\[alice]") {
			t.Errorf("audit log has no Kerberos SMB log-on for alice:\n%s", log)
		}
	})

	t.Run("service keytab", func(t *testing.T) {
		kt := dc.AddService(t, "davgate-svc", "HTTP/davgate.lab.test")
		out, err := command("klist", "-ke", kt).CombinedOutput()
		if err != nil {
			t.Skipf("klist: %v", err)
		}
		if !strings.Contains(string(out), "HTTP/davgate.lab.test@LAB.TEST") || !strings.Contains(string(out), "aes256") {
			t.Errorf("keytab:\n%s", out)
		}
	})

	t.Run("stop ends every process", func(t *testing.T) {
		dc.Stop(t)
		if pids := alive(netnsPids(dc.ns)); len(pids) > 0 {
			t.Errorf("processes left in %s: %v", dc.ns, pids)
		}
		if command("ip", "netns", "exec", dc.ns, "true").Run() == nil {
			t.Errorf("namespace %s still exists", dc.ns)
		}
	})
}
