package authn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/davgate/davgate/session"
)

// poolChecker checks a password with one SMB session setup, as davgate's
// wiring does.
type poolChecker struct{ pool *session.Pool }

func (c poolChecker) CheckLogon(ctx context.Context, addr string, cr session.Creds) error {
	s, err := c.pool.Dial(ctx, addr, cr)
	if err != nil {
		return err
	}
	s.Logoff()
	return nil
}

// countingAuth counts the log-ons that reach the real authenticator.
type countingAuth struct {
	Authenticator
	n atomic.Int64
}

func (c *countingAuth) Authenticate(ctx context.Context, user string, password []byte) (Identity, error) {
	c.n.Add(1)
	return c.Authenticator.Authenticate(ctx, user, password)
}

// UserKey passes the wrapped authenticator's keys on.
func (c *countingAuth) UserKey(typed string) string { return identityKey(c.Authenticator, typed) }

func newTestManager(t *testing.T, store session.Store) *session.Manager {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "master.keys")
	if _, err := session.AddKey(keys); err != nil {
		t.Fatal(err)
	}
	kr, err := session.LoadKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return session.NewManager(session.ManagerOptions{Keyring: kr, Store: store})
}

// logonServer serves the log-on API and the session list of one instance.
func logonServer(t *testing.T, auth Authenticator, sessions *session.Manager, limits LimitStore) *httptest.Server {
	t.Helper()
	l := &Logon{Auth: auth, Sessions: sessions, Limiter: NewLimiter(limits), Log: slog.New(slog.DiscardHandler)}
	mw := &Middleware{Sessions: sessions, Log: l.Log}
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/sessions", l.HandleCreate())
	mux.Handle("GET /api/v1/sessions", mw.Require(l.HandleList()))
	mux.Handle("DELETE /api/v1/sessions", mw.Require(l.HandleRevokeAll()))
	// Each test request may name its client address (the rate limits'
	// address key); a real deployment learns it from the connection or a
	// trusted proxy.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("X-Test-Client"); a != "" {
			r.RemoteAddr = a + ":1"
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type logonReply struct {
	status     int
	retryAfter string
	token      string
}

func postLogon(t *testing.T, base, user, pass string, client ...string) logonReply {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pass})
	req, _ := http.NewRequest("POST", base+"/api/v1/sessions", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if len(client) > 0 {
		req.Header.Set("X-Test-Client", client[0])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return logonReply{}
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&out)
	return logonReply{resp.StatusCode, resp.Header.Get("Retry-After"), out.Token}
}

func bearer(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestSMBLogonOneIdentity: every spelling smbd accepts for one account
// logs on as one identity, so the session list shows all the sessions and
// revoke-all ends them all; and wrong passwords in mixed spellings share
// one limit. Before, each spelling was a user of its own.
func TestSMBLogonOneIdentity(t *testing.T) {
	smbd := testenv.StartSmbd(t, testenv.SmbdConfig{Users: map[string]string{"dgident": "Ident-pass-1"}})
	auth := &SMB{Addr: smbd.Addr(), Domain: "WORKGROUP", Checker: poolChecker{session.NewPool(session.PoolOptions{})}}
	m := newTestManager(t, session.NewMemoryStore())
	srv := logonServer(t, auth, m, &MemoryLimits{})

	var tokens []string
	for _, u := range []string{"dgident", "DGIDENT", "DgIdent", `WORKGROUP\dgident`, `workgroup\DGIDENT`, "dgident@workgroup", "dgident@WORKGROUP.example.com"} {
		r := postLogon(t, srv.URL, u, "Ident-pass-1")
		if r.status != http.StatusCreated {
			t.Fatalf("log on as %q: %d", u, r.status)
		}
		tokens = append(tokens, r.token)
	}
	if r := postLogon(t, srv.URL, `OTHER\dgident`, "Ident-pass-1"); r.status != http.StatusUnauthorized {
		t.Errorf("another domain: %d, want 401", r.status)
	}
	status, body := bearer(t, "GET", srv.URL+"/api/v1/sessions", tokens[1])
	var list []sessionJSON
	if err := json.Unmarshal(body, &list); status != 200 || err != nil || len(list) != len(tokens) {
		t.Fatalf("session list as DGIDENT: %d, %d sessions (%v), want %d:\n%s", status, len(list), err, len(tokens), body)
	}
	if status, _ := bearer(t, "DELETE", srv.URL+"/api/v1/sessions", tokens[3]); status != http.StatusNoContent {
		t.Fatalf("revoke all: %d", status)
	}
	for i, tok := range tokens {
		if status, _ := bearer(t, "GET", srv.URL+"/api/v1/sessions", tok); status != http.StatusUnauthorized {
			t.Errorf("session %d still works after revoke-all: %d", i, status)
		}
	}

	// Mixed spellings share one count: the 6th wrong password is refused
	// (from other addresses too: the user key holds). The refused
	// OTHER\dgident above was the first.
	for i, u := range []string{"dgident", "DGIDENT", `WORKGROUP\dgident`, "dgident@workgroup"} {
		if r := postLogon(t, srv.URL, u, "wrong", fmt.Sprintf("192.0.2.%d", i)); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d as %q: %d, want 401", i+1, u, r.status)
		}
	}
	if r := postLogon(t, srv.URL, `workgroup\DgIdent`, "Ident-pass-1", "198.51.100.1"); r.status != http.StatusTooManyRequests || r.retryAfter == "" {
		t.Errorf("6th attempt in another spelling: %d, Retry-After %q; want 429 with Retry-After", r.status, r.retryAfter)
	}
}

