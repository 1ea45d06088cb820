package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Freeze stops every process of this smbd with SIGSTOP: the server keeps
// its connections open and answers nothing, as a hung file server or a
// silently broken network path does. thaw (also run at cleanup) resumes
// them.
func (s *Smbd) Freeze(t testing.TB) (thaw func()) {
	t.Helper()
	pids := matchingPids(s.conf)
	if len(pids) == 0 {
		t.Fatal("freeze smbd: no process found")
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	thawed := false
	thaw = func() {
		if !thawed {
			thawed = true
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGCONT)
			}
		}
	}
	t.Cleanup(thaw)
	return thaw
}

// matchingPids returns the processes other than this one whose command
// line contains marker.
func matchingPids(marker string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}
