package testenv

import (
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Redis is a private redis-server on 127.0.0.1. Its data lives in an
// append-only file in its own directory, so it survives Stop and Start, as
// a production Redis with persistence would.
type Redis struct {
	// Addr is host:port; URL is the redis:// URL davgate's config takes.
	Addr, URL string
	port      int
	dir       string

	mu   sync.Mutex
	proc *process
}

// StartRedis starts a redis-server and stops it when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	Need(t, "redis-server")
	r := &Redis{port: FreePort(t), dir: stateDir(t, "davgate-redis-")}
	r.Addr = fmt.Sprintf("127.0.0.1:%d", r.port)
	r.URL = "redis://" + r.Addr + "/0"
	t.Cleanup(func() { r.Stop(t) })
	r.Start(t)
	return r
}

// Start starts (or restarts) the server on its port with the data it had.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		return
	}
	p, err := startProcess("redis-server", []string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--dir", r.dir, "--daemonize", "no", "--protected-mode", "yes",
	}, filepath.Join(r.dir, "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := waitListening(r.Addr, p.cmd, p.exited, 10*time.Second); err != nil {
		p.stop()
		t.Fatalf("redis-server: %v", err)
	}
	r.proc = p
}

// Stop ends the server; Start brings it back with its data.
func (r *Redis) Stop(t testing.TB) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.proc.stop()
	r.proc = nil
}
