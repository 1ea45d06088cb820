package davfs

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testSealer seals with one AES-GCM key, as session.Manager does with the
// master keyring.
type testSealer struct{ a cipher.AEAD }

func newTestSealer(t testing.TB) *testSealer {
	key := make([]byte, 32)
	rand.Read(key)
	b, _ := aes.NewCipher(key)
	a, _ := cipher.NewGCM(b)
	return &testSealer{a}
}

func (s *testSealer) SealValue(purpose string, plain []byte) (string, error) {
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.a.Seal(nonce, nonce, plain, []byte(purpose))), nil
}

func (s *testSealer) OpenValue(purpose, sealed string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < 12 {
		return nil, errors.New("bad")
	}
	return s.a.Open(nil, raw[:12], raw[12:], []byte(purpose))
}

type testUserKey struct{}

// uploadServer serves e's handler with uploads and zip, the user taken
// from the X-Test-User header (the test's stand-in for authn).
func uploadServer(t testing.TB, e *testEnv, seal Sealer) *httptest.Server {
	t.Helper()
	h := NewHandler(HandlerOptions{Prefix: "/dav", Source: e.src, Locks: e.h.locks, Logger: e.h.log,
		User: func(ctx context.Context) string { s, _ := ctx.Value(testUserKey{}).(string); return s }})
	up := h.Uploads(UploadOptions{Prefix: "/api/v1/uploads", Sealer: seal})
	mux := http.NewServeMux()
	mux.Handle("/dav/", h)
	mux.Handle("/api/v1/uploads", up)
	mux.Handle("/api/v1/uploads/", up)
	mux.Handle("/api/v1/zip", h.ZipHandler())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), testUserKey{}, r.Header.Get("X-Test-User"))
		mux.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	return srv
}

type tusClient struct {
	t    testing.TB
	srv  *httptest.Server
	user string
}

func (c tusClient) do(method, p string, body io.Reader, size int64, hdr ...string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.srv.URL+p, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = size
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("X-Test-User", c.user)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, p, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// create starts an upload and returns its URL path.
func (c tusClient) create(target string, length int64, overwrite string, want int) string {
	c.t.Helper()
	meta := "target " + b64(target)
	if overwrite != "" {
		meta += ",overwrite " + b64(overwrite)
	}
	resp := c.do("POST", "/api/v1/uploads", nil, 0, "Upload-Length", strconv.FormatInt(length, 10), "Upload-Metadata", meta)
	if resp.StatusCode != want {
		c.t.Fatalf("create %s: %d, want %d", target, resp.StatusCode, want)
	}
	return resp.Header.Get("Location")
}

func (c tusClient) patch(loc string, off int64, body []byte) *http.Response {
	c.t.Helper()
	return c.do("PATCH", loc, bytes.NewReader(body), int64(len(body)),
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.FormatInt(off, 10))
}

func (c tusClient) offset(loc string) int64 {
	c.t.Helper()
	resp := c.do("HEAD", loc, nil, 0)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		c.t.Fatalf("HEAD %s: %d, Cache-Control %q", loc, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	n, _ := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	return n
}

// cutReader yields n bytes of b and then fails, as a browser whose
// network drops mid-request.
type cutReader struct {
	r io.Reader
	n int
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errors.New("network gone")
	}
	p = p[:min(len(p), c.n)]
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

func uploadTemps(t testing.TB, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, tempPrefix+uploadTempInfix+"*"))
	return m
}

