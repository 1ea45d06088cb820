package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/internal/testenv"
)

// The second round of attacks on davgate (issue 10's "tried again
// afterwards"), on what was built since: the app log-on flow's record in
// the store.

// flowRedisKey returns the Redis key of a started flow and its store key
// K (the part of the poll token before the secret).
func flowRedisKey(t *testing.T, rc *redis.Client) (string, []byte) {
	t.Helper()
	keys := rc.Keys(context.Background(), "davgate:lf:*").Val()
	if len(keys) != 1 {
		t.Fatalf("flow keys in Redis = %q, want one", keys)
	}
	k, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(keys[0], "davgate:lf:"))
	if err != nil {
		t.Fatal(err)
	}
	return keys[0], k
}

// editFlow rewrites fields of the flow's JSON in Redis, as anyone who
// can write to Redis can.
func editFlow(t *testing.T, rc *redis.Client, key string, edit func(map[string]any)) {
	t.Helper()
	ctx := context.Background()
	var v map[string]any
	if err := json.Unmarshal([]byte(rc.HGet(ctx, key, "v").Val()), &v); err != nil {
		t.Fatal(err)
	}
	edit(v)
	b, _ := json.Marshal(v)
	if err := rc.HSet(ctx, key, "v", string(b)).Err(); err != nil {
		t.Fatal(err)
	}
	if s, ok := v["state"].(string); ok {
		rc.HSet(ctx, key, "s", s)
	}
}

// attackerPollSecret makes a poll secret of the attacker's own and what
// the store keeps of it (as authn's loginflow_seal.go derives them).
func attackerPollSecret(t *testing.T) (secret, verifier, pollKey []byte) {
	t.Helper()
	secret = make([]byte, 32)
	rand.Read(secret)
	v := sha256.Sum256(append([]byte("davgate login flow poll|"), secret...))
	s := sha256.Sum256(append([]byte("davgate login flow key|"), secret...))
	priv, err := ecdh.X25519().NewPrivateKey(s[:])
	if err != nil {
		t.Fatal(err)
	}
	return secret, v[:], priv.PublicKey().Bytes()
}

// sealToPublicKey seals token to a flow's public poll key, as an approving
// instance does: anyone can, the key is public.
func sealToPublicKey(t *testing.T, pub []byte, key, token string) []byte {
	t.Helper()
	peer, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	eph, _ := ecdh.X25519().GenerateKey(rand.Reader)
	shared, _ := eph.ECDH(peer)
	h := sha256.New()
	h.Write([]byte("davgate login flow seal|"))
	h.Write(shared)
	h.Write(eph.PublicKey().Bytes())
	h.Write(pub)
	block, _ := aes.NewCipher(h.Sum(nil))
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out := append(append([]byte(nil), eph.PublicKey().Bytes()...), nonce...)
	return aead.Seal(out, nonce, []byte(token), []byte(key))
}

// Someone who can write to Redis (but has neither the master keys nor any
// of the user's secrets) swaps a pending flow's poll verifier and key for
// their own. When the user approves the flow they started, the device
// token must not go to the editor's poll: an altered flow is no flow.
func TestEndToEndLoginFlowRecordSwappedPollKey(t *testing.T) {
	r := testenv.StartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rc.Close() })
	f := newFixture(t, r.URL)
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}

	fl := c.startFlow("rclone on the user's laptop")
	key, k := flowRedisKey(t, rc)
	secret, verifier, pollKey := attackerPollSecret(t)
	editFlow(t, rc, key, func(v map[string]any) {
		v["verifier"] = base64.StdEncoding.EncodeToString(verifier)
		v["poll_key"] = base64.StdEncoding.EncodeToString(pollKey)
	})
	stolen := base64.RawURLEncoding.EncodeToString(append(k, secret...))

	cookie, _ := browserSession(t, c.base)
	st, page := c.flowPage(fl, cookie)
	if st == http.StatusOK {
		if m := flowCSRFRe.FindStringSubmatch(page); m != nil {
			c.answerFlow(fl, cookie, m[1], "allow")
		}
	}
	if got, p, b := c.pollFlow(stolen); got == http.StatusOK || p.Token != "" {
		t.Errorf("the Redis editor's poll of the approved flow = %d %s; want 410 and no token", got, b)
	}
	if st == http.StatusOK {
		t.Errorf("approval page of a flow altered in the store = %d; want it refused", st)
	}
	if !strings.Contains(in.Log.String(), "altered") {
		t.Errorf("no log line says the flow record was altered; log:\n%s", in.Log)
	}
}

