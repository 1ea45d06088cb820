package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/internal/testenv"
)

// With the Redis store a token outlives the davgate process, and nothing
// in Redis holds the password or the token.
func TestEndToEndRedisStoreSurvivesRestart(t *testing.T) {
	r := testenv.StartRedis(t)
	f := newFixture(t, r.URL)
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	if resp, b := c.do("PUT", "/dav/data/r.txt", strings.NewReader("before restart"), bearer(alice.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d %s", resp.StatusCode, b)
	}
	in.Stop()

	in2 := startDavgate(t, f.cfgPath)
	c2 := client{t: t, base: in2.URL}
	resp, b := c2.do("GET", "/dav/data/r.txt", nil, basic("dgalice", alice.Token))
	if resp.StatusCode != 200 || b != "before restart" {
		t.Fatalf("GET after restart = %d %q", resp.StatusCode, b)
	}

	rc := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rc.Close()
	dump := dumpRedis(t, rc)
	if dump == "" {
		t.Fatal("redis is empty: the session is not stored there")
	}
	for name, secret := range map[string]string{"password": alicePass, "token": alice.Token} {
		if strings.Contains(dump, secret) {
			t.Errorf("redis holds the %s", name)
		}
	}

	if resp, _ := c2.do("DELETE", "/api/v1/sessions/current", nil, bearer(alice.Token)); resp.StatusCode != 204 {
		t.Fatalf("revoke = %d", resp.StatusCode)
	}
	if resp, _ := c2.do("GET", "/dav/data/r.txt", nil, bearer(alice.Token)); resp.StatusCode != 401 {
		t.Errorf("revoked token after restart: %d, want 401", resp.StatusCode)
	}
	in2.Stop()
	assertNoSecrets(t, in.Log.String()+in2.Log.String(), alicePass, alice.Token)
}

// dumpRedis returns every key and value (strings, hashes, sets, lists) as
// text.
func dumpRedis(t *testing.T, rc *redis.Client) string {
	t.Helper()
	ctx := context.Background()
	keys, err := rc.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "\n")
		switch typ, _ := rc.Type(ctx, k).Result(); typ {
		case "string":
			v, _ := rc.Get(ctx, k).Result()
			b.WriteString(v)
		case "hash":
			for f, v := range rc.HGetAll(ctx, k).Val() {
				b.WriteString(f + "=" + v + "\n")
			}
		case "set":
			b.WriteString(strings.Join(rc.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			b.WriteString(strings.Join(rc.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "list":
			b.WriteString(strings.Join(rc.LRange(ctx, k, 0, -1).Val(), "\n"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// When the file server refuses the stored password (changed behind
// davgate's back), the session ends at once: the client gets 401, and smbd
// sees exactly one failed session setup however often the client retries.
func TestEndToEndStalePasswordEndsSession(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(alice.Token), "Depth", "0"); resp.StatusCode != 207 {
		t.Fatalf("PROPFIND = %d", resp.StatusCode)
	}
	f.smbd.SetPassword(t, "dgalice", "Changed-pass-3z")
	// Drop the open SMB connection so the next request must log on again.
	f.smbd.Stop(t)
	f.smbd.Start(t)
	before := f.smbd.FailedLogons(t, "dgalice")
	for i := 0; i < 5; i++ {
		resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(alice.Token), "Depth", "0")
		if i == 0 && resp.StatusCode != 401 && resp.StatusCode != 503 {
			t.Fatalf("request with stale password = %d, want 401", resp.StatusCode)
		}
		if i > 0 && resp.StatusCode != 401 {
			t.Fatalf("request %d after the refusal = %d, want 401", i, resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := f.smbd.FailedLogons(t, "dgalice") - before; got != 1 {
		t.Errorf("smbd saw %d failed session setups for dgalice, want exactly 1", got)
	}
	if !strings.Contains(in.Log.String(), "refused stored credentials") {
		t.Errorf("davgate's log does not say why the session ended")
	}
}

// A changed password costs the account one failed log-on in all, however
// many sessions the user has on however many instances: the first refusal
// is remembered in Redis, and every older session ends without trying its
// password. A log-on with the new password works on both instances.
func TestEndToEndStalePasswordAcrossInstances(t *testing.T) {
	r := testenv.StartRedis(t)
	f := newFixture(t, r.URL)
	var cs []client
	for range 2 {
		cs = append(cs, client{t: t, base: startDavgate(t, f.cfgPath).URL})
	}
	type device struct {
		c   client
		tok string
	}
	var devs []device
	for _, c := range cs {
		for range 2 {
			d := device{c, c.logon("dgalice", alicePass, http.StatusCreated).Token}
			if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(d.tok), "Depth", "0"); resp.StatusCode != 207 {
				t.Fatalf("PROPFIND = %d", resp.StatusCode)
			}
			devs = append(devs, d)
		}
	}
	const newPass = "Changed-pass-4y"
	f.smbd.SetPassword(t, "dgalice", newPass)
	f.smbd.Stop(t) // drop the open SMB connections
	f.smbd.Start(t)
	before := f.smbd.FailedLogons(t, "dgalice")
	all := func() []int {
		status := make([]int, len(devs))
		var wg sync.WaitGroup
		for i, d := range devs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := d.c.do("PROPFIND", "/dav/data/", nil, bearer(d.tok), "Depth", "0")
				status[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		return status
	}
	// A request on a connection that died with the restart fails (503)
	// and drops it; the next one logs on again.
	for i, st := range all() {
		if st != 401 && st != 503 {
			t.Errorf("device %d, first request after the change = %d, want 401 or 503", i, st)
		}
	}
	for i, st := range all() {
		if st != 401 {
			t.Errorf("device %d with the stale password = %d, want 401", i, st)
		}
	}
	for i, d := range devs {
		if resp, _ := d.c.do("PROPFIND", "/dav/data/", nil, bearer(d.tok), "Depth", "0"); resp.StatusCode != 401 {
			t.Errorf("device %d again = %d, want 401 (session ended)", i, resp.StatusCode)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if got := f.smbd.FailedLogons(t, "dgalice") - before; got != 1 {
		t.Errorf("smbd saw %d failed session setups for dgalice over 4 sessions on 2 instances, want exactly 1", got)
	}
	for _, c := range cs {
		tok := c.logon("dgalice", newPass, http.StatusCreated).Token
		if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(tok), "Depth", "0"); resp.StatusCode != 207 {
			t.Errorf("PROPFIND with the new password = %d, want 207", resp.StatusCode)
		}
	}
}

// Redis down: requests that need it get 503 with a clear message, nothing
// crashes, and the same token works again once Redis is back.
func TestEndToEndRedisDownThenBack(t *testing.T) {
	r := testenv.StartRedis(t)
	f := newFixture(t, r.URL)
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)

	r.Stop(t)
	for _, req := range []struct{ method, path string }{{"PROPFIND", "/dav/data/"}, {"GET", "/api/v1/sessions"}} {
		resp, b := c.do(req.method, req.path, nil, bearer(alice.Token), "Depth", "0")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s %s with Redis down = %d, want 503", req.method, req.path, resp.StatusCode)
		}
		if !strings.Contains(b, "unavailable") {
			t.Errorf("%s %s: message %q does not say the service is unavailable", req.method, req.path, b)
		}
	}
	resp, b := c.do("POST", "/api/v1/sessions", strings.NewReader(`{"username":"dgbob","password":"`+bobPass+`"}`), nil, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("log-on with Redis down = %d %s, want 503", resp.StatusCode, b)
	}

	r.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(alice.Token), "Depth", "0")
		if resp.StatusCode == 207 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token still refused 10s after Redis returned: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.logon("dgbob", bobPass, http.StatusCreated)
	assertNoSecrets(t, in.Log.String(), alicePass, bobPass, alice.Token)
}
