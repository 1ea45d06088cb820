package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	makeDirs(t, d.Dir, "run", "log", "pid", "ncalrpc", "cache", "private/tls", "shares")
	for _, sh := range o.Shares {
		WritableDir(t, d.ShareDir(sh.Name))
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
	// Templates of other recipes or Samba versions are stale now.
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), "davgate-addc-template-*"))
	for _, o := range old {
		if o != dir && o != dir+".lock" && !strings.HasSuffix(o, ".lock") {
			os.RemoveAll(o)
		}
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
