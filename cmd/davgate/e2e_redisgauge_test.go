package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/internal/testenv"
)

// With Redis, davgate_sessions counts the sessions all instances share:
// what one instance created the other's metrics show, a revocation
// through either lowers it, and a session Redis expired by its TTL leaves
// the count with nothing deleting it.
func TestEndToEndRedisSessionsGauge(t *testing.T) {
	r := testenv.StartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rc.Close() })
	f := newFixture(t, r.URL)
	addConfig(t, f, "metrics_listen: 127.0.0.1:0\nsessions: {browser_idle: 4s}\n")
	a, b := startDavgate(t, f.cfgPath), startDavgate(t, f.cfgPath)
	ca, cb := client{t: t, base: a.URL}, client{t: t, base: b.URL}
	gauge := func(in *instance, kind string) float64 {
		t.Helper()
		m := metricsListening.FindStringSubmatch(in.Out.String())
		if m == nil {
			t.Fatalf("no metrics listener; stdout:\n%s", in.Out)
		}
		got, text := scrape(t, m[1])
		v, ok := got[series("davgate_sessions", "kind", kind)]
		if !ok {
			t.Fatalf("no davgate_sessions{kind=%q} with Redis:\n%s", kind, text)
		}
		return v
	}
	want := func(what string, in *instance, browser, device float64) {
		t.Helper()
		if gb, gd := gauge(in, "browser"), gauge(in, "device"); gb != browser || gd != device {
			t.Errorf("%s: davgate_sessions browser %v device %v; want %v and %v", what, gb, gd, browser, device)
		}
	}
	want("none yet", a, 0, 0)
	alice := ca.logon("dgalice", alicePass, http.StatusCreated)
	cb.logon("dgbob", bobPass, http.StatusCreated)
	browserAt := time.Now()
	browserSession(t, cb.base)
	want("created on A and B, seen on A", a, 1, 2)
	want("seen on B", b, 1, 2)
	if resp, body := cb.do("DELETE", "/api/v1/sessions/current", nil, bearer(alice.Token)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke = %d %s", resp.StatusCode, body)
	}
	want("alice's revoked on B, seen on A", a, 1, 1)

	// Redis ends the browser session at its idle deadline by the key's
	// TTL: nothing deletes it, and the count follows.
	time.Sleep(time.Until(browserAt.Add(4*time.Second)) + 500*time.Millisecond)
	if n := len(rc.Keys(context.Background(), "davgate:s:*").Val()); n != 1 {
		t.Errorf("%d session records in Redis after the browser's idle limit, want 1", n)
	}
	want("the browser session expired in Redis", b, 0, 1)
}
