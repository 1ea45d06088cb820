package testenv

import (
	"syscall"
	"testing"
)

// Freeze stops the redis-server with SIGSTOP: it keeps its connections
// and port open and answers nothing, as a hung Redis does. thaw (also run
// at cleanup) resumes it.
func (r *Redis) Freeze(t testing.TB) (thaw func()) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		t.Fatal("freeze redis: not running")
	}
	pid := r.proc.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("freeze redis: %v", err)
	}
	thawed := false
	thaw = func() {
		if !thawed {
			thawed = true
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)
	return thaw
}
