package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestEndToEndDevices: POST /api/v1/devices mints a device token from a
// live session without the password; it works over WebDAV, outlives the
// session that made it, and once revoked gets 401.
func TestEndToEndDevices(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	parent := c.logon("dgalice", alicePass, http.StatusCreated)

	resp, b := c.do("POST", "/api/v1/devices", strings.NewReader(`{"label":"phone"}`), bearer(parent.Token), "Content-Type", "application/json")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /api/v1/devices = %d %q (Cache-Control %q)", resp.StatusCode, b, resp.Header.Get("Cache-Control"))
	}
	var dev created
	if err := json.Unmarshal([]byte(b), &dev); err != nil || dev.Token == "" || dev.Kind != "device" || dev.Label != "phone" {
		t.Fatalf("device answer %q: %v", b, err)
	}
	for _, bad := range []struct{ body, ctype string }{{`{"label":"phone"}`, "application/x-www-form-urlencoded"}, {`{"label":"a\u0007b"}`, "application/json"}, {`{"label":"` + strings.Repeat("x", 201) + `"}`, "application/json"}} {
		if resp, b := c.do("POST", "/api/v1/devices", strings.NewReader(bad.body), bearer(parent.Token), "Content-Type", bad.ctype); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST /api/v1/devices %s %.40s = %d %s, want 400", bad.ctype, bad.body, resp.StatusCode, b)
		}
	}
	if resp, _ := c.do("POST", "/api/v1/devices", strings.NewReader(`{"label":"x"}`), nil, "Content-Type", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /api/v1/devices without a session = %d, want 401", resp.StatusCode)
	}
	if resp, _ := c.do("DELETE", "/api/v1/sessions/current", nil, bearer(parent.Token)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke parent = %d", resp.StatusCode)
	}
	if resp, b := c.do("PROPFIND", "/dav/data/", nil, bearer(dev.Token), "Depth", "0"); resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND with the device token = %d %s", resp.StatusCode, b)
	}
	if resp, _ := c.do("PUT", "/dav/data/from-device.txt", strings.NewReader("hi"), basic("dgalice", dev.Token)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT with the device token = %d", resp.StatusCode)
	}
	if resp, _ := c.do("DELETE", "/api/v1/sessions/"+dev.ID, nil, bearer(dev.Token)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke device = %d", resp.StatusCode)
	}
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(dev.Token), "Depth", "0"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("PROPFIND with the revoked device token = %d, want 401", resp.StatusCode)
	}
	assertNoSecrets(t, in.Log.String(), alicePass, parent.Token, dev.Token)
}
