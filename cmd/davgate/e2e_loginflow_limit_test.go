package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// Polls and starts of the app log-on flow are bounded, in memory and
// across two instances sharing Redis: a pending flow polled faster than
// its interval gets 429 slow_down with Retry-After (a poll that collects
// the token never waits); one address (an IPv6 /64) polling many tokens,
// or starting many flows, is cut off while another is not.
func TestEndToEndLoginFlowPollLimits(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			st := store
			if store == "redis" {
				st = testenv.StartRedis(t).URL
			}
			f := newFixture(t, st)
			appendConfig(t, f.cfgPath, "trusted_proxies: [127.0.0.1]\n")
			a := client{t: t, base: startDavgate(t, f.cfgPath).URL}
			b := a
			if store == "redis" {
				b = client{t: t, base: startDavgate(t, f.cfgPath).URL}
			}
			checkPollInterval(t, a, b)
			checkPollsPerAddress(t, a, b)
			checkStartsPerAddress(t, a, b)
		})
	}
}

// pollAs polls token as if from addr.
func pollAs(c client, token, addr string) (int, http.Header, flowPolled) {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"token": token})
	resp, b := c.do("POST", "/api/v1/login-flows/poll", strings.NewReader(string(body)), nil,
		"Content-Type", "application/json", "X-Forwarded-For", addr)
	var p flowPolled
	if err := json.Unmarshal([]byte(b), &p); err != nil {
		c.t.Fatalf("poll answer %d %q: %v", resp.StatusCode, b, err)
	}
	return resp.StatusCode, resp.Header, p
}

func checkPollInterval(t *testing.T, a, b client) {
	fl := a.startFlow("fast poller")
	const addr = "203.0.113.20"
	if st, _, p := pollAs(a, fl.Poll.Token, addr); st != http.StatusAccepted || p.Status != "pending" {
		t.Fatalf("first poll: %d %+v", st, p)
	}
	st, h, p := pollAs(b, fl.Poll.Token, addr)
	ra, _ := strconv.Atoi(h.Get("Retry-After"))
	if st != http.StatusTooManyRequests || p.Status != "slow_down" || ra < 1 || ra > fl.Poll.Interval || p.Interval != fl.Poll.Interval {
		t.Fatalf("poll at once again: %d %+v, Retry-After %q; want 429 slow_down, Retry-After 1..%d", st, p, h.Get("Retry-After"), fl.Poll.Interval)
	}
	// From another address too: the flow's own count holds.
	if st, _, _ := pollAs(a, fl.Poll.Token, "198.51.100.20"); st != http.StatusTooManyRequests {
		t.Errorf("poll at once from another address: %d, want 429", st)
	}
	time.Sleep(time.Duration(fl.Poll.Interval) * time.Second)
	if st, _, p := pollAs(b, fl.Poll.Token, addr); st != http.StatusAccepted || p.Status != "pending" {
		t.Fatalf("poll after the interval: %d %+v", st, p)
	}
	// Approved right after a pending poll: the token is handed out at
	// once.
	cookie, _ := browserSession(t, a.base)
	a.approveFlow(fl, cookie)
	if st, _, p := pollAs(a, fl.Poll.Token, addr); st != http.StatusOK || p.Status != "approved" || p.Token == "" {
		t.Fatalf("poll after Allow: %d %+v, want 200 with the token", st, p)
	}
}

func checkPollsPerAddress(t *testing.T, a, b client) {
	// Stay within one 10 s window of the per-address count.
	if into := time.Duration(time.Now().UnixNano() % int64(10*time.Second)); into > 6*time.Second {
		time.Sleep(10*time.Second - into)
	}
	for i := range 30 {
		c := []client{a, b}[i%2]
		tok := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%064d", i)))
		// One /64: two addresses of it share the count.
		if st, _, _ := pollAs(c, tok, fmt.Sprintf("2001:db8:7:1::%x", i+1)); st != http.StatusGone {
			t.Fatalf("poll %d of an unknown token: %d, want 410", i+1, st)
		}
	}
	tok := base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	st, h, p := pollAs(a, tok, "2001:db8:7:1:ffff::1")
	ra, _ := strconv.Atoi(h.Get("Retry-After"))
	if st != http.StatusTooManyRequests || p.Status != "slow_down" || ra < 1 || ra > 10 {
		t.Errorf("31st poll from one /64: %d %+v, Retry-After %q; want 429, Retry-After 1..10", st, p, h.Get("Retry-After"))
	}
	if st, _, _ := pollAs(b, tok, "2001:db8:7:2::1"); st != http.StatusGone {
		t.Errorf("poll from another /64: %d, want 410", st)
	}
}

func checkStartsPerAddress(t *testing.T, a, b client) {
	start := func(c client, addr string) (int, http.Header) {
		resp, _ := c.do("POST", "/api/v1/login-flows", strings.NewReader(`{"client_name":"mass"}`), nil,
			"Content-Type", "application/json", "X-Forwarded-For", addr)
		return resp.StatusCode, resp.Header
	}
	for i := range 10 {
		if st, _ := start([]client{a, b}[i%2], fmt.Sprintf("2001:db8:9:1::%x", i+1)); st != http.StatusCreated {
			t.Fatalf("start %d: %d, want 201", i+1, st)
		}
	}
	for i := range 5 {
		st, h := start([]client{a, b}[i%2], fmt.Sprintf("2001:db8:9:1:1::%x", i+1))
		if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Errorf("start %d from the same /64: %d, Retry-After %q; want 429", 11+i, st, h.Get("Retry-After"))
		}
	}
	if st, _ := start(a, "2001:db8:9:2::1"); st != http.StatusCreated {
		t.Errorf("start from another /64: %d, want 201", st)
	}
}
