package davfs

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"
)

// The upload's lock in the lock store holds across handlers (instances):
// a PATCH waits while another instance holds the upload, and a lock left
// by an instance that stopped holds only until it expires.
func TestUploadLockAcrossInstances(t *testing.T) {
	e := newTestEnv(t)
	seal := newTestSealer(t)
	c := tusClient{t: t, srv: uploadServer(t, e, seal), user: "alice"}
	data := make([]byte, 1<<20)
	rand.Read(data)
	loc := c.create("/dav/data/locked.bin", int64(len(data)), "", 201)
	temps := uploadTemps(t, e.dir)
	if len(temps) != 1 {
		t.Fatalf("temporary files = %q", temps)
	}
	// As if another instance held the upload and then stopped: its lock
	// expires in a second, unrefreshed.
	held := Lock{Token: newLockToken(), Root: uploadLockRoot(filepath.Base(temps[0])), User: "alice", ZeroDepth: true,
		Timeout: time.Second, Expires: time.Now().Add(time.Second)}
	if err := e.h.locks.Create(context.Background(), held, LockLimits{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if resp := c.patch(loc, 0, data); resp.StatusCode != 204 {
		t.Fatalf("PATCH = %d, want 204 once the stale lock expired", resp.StatusCode)
	}
	if waited := time.Since(start); waited < 800*time.Millisecond || waited > holdWait {
		t.Errorf("PATCH took %v; want it to wait for the other instance's lock (1s), no longer", waited)
	}
	if locks, _ := e.h.locks.Find(context.Background(), uploadLockRoot(filepath.Base(temps[0])), false); len(locks) != 0 {
		t.Errorf("the upload's lock outlived the request: %+v", locks)
	}
}
