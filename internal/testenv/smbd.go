package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// SmbdConfig describes a private Samba file server.
type SmbdConfig struct {
	// Users maps user names to passwords. Missing Unix accounts are created
	// (no home, no shell); Samba passwords are set in the server's own passdb.
	Users map[string]string
	// Shares are served read-write. Each is backed by SharePath(Name).
	Shares []Share
	// Global holds extra [global] lines, e.g. "server signing = mandatory".
	Global string
	// Env is added to smbd's environment, e.g. GLIBC_TUNABLES.
	Env []string
}

// Share is one share of a test smbd.
type Share struct {
	Name string
	// VFSObjects replaces the share's "vfs objects" list, streams_xattr
	// when empty; "acl_xattr streams_xattr" stores NT ACLs (in the
	// security.NTACL extended attribute, which needs a file system with
	// xattrs and an smbd running as root).
	VFSObjects string
	// Stock serves the share as a stock smbd does, with no vfs objects at
	// all: no alternate data streams. VFSObjects is ignored.
	Stock bool
	// Extra holds extra lines for the share's section.
	Extra string
}

// Smbd is a running private smbd on 127.0.0.1.
type Smbd struct {
	Port int
	// Dir holds the server's configuration, state, log and share directories.
	Dir  string
	conf string
	env  []string

	mu   sync.Mutex
	proc *process
}

// usersMu serialises Unix account creation between parallel tests.
var usersMu sync.Mutex

// StartSmbd starts smbd with c and stops it when the test ends.
func StartSmbd(t testing.TB, c SmbdConfig) *Smbd {
	t.Helper()
	Need(t, "smbd", "smbpasswd")
	if os.Geteuid() != 0 {
		t.Fatalf("smbd tests run as root (they create Unix accounts and a private smbd)")
	}
	s := &Smbd{Port: FreePort(t), Dir: stateDir(t, "davgate-smbd-"), env: c.Env}
	s.conf = filepath.Join(s.Dir, "smb.conf")
	makeDirs(t, s.Dir, "private", "lock", "state", "cache", "pid", "ncalrpc", "log", "shares")
	for _, sh := range c.Shares {
		WritableDir(t, s.SharePath(sh.Name))
	}
	if err := os.WriteFile(s.conf, []byte(s.config(c)), 0o644); err != nil {
		t.Fatal(err)
	}
	for user, pass := range c.Users {
		ensureUnixUser(t, user)
		s.smbpasswd(t, []string{"-a", "-s", user}, pass)
	}
	t.Cleanup(func() { s.Stop(t) })
	s.Start(t)
	return s
}

func (s *Smbd) config(c SmbdConfig) string {
	var b strings.Builder
	d := func(name string) string { return filepath.Join(s.Dir, name) }
	fmt.Fprintf(&b, `[global]
	workgroup = WORKGROUP
	server role = standalone server
	smb ports = %d
	interfaces = 127.0.0.1/8
	bind interfaces only = yes
	disable netbios = yes
	server min protocol = SMB2_02
	private dir = %s
	lock directory = %s
	state directory = %s
	cache directory = %s
	pid directory = %s
	ncalrpc dir = %s
	passdb backend = tdbsam:%s
	log file = %s
	log level = 1 auth_audit:3
	max log size = 0
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes
	map to guest = never
	usershare max shares = 0
	smb2 leases = yes
`, s.Port, d("private"), d("lock"), d("state"), d("cache"), d("pid"), d("ncalrpc"),
		filepath.Join(d("private"), "passdb.tdb"), filepath.Join(d("log"), "smbd.log"))
	if c.Global != "" {
		fmt.Fprintf(&b, "\t%s\n", strings.ReplaceAll(strings.TrimSpace(c.Global), "\n", "\n\t"))
	}
	for _, sh := range c.Shares {
		vfs := sh.VFSObjects
		if vfs == "" {
			vfs = "streams_xattr"
		}
		if sh.Stock {
			vfs = ""
		}
		fmt.Fprintf(&b, "\n[%s]\n\tpath = %s\n\tread only = no\n\tbrowseable = yes\n\tcreate mask = 0666\n\tdirectory mask = 0777\n\tvfs objects = %s\n",
			sh.Name, s.SharePath(sh.Name), vfs)
		if sh.Extra != "" {
			fmt.Fprintf(&b, "\t%s\n", strings.ReplaceAll(strings.TrimSpace(sh.Extra), "\n", "\n\t"))
		}
	}
	return b.String()
}

