package davfs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// One request at a time works on an upload, across every davgate instance
// that shares the lock store: two PATCHes of one upload, say a client's
// retry on instance B while A still writes the tail of the request the
// client gave up on, must not interleave their writes, nor may one truncate
// or rename the temporary file under the other. Within a process a request
// waits on a channel; across instances it takes an exclusive lock in the
// LockSystem (Redis when instances share one) on a name in a scope of its
// own that no mount's WebDAV locks reach, refreshed while the request
// runs and removed when it ends. A lock left by an instance that stopped
// expires after uploadLockTimeout.

// holdWait is how long a request on an upload waits for another one on it
// to end: a PATCH whose client went away still writes what it received,
// and the client's HEAD that follows must see the offset after it.
const holdWait = 15 * time.Second

// uploadLockTimeout is the life of an upload's lock between refreshes.
const uploadLockTimeout = time.Minute

// uploadLockPoll is how often a request waiting for another instance's
// hold tries again.
const uploadLockPoll = 100 * time.Millisecond

// errUploadBusy: another request held the upload for all of holdWait.
var errUploadBusy = errors.New("another request is writing this upload")

// uploadLockRoot is the lock name of the upload whose temporary file is
// temp (a name with 32 random hex digits, unique in the store).
func uploadLockRoot(temp string) string { return "/" + tempPrefix + "uploads/" + temp }

// hold waits for the upload to be free in this process and in the lock
// store, and takes it; errUploadBusy if it stays held for holdWait.
func (u *Uploads) hold(ctx context.Context, user, temp string) (func(), error) {
	deadline := time.Now().Add(holdWait)
	unlocal, err := u.holdLocal(ctx, temp, deadline)
	if err != nil {
		return nil, err
	}
	unstore, err := u.holdStore(ctx, user, temp, deadline)
	if err != nil {
		unlocal()
		return nil, err
	}
	return func() { unstore(); unlocal() }, nil
}

// holdLocal takes the upload among this process's requests.
func (u *Uploads) holdLocal(ctx context.Context, temp string, deadline time.Time) (func(), error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		u.mu.Lock()
		ch, busy := u.busy[temp]
		if !busy {
			ch = make(chan struct{})
			u.busy[temp] = ch
			u.mu.Unlock()
			return func() {
				u.mu.Lock()
				delete(u.busy, temp)
				u.mu.Unlock()
				close(ch)
			}, nil
		}
		u.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return nil, errUploadBusy
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// holdStore takes the upload's lock in the lock store, polling while
// another instance holds it, and keeps it fresh until released.
func (u *Uploads) holdStore(ctx context.Context, user, temp string, deadline time.Time) (func(), error) {
	lk := Lock{Token: newLockToken(), Root: uploadLockRoot(temp), User: user, ZeroDepth: true, Timeout: uploadLockTimeout}
	for {
		lk.Expires = time.Now().Add(uploadLockTimeout)
		err := u.h.locks.Create(ctx, lk, LockLimits{})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLockConflict) {
			return nil, fmt.Errorf("take the upload's lock: %w", err)
		}
		if time.Now().After(deadline) {
			return nil, errUploadBusy
		}
		select {
		case <-time.After(uploadLockPoll):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	bg := context.WithoutCancel(ctx)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(uploadLockTimeout / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := u.h.locks.Refresh(bg, lk.Token, uploadLockTimeout, time.Now().Add(uploadLockTimeout)); err != nil {
					u.h.log.WarnContext(bg, "refresh an upload's lock", "upload", temp, "error", err.Error())
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		if err := u.h.locks.Unlock(bg, lk.Token); err != nil {
			u.h.log.WarnContext(bg, "release an upload's lock; it expires by itself", "upload", temp, "error", err.Error())
		}
	}, nil
}
