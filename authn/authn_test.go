package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/davgate/davgate/session"
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
		{"ALICE", "Alice", true},     // the directory's spelling is Alice
		{"\u212Aate", "kate", false}, // the Kelvin sign is not K
		{"ſam", "sam", true},         // Windows upper-cases both to SAM
	}
	for _, tt := range tests {
		if got := sameUser(tt.given, tt.user); got != tt.want {
			t.Errorf("sameUser(%q, %q) = %v, want %v", tt.given, tt.user, got, tt.want)
		}
	}
}

// TestLimiterGrowsDelaysPerUserAndAddress: Free attempts go at once,
// then each waits a doubling delay, per user and per address.
func TestLimiterGrowsDelaysPerUserAndAddress(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(&MemoryLimits{Now: func() time.Time { return now }})
	ctx := context.Background()
	try := func(user, addr string) time.Duration {
		t.Helper()
		d, err := l.Reserve(ctx, user, addr)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for i := int64(0); i < l.Free; i++ {
		if w := try("alice", "10.0.0.1"); w != 0 {
			t.Fatalf("attempt %d: wait %v before the free attempts are used", i+1, w)
		}
	}
	first := try("alice", "10.0.0.1")
	if first != time.Second {
		t.Fatalf("attempt %d waits %v, want 1s", l.Free+1, first)
	}
	// The same user from another address waits too (many-address burst).
	if w := try("alice", "10.9.9.9"); w != first {
		t.Errorf("other address, same user: wait %v, want %v", w, first)
	}
	// Another user from the same address waits too (one client, many users).
	if w := try("bob", "10.0.0.1"); w != first {
		t.Errorf("same address, other user: wait %v, want %v", w, first)
	}
	if w := try("carol", "10.5.5.5"); w != 0 {
		t.Errorf("unrelated user and address: wait %v", w)
	}
	now = now.Add(first)
	if w := try("alice", "10.0.0.1"); w != 0 {
		t.Fatalf("after the wait: %v", w)
	}
	if w := try("alice", "10.0.0.1"); w != 2*time.Second {
		t.Errorf("second delay = %v, want 2s (doubling)", w)
	}
	for range 40 {
		now = now.Add(l.Max)
		try("alice", "10.0.0.1")
	}
	if w := try("alice", "10.0.0.1"); w != l.Max {
		t.Errorf("delay after many attempts = %v, want the cap %v", w, l.Max)
	}
	now = now.Add(l.Max)
	if err := l.Succeed(ctx, "10.0.0.1", "alice"); err != nil {
		t.Fatal(err)
	}
	if w := try("alice", "10.9.9.9"); w != 0 {
		t.Errorf("after success, alice from elsewhere waits %v", w)
	}
	now = now.Add(2 * time.Hour)
	if w := try("bob", "10.0.0.1"); w != 0 {
		t.Errorf("delay outlived its time: %v", w)
	}
}

// limitStores are the LimitStores to test: memory, and two RedisStores on
// one real redis-server (two instances).
func limitStores(t *testing.T) map[string][2]LimitStore {
	r := testenv.StartRedis(t)
	m := &MemoryLimits{}
	b, err := session.OpenBoltStore(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return map[string][2]LimitStore{"memory": {m, m}, "redis, two instances": {redisLimits(t, r.URL), redisLimits(t, r.URL)}, "file": {b, b}}
}

// redisLimits is a RedisLimits on a client of its own, as one instance's.
func redisLimits(t *testing.T, url string) LimitStore {
	t.Helper()
	c, err := session.NewRedisClient(url, session.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return session.NewRedisLimits(c, "")
}

// TestLimitStoreReservesAtomically: 30 attempts at once, for one user
// from many addresses or from one address for many users, split over two
// instances: exactly Free are taken, the rest must wait. The old
// read-then-count limiter let all 30 through.
func TestLimitStoreReservesAtomically(t *testing.T) {
	for name, st := range limitStores(t) {
		t.Run(name, func(t *testing.T) {
			for _, burst := range []struct {
				name       string
				user, addr func(i int) string
			}{
				{"one user, many addresses", func(int) string { return name + "alice" }, func(i int) string { return fmt.Sprintf("10.1.0.%d", i) }},
				{"one address, many users", func(i int) string { return fmt.Sprintf("%suser%d", name, i) }, func(int) string { return "10.2.0.1" + name }},
			} {
				var taken, refused atomic.Int64
				var wg sync.WaitGroup
				for i := range 30 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						l := NewLimiter(st[i%2])
						d, err := l.Reserve(context.Background(), burst.user(i), burst.addr(i))
						switch {
						case err != nil:
							t.Error(err)
						case d == 0:
							taken.Add(1)
						default:
							refused.Add(1)
						}
					}()
				}
				wg.Wait()
				if taken.Load() != 5 || refused.Load() != 25 {
					t.Errorf("%s: %d taken, %d refused; want 5 and 25", burst.name, taken.Load(), refused.Load())
				}
			}
		})
	}
}

// TestLimitStoreReleaseAndClear: an attempt given back frees its place; a
// cleared key starts again.
func TestLimitStoreReleaseAndClear(t *testing.T) {
	ctx := context.Background()
	for name, st := range limitStores(t) {
		t.Run(name, func(t *testing.T) {
			l := NewLimiter(st[0])
			other := NewLimiter(st[1])
			for range 5 {
				if d, _ := l.Reserve(ctx, "bob", "10.3.0.1"); d != 0 {
					t.Fatalf("free attempt waits %v", d)
				}
			}
			if d, _ := other.Reserve(ctx, "bob", "10.3.0.2"); d <= 0 || d > time.Second {
				t.Fatalf("6th attempt on the other instance waits %v, want up to 1s", d)
			}
			if err := l.Release(ctx, "bob", "10.3.0.1"); err != nil {
				t.Fatal(err)
			}
			if d, _ := other.Reserve(ctx, "bob", "10.3.0.2"); d != 0 {
				t.Fatalf("after a release: wait %v", d)
			}
			if err := other.Succeed(ctx, "10.3.0.2", "bob"); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				if d, _ := l.Reserve(ctx, "bob", "10.3.0.3"); d != 0 {
					t.Fatalf("after a success: wait %v", d)
				}
			}
		})
	}
}

func TestAddrLimitKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7", "a:192.0.2.7"},
		{"::ffff:192.0.2.7", "a:192.0.2.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "a:2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "a:2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "a:2001:db8:1:3::/64"},
		{"fe80::1%eth0", "a:fe80::/64"},
		{"not an address", "a:not an address"},
	}
	for _, tc := range tests {
		if got := addrLimitKey(tc.in); got != tc.want {
			t.Errorf("addrLimitKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestUserKeys: every spelling a backend accepts for one account gives
// one rate-limit key before the directory is asked.
func TestUserKeys(t *testing.T) {
	smb := &SMB{Domain: "LAB"}
	ldp := &LDAP{Domain: "LAB", BindTemplate: "{user}@lab.example.com"}
	krb := &Kerberos{Realm: "LAB.EXAMPLE.COM", Domain: "LAB"}
	for _, a := range []Authenticator{smb, ldp, krb} {
		for _, typed := range []string{"alice", "ALICE", "Alice", `LAB\alice`, `lab\ALICE`, "alice@LAB", "alice@lab.example.com", "ALICE@LAB.EXAMPLE.COM"} {
			if got := identityKey(a, typed); got != "alice" {
				t.Errorf("%T: key of %q = %q, want alice", a, typed, got)
			}
		}
		// Refused before any directory is asked, and counted with
		// alice's spellings: guesses under other domains add to her
		// count, never get their own.
		if got := identityKey(a, `OTHER\alice`); got != "alice" {
			t.Errorf("%T: key of another domain's alice = %q, want alice", a, got)
		}
	}
	// LDAP: a DNS domain typed must be the directory's (from the bind
	// template or the base DN); a UPN under another suffix, which the
	// directory may resolve, is keyed by its local part.
	byBase := &LDAP{Domain: "LAB", BaseDN: "OU=Staff,DC=lab,DC=example,DC=com", UserFilter: "(sAMAccountName={user})", UserAttr: "sAMAccountName"}
	for _, a := range []*LDAP{ldp, byBase} {
		for _, typed := range []string{`lab.example.com\alice`, `LAB.EXAMPLE.COM\Alice`, "alice@alt.example", "ALICE@Alt.Example"} {
			if got := identityKey(a, typed); got != "alice" {
				t.Errorf("ldap %q: key of %q = %q, want alice", a.dnsDomain(), typed, got)
			}
		}
		for _, typed := range []string{`lab.evil\alice`, `lab.example.com.evil\alice`} {
			if _, err := a.account(typed); !errors.Is(err, errBadUserName) {
				t.Errorf("ldap %q: %q taken as ours: %v", a.dnsDomain(), typed, err)
			}
		}
	}
	// Without user_attr the directory cannot name a UPN's account: refused.
	if _, err := ldp.account("alice@alt.example"); !errors.Is(err, errBadUserName) {
		t.Errorf("template-only LDAP took a UPN under another suffix: %v", err)
	}
}

func TestFoldName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Alice", "alice", true},
		{"ÉLODIE", "élodie", true},
		{"ſam", "sam", true},         // long s upper-cases to S: Windows' "SAM"
		{"\u212Aate", "kate", false}, // the Kelvin sign is not K
	}
	for _, tc := range tests {
		got, ok := foldName(tc.in)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("foldName(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
