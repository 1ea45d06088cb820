package davfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudsoda/go-smb2"
	"github.com/davgate/davgate/internal/testenv"
)

const (
	testUser = "davfsuser"
	testPass = "Davfs-pass-1"
)

// fakeSource is a ShareSource that dials the test smbd directly with
// go-smb2: one session, dialled again after a request saw it fail.
type fakeSource struct {
	smbd  *testenv.Smbd
	names []string // the smbd's shares, "data" if none are given
	// folders are more shares, each a folder of one of the smbd's:
	// name -> [smbd share, folder]
	folders map[string][2]string

	mu     sync.Mutex
	shares map[string]*smb2.Share
	// released, if set, sees every error a mount is handed back with.
	released func(share string, err error)
}

func (s *fakeSource) Names(ctx context.Context) ([]string, error) {
	if len(s.names) == 0 {
		return []string{"data"}, nil
	}
	return s.names, nil
}

func (s *fakeSource) Open(ctx context.Context, name string) (*Mount, error) {
	if f, ok := s.folders[name]; ok {
		m, err := s.Open(ctx, f[0])
		if err != nil {
			return nil, err
		}
		m.Root, m.ID = f[1], f[0]+"/"+f[1]
		return m, nil
	}
	if names, _ := s.Names(ctx); !slices.Contains(names, name) {
		return nil, ErrNoShare
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shares[name]
	if sh == nil {
		var err error
		if sh, err = mountShare(ctx, s.smbd, name); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		s.shares[name] = sh
	}
	release := func(err error) {
		if s.released != nil {
			s.released(name, err)
		}
		if errors.Is(err, ErrUnavailable) {
			s.mu.Lock()
			if s.shares[name] == sh {
				delete(s.shares, name)
			}
			s.mu.Unlock()
		}
	}
	return &Mount{Share: sh, Release: release}, nil
}

func mountShare(ctx context.Context, smbd *testenv.Smbd, name string) (*smb2.Share, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: testUser, Password: testPass}}
	s, err := d.Dial(ctx, smbd.Addr())
	if err != nil {
		return nil, err
	}
	return s.WithContext(ctx).Mount(name)
}

// testEnv is a davfs handler over a real smbd.
type testEnv struct {
	smbd   *testenv.Smbd
	srv    *httptest.Server
	share  *smb2.Share // direct SMB access to share "data"
	dir    string      // local directory backing share "data"
	client *http.Client
	h      *Handler
	src    *fakeSource
}

func dialShare(t testing.TB, smbd *testenv.Smbd, name string) *smb2.Share {
	t.Helper()
	nc, err := net.Dial("tcp", smbd.Addr())
	if err != nil {
		t.Fatalf("dial smbd: %v", err)
	}
	return mountOver(t, smbd, name, nc)
}

// mountOver logs on to smbd over conn and mounts share name, until the
// test ends.
func mountOver(t testing.TB, smbd *testenv.Smbd, name string, conn net.Conn) *smb2.Share {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: testUser, Password: testPass}}
	s, err := d.DialConn(ctx, conn, smbd.Addr())
	if err != nil {
		conn.Close()
		t.Fatalf("dial smbd: %v", err)
	}
	t.Cleanup(func() { s.Logoff() })
	sh, err := s.Mount(name)
	if err != nil {
		t.Fatalf("mount %s: %v", name, err)
	}
	t.Cleanup(func() { sh.Umount() })
	return sh
}

func newTestEnv(t testing.TB, opts ...func(*HandlerOptions)) *testEnv {
	t.Helper()
	return newTestEnvShare(t, "", opts...)
}

// newTestEnvShare is newTestEnv with extra lines for the share's section
// of smb.conf.
func newTestEnvShare(t testing.TB, extra string, opts ...func(*HandlerOptions)) *testEnv {
	t.Helper()
	return startEnv(t, testenv.SmbdConfig{
		Users:  map[string]string{testUser: testPass},
		Shares: []testenv.Share{{Name: "data", Extra: extra}},
	}, opts...)
}

// newTestEnvStock is newTestEnv on a share as a stock smbd serves it,
// without streams_xattr: no alternate data streams.
func newTestEnvStock(t testing.TB, opts ...func(*HandlerOptions)) *testEnv {
	t.Helper()
	return startEnv(t, testenv.SmbdConfig{
		Users:  map[string]string{testUser: testPass},
		Shares: []testenv.Share{{Name: "data", Stock: true}},
	}, opts...)
}

// newTestEnvGlobal is newTestEnv with extra [global] lines.
func newTestEnvGlobal(t testing.TB, global string, opts ...func(*HandlerOptions)) *testEnv {
	t.Helper()
	return startEnv(t, testenv.SmbdConfig{
		Users:  map[string]string{testUser: testPass},
		Shares: []testenv.Share{{Name: "data"}},
		Global: global,
	}, opts...)
}

func startEnv(t testing.TB, c testenv.SmbdConfig, opts ...func(*HandlerOptions)) *testEnv {
	t.Helper()
	smbd := testenv.StartSmbd(t, c)
	share := dialShare(t, smbd, "data")
	src := &fakeSource{smbd: smbd, shares: map[string]*smb2.Share{"data": dialShare(t, smbd, "data")}}
	for _, sh := range c.Shares {
		src.names = append(src.names, sh.Name)
	}
	o := HandlerOptions{Prefix: "/dav", Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, f := range opts {
		f(&o)
	}
	h := NewHandler(o)
	srv := newServer(t, h)
	return &testEnv{smbd: smbd, srv: srv, share: share, dir: smbd.SharePath("data"), client: srv.Client(), h: h, src: src}
}

func newServer(t testing.TB, h *Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/dav/", h)
	mux.Handle("/dav", h)
	mux.Handle("/", OptionsHandler())
	mux.Handle("PROPFIND /{$}", http.HandlerFunc(h.ServeServerRoot))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// do sends a request and returns the response with its body read.
func (e *testEnv) do(t testing.TB, method, p string, body io.Reader, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+p, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, p, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, p, err)
	}
	return resp, string(b)
}

func (e *testEnv) expect(t testing.TB, want int, method, p string, body io.Reader, hdr ...string) string {
	t.Helper()
	resp, b := e.do(t, method, p, body, hdr...)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %q", method, p, resp.StatusCode, want, b)
	}
	return b
}
