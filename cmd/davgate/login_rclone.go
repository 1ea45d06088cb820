package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// An rclone remote for davgate, written as `rclone config create NAME
// webdav url=... vendor=other user=... pass=... --obscure` would: the
// same keys as the Devices page's instructions, the token obscured as
// rclone obscures passwords (which only hides it from a glance: the file
// is made 0600). The rest of the file is kept as it was.

// rcloneTarget is where a remote will be written.
type rcloneTarget struct {
	path, remote string
	force        bool
}

// rcloneRemoteName is what rclone accepts as a remote name (fs/config's
// ConfigNameRe, less its rarer characters).
var rcloneRemoteName = regexp.MustCompile(`^[\w.+@-][\w.+@ -]*$`)

// newRcloneTarget checks that remote can be written to the config file
// (path, else rclone's default): a valid name, a readable unencrypted
// file, and no remote of that name unless force.
func newRcloneTarget(path, remote string, force bool, getenv func(string) string) (*rcloneTarget, error) {
	if !rcloneRemoteName.MatchString(remote) || strings.HasSuffix(remote, " ") || strings.HasPrefix(remote, "-") {
		return nil, fmt.Errorf("--rclone %q: not a valid rclone remote name", remote)
	}
	if path == "" {
		path = rcloneConfigPath(getenv)
	}
	if path == "" {
		return nil, errors.New("cannot tell where rclone's config is: set --rclone-config FILE")
	}
	t := &rcloneTarget{path: path, remote: remote, force: force}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rclone config: %w", err)
	}
	if _, _, found, err := findRcloneSection(b, remote); err != nil {
		return nil, fmt.Errorf("rclone config %s: %w", path, err)
	} else if found && !force {
		return nil, fmt.Errorf("rclone config %s already has a remote %q: choose another --rclone name, or replace it with --force", path, remote)
	}
	return t, nil
}

// rcloneConfigPath is the config file rclone itself uses: $RCLONE_CONFIG,
// else $XDG_CONFIG_HOME/rclone/rclone.conf or ~/.config/rclone/rclone.conf,
// or the old ~/.rclone.conf where only that exists.
func rcloneConfigPath(getenv func(string) string) string {
	if p := getenv("RCLONE_CONFIG"); p != "" {
		return p
	}
	home := getenv("HOME")
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" && home != "" {
		dir = filepath.Join(home, ".config")
	}
	if dir == "" {
		return ""
	}
	p := filepath.Join(dir, "rclone", "rclone.conf")
	if _, err := os.Stat(p); err != nil && home != "" {
		if _, err := os.Stat(filepath.Join(home, ".rclone.conf")); err == nil {
			return filepath.Join(home, ".rclone.conf")
		}
	}
	return p
}

// findRcloneSection returns the byte range of [remote] (header to the
// next header or the end) in an rclone config file.
func findRcloneSection(b []byte, remote string) (start, end int, found bool, err error) {
	// rclone writes "# Encrypted rclone configuration File", then this.
	if bytes.HasPrefix(b, []byte("RCLONE_ENCRYPT_")) || bytes.Contains(b, []byte("\nRCLONE_ENCRYPT_")) {
		return 0, 0, false, errors.New("the file is encrypted; add the remote with rclone config instead")
	}
	off := 0
	start = -1
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		l := strings.TrimSpace(string(line))
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			if start >= 0 {
				return start, off, true, nil
			}
			if strings.TrimSpace(l[1:len(l)-1]) == remote {
				start = off
			}
		}
		off += len(line)
	}
	if start >= 0 {
		return start, len(b), true, nil
	}
	return 0, 0, false, nil
}

// write adds the remote for davURL, user and token, replacing one of the
// same name only if forced; the file is replaced atomically, mode 0600.
func (t *rcloneTarget) write(davURL, user, token string) error {
	pass, err := rcloneObscure(token)
	if err != nil {
		return err
	}
	section := fmt.Sprintf("[%s]\ntype = webdav\nurl = %s\nvendor = other\nuser = %s\npass = %s\n", t.remote, davURL, user, pass)
	old, err := os.ReadFile(t.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rclone config: %w", err)
	}
	start, end, found, err := findRcloneSection(old, t.remote)
	if err != nil {
		return fmt.Errorf("rclone config %s: %w", t.path, err)
	}
	var out []byte
	switch {
	case found && !t.force:
		return fmt.Errorf("rclone config %s already has a remote %q (added meanwhile); use --force to replace it", t.path, t.remote)
	case found:
		out = append(append(append(out, old[:start]...), section...), trailing(old[end:])...)
	default:
		out = append(out, old...)
		for len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n")) {
			out = append(out, '\n') // a blank line before the new section
		}
		out = append(out, section...)
	}
	return writePrivate(t.path, out)
}

// trailing is what follows a replaced section, after a blank line.
func trailing(rest []byte) []byte {
	if len(rest) == 0 {
		return nil
	}
	return append([]byte("\n"), rest...)
}

// writePrivate replaces path with b through a temporary file, mode 0600,
// making its directory (0700) if needed.
func writePrivate(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("rclone config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".rclone.conf.*")
	if err != nil {
		return fmt.Errorf("rclone config: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename, nothing is there
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("rclone config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("rclone config: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rclone config: %w", err)
	}
	return nil
}

// rcloneObscureKey is rclone's published key for obscuring passwords in
// its config (fs/config/obscure): not a secret, only a fixed encoding.
var rcloneObscureKey = []byte{
	0x9c, 0x93, 0x5b, 0x48, 0x73, 0x0a, 0x55, 0x4d,
	0x6b, 0xfd, 0x7c, 0x63, 0xc8, 0x86, 0xa9, 0x2b,
	0xd3, 0x90, 0x19, 0x8e, 0xb8, 0x12, 0x8a, 0xfb,
	0xf4, 0xde, 0x16, 0x2b, 0x8b, 0x95, 0xf6, 0x38,
}

// rcloneObscure encodes s as `rclone obscure` does: base64url of a random
// IV and s under AES-256-CTR with rclone's key.
func rcloneObscure(s string) (string, error) {
	block, err := aes.NewCipher(rcloneObscureKey)
	if err != nil {
		return "", err
	}
	out := make([]byte, aes.BlockSize+len(s))
	if _, err := rand.Read(out[:aes.BlockSize]); err != nil {
		return "", fmt.Errorf("obscure: %w", err)
	}
	cipher.NewCTR(block, out[:aes.BlockSize]).XORKeyStream(out[aes.BlockSize:], []byte(s))
	return base64.RawURLEncoding.EncodeToString(out), nil
}
