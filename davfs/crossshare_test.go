package davfs

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/davgate/davgate/internal/testenv"
)

// COPY and MOVE between two shares of the server, as a file manager that
// shows the share list as folders sends them: files and trees arrive whole
// with their dead properties, MOVE removes the source, Overwrite and
// missing parents behave as within a share, and a MOVE whose source cannot
// be removed keeps both and says so.
func TestCrossShare(t *testing.T) {
	e := startEnv(t, testenv.SmbdConfig{
		Users:  map[string]string{testUser: testPass},
		Shares: []testenv.Share{{Name: "data"}, {Name: "other"}},
	})
	other := e.smbd.SharePath("other")
	big := bytes.Repeat([]byte("cross-share "), 300000) // 3.6 MB: several chunks
	e.expect(t, 201, "PUT", "/dav/data/big.bin", bytes.NewReader(big))
	e.expect(t, 207, "PROPPATCH", "/dav/data/big.bin", proppatch(`<X:colour>blue</X:colour>`))
	e.expect(t, 201, "MKCOL", "/dav/data/tree", nil)
	e.expect(t, 201, "MKCOL", "/dav/data/tree/sub", nil)
	e.expect(t, 201, "PUT", "/dav/data/tree/sub/f.txt", strings.NewReader("leaf"))
	e.expect(t, 207, "PROPPATCH", "/dav/data/tree/", proppatch(`<X:colour>green</X:colour>`))
	to := func(p string) []string { return []string{"Destination", e.srv.URL + "/dav/other/" + p} }

	e.expect(t, 201, "COPY", "/dav/data/big.bin", nil, to("big.bin")...)
	if got, err := os.ReadFile(filepath.Join(other, "big.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("copied file: %d bytes, %v", len(got), err)
	}
	e.expect(t, 412, "COPY", "/dav/data/big.bin", nil, append(to("big.bin"), "Overwrite", "F")...)
	e.expect(t, 409, "COPY", "/dav/data/big.bin", nil, to("no/such/dir")...)
	e.expect(t, 409, "COPY", "/dav/data/big.bin", nil, "Destination", e.srv.URL+"/dav/nosuchshare/x")
	q := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><X:colour xmlns:X="http://example.com/x"/></D:prop></D:propfind>`
	if body := e.expect(t, 207, "PROPFIND", "/dav/other/big.bin", strings.NewReader(q), "Depth", "0"); !strings.Contains(body, ">blue<") {
		t.Errorf("copied file lost its property:\n%s", body)
	}

	// MOVE of a tree over an existing file: the file is replaced, the
	// source is gone.
	e.expect(t, 201, "PUT", "/dav/other/tree", strings.NewReader("in the way"))
	e.expect(t, 204, "MOVE", "/dav/data/tree/", nil, to("tree/")...)
	if got, err := os.ReadFile(filepath.Join(other, "tree", "sub", "f.txt")); err != nil || string(got) != "leaf" {
		t.Errorf("moved tree: %q, %v", got, err)
	}
	if body := e.expect(t, 207, "PROPFIND", "/dav/other/tree/", strings.NewReader(q), "Depth", "0"); !strings.Contains(body, ">green<") {
		t.Errorf("moved collection lost its property:\n%s", body)
	}
	e.expect(t, 404, "PROPFIND", "/dav/data/tree/", nil, "Depth", "0")

	// A source that cannot be removed: the copy is there, the source
	// stays, and the answer names it.
	ro := filepath.Join(e.dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil { // root's: the user cannot delete in it
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "keep.txt"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(t, "MOVE", "/dav/data/ro/", nil, to("ro/")...)
	if resp.StatusCode != 207 || !strings.Contains(body, "/dav/data/ro/keep.txt") {
		t.Errorf("MOVE of an undeletable tree = %d:\n%s", resp.StatusCode, body)
	}
	for _, p := range []string{filepath.Join(ro, "keep.txt"), filepath.Join(other, "ro", "keep.txt")} {
		if got, err := os.ReadFile(p); err != nil || string(got) != "keep" {
			t.Errorf("%s: %q, %v", p, got, err)
		}
	}
	if tf := append(tempFiles(t, e.dir), tempFiles(t, other)...); len(tf) != 0 {
		t.Errorf("temporary files left: %v", tf)
	}
}

// Dot segments in a Destination are resolved as in a request's path: one
// that climbs out of its share names the share it lands in, one that
// climbs out of /dav is refused.
func TestDestinationDotSegments(t *testing.T) {
	e := startEnv(t, testenv.SmbdConfig{
		Users:  map[string]string{testUser: testPass},
		Shares: []testenv.Share{{Name: "data"}, {Name: "other"}},
	})
	e.expect(t, 201, "PUT", "/dav/data/t.txt", strings.NewReader("t"))
	e.expect(t, 201, "COPY", "/dav/data/t.txt", nil, "Destination", e.srv.URL+"/dav/data/%2e%2e/other/t.txt")
	if got, err := os.ReadFile(filepath.Join(e.smbd.SharePath("other"), "t.txt")); err != nil || string(got) != "t" {
		t.Errorf("copy through ..: %q, %v", got, err)
	}
	e.expect(t, 502, "COPY", "/dav/data/t.txt", nil, "Destination", e.srv.URL+"/dav/data/%2e%2e/%2e%2e/x")
	if _, err := os.Stat(filepath.Join(e.dir, "x")); err == nil {
		t.Errorf("a Destination above /dav made data/x")
	}
}

// COPY of a tree within a share arrives whole: every file of every folder
// with its content and dead properties, the folders' properties too; a
// copy over an existing tree replaces it.
func TestCopyTree(t *testing.T) {
	e := newTestEnv(t)
	const dirs, files = 5, 60
	for d := range dirs {
		dir := filepath.Join(e.dir, "tree", fmt.Sprintf("d%d", d), "deeper")
		testenv.WritableDir(t, dir)
		for f := range files {
			p := filepath.Join(dir, fmt.Sprintf("f%d.txt", f))
			if err := os.WriteFile(p, []byte(fmt.Sprint(d, "/", f)), 0o666); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, 0o666) // the test user's to change, whatever the umask
		}
	}
	testenv.WritableDir(t, filepath.Join(e.dir, "tree"))
	for d := range dirs {
		testenv.WritableDir(t, filepath.Join(e.dir, "tree", fmt.Sprintf("d%d", d)))
	}
	colours := map[string]string{"d1/deeper/f7.txt": "blue", "d2/": "green"}
	for p, c := range colours {
		if body := e.expect(t, 207, "PROPPATCH", "/dav/data/tree/"+p, proppatch(`<X:colour>`+c+`</X:colour>`)); !strings.Contains(body, "200 OK") {
			t.Fatalf("PROPPATCH %s: %s", p, body)
		}
	}
	e.expect(t, 201, "MKCOL", "/dav/data/copy", nil)
	e.expect(t, 201, "PUT", "/dav/data/copy/stale.txt", strings.NewReader("replaced"))
	e.expect(t, 204, "COPY", "/dav/data/tree/", nil, "Destination", e.srv.URL+"/dav/data/copy/")
	for d := range dirs {
		for f := range files {
			p := filepath.Join(e.dir, "copy", fmt.Sprintf("d%d", d), "deeper", fmt.Sprintf("f%d.txt", f))
			if got, err := os.ReadFile(p); err != nil || string(got) != fmt.Sprint(d, "/", f) {
				t.Fatalf("%s: %q, %v", p, got, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "copy", "stale.txt")); err == nil {
		t.Errorf("the replaced tree's file is still there")
	}
	q := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><X:colour xmlns:X="http://example.com/x"/></D:prop></D:propfind>`
	for p, c := range colours {
		if body := e.expect(t, 207, "PROPFIND", "/dav/data/copy/"+p, strings.NewReader(q), "Depth", "0"); !strings.Contains(body, ">"+c+"<") {
			t.Errorf("%s lost its property:\n%s", p, body)
		}
	}
	if tf := tempFiles(t, filepath.Join(e.dir, "copy")); len(tf) != 0 {
		t.Errorf("temporary files left: %v", tf)
	}
}

// On a case-sensitive disk, a folder copied onto a name that differs only
// in case from it, where both exist, never costs the source or the
// destination their content, whatever the copy answers.
func TestCopyOntoCaseTwin(t *testing.T) {
	e := newTestEnv(t)
	for d, f := range map[string]string{"docs": "important.txt", "DOCS": "other.txt"} {
		testenv.WritableDir(t, filepath.Join(e.dir, "case", d))
		if err := os.WriteFile(filepath.Join(e.dir, "case", d, f), []byte(d), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WritableDir(t, filepath.Join(e.dir, "case"))
	resp, body := e.do(t, "COPY", "/dav/data/case/docs/", nil, "Destination", e.srv.URL+"/dav/data/case/DOCS/")
	t.Logf("COPY docs/ onto DOCS/: %d %q", resp.StatusCode, body)
	if got, err := os.ReadFile(filepath.Join(e.dir, "case", "docs", "important.txt")); err != nil || string(got) != "docs" {
		t.Errorf("source docs/important.txt: %q, %v", got, err)
	}
	_, errOld := os.Stat(filepath.Join(e.dir, "case", "DOCS", "other.txt"))
	_, errNew := os.Stat(filepath.Join(e.dir, "case", "DOCS", "important.txt"))
	if (errOld == nil) == (errNew == nil) {
		t.Errorf("DOCS holds neither its old content nor the copy alone (old: %v, copy: %v)", errOld, errNew)
	}
	if tf := tempFiles(t, filepath.Join(e.dir, "case")); len(tf) != 0 {
		t.Errorf("temporary files left: %v", tf)
	}
}

// Two shares that overlap on the server (one a folder of the other) name a
// folder twice: COPY or MOVE of it onto itself or into itself through the
// other share is refused (403) and changes nothing.
func TestCopyIntoItselfThroughOverlappingShare(t *testing.T) {
	e := newTestEnv(t, func(o *HandlerOptions) {
		o.Source.(*fakeSource).folders = map[string][2]string{"inner": {"data", "p9"}}
	})
	t9 := filepath.Join(e.dir, "p9", "t")
	testenv.WritableDir(t, filepath.Join(e.dir, "p9"))
	testenv.WritableDir(t, filepath.Join(t9, "sub"))
	testenv.WritableDir(t, t9)
	for p, c := range map[string]string{"fa": "A", "sub/fb": "B"} {
		if err := os.WriteFile(filepath.Join(t9, p), []byte(c), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	to := func(p string) []string { return []string{"Destination", e.srv.URL + "/dav/inner/" + p} }
	e.expect(t, 403, "COPY", "/dav/data/p9/t/", nil, to("t/")...)
	e.expect(t, 403, "MOVE", "/dav/data/p9/t/", nil, to("t/")...)
	e.expect(t, 403, "COPY", "/dav/data/p9/t/", nil, to("t/sub/inner/")...)
	e.expect(t, 403, "MOVE", "/dav/data/p9/t/fa", nil, to("t/fa")...)
	// nor onto a folder that holds it, which replacing would delete
	e.expect(t, 403, "MOVE", "/dav/data/p9/t/sub/", nil, to("t/")...)
	e.expect(t, 403, "COPY", "/dav/inner/t/sub/", nil, "Destination", e.srv.URL+"/dav/data/p9/t/")
	e.expect(t, 403, "COPY", "/dav/data/p9/t/sub/", nil, "Destination", e.srv.URL+"/dav/data/p9/t/")
	e.expect(t, 403, "MOVE", "/dav/data/p9/t/sub/", nil, "Destination", e.srv.URL+"/dav/data/p9/T/")
	for p, c := range map[string]string{"fa": "A", "sub/fb": "B"} {
		if got, err := os.ReadFile(filepath.Join(t9, p)); err != nil || string(got) != c {
			t.Errorf("%s: %q, %v", p, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join(t9, "sub", "inner")); err == nil {
		t.Errorf("a copy into itself was made")
	}
	// a copy to elsewhere in the overlapping share still works
	e.expect(t, 201, "COPY", "/dav/data/p9/t/", nil, to("t2/")...)
	if got, err := os.ReadFile(filepath.Join(e.dir, "p9", "t2", "sub", "fb")); err != nil || string(got) != "B" {
		t.Errorf("copy to t2: %q, %v", got, err)
	}
}

// A COPY into another share honours the destination's locks as a COPY
// within a share does: without the lock's token it is 423, with it 204.
func TestCrossShareCopyLockedDestination(t *testing.T) {
	e := startEnv(t, testenv.SmbdConfig{
		Users:  map[string]string{testUser: testPass},
		Shares: []testenv.Share{{Name: "data"}, {Name: "other"}},
	})
	e.expect(t, 201, "PUT", "/dav/data/s.txt", strings.NewReader("new"))
	e.expect(t, 201, "PUT", "/dav/other/d.txt", strings.NewReader("old"))
	resp, _ := e.do(t, "LOCK", "/dav/other/d.txt", strings.NewReader(lockBody))
	tok := resp.Header.Get("Lock-Token")
	dest := e.srv.URL + "/dav/other/d.txt"
	e.expect(t, 423, "COPY", "/dav/data/s.txt", nil, "Destination", dest)
	if got := e.expect(t, 200, "GET", "/dav/other/d.txt", nil); got != "old" {
		t.Fatalf("locked destination changed to %q", got)
	}
	e.expect(t, 204, "COPY", "/dav/data/s.txt", nil, "Destination", dest, "If", "<"+dest+"> ("+tok+")")
	if got := e.expect(t, 200, "GET", "/dav/other/d.txt", nil); got != "new" {
		t.Errorf("destination after the COPY with the token: %q", got)
	}
	// a MOVE may tag the destination's token too
	e.expect(t, 201, "PUT", "/dav/data/m.txt", strings.NewReader("moved"))
	e.expect(t, 204, "MOVE", "/dav/data/m.txt", nil, "Destination", dest, "If", "<"+dest+"> ("+tok+")")
	if got := e.expect(t, 200, "GET", "/dav/other/d.txt", nil); got != "moved" {
		t.Errorf("destination after the MOVE with the token: %q", got)
	}
}

// A lock taken through one of two overlapping shares holds through the
// other: their locks share a name space (Mount.ID is the folder's path
// under the share's id).
func TestLockThroughOverlappingShare(t *testing.T) {
	e := newTestEnv(t, func(o *HandlerOptions) {
		o.Source.(*fakeSource).folders = map[string][2]string{"inner": {"data", "p9"}}
		o.User = func(ctx context.Context) string { s, _ := ctx.Value(userKey{}).(string); return s }
	})
	inner := e.srv.Config.Handler
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, r.Header.Get("X-User"))))
	})
	testenv.WritableDir(t, filepath.Join(e.dir, "p9"))
	e.expect(t, 201, "PUT", "/dav/data/p9/lk.txt", strings.NewReader("alice"), "X-User", "alice")
	resp, _ := e.do(t, "LOCK", "/dav/data/p9/lk.txt", strings.NewReader(lockBody), "X-User", "alice")
	if resp.StatusCode != 200 {
		t.Fatalf("LOCK = %d", resp.StatusCode)
	}
	tok := resp.Header.Get("Lock-Token")
	e.expect(t, 423, "PUT", "/dav/inner/lk.txt", strings.NewReader("bob"), "X-User", "bob")
	e.expect(t, 423, "LOCK", "/dav/inner/lk.txt", strings.NewReader(lockBody), "X-User", "bob")
	if body := e.expect(t, 207, "PROPFIND", "/dav/inner/lk.txt", nil, "Depth", "0", "X-User", "bob"); !strings.Contains(body, tok[1:len(tok)-1]) {
		t.Errorf("lockdiscovery through the other share lacks the lock:\n%s", body)
	}
	e.expect(t, 204, "PUT", "/dav/inner/lk.txt", strings.NewReader("alice 2"), "X-User", "alice", "If", "("+tok+")")
}
