package davfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
)

// errCaseTwins refuses to replace a resource whose name the server cannot
// tell from a sibling's (they differ only in case): 409.
var errCaseTwins = fmt.Errorf("%w: another resource's name differs only in case", ErrNotEmpty)

// crossShare serves a COPY or MOVE whose Destination is in another share
// of this server (dshare, name dst there), as a file manager that shows
// the share list as folders sends it: the resource is copied through
// davgate (no server-side copy spans shares), and for MOVE the source is
// removed once the copy is complete. As within a share, nothing is lost:
// a file lands in a temporary file renamed over the destination at the
// end; a destination that is replaced is first renamed aside and put back
// if the copy fails; a source that cannot be removed after a MOVE stays,
// with the copy, and the answer is 207 naming what stayed.
func (s *shareRequest) crossShare(w http.ResponseWriter, r *http.Request, dshare, dst string) {
	ctx := r.Context()
	h := s.h
	name, ok := s.name(r.URL.Path)
	if !ok {
		h.fail(w, r, http.StatusNotFound, errors.New("outside the share"))
		return
	}
	move := r.Method == "MOVE"
	depth := r.Header.Get("Depth")
	switch {
	case depth != "" && depth != "infinity" && (move || depth != "0"):
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("%s with depth %q", r.Method, depth))
		return
	case dst == "/" || (move && name == "/"):
		h.fail(w, r, http.StatusForbidden, errors.New("copy or move of or onto a share itself"))
		return
	}
	if why := windowsRefuses(path.Base(dst)); why != "" || hiddenName(dst) || smbInvalid(dst) {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("destination name %q refused", path.Base(dst)))
		return
	}
	d, release, err := h.openShare(ctx, dshare)
	if err != nil {
		st := sourceStatus(err)
		if st == http.StatusNotFound {
			st = http.StatusConflict // section 9.8.5: the destination's parent is missing
		}
		h.fail(w, r, st, fmt.Errorf("open destination share %q: %w", dshare, err))
		return
	}
	defer release()
	dfs := d.fsys
	s.other, d.other = d, s
	if (d.scope == s.scope && (dst == name || isBelow(dst, name))) || within(s.fsys, name, dfs, dst) ||
		within(dfs, dst, s.fsys, name) {
		h.fail(w, r, http.StatusForbidden, errors.New("copy or move onto or into itself, or onto a folder that holds it"))
		return
	}
	// Locks as within a share: a MOVE is checked against the source's
	// locks and other users' locks on the destination (an editor may move
	// over its own locked document), a COPY against the destination's.
	if move {
		if !s.checkLocks(w, r, target{name, true, true}) || !d.noOthersLocks(w, r, dst) {
			return
		}
	} else if !d.checkLocks(w, r, target{dst, true, true}) {
		return
	}
	src, err := s.fsys.Stat(ctx, name)
	if err != nil {
		s.failFS(w, r, err)
		return
	}
	old, err := dfs.Stat(ctx, dst)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		d.failFS(w, r, err)
		return
	case exists && !d.mayReplace(w, r, dfs, dst, old):
		return
	}
	if err := d.copyAcross(ctx, s.fsys, name, src, dst, old, depth != "0"); err != nil {
		d.failCopy(w, r, err)
		return
	}
	if move && !s.removeMoved(w, r, name) {
		return
	}
	writeCreated(w, exists)
}

// copyAcross copies the resource name of sfs (src its FileInfo) to dst in
// d's share, replacing old (nil if none). A collection is copied with
// everything below it when deep.
func (d *shareRequest) copyAcross(ctx context.Context, sfs *FS, name string, src fs.FileInfo, dst string, old fs.FileInfo, deep bool) error {
	dfs := d.fsys
	dfs.forget()
	if !src.IsDir() && (old == nil || !old.IsDir()) {
		aclErr, err := dfs.copyFileFrom(sfs, name, dst, old != nil)
		d.logKeepSecurity(ctx, dst, aclErr)
		return err
	}
	// The tree is made under a temporary name next to dst and renamed
	// into place when whole: until then dst is as it was, and a crash
	// leaves only a temporary folder, which a later listing sweeps. Nothing
	// but what this copy made is ever removed on failure.
	if old != nil && dfs.caseTwins(dst) {
		return &os.PathError{Op: "copy", Path: dst, Err: errCaseTwins}
	}
	tmp := path.Join(path.Dir(dst), tempPrefix+randomHex(8))
	if err := dfs.copyTreeFrom(ctx, sfs, name, src, tmp, deep); err != nil {
		dfs.RemoveAll(ctx, tmp)
		return err
	}
	var aside string
	if old != nil {
		aside = path.Join(path.Dir(dst), tempPrefix+randomHex(8))
		if err := dfs.Rename(ctx, dst, aside); err != nil {
			dfs.RemoveAll(ctx, tmp)
			return err
		}
	}
	if err := dfs.Rename(ctx, tmp, dst); err != nil {
		if aside != "" {
			if rerr := dfs.Rename(ctx, aside, dst); rerr != nil {
				d.h.log.ErrorContext(ctx, "copy: put destination back", "path", dst, "aside", aside, "error", rerr.Error())
			}
		}
		dfs.RemoveAll(ctx, tmp)
		return err
	}
	if aside != "" {
		if err := dfs.RemoveAll(ctx, aside); err != nil {
			d.h.log.WarnContext(ctx, "copy: remove replaced destination", "aside", aside, "error", err.Error())
		}
	}
	return nil
}

