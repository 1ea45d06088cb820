package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/internal/testenv"
	"github.com/davgate/davgate/session"
)

// flowTTL is the sessions.login_flow_ttl of the expiry tests: long enough
// to log on and approve, short enough to wait out.
const flowTTL = 3 * time.Second

// startShortFlow starts a flow under sessions.login_flow_ttl = flowTTL.
func (c client) startShortFlow(name string) flowStarted {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"client_name": name})
	resp, b := c.do("POST", "/api/v1/login-flows", strings.NewReader(string(body)), nil, "Content-Type", "application/json")
	var f flowStarted
	if err := json.Unmarshal([]byte(b), &f); resp.StatusCode != http.StatusCreated || err != nil || f.ExpiresIn != int(flowTTL/time.Second) {
		c.t.Fatalf("start flow = %d %s (%v); want 201, expires_in %d", resp.StatusCode, b, err, int(flowTTL/time.Second))
	}
	return f
}

// devicesOf lists the labels of the browser's user's device sessions.
func devicesOf(c client, cookie *http.Cookie) []string {
	c.t.Helper()
	resp, b := c.do("GET", "/api/v1/sessions", nil, func(r *http.Request) { r.AddCookie(cookie) })
	var list []struct{ ID, Kind, Label string }
	if err := json.Unmarshal([]byte(b), &list); resp.StatusCode != 200 || err != nil {
		c.t.Fatalf("list sessions = %d %s", resp.StatusCode, b)
	}
	var out []string
	for _, s := range list {
		if s.Kind == "device" {
			out = append(out, s.Label)
		}
	}
	return out
}

// mintedDevices counts the audit trail's token.minted lines for devices
// of the instances (the audit trail goes to the log, each line marked as
// audit).
func mintedDevices(ins ...*instance) int {
	n := 0
	seen := map[*instance]bool{}
	for _, in := range ins {
		if seen[in] {
			continue
		}
		seen[in] = true
		for _, line := range strings.Split(in.Log.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["event"] == "token.minted" && m["kind"] == "device" {
				n++
			}
		}
	}
	return n
}

// A flow the user approved but the app never collected leaves nothing
// behind: before and after it expires, no device is listed, no token
// minted, and the store holds no device session; a flow collected mints
// its device at the poll, where the audit trail records it. With every
// store; with Redis, the flow is started and collected on one instance
// and approved on another.
func TestEndToEndLoginFlowUncollected(t *testing.T) {
	for _, kind := range []string{"memory", "file", "redis"} {
		t.Run(kind, func(t *testing.T) {
			store, storeHas := flowExpiryStore(t, kind)
			f := newFixture(t, store)
			addConfig(t, f, "sessions: {login_flow_ttl: 3s}\nmetrics_listen: 127.0.0.1:0\n")
			a := startDavgate(t, f.cfgPath)
			b := a
			if kind == "redis" {
				b = startDavgate(t, f.cfgPath)
			}
			ca, cb := client{t: t, base: a.URL}, client{t: t, base: b.URL}
			cookie, _ := browserSession(t, cb.base)

			fl := ca.startShortFlow("never collected")
			cb.approveFlow(fl, cookie)
			if got := devicesOf(cb, cookie); len(got) != 0 || mintedDevices(a, b) != 0 {
				t.Errorf("after Allow, before any poll: devices %q, %d minted; want none", got, mintedDevices(a, b))
			}
			time.Sleep(time.Until(fl.ExpiresAt) + 300*time.Millisecond)
			ca.wantPoll("after expiry", fl.Poll.Token, http.StatusGone, "expired")
			if got := devicesOf(cb, cookie); len(got) != 0 {
				t.Errorf("after expiry: devices %q; want none", got)
			}
			wantDeviceGauge(t, a, 0)

			// Collected in time: minted at the poll, listed, working.
			ok := ca.startShortFlow("collected")
			cb.approveFlow(ok, cookie)
			if n := mintedDevices(a, b); n != 0 {
				t.Errorf("%d device minted at Allow; want 0 before the poll", n)
			}
			got := ca.wantPoll("after Allow", ok.Poll.Token, http.StatusOK, "approved")
			if n := mintedDevices(a); n != 1 {
				t.Errorf("%d devices minted by the collecting instance; want 1", n)
			}
			checkDeviceListed(t, cb, cookie, got.ID, "collected")
			wantDeviceGauge(t, a, 1)
			if resp, body := cb.do("PROPFIND", "/dav/data/", nil, basic("dgalice", got.Token), "Depth", "0"); resp.StatusCode != http.StatusMultiStatus {
				t.Errorf("the collected token = %d %s", resp.StatusCode, body)
			}
			a.Stop()
			b.Stop()
			if storeHas == nil {
				return // the memory store ends with the process: the gauge was its count
			}
			if labels := storeHas(); strings.Join(labels, ",") != "collected" {
				t.Errorf("device sessions in the store: %q; want only the collected one", labels)
			}
		})
	}
}

