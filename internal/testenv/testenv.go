// Package testenv starts the real servers davgate's tests talk to, and
// stops them when the test ends: a private smbd, redis-server (alone, with
// a Sentinel, or as a Cluster) and OpenLDAP's slapd on 127.0.0.1, and a
// throwaway Samba AD domain controller (LDAP, Kerberos, SMB) in a network
// namespace of its own. It lives under internal/ because several packages' tests share
// it and nothing outside the module may depend on it.
//
// It never touches the machine's own services: every server gets its own
// state directory and a free port (the DC, its own namespace). The binaries come from the Debian
// packages that deploy/test/install-deps.sh installs.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Need fails the test when a binary is missing and CI is set; elsewhere
// it skips, so a developer without the servers can still run unit tests.
func Need(t testing.TB, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := lookPath(b); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI but not installed (run deploy/test/install-deps.sh): %v", b, err)
			}
			t.Skipf("%s not installed (deploy/test/install-deps.sh installs it)", b)
		}
	}
}

// lookPath finds b on PATH or in the sbin directories, which a non-login
// shell's PATH may lack.
func lookPath(b string) (string, error) {
	if p, err := exec.LookPath(b); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, b)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found", b)
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// stateDir makes a directory that the users smbd switches to can traverse:
// t.TempDir's parents are mode 0700.
func stateDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatalf("make state dir: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("chmod state dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// waitListening waits until addr accepts TCP connections or the process
// exits.
func waitListening(addr string, proc *exec.Cmd, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("%s exited before listening", filepath.Base(proc.Path))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening on %s after %v", filepath.Base(proc.Path), addr, timeout)
}

// process is a started server with a channel closed when it exits.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startProcess starts name with args, its output appended to logPath,
// with the test's environment plus env.
func startProcess(name string, args []string, logPath string, env ...string) (*process, error) {
	path, err := lookPath(name)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	// Pdeathsig: a test binary that is killed (a bench interrupted, a
	// go test timeout) takes its servers with it instead of leaving them
	// running on their ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

// stop ends the process group with TERM, then KILL after a grace period.
func (p *process) stop() {
	if p == nil {
		return
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-p.exited
	}
}

// killMatching ends stray processes whose command line mentions marker,
// such as samba-dcerpcd helpers that smbd starts and that call setsid.
func killMatching(marker string) {
	for _, pid := range matchingPids(marker) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// WritableDir makes dir (and its parents) and opens it to every user,
// whatever the umask: the Unix accounts that smbd switches to must write
// in share directories the test (as root) made.
func WritableDir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
}

// makeDirs makes the named directories under base, mode 0755.
func makeDirs(t testing.TB, base string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(base, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
