package connlimit

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Over TLS, a request marked authenticated takes its connection off the
// count, and a closed connection leaves it too; refusals are logged once
// per burst.
func TestTLSMarkAndClose(t *testing.T) {
	var logs syncBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth" {
			MarkAuthenticated(r.Context())
		}
	}))
	l := New(srv.Listener, 2, log)
	srv.Listener = l
	srv.Config.ConnContext = l.ConnContext
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelWarn)
	srv.StartTLS()
	defer srv.Close()
	hc := srv.Client()

	resp, err := hc.Get(srv.URL + "/auth")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	waitFor(t, "the authenticated connection off the count", func() bool { return l.Unauthenticated() == 0 })

	addr := strings.TrimPrefix(srv.URL, "https://")
	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	waitFor(t, "2 counted", func() bool { return l.Unauthenticated() == 2 })
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(logs.String(), "limit reached"); n != 1 {
		t.Errorf("limit logged %d times, want 1:\n%s", n, logs.String())
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "closed connections off the count", func() bool { return l.Unauthenticated() == 0 })

	// The authenticated connection, kept alive, still answers.
	resp, err = hc.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "a new connection accepted", func() bool { return l.Unauthenticated() == 1 })
	if !strings.Contains(logs.String(), "accepting again") {
		t.Errorf("end of the burst not logged:\n%s", logs.String())
	}
}
