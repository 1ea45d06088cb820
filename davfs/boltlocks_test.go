package davfs

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// newTestBoltLocks returns a BoltLocks in a new file.
func newTestBoltLocks(t *testing.T) *BoltLocks {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "locks.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := NewBoltLocks(db)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
