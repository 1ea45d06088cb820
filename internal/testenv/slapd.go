package testenv

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// SlapdBaseDN is the suffix of every test slapd's directory.
const SlapdBaseDN = "dc=example,dc=org"

// Slapd is a private OpenLDAP server on 127.0.0.1 holding an RFC 2307
// directory: users (posixAccount, inetOrgPerson) under ou=people and
// groups (posixGroup, memberUid) under ou=groups. Plain LDAP with
// StartTLS on one port, ldaps on another, both with a certificate for
// 127.0.0.1 and localhost issued by CAFile.
type Slapd struct {
	URL      string // ldap://127.0.0.1:PORT (StartTLS available)
	LDAPSURL string // ldaps://127.0.0.1:PORT
	CAFile   string
	BaseDN   string // dc=example,dc=org
	PeopleDN string // ou=people,dc=example,dc=org
	GroupsDN string // ou=groups,dc=example,dc=org
	// AdminDN and AdminPassword are the directory's root DN (can do
	// anything), usable as a search service account.
	AdminDN, AdminPassword string
	// Dir holds the configuration, database, certificates and log.
	Dir string

	conf string
	mu   sync.Mutex
	proc *process
	uid  int
}

// SlapdUser is a posixAccount entry.
type SlapdUser struct {
	UID      string // required
	Password string // stored salted-SHA1 hashed; "" for no password
	// Home is homeDirectory; default /home/UID.
	Home string
	// Extra attributes of the entry (e.g. "mail").
	Extra map[string][]string
}

