package main

import (
	"context"
	"fmt"

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