// Addr is the server's host:port.
func (s *Smbd) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// URL is the smb:// URL of a share.
func (s *Smbd) URL(share string) string { return fmt.Sprintf("smb://%s/%s", s.Addr(), share) }

// SharePath is the local directory that backs a share.
func (s *Smbd) SharePath(name string) string { return filepath.Join(s.Dir, "shares", name) }

// ConfigPath is the smb.conf the server runs with.
func (s *Smbd) ConfigPath() string { return s.conf }

// SetPassword changes a user's Samba password behind davgate's back.
func (s *Smbd) SetPassword(t testing.TB, user, pass string) {
	t.Helper()
	s.smbpasswd(t, []string{"-s", user}, pass)
}

func (s *Smbd) smbpasswd(t testing.TB, args []string, pass string) {
	t.Helper()
	path, err := lookPath("smbpasswd")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, append([]string{"-c", s.conf}, args...)...)
	cmd.Stdin = strings.NewReader(pass + "\n" + pass + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("smbpasswd %s: %v\n%s", args[len(args)-1], err, out)
	}
}

// Start starts (or restarts) the server on its port and waits until it
// accepts connections.
func (s *Smbd) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return
	}
	p, err := startProcess("smbd", []string{"--foreground", "--no-process-group", "--configfile=" + s.conf},
		filepath.Join(s.Dir, "log", "smbd.stdout"), s.env...)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitListening(s.Addr(), p.cmd, p.exited, 20*time.Second); err != nil {
		p.stop()
		t.Fatalf("smbd: %v; log:\n%s", err, s.Log(t))
	}
	s.proc = p
}

// Stop ends smbd and the helpers it started.
func (s *Smbd) Stop(t testing.TB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc.stop()
	s.proc = nil
	killMatching(s.conf)
}

// Log returns what smbd has logged so far.
func (s *Smbd) Log(t testing.TB) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "log", "smbd.log"))
	return string(b)
}

func ensureUnixUser(t testing.TB, user string) {
	t.Helper()
	usersMu.Lock()
	defer usersMu.Unlock()
	if exec.Command("id", "-u", user).Run() == nil {
		return
	}
	path, err := lookPath("useradd")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(path, "-M", "-s", "/usr/sbin/nologin", user).CombinedOutput(); err != nil {
		if exec.Command("id", "-u", user).Run() == nil {
			return // another test process made it meanwhile
		}
		t.Fatalf("useradd %s: %v\n%s", user, err, out)
	}
}

// FailedLogons counts the session setups of user that smbd refused so far,
// from its auth_audit log lines.
func (s *Smbd) FailedLogons(t testing.TB, user string) int {
	return countAuthFailures(s.Log(t), `Auth: [SMB2,`, user+"]")
}

// countAuthFailures counts audit lines "Auth: [KIND,...] user [DOMAIN]\[NAME..."
// with a status other than NT_STATUS_OK, for lines holding prefix whose
// user part starts with name (matched case-insensitively).
func countAuthFailures(log, prefix, name string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		i := strings.Index(l, prefix)
		if i < 0 {
			continue
		}
		l = l[i:]
		_, user, ok := strings.Cut(l, `]\[`)
		if !ok || !strings.HasPrefix(strings.ToLower(user), strings.ToLower(name)) {
			continue
		}
		_, status, ok := strings.Cut(l, "status [")
		if ok && !strings.HasPrefix(status, "NT_STATUS_OK]") {
			n++
		}
	}
	return n
}
