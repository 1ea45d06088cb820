package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clock is a settable time source for Managers under test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var testLimits = Limits{
	BrowserIdle: 30 * time.Minute, BrowserLifetime: 12 * time.Hour,
	DeviceIdle: 30 * 24 * time.Hour, DeviceLifetime: 90 * 24 * time.Hour,
}

type managerEnv struct {
	m     *Manager
	store *MemoryStore
	clock *clock
	log   *bytes.Buffer
}

func newTestManager(t *testing.T) *managerEnv {
	t.Helper()
	e := &managerEnv{store: NewMemoryStore(), clock: newClock(), log: &bytes.Buffer{}}
	e.m = NewManager(ManagerOptions{
		Keyring: newKeyring(t),
		Store:   e.store,
		Limits:  testLimits,
		Now:     e.clock.Now,
		Logger:  slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return e
}

func TestCreateOpen(t *testing.T) {
	ctx := context.Background()
	e := newTestManager(t)
	attrs := map[string]string{"domain": "LAB", "ldap:homeDirectory": `\\srv\homes\alice`}
	tok, info, err := e.m.Create(ctx, "alice", []byte("s3cret pässword"), KindDevice, "phone", attrs)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	now := e.clock.Now()
	if info.Kind != KindDevice || info.Label != "phone" || info.ID == "" ||
		!info.Created.Equal(now) || !info.LastUsed.Equal(now) {
		t.Errorf("Create info = %+v", info)
	}
	if want := now.Add(testLimits.DeviceLifetime); info.Expires.After(want) || info.Expires.Before(want.Add(-time.Second)) {
		t.Errorf("Expires = %v, want about %v", info.Expires, want)
	}

	s, err := e.m.Open(ctx, tok)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if s.User != "alice" || s.ID != info.ID || s.Kind != KindDevice || s.Label != "phone" {
		t.Errorf("Open session = %+v", s)
	}
	if diff := cmp.Diff(attrs, s.Attrs); diff != "" {
		t.Errorf("Attrs (-want +got):\n%s", diff)
	}
	if len(s.Key) != 64 || strings.Contains(tok, s.Key) || s.Key == info.ID {
		t.Errorf("Key %q is not an unrelated hex SHA-256", s.Key)
	}
	pw, err := s.Password()
	if err != nil || string(pw) != "s3cret pässword" {
		t.Errorf("Password() = %q, %v", pw, err)
	}
	// The caller zeroes its copy; the next call still has the password.
	clear(pw)
	if pw, err := s.Password(); err != nil || string(pw) != "s3cret pässword" {
		t.Errorf("Password() after zeroing the first copy = %q, %v", pw, err)
	}

	// The public id and the store key are not the token's session id.
	td, _ := openToken(e.m.keyring.Load(), tok)
	if s.Key != storeKey(td.sid[:]) {
		t.Errorf("Key is not H(sid)")
	}
	for _, enc := range []string{string(td.sid[:]), tokenEncoding.EncodeToString(td.sid[:])} {
		if strings.Contains(info.ID, enc) {
			t.Errorf("public id contains the session id")
		}
	}

	// Nothing secret in the log.
	for _, secret := range []string{"s3cret", tok} {
		if strings.Contains(e.log.String(), secret) {
			t.Errorf("log contains a secret: %s", e.log)
		}
	}
}

func TestCreateRejects(t *testing.T) {
	ctx := context.Background()
	e := newTestManager(t)
	for _, tc := range []struct {
		name, user string
		kind       Kind
	}{
		{"unknown kind", "alice", "robot"},
		{"empty kind", "alice", ""},
		{"empty user", "", KindBrowser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := e.m.Create(ctx, tc.user, []byte("pw"), tc.kind, "", nil); err == nil {
				t.Error("Create succeeded, want error")
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		kind  Kind
		setup func(t *testing.T, e *managerEnv, tok string) string // returns the token to open
		want  error
	}{
		{"altered token", KindDevice, func(t *testing.T, e *managerEnv, tok string) string {
			b := []byte(tok)
			b[len(b)/2] = otherChar(b[len(b)/2])[0]
			return string(b)
		}, ErrInvalidToken},
		{"other keyring", KindDevice, func(t *testing.T, e *managerEnv, tok string) string {
			e.m.SetKeyring(newKeyring(t))
			return tok
		}, ErrInvalidToken},
		{"browser idle", KindBrowser, func(t *testing.T, e *managerEnv, tok string) string {
			e.clock.Add(testLimits.BrowserIdle + time.Second)
			return tok
		}, ErrRevoked},
		{"browser lifetime", KindBrowser, func(t *testing.T, e *managerEnv, tok string) string {
			// Used every 20 minutes, it still ends after its lifetime.
			end := e.clock.Now().Add(testLimits.BrowserLifetime)
			for e.clock.Now().Add(20 * time.Minute).Before(end) {
				e.clock.Add(20 * time.Minute)
				if _, err := e.m.Open(context.Background(), tok); err != nil {
					t.Fatalf("Open of a session in use: %v", err)
				}
			}
			e.clock.Add(20 * time.Minute)
			return tok
		}, ErrRevoked},
		{"device idle", KindDevice, func(t *testing.T, e *managerEnv, tok string) string {
			e.clock.Add(testLimits.DeviceIdle + time.Second)
			return tok
		}, ErrRevoked},
		{"device lifetime", KindDevice, func(t *testing.T, e *managerEnv, tok string) string {
			e.clock.Add(testLimits.DeviceLifetime)
			return tok
		}, ErrRevoked},
		{"record gone", KindDevice, func(t *testing.T, e *managerEnv, tok string) string {
			s, err := e.m.Open(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			e.store.Delete(context.Background(), s.User, s.Key)
			return tok
		}, ErrRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestManager(t)
			tok, _, err := e.m.Create(ctx, "alice", []byte("pw"), tc.kind, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			tok = tc.setup(t, e, tok)
			if _, err := e.m.Open(ctx, tok); !errors.Is(err, tc.want) {
				t.Errorf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOpenTouchesThrottled(t *testing.T) {
	ctx := context.Background()
	e := newTestManager(t)
	tok, _, err := e.m.Create(ctx, "alice", []byte("pw"), KindBrowser, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	lastUsed := func() time.Time {
		t.Helper()
		s, err := e.m.Open(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.store.Get(ctx, s.Key)
		if err != nil {
			t.Fatal(err)
		}
		return r.LastUsed
	}
	created := e.clock.Now()
	e.clock.Add(30 * time.Second)
	if got := lastUsed(); !got.Equal(created) {
		t.Errorf("LastUsed after a use within a minute = %v, want unchanged %v", got, created)
	}
	e.clock.Add(31 * time.Second)
	if got := lastUsed(); !got.Equal(e.clock.Now()) {
		t.Errorf("LastUsed after a use past a minute = %v, want %v", got, e.clock.Now())
	}
	// Touched sessions live past the idle limit counted from creation.
	for range 3 {
		e.clock.Add(testLimits.BrowserIdle - time.Minute)
		if _, err := e.m.Open(ctx, tok); err != nil {
			t.Fatalf("Open of a session in use: %v", err)
		}
	}
}

func TestListRevoke(t *testing.T) {
	ctx := context.Background()
	e := newTestManager(t)
	var ended []string
	e.m.OnEnd(func(key string) { ended = append(ended, key) })

	type sess struct {
		tok  string
		info Info
	}
	create := func(user, label string) sess {
		t.Helper()
		e.clock.Add(time.Second)
		tok, info, err := e.m.Create(ctx, user, []byte("pw"), KindDevice, label, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sess{tok, info}
	}
	a1, a2, a3 := create("alice", "laptop"), create("alice", "phone"), create("alice", "tablet")
	b1 := create("bob", "laptop")

	list, err := e.m.List(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Info{a1.info, a2.info, a3.info}, list); diff != "" {
		t.Errorf("List(alice) (-want +got):\n%s", diff)
	}

	if err := e.m.Revoke(ctx, "alice", b1.info.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke(bob's id as alice) = %v, want ErrNotFound", err)
	}
	if err := e.m.Revoke(ctx, "alice", "nonexistent"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke(unknown id) = %v, want ErrNotFound", err)
	}
	if len(ended) != 0 {
		t.Errorf("OnEnd ran for failed revocations: %v", ended)
	}

	s2, err := e.m.Open(ctx, a2.tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Revoke(ctx, "alice", a2.info.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := e.m.Open(ctx, a2.tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("Open(revoked) = %v, want ErrRevoked", err)
	}
	if diff := cmp.Diff([]string{s2.Key}, ended); diff != "" {
		t.Errorf("OnEnd keys (-want +got):\n%s", diff)
	}

	s1, err := e.m.Open(ctx, a1.tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.RevokeSession(ctx, s1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Open(ctx, a1.tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("Open after RevokeSession = %v, want ErrRevoked", err)
	}

	if err := e.m.RevokeAll(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Open(ctx, a3.tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("Open after RevokeAll = %v, want ErrRevoked", err)
	}
	if list, _ := e.m.List(ctx, "alice"); len(list) != 0 {
		t.Errorf("List after RevokeAll = %v, want none", list)
	}
	if _, err := e.m.Open(ctx, b1.tok); err != nil {
		t.Errorf("bob's session after RevokeAll(alice): %v", err)
	}
	if len(ended) != 3 {
		t.Errorf("OnEnd ran %d times, want 3", len(ended))
	}
	if err := e.m.Watch(ctx); err != nil {
		t.Errorf("Watch on a memory store = %v, want nil at once", err)
	}
}

// TestManagerKeyRotation: SetKeyring with an added key keeps old tokens
// working and seals new ones under the new key; dropping the old key ends
// its tokens.
func TestManagerKeyRotation(t *testing.T) {
	ctx := context.Background()
	path := newKeyringFile(t, 1)
	m := NewManager(ManagerOptions{Keyring: loadKeyring(t, path), Store: NewMemoryStore()})
	oldTok, _, err := m.Create(ctx, "alice", []byte("pw"), KindDevice, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	oldID := loadKeyring(t, path).NewestID()
	newID, err := AddKey(path)
	if err != nil {
		t.Fatal(err)
	}
	m.SetKeyring(loadKeyring(t, path))
	newTok, _, err := m.Create(ctx, "alice", []byte("pw"), KindDevice, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{oldTok, newTok} {
		if _, err := m.Open(ctx, tok); err != nil {
			t.Errorf("Open after rotation: %v", err)
		}
	}
	raw, _ := tokenEncoding.DecodeString(newTok)
	if got := uint32(raw[1])<<24 | uint32(raw[2])<<16 | uint32(raw[3])<<8 | uint32(raw[4]); got != newID {
		t.Errorf("new token's key id = %d, want the newest %d (old %d)", got, newID, oldID)
	}
	only, err := ParseKeyring(strings.NewReader(keyLine(t, path, newID)))
	if err != nil {
		t.Fatal(err)
	}
	m.SetKeyring(only)
	if _, err := m.Open(ctx, oldTok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Open(token of a removed key) = %v, want ErrInvalidToken", err)
	}
	if _, err := m.Open(ctx, newTok); err != nil {
		t.Errorf("Open(new token) after removing the old key: %v", err)
	}
}

// keyLine returns the keyring file's line for id.
func keyLine(t *testing.T, path string, id uint32) string {
	t.Helper()
	for _, l := range strings.Split(readFile(t, path), "\n") {
		if strings.HasPrefix(l, "key "+itoa(id)+" ") {
			return l + "\n"
		}
	}
	t.Fatalf("no line for key %d", id)
	return ""
}

func TestRecordBinding(t *testing.T) {
	k := bytes.Repeat([]byte{7}, sessionKeySize)
	sid := bytes.Repeat([]byte{1}, sidSize)
	now := time.Unix(1_700_000_000, 0)
	rec := &Record{ID: "pub", User: "alice", Kind: KindDevice, Label: "phone",
		Attrs: map[string]string{"ldap:homeDirectory": `\\fs1\alice`}, Created: now, LastUsed: now,
		Expires: now.Add(time.Hour), Idle: time.Minute}
	var err error
	if rec.Sealed, err = sealRecord(k, sid, rec, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rec.Sealed, []byte("pw")) {
		t.Error("sealed record contains the password")
	}
	otherK := bytes.Repeat([]byte{8}, sessionKeySize)
	otherSid := bytes.Repeat([]byte{2}, sidSize)
	for _, tc := range []struct {
		name   string
		k, sid []byte
		edit   func(r *Record)
		ok     bool
	}{
		{"round trip", k, sid, func(*Record) {}, true},
		{"last use moved by Touch", k, sid, func(r *Record) { r.LastUsed = now.Add(time.Minute) }, true},
		{"other sid", k, otherSid, func(*Record) {}, false},
		{"other key", otherK, sid, func(*Record) {}, false},
		{"tampered", k, sid, func(r *Record) { r.Sealed[len(r.Sealed)-1] ^= 1 }, false},
		{"truncated", k, sid, func(r *Record) { r.Sealed = r.Sealed[:10] }, false},
		{"user", k, sid, func(r *Record) { r.User = "bob" }, false},
		{"kind", k, sid, func(r *Record) { r.Kind = KindBrowser }, false},
		{"label", k, sid, func(r *Record) { r.Label = "x" }, false},
		{"public id", k, sid, func(r *Record) { r.ID = "other" }, false},
		{"attr changed", k, sid, func(r *Record) { r.Attrs["ldap:homeDirectory"] = `\\evil\x` }, false},
		{"attr added", k, sid, func(r *Record) { r.Attrs["ldap:x"] = "y" }, false},
		{"attrs dropped", k, sid, func(r *Record) { r.Attrs = nil }, false},
		{"created", k, sid, func(r *Record) { r.Created = now.Add(time.Second) }, false},
		{"expiry", k, sid, func(r *Record) { r.Expires = now.Add(100 * time.Hour) }, false},
		{"idle", k, sid, func(r *Record) { r.Idle = time.Hour }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rec.clone()
			tc.edit(r)
			pw, err := openRecord(tc.k, tc.sid, r)
			if tc.ok && (err != nil || string(pw) != "pw") {
				t.Errorf("openRecord = %q, %v; want pw", pw, err)
			}
			if !tc.ok && err == nil {
				t.Errorf("openRecord succeeded, want error")
			}
		})
	}
}

func TestRecordPadding(t *testing.T) {
	k := bytes.Repeat([]byte{7}, sessionKeySize)
	sid := bytes.Repeat([]byte{1}, sidSize)
	seal := func(pw string) []byte {
		r := &Record{ID: "pub", User: "alice", Kind: KindDevice}
		b, err := sealRecord(k, sid, r, []byte(pw))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	short, long := seal("a"), seal(strings.Repeat("x", 200))
	if len(short) != len(long) {
		t.Errorf("sealed lengths %d and %d differ: the ciphertext gives the password's length away", len(short), len(long))
	}
	if huge := seal(strings.Repeat("x", 300)); len(huge) != len(short)+padBucket {
		t.Errorf("a 300-byte password seals to %d bytes, want %d", len(huge), len(short)+padBucket)
	}
}

func TestSecretsNotFormatted(t *testing.T) {
	ctx := context.Background()
	e := newTestManager(t)
	tok, _, err := e.m.Create(ctx, "alice", []byte("s3cret-pw"), KindBrowser, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.m.Open(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	td, _ := openToken(e.m.keyring.Load(), tok)
	creds := Creds{User: "alice", Domain: "LAB", Password: "s3cret-pw"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "session", s, "creds", creds)
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s", s, s, s, s),
		fmt.Sprintf("%v %+v %#v %s", *s, *s, *s, *s),
		fmt.Sprintf("%v %+v %#v %s", creds, creds, creds, creds),
		logged.String(),
	} {
		if strings.Contains(out, "s3cret-pw") || strings.Contains(out, fmt.Sprint(td.key[:])) ||
			strings.Contains(out, fmt.Sprintf("%x", td.key[:])) || strings.Contains(out, fmt.Sprintf("%#v", td.key[:])) {
			t.Errorf("formatted output shows a secret: %s", out)
		}
	}
}

// TestAlteredRecordRefusedMemory is TestAlteredRecordRefused for the memory
// store: a record put back with another user is refused.
func TestAlteredRecordRefusedMemory(t *testing.T) {
	ctx := context.Background()
	e := newTestManager(t)
	tok, _, err := e.m.Create(ctx, "alice", []byte("pw"), KindDevice, "phone", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.m.Open(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.store.Get(ctx, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	r.Attrs = map[string]string{"ldap:homeDirectory": `\\evil\share`}
	if err := e.store.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Open(ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("Open of an altered record = %v, want ErrRevoked", err)
	}
	if !strings.Contains(e.log.String(), "session record altered") {
		t.Errorf("no warning in the log:\n%s", e.log.String())
	}
}
