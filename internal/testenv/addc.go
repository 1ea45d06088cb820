package testenv

import (
	"crypto/rand"
	"crypto/sha256"
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
	krb5client "github.com/jcmturner/gokrb5/v8/client"
	krb5config "github.com/jcmturner/gokrb5/v8/config"
)

// The throwaway Active Directory domain every ADDC serves.
const (
	ADRealm     = "LAB.TEST"
	ADDomain    = "LAB"
	ADDNSDomain = "lab.test"
	ADBaseDN    = "DC=lab,DC=test"
	adHost      = "dc1"
	// ADAdminPassword is the password of LAB\Administrator.
	ADAdminPassword = "Admin-Pass-1"
	// addcNet is the private /24 the DCs' network namespaces use. Each DC
	// gets the /30 of its slot: .4k+1 on the root side, .4k+2 for the DC.
	addcNet   = "10.231.77"
	addcSlots = 64
	// addcRecipe names the way the template is provisioned; change it when
	// that changes so that cached templates are not reused.
	addcRecipe = "addc-template-2"
)

// ADDCOptions describes a throwaway Samba AD DC. Every field is optional.
type ADDCOptions struct {
	// Users maps user names (sAMAccountName) to passwords. Each user also
	// gets the userPrincipalName user@lab.test. Password complexity, age
	// and history rules are off in the test domain.
	Users map[string]string
	// Groups maps global security group names to member user names.
	Groups map[string][]string
	// LockoutThreshold, when > 0, locks an account for 30 minutes after
	// that many wrong passwords (off by default in a new domain).
	LockoutThreshold int
	// LDAPStrongAuth is smb.conf's "ldap server require strong auth".
	// "" keeps Samba's default "yes": simple binds over plain LDAP are
	// refused, as on a hardened Windows DC. "no" allows them.
	LDAPStrongAuth string
	// Shares are extra file shares served by the DC, each backed by
	// ShareDir(Name), e.g. {Name: "secure", Extra: "smb encrypt = required"}.
	Shares []Share
	// Global holds extra [global] lines for the DC's smb.conf.
	Global string
}

// ADDC is a running Samba AD domain controller in its own network
// namespace, reachable from the test at IP. Its DNS names resolve nowhere
// outside it: dial IP and name Hostname for TLS and Kerberos.
type ADDC struct {
	IP       string // the DC's address, e.g. 10.231.77.2
	Realm    string // LAB.TEST
	Domain   string // NetBIOS domain, LAB
	Hostname string // FQDN, dc1.lab.test; in the certificate with IP
	BaseDN   string // DC=lab,DC=test
	CAFile   string // PEM CA that issued the DC's certificate
	LDAPURL  string // ldaps://IP:636
	// LDAPPlainURL is ldap://IP:389, for StartTLS (and plain binds when
	// LDAPStrongAuth is "no").
	LDAPPlainURL string
	KDC          string // IP:88
	SMBAddr      string // IP:445
	// Krb5Conf is a krb5.conf for the realm pointing at KDC, for kinit,
	// smbclient -k and gokrb5's config.Load.
	Krb5Conf string
	// AdminDN and AdminPassword log on as LAB\Administrator.
	AdminDN, AdminPassword string
	// Dir holds the DC's configuration, database, logs and shares.
	Dir string

	conf     string
	ns       string
	hostVeth string
	slot     *os.File
	slotNum  int

	mu      sync.Mutex
	proc    *process
	stopped bool
}