// StartSlapd starts slapd with an empty people and groups tree and stops it
// when the test ends.
func StartSlapd(t testing.TB) *Slapd {
	t.Helper()
	Need(t, "slapd", "slapadd")
	s := &Slapd{
		BaseDN:        SlapdBaseDN,
		PeopleDN:      "ou=people," + SlapdBaseDN,
		GroupsDN:      "ou=groups," + SlapdBaseDN,
		AdminDN:       "cn=admin," + SlapdBaseDN,
		AdminPassword: "admin-secret",
		Dir:           stateDir(t, "davgate-slapd-"),
		uid:           10000,
	}
	s.conf = filepath.Join(s.Dir, "slapd.conf")
	port, sport := FreePort(t), FreePort(t)
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", sport)
	if err := os.MkdirAll(filepath.Join(s.Dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	certs, err := newPKI(s.Dir, "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s.CAFile = certs.CAFile
	if err := os.WriteFile(s.conf, []byte(s.config(certs)), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf(`dn: %[1]s
objectClass: dcObject
objectClass: organization
dc: example
o: davgate tests

dn: %[2]s
objectClass: organizationalUnit
ou: people

dn: %[3]s
objectClass: organizationalUnit
ou: groups
`, s.BaseDN, s.PeopleDN, s.GroupsDN)
	add := command("slapadd", "-f", s.conf, "-b", s.BaseDN)
	add.Stdin = strings.NewReader(base)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	t.Cleanup(func() { s.Stop(t) })
	p, err := startProcess("slapd", []string{"-d", "stats", "-f", s.conf, "-h", s.URL + "/ " + s.LDAPSURL + "/"},
		filepath.Join(s.Dir, "slapd.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.proc = p
	if err := waitListening(strings.TrimPrefix(s.URL, "ldap://"), p.cmd, p.exited, 20*time.Second); err != nil {
		t.Fatalf("slapd: %v; log:\n%s", err, s.Log(t))
	}
	if err := waitListening(strings.TrimPrefix(s.LDAPSURL, "ldaps://"), p.cmd, p.exited, 20*time.Second); err != nil {
		t.Fatalf("slapd: %v; log:\n%s", err, s.Log(t))
	}
	return s
}

func (s *Slapd) config(certs pki) string {
	var b strings.Builder
	for _, schema := range []string{"core", "cosine", "nis", "inetorgperson"} {
		fmt.Fprintf(&b, "include /etc/ldap/schema/%s.schema\n", schema)
	}
	fmt.Fprintf(&b, `pidfile %s
argsfile %s
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile %s
TLSCertificateFile %s
TLSCertificateKeyFile %s

database mdb
suffix "%s"
rootdn "%s"
rootpw %s
directory %s
maxsize 16777216

access to attrs=userPassword
	by self write
	by anonymous auth
	by * none
access to *
	by * read
`, filepath.Join(s.Dir, "slapd.pid"), filepath.Join(s.Dir, "slapd.args"),
		certs.CAFile, certs.CertFile, certs.KeyFile,
		s.BaseDN, s.AdminDN, s.AdminPassword, filepath.Join(s.Dir, "db"))
	return b.String()
}

// Stop ends slapd.
func (s *Slapd) Stop(t testing.TB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc.stop()
	s.proc = nil
}

// Log returns slapd's stats log (connections, binds, searches).
func (s *Slapd) Log(t testing.TB) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "slapd.log"))
	return string(b)
}

// TLSConfig trusts the server's CA.
func (s *Slapd) TLSConfig() (*tls.Config, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + s.CAFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, nil
}

func (s *Slapd) admin(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("slapd: %v", err)
	}
	c.SetTimeout(10 * time.Second)
	if err := c.Bind(s.AdminDN, s.AdminPassword); err != nil {
		c.Close()
		t.Fatalf("slapd: bind as admin: %v", err)
	}
	return c
}

// UserDN is the DN of a user added by AddUser.
func (s *Slapd) UserDN(uid string) string { return "uid=" + ldap.EscapeDN(uid) + "," + s.PeopleDN }

// GroupDN is the DN of a group added by AddGroup.
func (s *Slapd) GroupDN(cn string) string { return "cn=" + ldap.EscapeDN(cn) + "," + s.GroupsDN }

// AddUser adds a posixAccount with the next free uidNumber.
func (s *Slapd) AddUser(t testing.TB, u SlapdUser) {
	t.Helper()
	s.mu.Lock()
	s.uid++
	uid := s.uid
	s.mu.Unlock()
	home := u.Home
	if home == "" {
		home = "/home/" + u.UID
	}
	r := ldap.NewAddRequest(s.UserDN(u.UID), nil)
	r.Attribute("objectClass", []string{"inetOrgPerson", "posixAccount"})
	r.Attribute("uid", []string{u.UID})
	r.Attribute("cn", []string{u.UID})
	r.Attribute("sn", []string{u.UID})
	r.Attribute("uidNumber", []string{strconv.Itoa(uid)})
	r.Attribute("gidNumber", []string{"10000"})
	r.Attribute("homeDirectory", []string{home})
	if u.Password != "" {
		r.Attribute("userPassword", []string{ssha(u.Password)})
	}
	for k, v := range u.Extra {
		r.Attribute(k, v)
	}
	c := s.admin(t)
	defer c.Close()
	if err := c.Add(r); err != nil {
		t.Fatalf("slapd: add user %s: %v", u.UID, err)
	}
}

// AddGroup adds a posixGroup whose memberUid values are uids.
func (s *Slapd) AddGroup(t testing.TB, cn string, uids ...string) {
	t.Helper()
	s.mu.Lock()
	s.uid++
	gid := s.uid
	s.mu.Unlock()
	r := ldap.NewAddRequest(s.GroupDN(cn), nil)
	r.Attribute("objectClass", []string{"posixGroup"})
	r.Attribute("cn", []string{cn})
	r.Attribute("gidNumber", []string{strconv.Itoa(gid)})
	if len(uids) > 0 {
		r.Attribute("memberUid", uids)
	}
	c := s.admin(t)
	defer c.Close()
	if err := c.Add(r); err != nil {
		t.Fatalf("slapd: add group %s: %v", cn, err)
	}
}

// ssha is the {SSHA} userPassword scheme slapd checks binds against.
func ssha(pw string) string {
	salt := make([]byte, 8)
	rand.Read(salt)
	h := sha1.Sum(append([]byte(pw), salt...))
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h[:], salt...))
}