// copyTreeFrom copies name of sfs to the new name dst of f: a file, or a
// collection with its properties and, when deep, everything below it. The
// files of a tree are copied several at a time: each costs a few round
// trips, and one at a time a folder of thousands takes minutes.
func (f *FS) copyTreeFrom(ctx context.Context, sfs *FS, name string, src fs.FileInfo, dst string, deep bool) error {
	if !src.IsDir() {
		_, err := f.copyFileFrom(sfs, name, dst, false)
		return err
	}
	c := &treeCopy{ctx: ctx, sfs: sfs, dfs: f, sem: make(chan struct{}, treeCopyWorkers)}
	c.dir(name, dst, deep)
	c.wg.Wait()
	return c.err
}

// treeCopyWorkers bounds the files of one tree copied at once.
const treeCopyWorkers = 8

// treeCopy is one copy of a collection: folders are made in order, files
// copied by up to treeCopyWorkers goroutines; the first error stops it.
type treeCopy struct {
	ctx      context.Context
	sfs, dfs *FS
	sem      chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
}

func (c *treeCopy) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *treeCopy) failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

func (c *treeCopy) dir(name, dst string, deep bool) {
	_, sp, err := c.sfs.resolve("copy", name)
	if err != nil {
		c.fail(err)
		return
	}
	if err := c.dfs.Mkdir(c.ctx, dst, 0o777); err != nil {
		c.fail(err)
		return
	}
	if _, dp, err := c.dfs.resolve("copy", dst); err == nil {
		c.dfs.copyProps(c.sfs, sp, dp)
	}
	if !deep {
		return
	}
	children, err := c.sfs.share.ReadDir(sp)
	if err != nil {
		c.fail(c.sfs.fail("copy", name, err))
		return
	}
	for _, ch := range children {
		if strings.HasPrefix(ch.Name(), tempPrefix) {
			continue
		}
		if c.failed() {
			return
		}
		from, to := path.Join(name, ch.Name()), path.Join(dst, ch.Name())
		if ch.IsDir() {
			c.dir(from, to, true)
			continue
		}
		c.sem <- struct{}{}
		c.wg.Add(1)
		go func() {
			defer func() { <-c.sem; c.wg.Done() }()
			if _, err := c.dfs.copyFileFrom(c.sfs, from, to, false); err != nil {
				c.fail(err)
			}
		}()
	}
}

// removeMoved removes the source of a MOVE done by copying, and its locks.
// A source that cannot be removed entirely stays, next to its copy, and the
// answer is 207 naming what stayed; removeMoved then reports false.
func (s *shareRequest) removeMoved(w http.ResponseWriter, r *http.Request, name string) bool {
	if _, sp, err := s.fsys.resolve("move", name); err == nil {
		s.fsys.forget()
		if failed := s.removeTree(name, sp); len(failed) > 0 {
			s.writeMemberErrors(w, r, failed)
			return false
		}
	}
	s.releaseLocks(r, name)
	return true
}

// moveByCopy ends a MOVE within a share that the server cannot rename (the
// destination on another file system under the share: NOT_SAME_DEVICE) as
// a MOVE to another share ends: a copy, then the source removed.
func (s *shareRequest) moveByCopy(w http.ResponseWriter, r *http.Request, name string, src fs.FileInfo, dst string, old fs.FileInfo) {
	if err := s.copyAcross(r.Context(), s.fsys, name, src, dst, old, true); err != nil {
		s.failCopy(w, r, err)
		return
	}
	if s.removeMoved(w, r, name) {
		writeCreated(w, old != nil)
	}
}