// StartADDC provisions a Samba AD DC for realm LAB.TEST (domain LAB) and
// stops it when the test ends. The domain is provisioned once per machine
// into a cached template (about 7 s); each DC starts from a copy of it
// (about 1 s), with its own network namespace, certificate and users.
//
// It needs root, samba, samba-tool, ip and unshare. In CI a missing binary
// or a DC that does not start fails the test.
func StartADDC(t testing.TB, o ADDCOptions) *ADDC {
	t.Helper()
	Need(t, "samba", "samba-tool", "ip", "unshare", "cp")
	if os.Geteuid() != 0 {
		t.Fatalf("the AD DC harness runs as root (network namespaces, mounts)")
	}
	tmpl, err := addcTemplate()
	if err != nil {
		t.Fatalf("provision AD DC template: %v", err)
	}
	slot, lock, err := addcSlot()
	if err != nil {
		t.Fatal(err)
	}
	d := &ADDC{
		IP:            fmt.Sprintf("%s.%d", addcNet, 4*slot+2),
		Realm:         ADRealm,
		Domain:        ADDomain,
		Hostname:      adHost + "." + ADDNSDomain,
		BaseDN:        ADBaseDN,
		AdminDN:       "CN=Administrator,CN=Users," + ADBaseDN,
		AdminPassword: ADAdminPassword,
		Dir:           stateDir(t, "davgate-addc-"),
		ns:            fmt.Sprintf("davgate-dc%d", slot),
		hostVeth:      fmt.Sprintf("dgdc%d", slot),
		slot:          lock,
		slotNum:       slot,
	}
	d.LDAPURL = "ldaps://" + d.IP + ":636"
	d.LDAPPlainURL = "ldap://" + d.IP + ":389"
	d.KDC = d.IP + ":88"
	d.SMBAddr = d.IP + ":445"
	d.conf = filepath.Join(d.Dir, "etc", "smb.conf")
	t.Cleanup(func() { d.Stop(t) })

	if out, err := command("cp", "-a", tmpl+"/.", d.Dir).CombinedOutput(); err != nil {
		t.Fatalf("copy AD DC template: %v\n%s", err, out)
	}
	for _, dir := range []string{"run", "log", "pid", "ncalrpc", "cache", "private/tls", "shares"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, sh := range o.Shares {
		p := d.ShareDir(sh.Name)
		if err := os.MkdirAll(p, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, 0o777)
	}
	certs, err := newPKI(filepath.Join(d.Dir, "private", "tls"), d.Hostname, d.IP)
	if err != nil {
		t.Fatalf("AD DC certificate: %v", err)
	}
	d.CAFile = filepath.Join(d.Dir, "ca.pem")
	if err := copyFile(certs.CAFile, d.CAFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.conf, []byte(d.config(o, certs)), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Krb5Conf = filepath.Join(d.Dir, "krb5.conf")
	if err := os.WriteFile(d.Krb5Conf, []byte(d.krb5Conf()), 0o644); err != nil {
		t.Fatal(err)
	}
	if o.LockoutThreshold > 0 {
		d.sambaTool(t, "domain", "passwordsettings", "set",
			"--account-lockout-threshold="+strconv.Itoa(o.LockoutThreshold),
			"--account-lockout-duration=30", "--reset-account-lockout-after=30")
	}
	if err := d.netns(); err != nil {
		t.Fatalf("AD DC network namespace: %v", err)
	}
	d.start(t)

	users := make([]string, 0, len(o.Users))
	for u := range o.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		d.AddUser(t, u, o.Users[u])
	}
	// Groups first, members after: a group may be a member of another.
	for g := range o.Groups {
		d.AddGroup(t, g)
	}
	for g, members := range o.Groups {
		d.AddMembers(t, g, members...)
	}
	return d
}

func (d *ADDC) config(o ADDCOptions, certs pki) string {
	var b strings.Builder
	p := func(name string) string { return filepath.Join(d.Dir, name) }
	strong := o.LDAPStrongAuth
	if strong == "" {
		strong = "yes"
	}
	fmt.Fprintf(&b, `[global]
	netbios name = %s
	realm = %s
	workgroup = %s
	server role = active directory domain controller
	dns forwarder =
	interfaces = %s/30
	bind interfaces only = yes
	binddns dir = %s
	cache directory = %s
	lock directory = %s
	private dir = %s
	state directory = %s
	pid directory = %s
	ncalrpc dir = %s
	winbindd socket directory = /run/samba/winbindd
	log file = %s
	log level = 1 auth_audit:5
	max log size = 0
	idmap_ldb:use rfc2307 = yes
	tls enabled = yes
	tls keyfile = %s
	tls certfile = %s
	tls cafile = %s
	ldap server require strong auth = %s
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes
`, strings.ToUpper(adHost), ADRealm, ADDomain, d.IP,
		p("bind-dns"), p("cache"), d.Dir, p("private"), p("state"), p("pid"), p("ncalrpc"),
		p("log/samba.log"), certs.KeyFile, certs.CertFile, certs.CAFile, strong)
	if o.Global != "" {
		fmt.Fprintf(&b, "\t%s\n", strings.ReplaceAll(strings.TrimSpace(o.Global), "\n", "\n\t"))
	}
	fmt.Fprintf(&b, "\n[sysvol]\n\tpath = %s\n\tread only = no\n", p("state/sysvol"))
	fmt.Fprintf(&b, "\n[netlogon]\n\tpath = %s\n\tread only = no\n", p("state/sysvol/"+ADDNSDomain+"/scripts"))
	for _, sh := range o.Shares {
		fmt.Fprintf(&b, "\n[%s]\n\tpath = %s\n\tread only = no\n", sh.Name, d.ShareDir(sh.Name))
		if sh.Extra != "" {
			fmt.Fprintf(&b, "\t%s\n", strings.ReplaceAll(strings.TrimSpace(sh.Extra), "\n", "\n\t"))
		}
	}
	return b.String()
}

func (d *ADDC) krb5Conf() string {
	return fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	udp_preference_limit = 1

[realms]
	%[1]s = {
		kdc = %[2]s
		admin_server = %[3]s
	}

[domain_realm]
	.%[4]s = %[1]s
	%[4]s = %[1]s
`, ADRealm, d.KDC, d.IP, ADDNSDomain)
}

// ShareDir is the local directory that backs one of Options.Shares.
func (d *ADDC) ShareDir(name string) string { return filepath.Join(d.Dir, "shares", name) }

// ConfigPath is the smb.conf the DC runs with (for samba-tool -s).
func (d *ADDC) ConfigPath() string { return d.conf }

// netns makes the DC's network namespace and the veth pair to it, after
// removing what a crashed earlier run may have left in this slot.
func (d *ADDC) netns() error {
	d.cleanNetns()
	hostIP := fmt.Sprintf("%s.%d/30", addcNet, 4*d.slotNum+1)
	peer := d.hostVeth + "p"
	steps := [][]string{
		{"netns", "add", d.ns},
		{"link", "add", d.hostVeth, "type", "veth", "peer", "name", peer, "netns", d.ns},
		{"addr", "add", hostIP, "dev", d.hostVeth},
		{"link", "set", d.hostVeth, "up"},
		{"-n", d.ns, "addr", "add", d.IP + "/30", "dev", peer},
		{"-n", d.ns, "link", "set", peer, "up"},
		{"-n", d.ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := command("ip", s...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

func (d *ADDC) cleanNetns() {
	if command("ip", "netns", "exec", d.ns, "true").Run() == nil {
		endNetnsProcesses(d.ns, nil)
		command("ip", "netns", "del", d.ns).Run()
	}
	command("ip", "link", "del", d.hostVeth).Run()
}

// start runs samba in the namespace, in a private mount namespace with a
// tmpfs on /run: the DC's file server finds winbindd only at the fixed
// /run/samba/winbindd, and samba-dcerpcd logs only to /var/log/samba.
func (d *ADDC) start(t testing.TB) {
	t.Helper()
	samba, err := lookPath("samba")
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/samba /run/lock
mount --bind %q /run/samba
mount --bind %q /var/log/samba
exec %q --foreground --no-process-group --configfile=%q`,
		filepath.Join(d.Dir, "run"), filepath.Join(d.Dir, "log"), samba, d.conf)
	if err := os.MkdirAll("/var/log/samba", 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := startProcess("ip", []string{"netns", "exec", d.ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", script},
		filepath.Join(d.Dir, "log", "samba.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.proc = p
	d.mu.Unlock()
	// Ready means: an ldaps bind as Administrator works, and the KDC and
	// file server listen.
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			t.Fatalf("samba exited while starting; log:\n%s", d.fullLog())
		default:
		}
		c, err := d.Admin()
		if err == nil {
			c.Close()
			if err = waitListening(d.KDC, p.cmd, p.exited, 10*time.Second); err == nil {
				err = waitListening(d.SMBAddr, p.cmd, p.exited, 10*time.Second)
			}
			if err == nil {
				return
			}
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("AD DC not ready after 60s: %v; log:\n%s", lastErr, d.fullLog())
}

// Restart ends the DC's processes and starts them again on the same state
// and address, e.g. to make samba reread domain settings it caches (such
// as maxPwdAge). It takes under a second.
func (d *ADDC) Restart(t testing.TB) {
	t.Helper()
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		t.Fatal("AD DC: restart after Stop")
	}
	var exited <-chan struct{}
	if d.proc != nil {
		exited = d.proc.exited
	}
	endNetnsProcesses(d.ns, exited)
	d.proc = nil
	d.mu.Unlock()
	d.start(t)
}

// Stop ends every process in the DC's network namespace (samba-dcerpcd and
// its rpcd_* helpers call setsid and outlive the samba master), TERM then
// KILL, and removes the namespace. The test's cleanup calls it.
func (d *ADDC) Stop(t testing.TB) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	d.stopped = true
	var exited <-chan struct{}
	if d.proc != nil {
		exited = d.proc.exited
	}
	endNetnsProcesses(d.ns, exited)
	command("ip", "netns", "del", d.ns).Run()
	command("ip", "link", "del", d.hostVeth).Run()
	if d.slot != nil {
		d.slot.Close() // releases the slot's lock
	}
}

// endNetnsProcesses sends TERM to every process in network namespace ns,
// waits up to 5 s for them to end, then KILLs what is left. exited, if
// not nil, is closed when the harness's own child has been reaped.
func endNetnsProcesses(ns string, exited <-chan struct{}) {
	pids := netnsPids(ns)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(alive(netnsPids(ns))) > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	for _, pid := range alive(netnsPids(ns)) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if exited != nil {
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	}
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(alive(netnsPids(ns))) > 0 {
		time.Sleep(50 * time.Millisecond)
	}
}

func netnsPids(ns string) []int {
	out, err := command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive drops the processes that are gone or zombies: a killed samba
// master can linger as a zombie until its parent reaps it.
func alive(pids []int) []int {
	var live []int
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(stat)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && s[i+2] == 'Z' {
			continue
		}
		live = append(live, pid)
	}
	return live
}

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

// addcSlot takes the lowest free slot (its /30 and namespace name) with an
// exclusive lock held until the returned file is closed, so that test
// binaries running at once get different namespaces.
func addcSlot() (int, *os.File, error) {
	dir := filepath.Join(os.TempDir(), "davgate-addc-slots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, nil, err
	}
	for i := 0; i < addcSlots; i++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("slot-%d.lock", i)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return 0, nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		return i, f, nil
	}
	return 0, nil, fmt.Errorf("all %d AD DC slots are in use", addcSlots)
}

var addcTmpl struct {
	once sync.Once
	dir  string
	err  error
}

// addcTemplate returns a directory holding a provisioned domain, made once
// per machine and Samba version (cached under the temporary directory,
// guarded by a file lock so that test binaries running at once provision
// it only once).
func addcTemplate() (string, error) {
	addcTmpl.once.Do(func() { addcTmpl.dir, addcTmpl.err = makeADDCTemplate() })
	return addcTmpl.dir, addcTmpl.err
}

func makeADDCTemplate() (string, error) {
	samba, err := lookPath("samba")
	if err != nil {
		return "", err
	}
	version, err := exec.Command(samba, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("samba --version: %w", err)
	}
	sum := sha256.Sum256([]byte(addcRecipe + "\n" + string(version)))
	dir := filepath.Join(os.TempDir(), "davgate-addc-template-"+hex.EncodeToString(sum[:6]))
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return dir, nil
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	// An empty smb.conf: provision would otherwise copy the machine's own
	// /etc/samba/smb.conf into the domain's.
	empty := filepath.Join(tmp, "empty.conf")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return "", err
	}
	tool, err := lookPath("samba-tool")
	if err != nil {
		return "", err
	}
	steps := [][]string{
		{"domain", "provision", "-s", empty, "--realm=" + ADRealm, "--domain=" + ADDomain,
			"--server-role=dc", "--dns-backend=SAMBA_INTERNAL", "--use-rfc2307",
			"--host-name=" + adHost, "--host-ip=" + addcNet + ".2",
			"--adminpass=" + ADAdminPassword, "--targetdir=" + tmp},
		{"domain", "passwordsettings", "set", "-s", filepath.Join(tmp, "etc", "smb.conf"),
			"--complexity=off", "--min-pwd-length=0", "--min-pwd-age=0", "--max-pwd-age=0", "--history-length=0"},
		// The harness binds as Administrator: its password must not expire
		// when a test shortens the domain's maximum password age.
		{"user", "setexpiry", "Administrator", "--noexpiry", "-s", filepath.Join(tmp, "etc", "smb.conf")},
	}
	for _, s := range steps {
		if out, err := exec.Command(tool, s...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("samba-tool %s %s: %v\n%s", s[0], s[1], err, out)
		}
	}
	os.Remove(empty)
	if err := os.WriteFile(filepath.Join(tmp, "ready"), nil, 0o644); err != nil {
		return "", err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// command is exec.Command with name found by lookPath, which also looks in
// the sbin directories.
func command(name string, args ...string) *exec.Cmd {
	if p, err := lookPath(name); err == nil {
		name = p
	}
	return exec.Command(name, args...)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
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
