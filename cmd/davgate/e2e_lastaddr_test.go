package main

import (
	"encoding/json"
	"net/http"
	"testing"
)

// The session list says where each session was last used from, so that a
// user can tell a stolen device's session from their own.
func TestEndToEndSessionListShowsLastAddress(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	dev := c.logon("dgalice", alicePass, http.StatusCreated)
	if resp, b := c.do("PROPFIND", "/dav/data/", nil, bearer(dev.Token), "Depth", "0"); resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND = %d %s", resp.StatusCode, b)
	}
	resp, body := c.do("GET", "/api/v1/sessions", nil, bearer(dev.Token))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/sessions = %d %s", resp.StatusCode, body)
	}
	var list []struct {
		ID       string `json:"id"`
		LastFrom string `json:"last_used_from"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 {
		t.Fatalf("session list %s: %v", body, err)
	}
	if list[0].LastFrom != "127.0.0.1" {
		t.Errorf("last_used_from = %q, want 127.0.0.1 in %s", list[0].LastFrom, body)
	}
}
