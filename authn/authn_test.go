package authn

import (
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
			tok, usr, ok := tokenFrom(r)
			if tok != tt.wantToken || usr != tt.wantUsr || ok != tt.wantOK {
				t.Errorf("tokenFrom = %q, %q, %v; want %q, %q, %v", tok, usr, ok, tt.wantToken, tt.wantUsr, tt.wantOK)
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

func TestLimiterGrowsDelaysPerUserAndAddress(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter()
	l.Now = func() time.Time { return now }

	for i := 0; i < l.Free; i++ {
		if w := l.Wait("alice", "10.0.0.1"); w != 0 {
			t.Fatalf("attempt %d: wait %v before the free failures are used", i, w)
		}
		l.Fail("alice", "10.0.0.1")
	}
	if w := l.Wait("alice", "10.0.0.1"); w != 0 {
		t.Fatalf("wait after exactly Free failures = %v, want 0", w)
	}
	l.Fail("alice", "10.0.0.1")
	first := l.Wait("alice", "10.0.0.1")
	if first != time.Second {
		t.Fatalf("first delay = %v, want 1s", first)
	}
	// The same user from another address waits too (many-address burst).
	if w := l.Wait("alice", "10.9.9.9"); w != first {
		t.Errorf("other address, same user: wait %v, want %v", w, first)
	}
	// Another user from the same address waits too (one client, many users).
	if w := l.Wait("bob", "10.0.0.1"); w != first {
		t.Errorf("same address, other user: wait %v, want %v", w, first)
	}
	if w := l.Wait("carol", "10.5.5.5"); w != 0 {
		t.Errorf("unrelated user and address: wait %v", w)
	}
	now = now.Add(first)
	l.Fail("alice", "10.0.0.1")
	if w := l.Wait("alice", "10.0.0.1"); w != 2*time.Second {
		t.Errorf("second delay = %v, want 2s (doubling)", w)
	}
	for i := 0; i < 40; i++ {
		l.Fail("alice", "10.0.0.1")
	}
	if w := l.Wait("alice", "10.0.0.1"); w != l.Max {
		t.Errorf("delay after many failures = %v, want the cap %v", w, l.Max)
	}
	l.Succeed("alice", "10.0.0.1")
	if w := l.Wait("alice", "10.9.9.9"); w != 0 {
		t.Errorf("after success, alice from elsewhere waits %v", w)
	}
	if w := l.Wait("bob", "10.0.0.1"); w == 0 {
		t.Errorf("after alice's success the address is still slowed for others")
	}
	now = now.Add(2 * time.Hour)
	if w := l.Wait("bob", "10.0.0.1"); w != 0 {
		t.Errorf("delay outlived its time: %v", w)
	}
}