// The other way round: the editor, a davgate user themselves, marks the
// user's pending flow approved with the editor's own device token sealed
// to its (public) poll key. The user's app must not collect it: it would
// sync the user's files into the editor's account.
func TestEndToEndLoginFlowRecordForgedApproval(t *testing.T) {
	r := testenv.StartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rc.Close() })
	f := newFixture(t, r.URL)
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	bob := c.logon("dgbob", bobPass, http.StatusCreated)

	fl := c.startFlow("rclone on alice's laptop")
	key, _ := flowRedisKey(t, rc)
	storeKey := strings.TrimPrefix(key, "davgate:lf:")
	editFlow(t, rc, key, func(v map[string]any) {
		pub, err := base64.StdEncoding.DecodeString(v["poll_key"].(string))
		if err != nil {
			t.Fatal(err)
		}
		v["state"], v["user"], v["device_id"] = "approved", "dgalice", "forged"
		v["sealed"] = base64.StdEncoding.EncodeToString(sealToPublicKey(t, pub, storeKey, bob.Token))
	})
	if got, p, b := c.pollFlow(fl.Poll.Token); got == http.StatusOK || p.Token != "" {
		t.Errorf("the app's poll of a flow approved in Redis by its editor = %d %s; want 410 and no token", got, b)
	}
	if !strings.Contains(in.Log.String(), "altered") {
		t.Errorf("no log line says the flow record was altered; log:\n%s", in.Log)
	}
}

// The flow's URL code is a secret of sorts: whoever has it within its ten
// minutes can approve the flow with their own account (the user's app
// would then sync into theirs) or deny it. The request log, read by more
// people than the users, must not hold it, nor the poll or device token.
func TestEndToEndLoginFlowCodeNotLogged(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	fl := c.startFlow("log reader")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Get(fl.LoginURL); err == nil {
		resp.Body.Close() // to the log-on page, without a session
	}
	cookie, _ := browserSession(t, c.base)
	c.approveFlow(fl, cookie)
	got := c.wantPoll("approved", fl.Poll.Token, http.StatusOK, "approved")
	c.wantPoll("collected", fl.Poll.Token, http.StatusGone, "expired")
	if st, _ := c.flowPage(fl, cookie); st != http.StatusConflict && st != http.StatusNotFound {
		t.Errorf("page of a collected flow = %d", st)
	}
	log := in.Log.String()
	if !strings.Contains(log, "/login-flows/") {
		t.Fatalf("no request to the flow's page logged:\n%s", log)
	}
	for what, s := range map[string]string{"URL code": fl.code(), "poll token": fl.Poll.Token, "device token": got.Token} {
		if strings.Contains(log, s) {
			t.Errorf("the log holds the flow's %s %q:\n%s", what, s, log)
		}
	}
}

// An app's name is the attacker's words on the user's approval page. Names
// that show as nothing (Hangul fillers and the blank Braille pattern are
// "printable" letters and symbols that render blank: "Allow   to access
// your files?") or pile combining marks over the page's other lines are
// refused; names in any script, with their usual marks, are not.
func TestEndToEndLoginFlowBlankClientNames(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	start := func(name string) int {
		body, _ := json.Marshal(map[string]string{"client_name": name})
		resp, _ := c.do("POST", "/api/v1/login-flows", strings.NewReader(string(body)), nil, "Content-Type", "application/json")
		return resp.StatusCode
	}
	for _, n := range []string{"\u3164\u3164\u3164", "\u115f\u1160", "\uffa0", "\u2800\u2800", "rclone\u3164", "---", "x" + strings.Repeat("\u0336", 20)} {
		if st := start(n); st != http.StatusBadRequest {
			t.Errorf("client_name %+q: %d, want 400", n, st)
		}
	}
	// Start at most 10 at once (the rate limit): these must pass.
	for _, n := range []string{"rclone", "Tiếng Việt ở đây", "हिन्दी ऐप", "שלום 2", "日本語のアプリ", "Åsa's backup 2"} {
		if st := start(n); st != http.StatusCreated {
			t.Errorf("client_name %+q: %d, want 201", n, st)
		}
	}
}
