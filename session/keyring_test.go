package session

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newKeyringFile creates a keyring file with n keys and returns its path.
func newKeyringFile(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.keys")
	for range n {
		if _, err := AddKey(path); err != nil {
			t.Fatalf("AddKey: %v", err)
		}
	}
	return path
}

func loadKeyring(t testing.TB, path string) *Keyring {
	t.Helper()
	kr, err := LoadKeyring(path)
	if err != nil {
		t.Fatalf("LoadKeyring: %v", err)
	}
	return kr
}

func newKeyring(t testing.TB) *Keyring {
	t.Helper()
	return loadKeyring(t, newKeyringFile(t, 1))
}

func TestAddKeyCreatesAndAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.keys")
	id1, err := AddKey(path)
	if err != nil {
		t.Fatalf("AddKey (create): %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("new keyring mode = %04o, want 0600", perm)
	}
	id2, err := AddKey(path)
	if err != nil {
		t.Fatalf("AddKey (append): %v", err)
	}
	if id1 == id2 {
		t.Fatalf("AddKey returned the same id %d twice", id1)
	}
	kr := loadKeyring(t, path)
	if got := kr.IDs(); len(got) != 2 || got[0] != id1 || got[1] != id2 {
		t.Errorf("IDs() = %v, want [%d %d]", got, id1, id2)
	}
	if kr.NewestID() != id2 {
		t.Errorf("NewestID() = %d, want the appended key %d", kr.NewestID(), id2)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("keyring mode after append = %04o, want 0600", fi.Mode().Perm())
	}
}

func TestLoadKeyringRefusesOpenModes(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o620} {
		t.Run(mode.String(), func(t *testing.T) {
			path := newKeyringFile(t, 1)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyring(path)
			if err == nil || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("LoadKeyring(mode %04o) = %v, want an error saying chmod 600", mode, err)
			}
			if _, err := AddKey(path); err == nil {
				t.Errorf("AddKey(mode %04o) succeeded, want refusal", mode)
			}
		})
	}
}

func TestParseKeyringErrors(t *testing.T) {
	const key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // 32 bytes
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "", "no keys"},
		{"only comments", "# nothing\n\n", "no keys"},
		{"bad keyword", "clé 1 " + key + "\n", "line 1"},
		{"bad id", "key x " + key + "\n", "uint32"},
		{"id too big", "key 4294967296 " + key + "\n", "uint32"},
		{"short key", "key 1 AAEC\n", "32 bytes"},
		{"duplicate id", "key 1 " + key + "\nkey 1 " + key + "\n", "duplicate"},
		{"too many fields", "key 1 " + key + " 2026-01-01T00:00:00Z extra\n", "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeyring(strings.NewReader(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseKeyring = %v, want error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}
}

func TestTokenRoundTrip(t *testing.T) {
	kr := newKeyring(t)
	in := &tokenData{expiry: time.Unix(1900000000, 0)}
	for i := range in.sid {
		in.sid[i] = byte(i)
	}
	for i := range in.key {
		in.key[i] = byte(100 + i)
	}
	tok, err := sealToken(kr, in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q is not unpadded base64url", tok)
	}
	out, err := openToken(kr, tok)
	if err != nil {
		t.Fatalf("openToken: %v", err)
	}
	if out.sid != in.sid || out.key != in.key || !out.expiry.Equal(in.expiry) {
		t.Errorf("openToken = %+v, want %+v", out, in)
	}
}

// TestTokenTamper changes every byte of a token, one at a time, and also
// truncates and extends it: each must be ErrInvalidToken.
func TestTokenTamper(t *testing.T) {
	kr := newKeyring(t)
	tok, err := sealToken(kr, &tokenData{expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tokenEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			b := append([]byte(nil), raw...)
			b[i] ^= flip
			if _, err := openToken(kr, tokenEncoding.EncodeToString(b)); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("byte %d ^ %#x: openToken = %v, want ErrInvalidToken", i, flip, err)
			}
		}
	}
	for _, tc := range []struct{ name, tok string }{
		{"empty", ""},
		{"truncated", tok[:len(tok)-1]},
		{"extended", tok + "A"},
		{"padded", tok + "="},
		{"std alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(tok) + "+"},
		{"last char changed", tok[:len(tok)-1] + otherChar(tok[len(tok)-1])},
		{"garbage", strings.Repeat("!", len(tok))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := openToken(kr, tc.tok); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("openToken = %v, want ErrInvalidToken", err)
			}
		})
	}
}

// TestKeyRotation: a token sealed under an old key opens while that key is
// in the file, new tokens use the newest key, and the old token stops
// opening once its key's line is removed.
func TestKeyRotation(t *testing.T) {
	path := newKeyringFile(t, 1)
	old := loadKeyring(t, path)
	oldTok, err := sealToken(old, &tokenData{expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	newID, err := AddKey(path)
	if err != nil {
		t.Fatal(err)
	}
	rotated := loadKeyring(t, path)
	if rotated.NewestID() != newID {
		t.Fatalf("NewestID = %d, want %d", rotated.NewestID(), newID)
	}
	if _, err := openToken(rotated, oldTok); err != nil {
		t.Errorf("old token with both keys: %v, want it to open", err)
	}
	newTok, err := sealToken(rotated, &tokenData{expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openToken(old, newTok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("new token with the old keyring only: %v, want ErrInvalidToken (sealed under the new key)", err)
	}

	// Retire the old key: drop its line.
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.SplitAfter(string(text), "\n") {
		if !strings.HasPrefix(l, "key ") || strings.HasPrefix(l, "key "+itoa(newID)+" ") {
			kept = append(kept, l)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	retired := loadKeyring(t, path)
	if len(retired.IDs()) != 1 {
		t.Fatalf("after removal IDs = %v, want only %d", retired.IDs(), newID)
	}
	if _, err := openToken(retired, oldTok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("old token after its key was removed: %v, want ErrInvalidToken", err)
	}
	if _, err := openToken(retired, newTok); err != nil {
		t.Errorf("new token after the old key was removed: %v", err)
	}
}

func itoa(id uint32) string { return strconv.FormatUint(uint64(id), 10) }

func otherChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
