package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisSentinel is a redis-server master watched by one redis-sentinel, on
// 127.0.0.1.
type RedisSentinel struct {
	Master *Redis
	// Addr is the sentinel's host:port; URL is the redis:// URL that
	// davgate's store takes for Sentinel (master_name=MasterName).
	Addr, URL  string
	MasterName string
}

// StartRedisSentinel starts a master and a sentinel that monitors it, and
// stops both when the test ends.
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	Need(t, "redis-server")
	m := StartRedis(t)
	s := &RedisSentinel{Master: m, MasterName: "davgatemaster"}
	port := FreePort(t)
	dir := stateDir(t, "davgate-sentinel-")
	conf := filepath.Join(dir, "sentinel.conf")
	// The sentinel rewrites its config file, so it lives in its own dir.
	c := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 5000\n",
		port, dir, s.MasterName, m.port, s.MasterName)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := startProcess("redis-server", []string{conf, "--sentinel"}, filepath.Join(dir, "sentinel.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(s.Addr, p.cmd, p.exited, 10*time.Second); err != nil {
		t.Fatalf("redis-sentinel: %v", err)
	}
	s.URL = fmt.Sprintf("redis://%s/0?master_name=%s", s.Addr, s.MasterName)
	// Wait until the sentinel knows the master.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := redisCLI(s.Addr, "SENTINEL", "get-master-addr-by-name", s.MasterName)
		if strings.Contains(out, strconv.Itoa(m.port)) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel does not know the master: %q", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RedisCluster is a three-master Redis Cluster on 127.0.0.1.
type RedisCluster struct {
	// Addrs are the nodes' host:port; URL is the redis:// URL that
	// davgate's store takes for Cluster (addr= for the other nodes).
	Addrs []string
	URL   string
}

// StartRedisCluster starts three cluster nodes, joins them and waits for
// the cluster to be ready; they stop when the test ends.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	Need(t, "redis-server", "redis-cli")
	dir := stateDir(t, "davgate-rcluster-")
	c := &RedisCluster{}
	for i := 0; i < 3; i++ {
		port := FreePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		nd := filepath.Join(dir, strconv.Itoa(port))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			t.Fatal(err)
		}
		p, err := startProcess("redis-server", []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(nd, "nodes.conf"), "--cluster-node-timeout", "5000",
			"--save", "", "--appendonly", "no", "--dir", nd, "--daemonize", "no",
		}, filepath.Join(nd, "redis.log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.stop)
		if err := waitListening(addr, p.cmd, p.exited, 10*time.Second); err != nil {
			t.Fatalf("redis cluster node: %v", err)
		}
		c.Addrs = append(c.Addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := redisCLIArgs(args...); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range c.Addrs {
		for {
			out, _ := redisCLI(a, "CLUSTER", "INFO")
			if strings.Contains(out, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ready on %s: %s", a, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	c.URL = fmt.Sprintf("redis://%s?addr=%s&addr=%s", c.Addrs[0], c.Addrs[1], c.Addrs[2])
	return c
}

// redisCLI runs one command against addr.
func redisCLI(addr string, args ...string) (string, error) {
	host, port, _ := strings.Cut(addr, ":")
	return redisCLIArgs(append([]string{"-h", host, "-p", port}, args...)...)
}

func redisCLIArgs(args ...string) (string, error) {
	path, err := lookPath("redis-cli")
	if err != nil {
		return "", err
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	return string(out), err
}
