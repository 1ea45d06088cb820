package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/davgate/davgate/session"
)

// Master key rotation: keygen adds a newest key and SIGHUP loads it without
// dropping requests; tokens under the old key open until its line is
// removed from the file, then they get 401.
func TestEndToEndKeyRotationOnSIGHUP(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	keys := filepath.Join(f.dir, "master.keys")
	old := c.logon("dgalice", alicePass, http.StatusCreated)

	// Requests keep flowing while the keyring is reloaded.
	var stop atomic.Bool
	var failed atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			req, _ := http.NewRequest("PROPFIND", in.URL+"/dav/data/", nil)
			req.Header.Set("Depth", "0")
			req.Header.Set("Authorization", "Bearer "+old.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 207 {
				failed.Add(1)
			}
			if resp != nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()

	if err := run(context.Background(), []string{"davgate", "keygen", "--out", keys}, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	hup(t, in, 1)
	fresh := c.logon("dgalice", alicePass, http.StatusCreated)
	stop.Store(true)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed during the reload", n)
	}
	kr, err := session.LoadKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keyID(t, fresh.Token), kr.NewestID(); got != want || keyID(t, old.Token) == want {
		t.Errorf("new token's key id = %d, old token's = %d; want the new key %d", got, keyID(t, old.Token), want)
	}
	for _, tok := range []string{old.Token, fresh.Token} {
		if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(tok), "Depth", "0"); resp.StatusCode != 207 {
			t.Errorf("token before removing the old key: %d", resp.StatusCode)
		}
	}

	// Retire the old key: delete its line.
	b, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	removed := false
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !removed && bytes.HasPrefix(l, []byte("key ")) {
			removed = true
			continue
		}
		lines = append(lines, l)
	}
	if err := os.WriteFile(keys, bytes.Join(lines, []byte("\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(t, in, 2)
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(old.Token), "Depth", "0"); resp.StatusCode != 401 {
		t.Errorf("token under the removed key: %d, want 401", resp.StatusCode)
	}
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(fresh.Token), "Depth", "0"); resp.StatusCode != 207 {
		t.Errorf("token under the remaining key: %d, want 207", resp.StatusCode)
	}
}

// keyID reads the master key id from a token (version byte, then the id).
func keyID(t *testing.T, token string) uint32 {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 5 {
		t.Fatalf("token is not base64url: %v", err)
	}
	return binary.BigEndian.Uint32(raw[1:5])
}

// hup sends SIGHUP to this process (davgate runs in it) and waits for the
// n-th reload to be logged.
func hup(t *testing.T, in *instance, n int) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(in.Log.String(), "master keyring reloaded") < n {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged after SIGHUP:\n%s", in.Log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
