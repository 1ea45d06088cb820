package session

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions bound how long a Redis command may take. A Redis that
// hangs (alive but not answering) then costs a request about
// (MaxRetries+1) × ReadTimeout before it fails, instead of go-redis'
// defaults of 4 × 5 s. Zero fields take the Default values below.
type RedisOptions struct {
	DialTimeout  time.Duration // connecting, TLS handshake included
	ReadTimeout  time.Duration // waiting for one reply
	WriteTimeout time.Duration // sending one command
	// MaxRetries is how often a command that failed on the network is
	// sent again; -1 means never.
	MaxRetries int
}

// The defaults answer a request within about 2 s when Redis hangs: one
// try and one retry, 1 s each.
const (
	DefaultRedisDialTimeout  = 2 * time.Second
	DefaultRedisReadTimeout  = time.Second
	DefaultRedisWriteTimeout = time.Second
	DefaultRedisMaxRetries   = 1
)

func (o RedisOptions) withDefaults() RedisOptions {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultRedisDialTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultRedisReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultRedisWriteTimeout
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultRedisMaxRetries
	}
	return o
}

// timeoutParams are go-redis URL parameters that RedisOptions sets; a URL
// that names one is refused so that each value has one place.
var timeoutParams = []string{"dial_timeout", "read_timeout", "write_timeout", "max_retries", "pool_timeout"}

// NewRedisClient returns a client for rawURL: redis://[[user]:password@]host:port/db,
// or rediss:// for TLS, with go-redis' query options except the timeouts,
// which o sets. A master_name=NAME parameter selects Sentinel: host:port
// (and any addr=host:port parameters) are then the sentinels.
// addr=host:port parameters without master_name select Cluster. It does
// not connect; the caller closes the client.
func NewRedisClient(rawURL string, o RedisOptions) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url's error quotes the URL, which may hold a password.
		return nil, errors.New("malformed redis URL")
	}
	q := u.Query()
	for _, p := range timeoutParams {
		if q.Has(p) {
			return nil, fmt.Errorf("redis URL: %s is set in the config (redis.%s), not in the URL", p, p)
		}
	}
	o = o.withDefaults()
	// PoolTimeout: a request waiting for a connection while all of them
	// wait on a hung Redis gives up as soon as they do.
	pool := time.Duration(max(o.MaxRetries, 0)+1) * o.ReadTimeout
	switch {
	case q.Has("master_name"):
		f, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, err
		}
		f.DialTimeout, f.ReadTimeout, f.WriteTimeout, f.MaxRetries, f.PoolTimeout = o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, pool
		return redis.NewFailoverClient(f), nil
	case q.Has("addr"):
		c, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, err
		}
		c.DialTimeout, c.ReadTimeout, c.WriteTimeout, c.MaxRetries, c.PoolTimeout = o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, pool
		return redis.NewClusterClient(c), nil
	default:
		s, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		s.DialTimeout, s.ReadTimeout, s.WriteTimeout, s.MaxRetries, s.PoolTimeout = o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, pool
		return redis.NewClient(s), nil
	}
}

// newRedisClient is NewRedisClient with the default timeouts.
func newRedisClient(rawURL string) (redis.UniversalClient, error) {
	return NewRedisClient(rawURL, RedisOptions{})
}
