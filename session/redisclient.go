package session

import "github.com/redis/go-redis/v9"

// Client returns the store's Redis client, for other state that several
// instances share through the same Redis (WebDAV locks). The store keeps
// ownership: the caller must not close it.
func (s *RedisStore) Client() redis.UniversalClient { return s.c }
