package session

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// startRedis starts a private redis-server and returns a client for
// inspecting it.
func startRedis(t *testing.T) (*testenv.Redis, *redis.Client) {
	t.Helper()
	r := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { c.Close() })
	return r, c
}

func newRedisStore(t *testing.T, url string) *RedisStore {
	t.Helper()
	s, err := NewRedisStore(context.Background(), url)
	if err != nil {
		t.Fatalf("NewRedisStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRedisStore(t *testing.T) {
	r, c := startRedis(t)
	testStoreConformance(t, func(t *testing.T) Store {
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		return newRedisStore(t, r.URL)
	})
}

func TestRedisStoreTTL(t *testing.T) {
	ctx := context.Background()
	r, c := startRedis(t)
	s := newRedisStore(t, r.URL)
	rec := newTestRecord(t, "alice", 10*time.Minute, time.Hour)
	if err := s.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	ttl := c.PTTL(ctx, s.recKey(rec.Key)).Val()
	if ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("record TTL = %v, want the idle limit 10m", ttl)
	}
	idx := c.PTTL(ctx, s.userKey("alice")).Val()
	if idx <= 59*time.Minute || idx > time.Hour {
		t.Errorf("index TTL = %v, want the absolute expiry 1h", idx)
	}
	// Close to the absolute expiry, a touch caps the TTL at the expiry.
	rec.LastUsed = rec.Expires.Add(-2 * time.Minute)
	if err := s.Touch(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, s.recKey(rec.Key)).Val(); ttl > time.Hour || ttl <= 59*time.Minute {
		t.Errorf("TTL after a late touch = %v, want about 1h (the absolute expiry, before the idle deadline)", ttl)
	}
	// A shorter-lived second record does not shorten the index.
	short := newTestRecord(t, "alice", time.Minute, 2*time.Minute)
	if err := s.Put(ctx, short); err != nil {
		t.Fatal(err)
	}
	if idx := c.PTTL(ctx, s.userKey("alice")).Val(); idx <= 59*time.Minute {
		t.Errorf("index TTL after a shorter record = %v, want it kept at about 1h", idx)
	}
}

func TestRedisStoreUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	port := testenv.FreePort(t)
	_, err := NewRedisStore(ctx, fmt.Sprintf("redis://:hunter2@127.0.0.1:%d/0", port))
	if err == nil {
		t.Fatal("NewRedisStore to a closed port succeeded")
	}
	if bytes.Contains([]byte(err.Error()), []byte("hunter2")) {
		t.Errorf("error %q contains the Redis password", err)
	}
}

// TestRedisHoldsNoSecrets creates sessions through a Manager and checks that
// no Redis key or value contains the password, the token or the session
// key K, in any of the encodings davgate uses.
func TestRedisHoldsNoSecrets(t *testing.T) {
	ctx := context.Background()
	r, c := startRedis(t)
	m := NewManager(ManagerOptions{Keyring: newKeyring(t), Store: newRedisStore(t, r.URL)})

	const password = "Corr3ct-Horse-Battery-Staple"
	var secrets [][]byte
	addSecret := func(b []byte) {
		secrets = append(secrets, b,
			[]byte(hex.EncodeToString(b)),
			[]byte(base64.StdEncoding.EncodeToString(b)),
			[]byte(base64.RawURLEncoding.EncodeToString(b)))
	}
	addSecret([]byte(password))
	for i, kind := range []Kind{KindDevice, KindBrowser} {
		tok, _, err := m.Create(ctx, "alice", []byte(password), kind, fmt.Sprintf("label %d", i), map[string]string{"domain": "LAB"})
		if err != nil {
			t.Fatal(err)
		}
		td, err := openToken(m.keyring.Load(), tok)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, []byte(tok))
		addSecret(td.key[:])
		addSecret(td.sid[:])
		// Use the session so that a touched record is in Redis too.
		s, err := m.Open(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := s.Password(); err != nil || string(p) != password {
			t.Fatalf("Password() = %q, %v", p, err)
		}
	}

	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 3 {
		t.Fatalf("Redis holds %d keys, want 2 records and an index: %v", len(keys), keys)
	}
	for _, k := range keys {
		var vals []string
		switch typ := c.Type(ctx, k).Val(); typ {
		case "string":
			vals = []string{c.Get(ctx, k).Val()}
		case "set":
			vals = c.SMembers(ctx, k).Val()
		case "zset":
			vals = c.ZRange(ctx, k, 0, -1).Val()
		default:
			t.Errorf("unexpected Redis type %s for %s", typ, k)
		}
		for _, text := range append(vals, k) {
			for _, sec := range secrets {
				if bytes.Contains([]byte(text), sec) {
					t.Errorf("Redis key %s holds a secret (%d bytes)", k, len(sec))
				}
			}
		}
	}
}

