package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// A connection that logs on with a password has proved itself: it stops
// counting against max_unauthenticated_conns, so a client that logs on
// and keeps its connection does not take one of the slots of those still
// to log on.
func TestEndToEndLogonConnLeavesUnauthenticatedCount(t *testing.T) {
	f := newFixture(t, "memory")
	cfg, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfgPath, append(cfg, "max_unauthenticated_conns: 2\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startDavgate(t, f.cfgPath)

	// The log-on, on a keep-alive connection that stays open.
	hc := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	defer hc.CloseIdleConnections()
	body := `{"username":"dgalice","password":` + jsonString(alicePass) + `,"kind":"device","label":"connlimit"}`
	resp, err := hc.Post(in.URL+"/api/v1/sessions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("log-on = %d", resp.StatusCode)
	}
	time.Sleep(200 * time.Millisecond)

	// Two more connections fit under the limit of 2 only if the log-on's
	// no longer counts.
	addr := strings.TrimPrefix(in.URL, "http://")
	var conns []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns = append(conns, nc)
		time.Sleep(100 * time.Millisecond)
	}
	for i, nc := range conns {
		if closedByServer(nc, 500*time.Millisecond) {
			t.Errorf("connection %d of 2 after a log-on was closed: the log-on's connection still counts as unauthenticated", i+1)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