// A tus upload cut off mid-chunk resumes from the offset HEAD reports,
// on another instance too (the state is in the id, the offset is the
// temporary file's size); the existing target is untouched until the last
// byte, and the bytes read back over SMB are the source's.
func TestUploadResumeAfterCut(t *testing.T) {
	e := newTestEnv(t)
	seal := newTestSealer(t)
	c := tusClient{t: t, srv: uploadServer(t, e, seal), user: "alice"}
	other := tusClient{t: t, srv: uploadServer(t, e, seal), user: "alice"} // a second instance
	data := make([]byte, 6<<20+4321)
	rand.Read(data)
	old := []byte("the old version")
	os.WriteFile(filepath.Join(e.dir, "big file #1.bin"), old, 0o666)

	loc := c.create("/dav/data/big file #1.bin", int64(len(data)), "T", 201)
	if resp := c.patch(loc, 0, data[:2<<20]); resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != strconv.Itoa(2<<20) {
		t.Fatalf("PATCH 1: %d offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	// the second chunk is cut after 1.5 MiB: the client closes the body
	req, _ := http.NewRequest("PATCH", c.srv.URL+loc, &cutReader{bytes.NewReader(data[2<<20 : 5<<20]), 3 << 19})
	req.ContentLength = 3 << 20
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("X-Test-User", "alice")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.Itoa(2<<20))
	if resp, err := c.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("cut PATCH answered %d", resp.StatusCode)
	}
	// HEAD waits for the cut PATCH once its handler runs; as the web app,
	// the test asks again a moment later in case it had not yet started.
	off := c.offset(loc)
	for deadline := time.Now().Add(5 * time.Second); off == 2<<20 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		off = c.offset(loc)
	}
	if off <= 2<<20 || off > 2<<20+3<<19 {
		t.Fatalf("offset after the cut = %d, want between %d and %d", off, 2<<20, 2<<20+3<<19)
	}
	if got, _ := os.ReadFile(filepath.Join(e.dir, "big file #1.bin")); !bytes.Equal(got, old) {
		t.Fatalf("target changed before the upload was whole: %d bytes", len(got))
	}
	if resp := other.patch(loc, off-1, data[off-1:]); resp.StatusCode != 409 {
		t.Fatalf("PATCH at a wrong offset = %d, want 409", resp.StatusCode)
	}
	if resp := other.patch(loc, off, data[off:]); resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("resumed PATCH: %d offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	got, err := e.share.ReadFile("big file #1.bin")
	if err != nil || sha(got) != sha(data) {
		t.Fatalf("file read back over SMB: %d bytes, %v; want the source's %d", len(got), err, len(data))
	}
	if m := uploadTemps(t, e.dir); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
	if resp := c.do("HEAD", loc, nil, 0); resp.StatusCode != 404 {
		t.Errorf("HEAD of a completed upload = %d, want 404", resp.StatusCode)
	}
}

