package davfs

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
)

// errCaseTwins refuses to replace a resource whose name the server cannot
// tell from a sibling's (they differ only in case): 409.
var errCaseTwins = fmt.Errorf("%w: another resource's name differs only in case", ErrNotEmpty)

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
		return dfs.fail("copy", dst, errCaseTwins)
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