// flowExpiryStore returns the store spec for kind and a func that lists
// the labels of dgalice's device sessions the store holds, read from the
// store itself (call it once davgate has stopped); nil for memory.
func flowExpiryStore(t *testing.T, kind string) (string, func() []string) {
	t.Helper()
	switch kind {
	case "file":
		path := filepath.Join(t.TempDir(), "davgate.db")
		return "file://" + path, func() []string {
			s, err := session.OpenBoltStore(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			recs, err := s.List(context.Background(), "dgalice")
			if err != nil {
				t.Fatal(err)
			}
			return deviceLabels(recs)
		}
	case "redis":
		r := testenv.StartRedis(t)
		rc := redis.NewClient(&redis.Options{Addr: r.Addr})
		t.Cleanup(func() { rc.Close() })
		return r.URL, func() []string {
			ctx := context.Background()
			var labels []string
			for _, k := range rc.Keys(ctx, "davgate:s:*").Val() {
				var rec session.Record
				if json.Unmarshal([]byte(rc.Get(ctx, k).Val()), &rec) == nil && rec.Kind == session.KindDevice {
					labels = append(labels, rec.Label)
				}
			}
			return labels
		}
	}
	return "memory", nil
}

// wantDeviceGauge checks the instance's davgate_sessions{kind="device"}.
func wantDeviceGauge(t *testing.T, in *instance, want float64) {
	t.Helper()
	m := metricsListening.FindStringSubmatch(in.Out.String())
	if m == nil {
		t.Fatalf("no metrics listener; stdout:\n%s", in.Out)
	}
	got, _ := scrape(t, m[1])
	if n, ok := got[series("davgate_sessions", "kind", "device")]; !ok || n != want {
		t.Errorf("davgate_sessions{kind=device} = %v (present %v), want %v", n, ok, want)
	}
}

func deviceLabels(recs []*session.Record) []string {
	var out []string
	for _, r := range recs {
		if r.Kind == session.KindDevice {
			out = append(out, r.Label)
		}
	}
	return out
}

// "Log out everywhere" after Allow ends the flow's device too, as it
// would have ended a device minted at Allow: the app's poll gets 410 and
// no device is minted or listed.
func TestEndToEndLoginFlowAfterLogoutEverywhere(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	cookie, csrf := browserSession(t, in.URL)
	fl := c.startFlow("approved, then logged out")
	c.approveFlow(fl, cookie)
	if resp, b := c.do("DELETE", "/api/v1/sessions", nil, func(r *http.Request) { r.AddCookie(cookie) },
		authn.CSRFHeader, csrf, "Origin", in.URL); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("log out everywhere = %d %s", resp.StatusCode, b)
	}
	c.wantPoll("after log out everywhere", fl.Poll.Token, http.StatusGone, "expired")
	fresh, _ := browserSession(t, in.URL)
	if got := devicesOf(c, fresh); len(got) != 0 || mintedDevices(in) != 0 {
		t.Errorf("devices %q, %d minted; want none", got, mintedDevices(in))
	}
}
