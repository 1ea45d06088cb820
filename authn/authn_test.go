package authn

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

func TestTokenFrom(t *testing.T) {
	tests := []struct {
		name               string
		header, cookie     string
		wantToken, wantUsr string
		wantOK             bool
	}{
		{"basic", "Basic ZGdhbGljZTp0b2s=", "", "tok", "dgalice", true}, // dgalice:tok
		{"bearer", "Bearer abc.def", "", "abc.def", "", true},
		{"bearer lower case", "bearer abc", "", "abc", "", true},
		{"cookie", "", "ck", "ck", "", true},
		{"header wins over cookie", "Bearer hdr", "ck", "hdr", "", true},
		{"basic with empty password", "Basic ZGdhbGljZTo=", "", "", "dgalice", false},
		{"nothing", "", "", "", "", false},
		{"unknown scheme", "Negotiate xyz", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if tt.cookie != "" {
				r.Header.Set("Cookie", CookieName+"="+tt.cookie)
			}
			c, ok := tokenFrom(r)
			if c.token != tt.wantToken || c.basicUser != tt.wantUsr || ok != tt.wantOK || c.cookie != (tt.name == "cookie") {
				t.Errorf("tokenFrom = %+v, %v; want %q, %q, %v", c, ok, tt.wantToken, tt.wantUsr, tt.wantOK)
			}
		})
	}
}

func TestSameUser(t *testing.T) {
	tests := []struct {
		given, user string
		want        bool
	}{
		{"alice", "alice", true},
		{"Alice", "alice", true},
		{`EXAMPLE\alice`, "alice", true},
		{"alice@example.com", "alice", true},
		{"bob", "alice", false},
		{"alicex", "alice", false},
		{`EXAMPLE\bob`, "alice", false},
	}
	for _, tt := range tests {
		if got := sameUser(tt.given, tt.user); got != tt.want {
			t.Errorf("sameUser(%q, %q) = %v, want %v", tt.given, tt.user, got, tt.want)
		}
	}
}

// LimiterConformance runs the Limiter's behaviour over a LimitStore; the
// session package runs it over Redis too (see limitstore_test.go there).
func TestLimiterGrowsDelaysPerUserAndAddress(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(&MemoryLimits{Now: func() time.Time { return now }})
	ctx := context.Background()
	wait := func(user, addr string) time.Duration {
		t.Helper()
		d, err := l.Wait(ctx, user, addr)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	fail := func(user, addr string) {
		t.Helper()
		if err := l.Fail(ctx, user, addr); err != nil {
			t.Fatal(err)
		}
	}
	for i := int64(0); i < l.Free; i++ {
		if w := wait("alice", "10.0.0.1"); w != 0 {
			t.Fatalf("attempt %d: wait %v before the free failures are used", i, w)
		}
		fail("alice", "10.0.0.1")
	}
	if w := wait("alice", "10.0.0.1"); w != 0 {
		t.Fatalf("wait after exactly Free failures = %v, want 0", w)
	}
	fail("alice", "10.0.0.1")
	first := wait("alice", "10.0.0.1")
	if first != time.Second {
		t.Fatalf("first delay = %v, want 1s", first)
	}
	// The same user from another address waits too (many-address burst).
	if w := wait("alice", "10.9.9.9"); w != first {
		t.Errorf("other address, same user: wait %v, want %v", w, first)
	}
	// Another user from the same address waits too (one client, many users).
	if w := wait("bob", "10.0.0.1"); w != first {
		t.Errorf("same address, other user: wait %v, want %v", w, first)
	}
	if w := wait("carol", "10.5.5.5"); w != 0 {
		t.Errorf("unrelated user and address: wait %v", w)
	}
	now = now.Add(first)
	fail("alice", "10.0.0.1")
	if w := wait("alice", "10.0.0.1"); w != 2*time.Second {
		t.Errorf("second delay = %v, want 2s (doubling)", w)
	}
	for i := 0; i < 40; i++ {
		fail("alice", "10.0.0.1")
	}
	if w := wait("alice", "10.0.0.1"); w != l.Max {
		t.Errorf("delay after many failures = %v, want the cap %v", w, l.Max)
	}
	if err := l.Succeed(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if w := wait("alice", "10.9.9.9"); w != 0 {
		t.Errorf("after success, alice from elsewhere waits %v", w)
	}
	if w := wait("bob", "10.0.0.1"); w == 0 {
		t.Errorf("after alice's success the address is still slowed for others")
	}
	now = now.Add(2 * time.Hour)
	if w := wait("bob", "10.0.0.1"); w != 0 {
		t.Errorf("delay outlived its time: %v", w)
	}
	fail("bob", "10.0.0.1")
	if w := wait("bob", "10.0.0.1"); w != 0 {
		t.Errorf("one failure after the count was forgotten: wait %v", w)
	}
}
