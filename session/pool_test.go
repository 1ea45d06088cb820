package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// Test users get their own names so that parallel packages' smbd tests do
// not share accounts (passwords live in each smbd's own passdb).
const (
	poolUser = "dgsessa"
	poolPass = "Pool-pass-1"
)

func startSmbd(t *testing.T) *testenv.Smbd {
	t.Helper()
	return testenv.StartSmbd(t, testenv.SmbdConfig{
		Users:  map[string]string{poolUser: poolPass},
		Shares: []testenv.Share{{Name: "data"}, {Name: "other"}},
	})
}

func shareURL(t *testing.T, srv *testenv.Smbd, share string) ShareURL {
	t.Helper()
	u, err := ParseShareURL(srv.URL(share))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// credsFunc returns a creds callback for user/pass and a counter of its calls.
func credsFunc(user, pass string) (func() (Creds, error), *atomic.Int64) {
	var n atomic.Int64
	return func() (Creds, error) {
		n.Add(1)
		return Creds{User: user, Password: pass}, nil
	}, &n
}

func newTestPool(t *testing.T, o PoolOptions) (*Pool, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	var mu sync.Mutex
	o.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := NewPool(o)
	t.Cleanup(p.CloseAll)
	return p, &logs
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// use mounts u for s, writes and reads back a file, and releases.
func use(t *testing.T, p *Pool, s *Session, creds func() (Creds, error), u ShareURL, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sh, release, err := p.Mount(ctx, s, creds, u)
	if err != nil {
		t.Fatalf("Mount(%s): %v", u, err)
	}
	err = sh.WriteFile(name, []byte("hello "+name), 0o644)
	if err == nil {
		var b []byte
		b, err = sh.ReadFile(name)
		if err == nil && string(b) != "hello "+name {
			err = fmt.Errorf("read back %q", b)
		}
	}
	release(err)
	if err != nil {
		t.Fatalf("write/read %s on %s: %v", name, u, err)
	}
}

func testSession(key string) *Session {
	return &Session{Key: key, Info: Info{ID: "pub-" + key}, User: poolUser}
}

func TestPoolReusesConnections(t *testing.T) {
	srv := startSmbd(t)
	p, _ := newTestPool(t, PoolOptions{})
	data, other := shareURL(t, srv, "data"), shareURL(t, srv, "other")
	creds, calls := credsFunc(poolUser, poolPass)

	a := testSession("key-a")
	use(t, p, a, creds, data, "a1.txt")
	use(t, p, a, creds, data, "a2.txt")
	use(t, p, a, creds, other, "a3.txt")
	if got := p.dials.Load(); got != 1 {
		t.Errorf("after three uses of one session: %d dials, want 1", got)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("creds called %d times, want 1", got)
	}

	// Concurrent first Mounts of another session dial once.
	b := testSession("key-b")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			use(t, p, b, creds, data, fmt.Sprintf("b%d.txt", i))
		}()
	}
	wg.Wait()
	if got := p.dials.Load(); got != 2 {
		t.Errorf("after 8 concurrent first uses of a second session: %d dials in all, want 2", got)
	}

	// An fs error keeps the connection.
	ctx := context.Background()
	sh, release, err := p.Mount(ctx, a, creds, data)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sh.Stat("does-not-exist")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(missing) = %v, want fs.ErrNotExist", err)
	}
	release(err)
	use(t, p, a, creds, data, "a4.txt")
	if got := p.dials.Load(); got != 2 {
		t.Errorf("after an fs.ErrNotExist: %d dials, want the connection kept (2)", got)
	}

	// A missing share is fs.ErrNotExist and keeps the connection too.
	_, _, err = p.Mount(ctx, a, creds, shareURL(t, srv, "nosuchshare"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Mount(missing share) = %v, want fs.ErrNotExist", err)
	}
	use(t, p, a, creds, data, "a5.txt")
	if got := p.dials.Load(); got != 2 {
		t.Errorf("after a missing share: %d dials, want 2", got)
	}

	// Close ends a session's connections; the next Mount dials again.
	p.Close(a.Key)
	use(t, p, a, creds, data, "a6.txt")
	if got := p.dials.Load(); got != 3 {
		t.Errorf("after Close: %d dials, want 3", got)
	}
}

func TestPoolIdleTimeout(t *testing.T) {
	srv := startSmbd(t)
	p, _ := newTestPool(t, PoolOptions{IdleTimeout: 200 * time.Millisecond})
	creds, _ := credsFunc(poolUser, poolPass)
	s := testSession("key-idle")
	use(t, p, s, creds, shareURL(t, srv, "data"), "x.txt")
	waitIdleClosed(t, p)
	use(t, p, s, creds, shareURL(t, srv, "data"), "y.txt")
	if got := p.dials.Load(); got != 2 {
		t.Errorf("dials = %d, want 2 (one before, one after the idle close)", got)
	}
}

