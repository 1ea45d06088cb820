package session

import (
	"errors"
	"testing"
)

// A sealed value opens for its purpose under any key of the keyring, and
// not for another purpose, altered, or after its key is gone.
func TestSealValue(t *testing.T) {
	path := newKeyringFile(t, 1)
	m := NewManager(ManagerOptions{Keyring: loadKeyring(t, path), Store: NewMemoryStore()})
	v, err := m.SealValue("upload", []byte("state"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.OpenValue("upload", v); err != nil || string(got) != "state" {
		t.Fatalf("OpenValue = %q, %v", got, err)
	}
	for name, tc := range map[string][2]string{
		"other purpose": {"token", v},
		"altered":       {"upload", v[:len(v)/2] + otherChar(v[len(v)/2]) + v[len(v)/2+1:]},
		"truncated":     {"upload", v[:10]},
	} {
		if _, err := m.OpenValue(tc[0], tc[1]); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("%s: %v, want ErrInvalidValue", name, err)
		}
	}
	if _, err := AddKey(path); err != nil {
		t.Fatal(err)
	}
	m.SetKeyring(loadKeyring(t, path))
	if got, err := m.OpenValue("upload", v); err != nil || string(got) != "state" {
		t.Errorf("after a new key: %q, %v", got, err)
	}
}
