package testenv

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
	krb5client "github.com/jcmturner/gokrb5/v8/client"
	krb5config "github.com/jcmturner/gokrb5/v8/config"
)

// The AD DC's directory, as a test sees it: users, groups and service
// accounts made over ldaps as Administrator, Kerberos clients for the
// realm, and the audit log.

// Admin returns an LDAP connection over ldaps bound as Administrator.
func (d *ADDC) Admin() (*ldap.Conn, error) {
	tc, err := d.TLSConfig()
	if err != nil {
		return nil, err
	}
	c, err := ldap.DialURL(d.LDAPURL, ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(10 * time.Second)
	if err := c.Bind(d.AdminDN, d.AdminPassword); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// TLSConfig trusts the DC's CA and expects its host name.
func (d *ADDC) TLSConfig() (*tls.Config, error) {
	pem, err := os.ReadFile(d.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + d.CAFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: d.Hostname, MinVersion: tls.VersionTLS12}, nil
}

func (d *ADDC) admin(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := d.Admin()
	if err != nil {
		t.Fatalf("AD DC: bind as Administrator: %v", err)
	}
	return c
}

// UserDN is the distinguished name of a user made by AddUser.
func (d *ADDC) UserDN(user string) string {
	return "CN=" + ldap.EscapeDN(user) + ",CN=Users," + d.BaseDN
}

// GroupDN is the distinguished name of a group made by AddGroup.
func (d *ADDC) GroupDN(group string) string { return d.UserDN(group) }

// UPN is a user's userPrincipalName, user@lab.test.
func (d *ADDC) UPN(user string) string { return user + "@" + ADDNSDomain }

// AddUser creates an enabled user with a password.
func (d *ADDC) AddUser(t testing.TB, user, password string) {
	t.Helper()
	c := d.admin(t)
	defer c.Close()
	r := ldap.NewAddRequest(d.UserDN(user), nil)
	r.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	r.Attribute("sAMAccountName", []string{user})
	r.Attribute("userPrincipalName", []string{d.UPN(user)})
	r.Attribute("unicodePwd", []string{unicodePwd(password)})
	r.Attribute("userAccountControl", []string{"512"}) // normal, enabled
	if err := c.Add(r); err != nil {
		t.Fatalf("AD DC: add user %s: %v", user, err)
	}
}

// AddGroup creates a global security group with members (names of users
// or groups made before).
func (d *ADDC) AddGroup(t testing.TB, group string, members ...string) {
	t.Helper()
	c := d.admin(t)
	defer c.Close()
	r := ldap.NewAddRequest(d.GroupDN(group), nil)
	r.Attribute("objectClass", []string{"top", "group"})
	r.Attribute("sAMAccountName", []string{group})
	if len(members) > 0 {
		dns := make([]string, len(members))
		for i, m := range members {
			dns[i] = d.UserDN(m)
		}
		r.Attribute("member", dns)
	}
	if err := c.Add(r); err != nil {
		t.Fatalf("AD DC: add group %s: %v", group, err)
	}
}

// AddMembers adds users or groups (by name) to a group.
func (d *ADDC) AddMembers(t testing.TB, group string, members ...string) {
	t.Helper()
	if len(members) == 0 {
		return
	}
	c := d.admin(t)
	defer c.Close()
	r := ldap.NewModifyRequest(d.GroupDN(group), nil)
	dns := make([]string, len(members))
	for i, m := range members {
		dns[i] = d.UserDN(m)
	}
	r.Add("member", dns)
	if err := c.Modify(r); err != nil {
		t.Fatalf("AD DC: add members to %s: %v", group, err)
	}
}

// SetAttrs replaces attributes of a user, e.g. homeDirectory.
func (d *ADDC) SetAttrs(t testing.TB, user string, attrs map[string][]string) {
	t.Helper()
	c := d.admin(t)
	defer c.Close()
	r := ldap.NewModifyRequest(d.UserDN(user), nil)
	for k, v := range attrs {
		r.Replace(k, v)
	}
	if err := c.Modify(r); err != nil {
		t.Fatalf("AD DC: modify %s: %v", user, err)
	}
}

// SetPassword resets a user's password as Administrator.
func (d *ADDC) SetPassword(t testing.TB, user, password string) {
	t.Helper()
	d.SetAttrs(t, user, map[string][]string{"unicodePwd": {unicodePwd(password)}})
}

// DisableUser disables an account (userAccountControl ACCOUNTDISABLE).
func (d *ADDC) DisableUser(t testing.TB, user string) {
	t.Helper()
	d.SetAttrs(t, user, map[string][]string{"userAccountControl": {"514"}})
}

// RequirePasswordChange makes the user change their password at next
// log-on (pwdLastSet 0).
func (d *ADDC) RequirePasswordChange(t testing.TB, user string) {
	t.Helper()
	d.SetAttrs(t, user, map[string][]string{"pwdLastSet": {"0"}})
}

// ExpireAccount sets the account's expiry date in the past.
func (d *ADDC) ExpireAccount(t testing.TB, user string) {
	t.Helper()
	// accountExpires counts 100 ns intervals since 1601; 2001-01-01.
	d.SetAttrs(t, user, map[string][]string{"accountExpires": {"126227808000000000"}})
}

// AddService creates a service account with a random password and the
// service principal name spn (e.g. "HTTP/davgate.lab.test"), with AES keys,
// and exports its keys with samba-tool into a keytab whose path it
// returns.
func (d *ADDC) AddService(t testing.TB, account, spn string) (keytab string) {
	t.Helper()
	var pw [18]byte
	rand.Read(pw[:])
	d.AddUser(t, account, "Svc-"+hex.EncodeToString(pw[:]))
	d.SetAttrs(t, account, map[string][]string{
		"servicePrincipalName":          {spn},
		"msDS-SupportedEncryptionTypes": {"24"}, // AES128, AES256
	})
	keytab = filepath.Join(d.Dir, account+".keytab")
	os.Remove(keytab)
	d.sambaTool(t, "domain", "exportkeytab", keytab, "--principal="+spn)
	return keytab
}

func (d *ADDC) sambaTool(t testing.TB, args ...string) {
	t.Helper()
	path, err := lookPath("samba-tool")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, append(args, "-s", d.conf)...).CombinedOutput()
	if err != nil {
		t.Fatalf("samba-tool %s: %v\n%s", strings.Join(args[:2], " "), err, out)
	}
}

// Log returns the DC's authentication audit lines so far, e.g.
//
//	Auth: [LDAP,simple bind/TLS] user [(null)]\[CN=alice,CN=Users,DC=lab,DC=test] ... status [NT_STATUS_OK] ...
//	Auth: [Kerberos KDC,ENC-TS Pre-authentication] user [alice@LAB.TEST] ...
//	Successful AuthZ: [SMB2,krb5] user [LAB]\[alice] ...
func (d *ADDC) Log(t testing.TB) string {
	var lines []string
	for _, l := range strings.Split(d.fullLog(), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "Auth: [") || strings.HasPrefix(l, "Successful AuthZ: [") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// fullLog is everything the DC's processes have logged.
func (d *ADDC) fullLog() string {
	files, _ := filepath.Glob(filepath.Join(d.Dir, "log", "*"))
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() {
			continue
		}
		data, _ := os.ReadFile(f)
		if len(data) > 0 {
			fmt.Fprintf(&b, "==> %s <==\n%s\n", filepath.Base(f), data)
		}
	}
	return b.String()
}

// unicodePwd encodes a password as AD's unicodePwd wants it: quoted,
// UTF-16LE.
func unicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// CIFSSPN is the service principal name of the DC's file server, which
// Kerberos clients of its shares ask a ticket for: cifs/dc1.lab.test.
// Dial SMBAddr (the IP) and name this SPN: Kerberos wants names.
func (d *ADDC) CIFSSPN() string { return "cifs/" + d.Hostname }

// Krb5Config is a gokrb5 configuration for the realm with KDC as its only
// KDC, over TCP.
func (d *ADDC) Krb5Config() *krb5config.Config {
	c := krb5config.New()
	c.LibDefaults.DefaultRealm = d.Realm
	c.LibDefaults.DNSLookupKDC = false
	c.LibDefaults.UDPPreferenceLimit = 1
	c.Realms = []krb5config.Realm{{Realm: d.Realm, KDC: []string{d.KDC}}}
	c.DomainRealm = krb5config.DomainRealm{"." + ADDNSDomain: d.Realm, ADDNSDomain: d.Realm}
	return c
}

// Krb5Client returns a gokrb5 client logged in as user (a TGT obtained
// with password), destroyed when the test ends. With go-smb2 it makes a
// Kerberos SMB log-on:
//
//	&smb2.Dialer{Initiator: &smb2.Krb5Initiator{Client: dc.Krb5Client(t, "alice", pw), TargetSPN: dc.CIFSSPN()}}
func (d *ADDC) Krb5Client(t testing.TB, user, password string) *krb5client.Client {
	t.Helper()
	cl := krb5client.NewWithPassword(user, d.Realm, password, d.Krb5Config(), krb5client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("kerberos log-on as %s: %v", user, err)
	}
	t.Cleanup(cl.Destroy)
	return cl
}

// SMBLogon is one SMB session setup in the DC's audit log.
type SMBLogon struct {
	// Method is how the client authenticated: "krb5" or "NTLMSSP".
	Method string
	// Status is the NT status: "NT_STATUS_OK", "NT_STATUS_WRONG_PASSWORD",
	// "NT_STATUS_ACCOUNT_LOCKED_OUT", ...
	Status string
}

var (
	smbAuthZLine = regexp.MustCompile(`^Successful AuthZ: \[SMB2,([^\]]+)\] user \[[^\]]*\]\\\[([^\]]*)\]`)
	smbAuthLine  = regexp.MustCompile(`^Auth: \[SMB2,([^\]]+)\] user \[[^\]]*\]\\\[([^\]]*)\].* status \[([A-Z0-9_]+)\]`)
)

// SMBLogons returns user's SMB session setups that the DC audited, oldest
// first: successful ones (any method) and refused ones (NTLM: a refused
// Kerberos log-on fails at the KDC, before any SMB session setup). Use it
// to prove which method a client used, or that a stale password was tried
// exactly once.
func (d *ADDC) SMBLogons(t testing.TB, user string) []SMBLogon {
	var out []SMBLogon
	for _, l := range strings.Split(d.Log(t), "\n") {
		if m := smbAuthZLine.FindStringSubmatch(l); m != nil && strings.EqualFold(m[2], user) {
			out = append(out, SMBLogon{Method: m[1], Status: "NT_STATUS_OK"})
		} else if m := smbAuthLine.FindStringSubmatch(l); m != nil && strings.EqualFold(m[2], user) && m[3] != "NT_STATUS_OK" {
			out = append(out, SMBLogon{Method: m[1], Status: m[3]})
		}
	}
	return out
}

// SID returns the objectSid, as S-1-5-21-…, of a user or group made by
// AddUser or AddGroup.
func (d *ADDC) SID(t testing.TB, name string) string {
	t.Helper()
	c := d.admin(t)
	defer c.Close()
	res, err := c.Search(ldap.NewSearchRequest(d.UserDN(name), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 10, false, "(objectClass=*)", []string{"objectSid"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("AD DC: objectSid of %s: %v", name, err)
	}
	b := res.Entries[0].GetRawAttributeValue("objectSid")
	if len(b) < 8 || len(b) != 8+4*int(b[1]) {
		t.Fatalf("AD DC: objectSid of %s: malformed (%d bytes)", name, len(b))
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	sid := fmt.Sprintf("S-%d-%d", b[0], auth)
	for i := 0; i < int(b[1]); i++ {
		sid += fmt.Sprintf("-%d", binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	return sid
}

// FailedPreauths counts the Kerberos pre-authentications of user that the
// KDC refused so far (wrong password, locked out, ...), from lines like
//
//	Auth: [Kerberos KDC,ENC-TS Pre-authentication] user [(null)]\[alice@LAB.TEST] ... status [NT_STATUS_WRONG_PASSWORD]
func (d *ADDC) FailedPreauths(t testing.TB, user string) int {
	return countAuthFailures(d.Log(t), "Auth: [Kerberos KDC,", user+"@")
}