// TestRevocationBroadcast runs two Managers (two davgate instances) on one
// Redis: a session revoked through one runs the OnEnd callbacks of the
// other within a second, and the token no longer opens on either.
func TestRevocationBroadcast(t *testing.T) {
	ctx := context.Background()
	r, c := startRedis(t)
	kr := newKeyring(t)
	m1 := NewManager(ManagerOptions{Keyring: kr, Store: newRedisStore(t, r.URL)})
	m2 := NewManager(ManagerOptions{Keyring: kr, Store: newRedisStore(t, r.URL)})

	ended := make(chan string, 10)
	m2.OnEnd(func(key string) { ended <- key })
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	var watchErr error
	go func() { defer wg.Done(); watchErr = m2.Watch(wctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if !errors.Is(watchErr, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", watchErr)
		}
	})
	waitSubscribers(t, c, DefaultRedisPrefix+"ended", 1)

	tok, info, err := m1.Create(ctx, "alice", []byte("pw"), KindDevice, "laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := m2.Open(ctx, tok)
	if err != nil {
		t.Fatalf("token minted on instance 1 does not open on instance 2: %v", err)
	}
	start := time.Now()
	if err := m1.Revoke(ctx, "alice", info.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case key := <-ended:
		if key != s2.Key {
			t.Errorf("instance 2 OnEnd got key %q, want %q", key, s2.Key)
		}
		t.Logf("instance 2 saw the revocation after %v", time.Since(start))
	case <-time.After(time.Second):
		t.Fatal("instance 2 did not see the revocation within 1s")
	}
	for i, m := range []*Manager{m1, m2} {
		if _, err := m.Open(ctx, tok); !errors.Is(err, ErrRevoked) {
			t.Errorf("instance %d: Open(revoked) = %v, want ErrRevoked", i+1, err)
		}
	}

	// RevokeAll ends every session everywhere.
	var toks []string
	for range 3 {
		tok, _, err := m2.Create(ctx, "bob", []byte("pw"), KindBrowser, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	if err := m1.RevokeAll(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	for i := range toks {
		select {
		case <-ended:
		case <-time.After(time.Second):
			t.Fatalf("instance 2 saw %d of 3 ended sessions within 1s", i)
		}
		if _, err := m2.Open(ctx, toks[i]); !errors.Is(err, ErrRevoked) {
			t.Errorf("Open after RevokeAll = %v, want ErrRevoked", err)
		}
	}
}

// waitSubscribers waits until channel has n subscribers.
func waitSubscribers(t *testing.T, c *redis.Client, channel string, n int64) {
	t.Helper()
	waitSubscribersFor(t, c, channel, n, 5*time.Second)
}

func waitSubscribersFor(t *testing.T, c *redis.Client, channel string, n int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c.PubSubNumSub(context.Background(), channel).Val()[channel] >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no subscriber on %s after %v", channel, d)
}

// TestRedisOutage: while Redis is down, Open reports store trouble (not a
// token or revocation error, so callers answer 503), Watch keeps trying,
// and both work again once Redis is back.
func TestRedisOutage(t *testing.T) {
	ctx := context.Background()
	r, c := startRedis(t)
	kr := newKeyring(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	m1 := NewManager(ManagerOptions{Keyring: kr, Store: newRedisStore(t, r.URL)})
	m2 := NewManager(ManagerOptions{Keyring: kr, Store: newRedisStore(t, r.URL),
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))})
	ended := make(chan string, 10)
	m2.OnEnd(func(key string) { ended <- key })
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- m2.Watch(wctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want context.Canceled", err)
		}
	})
	waitSubscribers(t, c, DefaultRedisPrefix+"ended", 1)
	tok, _, err := m1.Create(ctx, "alice", []byte("pw"), KindDevice, "", nil)
	if err != nil {
		t.Fatal(err)
	}

	r.Stop(t)
	octx, ocancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = m1.Open(octx, tok)
	ocancel()
	if err == nil || errors.Is(err, ErrRevoked) || errors.Is(err, ErrInvalidToken) {
		t.Errorf("Open with Redis down = %v, want a store error", err)
	}
	if err != nil && strings.Contains(err.Error(), tok) {
		t.Errorf("error contains the token")
	}
	r.Start(t) // empty: the old session is gone

	// The watcher resubscribes by itself.
	waitSubscribersFor(t, c, DefaultRedisPrefix+"ended", 1, 15*time.Second)
	tok, info, err := m1.Create(ctx, "alice", []byte("pw"), KindDevice, "", nil)
	if err != nil {
		t.Fatalf("Create after Redis came back: %v", err)
	}
	if _, err := m2.Open(ctx, tok); err != nil {
		t.Fatalf("Open after Redis came back: %v", err)
	}
	if err := m1.Revoke(ctx, "alice", info.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(time.Second):
		t.Fatal("instance 2 did not see a revocation after Redis came back")
	}
}

func TestRedisClientKinds(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"redis://127.0.0.1:6379/0", "*redis.Client"},
		{"rediss://:pw@redis.example.com:6380/2", "*redis.Client"},
		{"redis://127.0.0.1:26379/0?master_name=mymaster&addr=127.0.0.2:26379", "*redis.Client"}, // sentinel-backed failover client
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", "*redis.ClusterClient"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := newRedisClient(tc.url)
			if err != nil {
				t.Fatalf("newRedisClient: %v", err)
			}
			defer c.Close()
			if got := fmt.Sprintf("%T", c); got != tc.want {
				t.Errorf("client type = %s, want %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"redis://:pw@[::1", "redis://h:1/0?no_such_option=1", "redis://h:1/x/y"} {
		if c, err := newRedisClient(bad); err == nil {
			c.Close()
			t.Errorf("newRedisClient(%q) succeeded, want error", bad)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("error %q repeats the password", err)
		}
	}
}

// TestAlteredRecordRefused edits a stored record with a raw Redis client, as
// someone with write access to Redis could, and expects Open to end the
// session (401) and log it, instead of logging on to a server of the
// editor's choosing.
func TestAlteredRecordRefused(t *testing.T) {
	ctx := context.Background()
	r, c := startRedis(t)
	var logs bytes.Buffer
	m := NewManager(ManagerOptions{Keyring: newKeyring(t), Store: newRedisStore(t, r.URL),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for _, tc := range []struct {
		field string
		value any
	}{
		{"user", "bob"},
		{"kind", string(KindBrowser)},
		{"label", "other"},
		{"attrs", map[string]string{"ldap:homeDirectory": `\\evil\share`}},
		{"expires", time.Now().Add(1000 * time.Hour)},
		{"created", time.Now()},
		{"idle", int64(time.Hour)},
		{"id", "other-id"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			tok, info, err := m.Create(ctx, "alice", []byte("pw"), KindDevice, "phone", map[string]string{"ldap:homeDirectory": `\\fs1\alice`})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Open(ctx, tok); err != nil {
				t.Fatalf("Open before the edit: %v", err)
			}
			td, err := openToken(m.keyring.Load(), tok)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := c.Keys(ctx, "*s:"+storeKey(td.sid[:])).Result()
			if err != nil || len(keys) != 1 {
				t.Fatalf("record key: %v %v", keys, err)
			}
			key := keys[0]
			raw, err := c.Get(ctx, key).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			var rec map[string]any
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			rec[tc.field] = tc.value
			edited, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SetArgs(ctx, key, edited, redis.SetArgs{KeepTTL: true}).Err(); err != nil {
				t.Fatal(err)
			}
			logs.Reset()
			if _, err := m.Open(ctx, tok); !errors.Is(err, ErrRevoked) {
				t.Errorf("Open after editing %s = %v, want ErrRevoked", tc.field, err)
			}
			id := info.ID
			if tc.field == "id" {
				id = "other-id" // the log names the id the record claims
			}
			if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), id) {
				t.Errorf("no warning naming session %s in the log:\n%s", info.ID, logs.String())
			}
		})
	}
}
