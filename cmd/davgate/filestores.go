package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/davgate/davgate/davfs"
	"github.com/davgate/davgate/session"
)

// openFileStores opens the file store (store: file:///path): sessions,
// log-on counts and WebDAV locks in one bbolt file, for one instance.
func openFileStores(spec string) (*stores, error) {
	path, err := session.FileStorePath(spec)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	bs, err := session.OpenBoltStore(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	locks, err := davfs.NewBoltLocks(bs.DB())
	if err != nil {
		bs.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	return &stores{
		sessions: bs, limits: bs, locks: locks,
		ping: func(ctx context.Context) error { return bs.Ping(ctx) }, close: bs.Close,
	}, nil
}

// checkFileStore is check-config's check of a file store. It creates
// nothing (run as root, it would leave a file davgate cannot open): an
// existing file is opened read-only — one held by a running davgate is
// fine — and a missing one needs a directory it can be created in.
func (c *checker) checkFileStore(cfg Config) {
	const what = "store"
	path, err := session.FileStorePath(cfg.Store)
	if err != nil {
		c.report("FAIL", what, "%v", err)
		return
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(path)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			c.report("FAIL", what, "file %s: does not exist, nor does its directory %s (the systemd unit's StateDirectory makes it)", path, dir)
			return
		}
		c.report("ok", what, "file %s: does not exist yet; davgate creates it (mode 0600) at start", path)
		return
	}
	err = session.CheckBoltStore(path)
	switch {
	case errors.Is(err, session.ErrStoreLocked):
		c.report("ok", what, "file %s: in use by a running davgate", path)
	case err != nil:
		c.report("FAIL", what, "file %s: %v", path, err)
	default:
		c.report("ok", what, "file %s: a davgate store, not in use", path)
	}
}
