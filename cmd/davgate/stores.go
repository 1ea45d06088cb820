package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/davfs"
	"github.com/davgate/davgate/session"
)

// stores are where davgate keeps what several instances share: sessions,
// log-on attempt counts, WebDAV locks and the metadata cache's
// generations. With Redis all four use one client.
type stores struct {
	sessions session.Store
	limits   authn.LimitStore
	locks    davfs.LockSystem
	// metaGens is nil with one instance (memory or file store).
	metaGens davfs.MetaGenerations
	// ping checks that the store answers (readiness, check-config).
	ping  func(ctx context.Context) error
	close func() error
}

// openStores opens the store cfg.Store names and checks that it answers.
// A new store kind is one more case here.
func openStores(ctx context.Context, cfg Config) (*stores, error) {
	switch {
	case cfg.Store == "" || cfg.Store == "memory":
		return &stores{
			sessions: session.NewMemoryStore(), limits: &authn.MemoryLimits{}, locks: davfs.NewMemoryLocks(),
			ping: func(context.Context) error { return nil }, close: func() error { return nil },
		}, nil
	case isRedisURL(cfg.Store):
		c, err := newRedisClient(cfg)
		if err != nil {
			return nil, err
		}
		if err := pingRedis(ctx, c); err != nil {
			c.Close()
			return nil, err
		}
		p := session.DefaultRedisPrefix
		return &stores{
			sessions: session.NewRedisStoreClient(c, p), limits: session.NewRedisLimits(c, p), locks: davfs.NewRedisLocks(c, p),
			metaGens: davfs.NewRedisMetaGenerations(c, p),
			ping:     func(ctx context.Context) error { return pingRedis(ctx, c) }, close: c.Close,
		}, nil
	case session.IsFileStore(cfg.Store):
		return openFileStores(cfg.Store) // filestores.go
	default:
		return nil, fmt.Errorf("store: %q is not a known store", storeKind(cfg.Store))
	}
}

func isRedisURL(s string) bool {
	return strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://")
}

// newRedisClient is the one Redis client, with redis.*'s timeouts.
func newRedisClient(cfg Config) (redis.UniversalClient, error) {
	retries := cfg.Redis.MaxRetries
	if retries == 0 {
		retries = -1 // go-redis: 0 is its default of 3
	}
	c, err := session.NewRedisClient(cfg.Store, session.RedisOptions{
		DialTimeout: time.Duration(cfg.Redis.DialTimeout), ReadTimeout: time.Duration(cfg.Redis.ReadTimeout),
		WriteTimeout: time.Duration(cfg.Redis.WriteTimeout), MaxRetries: retries,
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return c, nil
}

func pingRedis(ctx context.Context, c redis.UniversalClient) error {
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("store: redis: %w", err)
	}
	return nil
}