// TestPoolReconnectsAfterServerRestart: smbd restarts while davgate holds a
// connection; the next request works with a new connection made from the
// stored credentials, without the user logging on again.
func TestPoolReconnectsAfterServerRestart(t *testing.T) {
	for _, tc := range []struct {
		name       string
		checkAfter time.Duration
		failFirst  bool // the first use after the restart fails and is released with its error
	}{
		{name: "checked before reuse", checkAfter: time.Nanosecond},
		{name: "noticed as closed by the server", checkAfter: -1},
		{name: "dropped after a failed request", checkAfter: -1, failFirst: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSmbd(t)
			p, _ := newTestPool(t, PoolOptions{CheckAfter: tc.checkAfter})
			creds, calls := credsFunc(poolUser, poolPass)
			s := testSession("key-restart")
			data := shareURL(t, srv, "data")
			use(t, p, s, creds, data, "before.txt")

			srv.Stop(t)
			srv.Start(t)

			if tc.failFirst {
				// As if the connection's end had not arrived (a server
				// gone silent, a firewall dropping its state): the first
				// request fails on it and its release drops it.
				forgetClosed(t, p)
				sh, release, err := p.Mount(context.Background(), s, creds, data)
				if err != nil {
					t.Fatalf("Mount of the cached share: %v", err)
				}
				_, err = sh.Stat("before.txt")
				if err == nil {
					t.Fatal("Stat over a connection to the stopped smbd succeeded")
				}
				release(err)
			}
			use(t, p, s, creds, data, "after.txt")
			if got := p.dials.Load(); got != 2 {
				t.Errorf("dials = %d, want 2", got)
			}
			if got := calls.Load(); got != 2 {
				t.Errorf("creds called %d times, want 2", got)
			}
		})
	}
}