// TestLogonBurstReachesServerAtMostFree: 30 wrong passwords at once for
// one user, split over two instances sharing a real Redis, against a real
// smbd: at most Free reach the server, the rest get 429 with Retry-After.
// The old limiter read before the check and counted after it, so all 30
// reached the server.
func TestLogonBurstReachesServerAtMostFree(t *testing.T) {
	smbd := testenv.StartSmbd(t, testenv.SmbdConfig{Users: map[string]string{"dgburst": "Burst-pass-1"}})
	r := testenv.StartRedis(t)
	auth := &countingAuth{Authenticator: &SMB{Addr: smbd.Addr(), Checker: poolChecker{session.NewPool(session.PoolOptions{})}}}
	var srvs []*httptest.Server
	for range 2 {
		rs, err := session.NewRedisStore(context.Background(), r.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		srvs = append(srvs, logonServer(t, auth, newTestManager(t, rs), redisLimits(t, r.URL)))
	}
	var wg sync.WaitGroup
	var unauthorized, limited atomic.Int64
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := []string{"dgburst", "DGBURST", "DgBurst"}[i%3]
			switch rep := postLogon(t, srvs[i%2].URL, user, "wrong", fmt.Sprintf("2001:db8:%x::1", i)); {
			case rep.status == http.StatusUnauthorized:
				unauthorized.Add(1)
			case rep.status == http.StatusTooManyRequests && rep.retryAfter != "":
				limited.Add(1)
			default:
				t.Errorf("attempt %d: %d, Retry-After %q", i, rep.status, rep.retryAfter)
			}
		}()
	}
	wg.Wait()
	if n := auth.n.Load(); n > 5 || unauthorized.Load() > 5 || limited.Load() < 25 {
		t.Errorf("%d log-ons reached the server (%d answered 401, %d 429); want at most 5, the rest 429", n, unauthorized.Load(), limited.Load())
	}
	t.Logf("smbd saw %d failed session setups", smbd.FailedLogons(t, "dgburst"))
}

// keepingAuth keeps the password slices it is given, to see them zeroed.
type keepingAuth struct {
	Authenticator
	mu   sync.Mutex
	seen [][]byte
}

func (k *keepingAuth) Authenticate(ctx context.Context, user string, password []byte) (Identity, error) {
	k.mu.Lock()
	k.seen = append(k.seen, password)
	k.mu.Unlock()
	return k.Authenticator.Authenticate(ctx, user, password)
}

// TestLogonZeroesPassword: the password bytes a log-on reads from the
// body (JSON, form) are zeroed once the session is made or refused.
func TestLogonZeroesPassword(t *testing.T) {
	smbd := testenv.StartSmbd(t, testenv.SmbdConfig{Users: map[string]string{"dgzero": "Zero-pass-1"}})
	auth := &keepingAuth{Authenticator: &SMB{Addr: smbd.Addr(), Checker: poolChecker{session.NewPool(session.PoolOptions{})}}}
	m := newTestManager(t, session.NewMemoryStore())
	srv := logonServer(t, auth, m, &MemoryLimits{})
	if r := postLogon(t, srv.URL, "dgzero", "Zero-pass-1"); r.status != http.StatusCreated {
		t.Fatalf("JSON log-on: %d", r.status)
	}
	postLogon(t, srv.URL, "dgzero", "wrong-pass")
	resp, err := http.PostForm(srv.URL+"/api/v1/sessions", map[string][]string{"username": {"dgzero"}, "password": {"Zero-pass-1"}})
	// the JSON API refuses form bodies (CSRF), before the authenticator
	if err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form log-on: %v %v, want 415", resp.StatusCode, err)
	}
	resp.Body.Close()
	if len(auth.seen) != 2 {
		t.Fatalf("%d log-ons reached the authenticator, want 2", len(auth.seen))
	}
	for i, pw := range auth.seen {
		if strings.Trim(string(pw), "\x00") != "" || len(pw) == 0 {
			t.Errorf("log-on %d: password left as %q", i+1, pw)
		}
	}
}

func TestSecretJSON(t *testing.T) {
	for in, want := range map[string]string{`"plain pw"`: "plain pw", `"a\"b\\u00e9"`: `a"b\u00e9`, `"é"`: "é"} {
		var s secret
		if err := json.Unmarshal([]byte(in), &s); err != nil || string(s) != want {
			t.Errorf("unmarshal %s = %q, %v; want %q", in, s, err, want)
		}
	}
	var s secret
	if err := json.Unmarshal([]byte(`12`), &s); err == nil {
		t.Error("a number decoded as a password")
	}
}
