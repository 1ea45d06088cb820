package testenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cloudsoda/go-smb2"
	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"
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

	t.Run("go-smb2 with kerberos and with NTLM, audited", func(t *testing.T) {
		dc.AddUser(t, "bob", "Bob-Pass-1")
		ctx := context.Background()
		krb := &smb2.Dialer{Initiator: &smb2.Krb5Initiator{Client: dc.Krb5Client(t, "bob", "Bob-Pass-1"), TargetSPN: dc.CIFSSPN()}}
		ntlm := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: "bob", Password: "Bob-Pass-1", Domain: dc.Domain}}
		for _, d := range []*smb2.Dialer{krb, ntlm} {
			s, err := d.Dial(ctx, dc.SMBAddr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			sh, err := s.Mount("secure")
			if err != nil {
				t.Fatalf("mount the encrypted share: %v", err)
			}
			if _, err := sh.ReadDir("."); err != nil {
				t.Errorf("read dir: %v", err)
			}
			sh.Umount()
			s.Logoff()
		}
		bad := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: "bob", Password: "stale", Domain: dc.Domain}}
		if s, err := bad.Dial(ctx, dc.SMBAddr); err == nil {
			s.Logoff()
			t.Fatal("NTLM log-on with a wrong password worked")
		}
		want := []SMBLogon{{"krb5", "NT_STATUS_OK"}, {"NTLMSSP", "NT_STATUS_OK"}, {"NTLMSSP", "NT_STATUS_WRONG_PASSWORD"}}
		if diff := cmp.Diff(want, dc.SMBLogons(t, "bob")); diff != "" {
			t.Errorf("SMB log-ons (-want +got):\n%s\naudit log:\n%s", diff, dc.Log(t))
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

	t.Run("restart keeps state", func(t *testing.T) {
		dc.Restart(t)
		c, err := dc.Admin()
		if err != nil {
			t.Fatalf("after restart: %v", err)
		}
		defer c.Close()
		if err := c.Bind(dc.UPN("alice"), "Alice-Pass-1"); err != nil {
			t.Errorf("alice after restart: %v", err)
		}
	})

	t.Run("stop ends every process", func(t *testing.T) {
		// A share listing starts samba-dcerpcd and rpcd_* helpers, which
		// call setsid and outlive the samba master.
		smbclient, _ := lookPath("smbclient")
		out, err := exec.Command(smbclient, "-L", "//"+dc.IP, "-U", `LAB\alice%Alice-Pass-1`, "-s", "/dev/null").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "secure") {
			t.Errorf("share list: %v\n%s", err, out)
		}
		dc.Stop(t)
		if pids := alive(netnsPids(dc.ns)); len(pids) > 0 {
			t.Errorf("processes left in %s: %v", dc.ns, pids)
		}
		if command("ip", "netns", "exec", dc.ns, "true").Run() == nil {
			t.Errorf("namespace %s still exists", dc.ns)
		}
	})
}