func TestPoolDialLogonFailure(t *testing.T) {
	srv := startSmbd(t)
	p, _ := newTestPool(t, PoolOptions{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		c    Creds
	}{
		{"wrong password", Creds{User: poolUser, Password: "Wrong-Horse-1"}},
		{"unknown user", Creds{User: "dgnosuchuser", Password: "Wrong-Horse-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := p.Dial(ctx, srv.Addr(), tc.c)
			if err == nil {
				s.Logoff()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, ErrLogonFailure) {
				t.Errorf("Dial = %v, want ErrLogonFailure", err)
			}
			if strings.Contains(err.Error(), tc.c.Password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
	s, err := p.Dial(ctx, srv.Addr(), Creds{User: poolUser, Password: poolPass})
	if err != nil {
		t.Fatalf("Dial with the right password: %v", err)
	}
	s.Logoff()
}

// TestStalePasswordLogsOnOnce: the user's password changes on the server
// behind davgate's back. The session's next connection is refused; the
// pool reports ErrLogonFailure, the caller ends the session, and however
// many requests follow (sequential or concurrent, before and after the
// revocation), smbd sees exactly one failed session setup.
func TestStalePasswordLogsOnOnce(t *testing.T) {
	ctx := context.Background()
	srv := startSmbd(t)
	p, logs := newTestPool(t, PoolOptions{IdleTimeout: 100 * time.Millisecond})
	m := NewManager(ManagerOptions{Keyring: newKeyring(t), Store: NewMemoryStore()})
	m.OnEnd(p.Close)
	data := shareURL(t, srv, "data")

	tok, _, err := m.Create(ctx, poolUser, []byte(poolPass), KindDevice, "laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	var credCalls atomic.Int64
	// request is what a DAV request does: open the token, mount with the
	// stored password, end the session if the server refuses it.
	request := func() error {
		s, err := m.Open(ctx, tok)
		if err != nil {
			return err
		}
		creds := func() (Creds, error) {
			credCalls.Add(1)
			pw, err := s.Password()
			return Creds{User: s.User, Password: string(pw)}, err
		}
		sh, release, err := p.Mount(ctx, s, creds, data)
		if errors.Is(err, ErrLogonFailure) {
			if err := m.RevokeSession(ctx, s); err != nil {
				t.Errorf("RevokeSession: %v", err)
			}
			return err
		}
		if err != nil {
			return err
		}
		_, err = sh.Stat(".")
		release(err)
		return err
	}
	if err := request(); err != nil {
		t.Fatalf("first request: %v", err)
	}
	if n := srv.FailedLogons(t, poolUser); n != 0 {
		t.Fatalf("smbd logged %d failed logons before the change", n)
	}

	srv.SetPassword(t, poolUser, "Changed-pass-2")
	// Let the idle timeout close the connection, as between two requests.
	waitIdleClosed(t, p)

	// The session's stale password is now used at most once, however many
	// requests (and pool Mounts for the same session) race.
	s, err := m.Open(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = p.Mount(ctx, s, func() (Creds, error) {
				credCalls.Add(1)
				pw, err := s.Password()
				return Creds{User: s.User, Password: string(pw)}, err
			}, data)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrLogonFailure) {
			t.Errorf("concurrent Mount %d = %v, want ErrLogonFailure", i, err)
		}
	}
	for range 3 {
		if err := request(); !errors.Is(err, ErrLogonFailure) && !errors.Is(err, ErrRevoked) {
			t.Errorf("request after the password change = %v, want ErrLogonFailure or ErrRevoked", err)
		}
	}
	if _, err := m.Open(ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("Open after a refused log-on = %v, want ErrRevoked (session ended)", err)
	}
	// Even a Mount that had already opened the session before the
	// revocation does not dial again.
	if _, _, err := p.Mount(ctx, s, func() (Creds, error) {
		credCalls.Add(1)
		return Creds{User: s.User, Password: "whatever"}, nil
	}, data); !errors.Is(err, ErrLogonFailure) {
		t.Errorf("Mount after revocation = %v, want the remembered ErrLogonFailure", err)
	}

	// smbd writes its audit line as it answers, but give it a moment.
	time.Sleep(200 * time.Millisecond)
	t.Logf("smbd auth lines:\n%s", grepAuth(srv.Log(t)))
	if n := srv.FailedLogons(t, poolUser); n != 1 {
		t.Errorf("smbd logged %d failed logons for %s, want exactly 1\n%s", n, poolUser, srv.Log(t))
	}
	if got := credCalls.Load(); got != 2 {
		t.Errorf("stored password decrypted %d times, want 2 (first log-on, the refused one)", got)
	}
	for _, secret := range []string{poolPass, tok} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("pool log contains a secret")
		}
	}
	if !strings.Contains(logs.String(), "refused stored credentials") {
		t.Errorf("pool log does not say why the session ended:\n%s", logs)
	}
}

func grepAuth(log string) string {
	var b strings.Builder
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "Auth:") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// waitIdleClosed waits until the pool holds no connection.
func waitIdleClosed(t *testing.T, p *Pool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		n := len(p.conns)
		p.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open 5s after their idle timeout", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPoolServerSecurity: the pool works with servers that require
// signing or encryption, as current Windows servers do.
func TestPoolServerSecurity(t *testing.T) {
	for _, tc := range []struct{ name, global string }{
		{"signing mandatory", "server signing = mandatory"},
		{"encryption required", "server smb encrypt = required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testenv.StartSmbd(t, testenv.SmbdConfig{
				Users:  map[string]string{poolUser: poolPass},
				Shares: []testenv.Share{{Name: "data"}},
				Global: tc.global,
			})
			p, _ := newTestPool(t, PoolOptions{})
			creds, _ := credsFunc(poolUser, poolPass)
			s := testSession("key-sec")
			use(t, p, s, creds, shareURL(t, srv, "data"), "one.txt")
			use(t, p, s, creds, shareURL(t, srv, "data"), "two.txt")
			if got := p.dials.Load(); got != 1 {
				t.Errorf("dials = %d, want 1", got)
			}
		})
	}
}

// A file server that stops answering (here: smbd frozen with SIGSTOP, its
// connections open) fails the requests waiting on it within ReplyTimeout
// instead of hanging them, and once it answers again the next request
// redials.
func TestPoolHungServer(t *testing.T) {
	srv := startSmbd(t)
	const timeout = time.Second
	p, logs := newTestPool(t, PoolOptions{ReplyTimeout: timeout, CheckAfter: -1})
	creds, _ := credsFunc(poolUser, poolPass)
	s := testSession("key-hung")
	data := shareURL(t, srv, "data")
	use(t, p, s, creds, data, "before.txt")

	// Idle connections are not hung ones: nothing is owed.
	time.Sleep(2 * timeout)
	use(t, p, s, creds, data, "idle.txt")
	if got := p.dials.Load(); got != 1 {
		t.Fatalf("dials after an idle period = %d, want 1", got)
	}

	thaw := srv.Freeze(t)
	sh, release, err := p.Mount(context.Background(), s, creds, data)
	if err != nil {
		t.Fatalf("Mount of the cached share: %v", err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { _, err := sh.Stat("before.txt"); done <- err }()
	select {
	case err = <-done:
	case <-time.After(20 * timeout):
		thaw()
		t.Fatal("Stat on a hung server still waiting after 20 reply timeouts")
	}
	waited := time.Since(start)
	release(err)
	if err == nil {
		t.Fatal("Stat on a hung server succeeded")
	}
	if waited < timeout {
		t.Errorf("Stat failed after %v, before the reply timeout of %v", waited, timeout)
	}
	if !strings.Contains(logs.String(), "owing a reply") {
		t.Errorf("no log line about the hung server; logs:\n%s", logs)
	}

	thaw()
	use(t, p, s, creds, data, "after.txt")
	if got := p.dials.Load(); got != 2 {
		t.Errorf("dials = %d, want 2 (one redial after the hang)", got)
	}
}

// forgetClosed waits until the pool has seen its connections closed by the
// server, then makes it forget that it has.
func forgetClosed(t *testing.T, p *Pool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		closed, all := 0, 0
		p.tcp.Range(func(_, v any) bool {
			all++
			if v.(*countedConn).broken.Load() {
				closed++
			}
			return true
		})
		if all > 0 && closed == all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections seen closed by the server after 5 s", closed, all)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.tcp.Range(func(_, v any) bool {
		v.(*countedConn).broken.Store(false)
		return true
	})
}