// Overwrite F: an existing target is 412 at creation, and a target made
// while the upload ran is 412 at its end; neither is replaced.
func TestUploadOverwriteF(t *testing.T) {
	e := newTestEnv(t)
	c := tusClient{t: t, srv: uploadServer(t, e, newTestSealer(t)), user: "alice"}
	os.WriteFile(filepath.Join(e.dir, "keep.txt"), []byte("keep"), 0o666)
	c.create("/dav/data/keep.txt", 3, "F", 412)
	loc := c.create("/dav/data/later.txt", 3, "F", 201)
	os.WriteFile(filepath.Join(e.dir, "later.txt"), []byte("first"), 0o666)
	if resp := c.patch(loc, 0, []byte("new")); resp.StatusCode != 412 {
		t.Fatalf("last PATCH onto a file made meanwhile = %d, want 412", resp.StatusCode)
	}
	for name, want := range map[string]string{"keep.txt": "keep", "later.txt": "first"} {
		if got, _ := os.ReadFile(filepath.Join(e.dir, name)); string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if m := uploadTemps(t, e.dir); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
	c.create("/dav/data/nodir/x.txt", 3, "", 409)
	c.create("/dav/data/"+tempPrefix+"x", 3, "", 403)
	c.create("/dav/nosuchshare/x", 3, "", 404)
}

// Only the user who created an upload sees or continues it; a changed id
// is no upload. Another user's lock on the target refuses it (423).
func TestUploadOtherUser(t *testing.T) {
	e := newTestEnv(t)
	srv := uploadServer(t, e, newTestSealer(t))
	alice, bob := tusClient{t: t, srv: srv, user: "alice"}, tusClient{t: t, srv: srv, user: "bob"}
	loc := alice.create("/dav/data/mine.txt", 6, "", 201)
	if resp := alice.patch(loc, 0, []byte("abc")); resp.StatusCode != 204 {
		t.Fatalf("PATCH = %d", resp.StatusCode)
	}
	if resp := bob.patch(loc, 3, []byte("xyz")); resp.StatusCode != 404 {
		t.Errorf("bob's PATCH = %d, want 404", resp.StatusCode)
	}
	for _, m := range []string{"HEAD", "DELETE"} {
		if resp := bob.do(m, loc, nil, 0); resp.StatusCode != 404 {
			t.Errorf("bob's %s = %d, want 404", m, resp.StatusCode)
		}
	}
	tampered := loc[:len(loc)-3] + "AAA"
	if resp := alice.do("HEAD", tampered, nil, 0); resp.StatusCode != 404 {
		t.Errorf("HEAD of a changed id = %d, want 404", resp.StatusCode)
	}
	if resp := alice.patch(loc, 3, []byte("def")); resp.StatusCode != 204 {
		t.Fatalf("alice's last PATCH = %d", resp.StatusCode)
	}
	if got, _ := os.ReadFile(filepath.Join(e.dir, "mine.txt")); string(got) != "abcdef" {
		t.Errorf("mine.txt = %q", got)
	}

	lockBody := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	req, _ := http.NewRequest("LOCK", srv.URL+"/dav/data/mine.txt", strings.NewReader(lockBody))
	req.Header.Set("X-Test-User", "bob")
	resp, err := srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("bob's LOCK: %v %v", resp, err)
	}
	resp.Body.Close()
	alice.create("/dav/data/mine.txt", 3, "T", 423)
	bob.create("/dav/data/mine.txt", 3, "T", 201) // his own lock does not refuse him
}

// An upload not written to for a day is removed on its next HEAD, and by
// a listing of its folder; DELETE removes one at once.
func TestUploadStaleSwept(t *testing.T) {
	e := newTestEnv(t)
	c := tusClient{t: t, srv: uploadServer(t, e, newTestSealer(t)), user: "alice"}
	age := func() {
		for _, p := range uploadTemps(t, e.dir) {
			past := time.Now().Add(-uploadExpiry - time.Hour)
			os.Chtimes(p, past, past)
		}
	}
	loc := c.create("/dav/data/stale.txt", 10, "", 201)
	c.patch(loc, 0, []byte("12345"))
	age()
	if resp := c.do("HEAD", loc, nil, 0); resp.StatusCode != 404 {
		t.Errorf("HEAD of a stale upload = %d, want 404", resp.StatusCode)
	}
	if m := uploadTemps(t, e.dir); len(m) != 0 {
		t.Errorf("stale upload left after HEAD: %v", m)
	}
	c.create("/dav/data/stale2.txt", 10, "", 201)
	age()
	e.expect(t, 207, "PROPFIND", "/dav/data/", nil, "Depth", "1")
	if m := uploadTemps(t, e.dir); len(m) != 0 {
		t.Errorf("stale upload left after a listing: %v", m)
	}
	loc = c.create("/dav/data/gone.txt", 10, "", 201)
	if resp := c.do("DELETE", loc, nil, 0); resp.StatusCode != 204 {
		t.Errorf("DELETE = %d", resp.StatusCode)
	}
	if m := uploadTemps(t, e.dir); len(m) != 0 {
		t.Errorf("terminated upload left: %v", m)
	}
	if resp := c.patch(loc, 0, []byte("x")); resp.StatusCode != 404 {
		t.Errorf("PATCH after DELETE = %d, want 404", resp.StatusCode)
	}
}
