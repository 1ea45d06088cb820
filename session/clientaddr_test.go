package session

import (
	"context"
	"testing"
	"time"
)

// A session records where it was created from and, on use, where it was
// last used from: at once when the address changes, else with LastUsed.
func TestLastAddr(t *testing.T) {
	e := newTestManager(t)
	at := func(addr string) context.Context { return WithClientAddr(context.Background(), addr) }
	tok, info, err := e.m.Create(at("192.0.2.1"), "alice", []byte("pw"), KindDevice, "phone", nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.LastAddr != "192.0.2.1" {
		t.Errorf("Create's Info.LastAddr = %q, want 192.0.2.1", info.LastAddr)
	}
	listed := func() string {
		t.Helper()
		infos, err := e.m.List(context.Background(), "alice")
		if err != nil || len(infos) != 1 {
			t.Fatalf("List = %v, %v", infos, err)
		}
		return infos[0].LastAddr
	}
	e.clock.Add(time.Second)
	if _, err := e.m.Open(at("2001:db8::5"), tok); err != nil {
		t.Fatal(err)
	}
	if got := listed(); got != "2001:db8::5" {
		t.Errorf("last address after a use from a new address within the touch interval = %q, want 2001:db8::5", got)
	}
	// A use with no known address leaves it.
	e.clock.Add(2 * time.Minute)
	if _, err := e.m.Open(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if got := listed(); got != "2001:db8::5" {
		t.Errorf("last address after a use without one = %q, want it kept", got)
	}
}
