package session_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/davgate/davgate/session"
)

// A session from log-on to revocation, with the in-memory store.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "davgate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keys := filepath.Join(dir, "master.keys")
	if _, err := session.AddKey(keys); err != nil { // davgate keygen
		log.Fatal(err)
	}
	kr, err := session.LoadKeyring(keys)
	if err != nil {
		log.Fatal(err)
	}
	m := session.NewManager(session.ManagerOptions{Keyring: kr, Store: session.NewMemoryStore()})
	pool := session.NewPool(session.PoolOptions{})
	m.OnEnd(pool.Close) // a revoked session's SMB connections close at once

	// After authn has verified the password:
	token, info, err := m.Create(ctx, "alice", []byte("alice's password"), session.KindDevice, "laptop", nil)
	if err != nil {
		log.Fatal(err)
	}

	// On every request:
	s, err := m.Open(ctx, token)
	if err != nil {
		log.Fatal(err) // ErrInvalidToken, ErrRevoked: 401; else 503
	}
	pw, _ := s.Password() // only to dial the file server; pool.Mount calls back for it
	fmt.Println(s.User, s.Kind, s.Label, len(pw) > 0)
	clear(pw) // zero it once used

	if err := m.Revoke(ctx, "alice", info.ID); err != nil {
		log.Fatal(err)
	}
	_, err = m.Open(ctx, token)
	fmt.Println(err)
	// Output:
	// alice device laptop true
	// session ended
}

func ExampleShareURL_Expand() {
	u, err := session.ParseShareURL("smb://files.example.com/homes/{user}/Documents")
	if err != nil {
		log.Fatal(err)
	}
	home, err := u.Expand(map[string]string{"user": "alice"})
	fmt.Println(home.Addr(), home.Share, home.Path, err)
	_, err = u.Expand(map[string]string{"user": "../bob"})
	fmt.Println(err)
	// Output:
	// files.example.com:445 homes alice/Documents <nil>
	// expand share URL: value of {user} holds ".."
}
