package session

import (
	"os"
	"strings"
	"testing"
)

// A keyring that another user (root) gave to one of davgate's groups
// read-only, as Kubernetes mounts a Secret for a pod with fsGroup
// (root:fsGroup, mode 0440), loads; the same mode for a group davgate is
// not in, a group that may write, or others that may read, is refused.
// Runs as root: the test hands the file to another owner.
func TestLoadKeyringReadOnlyForOurGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the keyring file to another owner")
	}
	const other = 65532 // a user and group this process is not
	for _, tc := range []struct {
		name     string
		uid, gid int
		mode     os.FileMode
		ok       bool
	}{
		{"root:our group 0440 from another owner", other, os.Getegid(), 0o440, true},
		{"another owner, our group, 0040", other, os.Getegid(), 0o040, true},
		{"a group we are not in", other, other, 0o440, false},
		{"our own file 0640", os.Geteuid(), os.Getegid(), 0o640, false},
		{"group may write", other, os.Getegid(), 0o460, false},
		{"others may read", other, os.Getegid(), 0o444, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := newKeyringFile(t, 1)
			if err := os.Chown(path, tc.uid, tc.gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyring(path)
			if tc.ok && err != nil {
				t.Errorf("LoadKeyring = %v, want it loaded", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "chmod 600")) {
				t.Errorf("LoadKeyring = %v, want an error saying chmod 600", err)
			}
		})
	}
}
