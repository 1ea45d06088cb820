package session

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The keyring file is UTF-8 text, one key a line:
//
//	# comments and blank lines are ignored
//	key <id> <key> <created>
//
// id is a decimal uint32, key is 32 bytes in standard base64 (with padding),
// created is an RFC 3339 time (informational). The last key in the file is
// the newest: it seals new tokens. Every key in the file opens tokens, so a
// key is retired by deleting its line, after which its tokens no longer open.
// The file must not be accessible by group or others (mode 0600), unless
// another user gave it to one of davgate's groups read-only (0440, as
// Kubernetes mounts a Secret for a pod with fsGroup).
const keyringHeader = `# davgate master keyring: keep it secret, mode 0600.
# One key a line: "key <id> <base64 of 32 random bytes> <created RFC 3339>".
# The last key seals new tokens; every key here opens tokens.
# Delete a line to retire its key; tokens sealed under it stop working.
`

// keySize is the size of a master key (AES-256).
const keySize = 32

// Keyring holds master keys by id. The newest seals tokens, all open them.
// A Keyring is immutable and safe for concurrent use.
type Keyring struct {
	ids   []uint32 // file order; the last is the newest
	aeads map[uint32]cipher.AEAD
}

// NewestID is the id of the key that seals new tokens.
func (k *Keyring) NewestID() uint32 { return k.ids[len(k.ids)-1] }

// IDs lists the key ids, oldest first.
func (k *Keyring) IDs() []uint32 { return append([]uint32(nil), k.ids...) }

func (k *Keyring) aead(id uint32) (cipher.AEAD, bool) {
	a, ok := k.aeads[id]
	return a, ok
}

// LoadKeyring reads a keyring file. It refuses a file that group or others
// may read or write, and a file without keys.
func LoadKeyring(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load keyring: %w", err)
	}
	defer f.Close()
	if err := checkKeyringMode(f, path); err != nil {
		return nil, fmt.Errorf("load keyring: %w", err)
	}
	kr, err := ParseKeyring(f)
	if err != nil {
		return nil, fmt.Errorf("load keyring %s: %w", path, err)
	}
	return kr, nil
}

func checkKeyringMode(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && !readOnlyForOurGroup(fi) {
		return fmt.Errorf("%s is accessible by group or others (mode %04o); run chmod 600 on it", path, perm)
	}
	return nil
}

// ParseKeyring reads keys in the keyring file format. Errors name the line
// but never repeat its content.
func ParseKeyring(r io.Reader) (*Keyring, error) {
	kr := &Keyring{aeads: make(map[uint32]cipher.AEAD)}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || len(f) > 4 || f[0] != "key" {
			return nil, fmt.Errorf("line %d: want \"key <id> <base64 key> [created]\"", n)
		}
		id64, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("line %d: key id is not a uint32", n)
		}
		id := uint32(id64)
		if _, dup := kr.aeads[id]; dup {
			return nil, fmt.Errorf("line %d: duplicate key id %d", n, id)
		}
		key, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil || len(key) != keySize {
			return nil, fmt.Errorf("line %d: key %d is not %d bytes of base64", n, id, keySize)
		}
		a, err := newAEAD(key)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		kr.ids = append(kr.ids, id)
		kr.aeads[id] = a
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(kr.ids) == 0 {
		return nil, errors.New("no keys")
	}
	return kr, nil
}

// AddKey adds a new newest key (32 random bytes, an unused random id) to
// the keyring file at path, creating the file with mode 0600 if it does
// not exist. The file is replaced atomically, so a process reloading it
// never sees half a file. An existing file that group or others can access,
// or that does not parse, is left alone and reported.
func AddKey(path string) (id uint32, err error) {
	var old []byte
	used := map[uint32]bool{}
	f, err := os.Open(path)
	switch {
	case err == nil:
		defer f.Close()
		if err := checkKeyringMode(f, path); err != nil {
			return 0, fmt.Errorf("add key: %w", err)
		}
		if old, err = io.ReadAll(f); err != nil {
			return 0, fmt.Errorf("add key: %w", err)
		}
		kr, err := ParseKeyring(bytes.NewReader(old))
		if err != nil {
			return 0, fmt.Errorf("add key: keyring %s: %w", path, err)
		}
		for _, id := range kr.ids {
			used[id] = true
		}
	case errors.Is(err, fs.ErrNotExist):
		old = []byte(keyringHeader)
	default:
		return 0, fmt.Errorf("add key: %w", err)
	}

	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return 0, fmt.Errorf("add key: %w", err)
	}
	for id == 0 || used[id] {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("add key: %w", err)
		}
		id = binary.BigEndian.Uint32(b[:])
	}

	var buf bytes.Buffer
	buf.Write(old)
	if len(old) > 0 && old[len(old)-1] != '\n' {
		buf.WriteByte('\n')
	}
	fmt.Fprintf(&buf, "key %d %s %s\n", id, base64.StdEncoding.EncodeToString(key), time.Now().UTC().Format(time.RFC3339))
	if err := writeFileAtomic(path, buf.Bytes(), 0o600); err != nil {
		return 0, fmt.Errorf("add key: %w", err)
	}
	return id, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
