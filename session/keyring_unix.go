//go:build unix

package session

import (
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// readOnlyForOurGroup reports whether fi is a file that another user
// (root) handed to this process read-only through one of its groups: the
// group may read, not write; others nothing. That is what Kubernetes makes
// of a Secret mounted for a pod with fsGroup (root:fsGroup, 0440).
func readOnlyForOurGroup(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || fi.Mode().Perm()&0o077 != 0o040 || int(st.Uid) == os.Geteuid() {
		return false
	}
	groups, _ := os.Getgroups()
	return int(st.Gid) == os.Getegid() || slices.Contains(groups, int(st.Gid))
}
