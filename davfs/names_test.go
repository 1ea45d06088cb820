package davfs

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
	"golang.org/x/text/unicode/norm"
)

// macOS sends decomposed names (NFD), Windows and browsers composed ones
// (NFC). davgate stores NFC and finds a name in either form.
func TestUnicodeNormalisation(t *testing.T) {
	e := newTestEnv(t)
	nfc := "café résumé.txt"
	nfd := norm.NFD.String(nfc)
	if nfc == nfd {
		t.Fatal("test names are equal")
	}
	esc := func(s string) string { return (&url.URL{Path: "/dav/data/" + s}).EscapedPath() }

	t.Run("created from Finder (NFD), found from Windows (NFC)", func(t *testing.T) {
		e.expect(t, 201, "PUT", esc(nfd), strings.NewReader("from mac"))
		if _, err := os.Stat(filepath.Join(e.dir, nfc)); err != nil {
			t.Fatalf("not stored as NFC: %v", err)
		}
		if got := e.expect(t, 200, "GET", esc(nfc), nil); got != "from mac" {
			t.Fatalf("GET NFC = %q", got)
		}
		e.expect(t, 204, "DELETE", esc(nfc), nil)
	})
	t.Run("created from Windows (NFC), found from Finder (NFD)", func(t *testing.T) {
		e.expect(t, 201, "PUT", esc(nfc), strings.NewReader("from windows"))
		if got := e.expect(t, 200, "GET", esc(nfd), nil); got != "from windows" {
			t.Fatalf("GET NFD = %q", got)
		}
		e.expect(t, 204, "DELETE", esc(nfd), nil)
	})
	t.Run("stored as NFD by another client, found in both forms", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(e.dir, nfd), []byte("stored nfd"), 0o666); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{nfc, nfd} {
			if got := e.expect(t, 200, "GET", esc(n), nil); got != "stored nfd" {
				t.Fatalf("GET %+q = %q", n, got)
			}
		}
		e.expect(t, 204, "PUT", esc(nfc), strings.NewReader("replaced"))
		if b, err := os.ReadFile(filepath.Join(e.dir, nfd)); err != nil || string(b) != "replaced" {
			t.Fatalf("NFD file = %q, %v", b, err)
		}
	})
}

// macOS and Windows metadata files are stored like any other file unless
// the configuration refuses them.
func TestRefuseNames(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/.DS_Store", strings.NewReader("x"))
	e.expect(t, 201, "PUT", "/dav/data/._a", strings.NewReader("x"))

	e = newTestEnv(t, func(o *HandlerOptions) { o.RefuseNames = []string{"._*", ".DS_Store", "Thumbs.db", "desktop.ini"} })
	e.expect(t, 403, "PUT", "/dav/data/.DS_Store", strings.NewReader("x"))
	e.expect(t, 403, "PUT", "/dav/data/._a", strings.NewReader("x"))
	e.expect(t, 403, "MKCOL", "/dav/data/Thumbs.db", nil)
	e.expect(t, 403, "PUT", "/dav/data/thumbs.DB", strings.NewReader("x")) // the same file on the server
	e.expect(t, 201, "PUT", "/dav/data/a", strings.NewReader("x"))
	e.expect(t, 403, "MOVE", "/dav/data/a", nil, "Destination", e.srv.URL+"/dav/data/desktop.ini")
	e.expect(t, 201, "PUT", "/dav/data/b", strings.NewReader("x"))
}

// davgate's temporary files are neither listed nor reachable, nor can a
// client create one.
func TestTemporaryNamesHidden(t *testing.T) {
	e := newTestEnv(t)
	os.WriteFile(filepath.Join(e.dir, tempPrefix+"x"), []byte("t"), 0o666)
	e.expect(t, 404, "GET", "/dav/data/"+tempPrefix+"x", nil)
	e.expect(t, 403, "PUT", "/dav/data/"+tempPrefix+"y", strings.NewReader("x")) // a name clients may not create
	if body := e.expect(t, 207, "PROPFIND", "/dav/data/", nil, "Depth", "1"); strings.Contains(body, tempPrefix) {
		t.Fatalf("listing shows a temporary file:\n%s", body)
	}
	// A copy's temporary folder left by a davgate that stopped, older than
	// staleTempAge, goes with the next listing; a fresh one stays.
	stale, fresh := filepath.Join(e.dir, tempPrefix+"stale"), filepath.Join(e.dir, tempPrefix+"fresh")
	for _, d := range []string{stale, fresh} {
		testenv.WritableDir(t, d)
		testenv.WritableDir(t, filepath.Join(d, "sub"))
		if err := os.WriteFile(filepath.Join(d, "sub", "f"), []byte("f"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-staleTempAge - time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	e.expect(t, 207, "PROPFIND", "/dav/data/", nil, "Depth", "1")
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("stale temporary folder still there")
	}
	if _, err := os.Stat(filepath.Join(fresh, "sub", "f")); err != nil {
		t.Errorf("fresh temporary folder: %v", err)
	}
}

// Names Windows cannot hold are refused with 400 when they would create a
// resource (Samba would list them under mangled names, a Windows server
// would strip a trailing dot), and so are bytes that are not UTF-8 (they
// would all become U+FFFD). A file stored under such a name by other means
// stays reachable.
func TestBadNames(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/ok.txt", strings.NewReader("ok"))
	for _, n := range []string{"trail.", "trail%20", "CON", "nul.txt", "Aux.tar.gz", "com1", "LPT9.log", "bad%ff.txt", "%fe"} {
		for _, c := range []struct {
			method string
			hdr    []string
		}{
			{"PUT", nil},
			{"MKCOL", nil},
		} {
			if resp, _ := e.do(t, c.method, "/dav/data/"+n, strings.NewReader(""), c.hdr...); resp.StatusCode != 400 {
				t.Errorf("%s %s = %d, want 400", c.method, n, resp.StatusCode)
			}
		}
		for _, m := range []string{"COPY", "MOVE"} {
			if resp, _ := e.do(t, m, "/dav/data/ok.txt", nil, "Destination", e.srv.URL+"/dav/data/"+n); resp.StatusCode != 400 {
				t.Errorf("%s to %s = %d, want 400", m, n, resp.StatusCode)
			}
		}
	}
	for _, n := range []string{"console.txt", "com10", "nul-points", "a.b", ".hidden", "LPT"} {
		e.expect(t, 201, "PUT", "/dav/data/"+url.PathEscape(n), strings.NewReader("x"))
	}
	if err := os.WriteFile(filepath.Join(e.dir, "made there."), []byte("there"), 0o666); err != nil {
		t.Fatal(err)
	}
	e.expect(t, 204, "PUT", "/dav/data/made%20there.", strings.NewReader("replaced"))
	if got, err := os.ReadFile(filepath.Join(e.dir, "made there.")); err != nil || string(got) != "replaced" {
		t.Errorf("existing file with a trailing dot: %q, %v", got, err)
	}
	entries, _ := os.ReadDir(e.dir)
	for _, de := range entries {
		if strings.ContainsRune(de.Name(), '\uFFFD') || strings.EqualFold(de.Name(), "con") || strings.HasSuffix(de.Name(), " ") {
			t.Errorf("stored %q", de.Name())
		}
	}
}

// A name no file on an SMB share can have (a wildcard, a reserved
// character, a colon, a control character) names no resource: a read of
// it (PROPFIND, GET, HEAD, DELETE, PROPPATCH, COPY or MOVE of it) is 404,
// as for any missing resource (rclone's backend tests check this), while
// a write that would create it keeps a clear 400.
func TestNamesThatCannotExist(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/ok.txt", strings.NewReader("ok"))
	for _, n := range []string{"a%3Fb", "a%22b", "a%3Cb", "a%3Eb", "a%5Cb", "a*b", "a%7Cb", "a:b", "d%3F/x", "a%01b"} {
		for _, m := range []string{"GET", "HEAD", "DELETE", "PROPPATCH", "COPY", "MOVE"} {
			if resp, _ := e.do(t, m, "/dav/data/"+n, nil, "Destination", e.srv.URL+"/dav/data/new"); resp.StatusCode != 404 {
				t.Errorf("%s %s = %d, want 404", m, n, resp.StatusCode)
			}
		}
		for _, d := range []string{"0", "1"} {
			if resp, _ := e.do(t, "PROPFIND", "/dav/data/"+n, nil, "Depth", d); resp.StatusCode != 404 {
				t.Errorf("PROPFIND %s = %d, want 404", n, resp.StatusCode)
			}
		}
		for _, m := range []string{"PUT", "MKCOL"} {
			if resp, _ := e.do(t, m, "/dav/data/"+n, strings.NewReader("")); resp.StatusCode != 400 {
				t.Errorf("%s %s = %d, want 400", m, n, resp.StatusCode)
			}
		}
		for _, m := range []string{"COPY", "MOVE"} {
			if resp, _ := e.do(t, m, "/dav/data/ok.txt", nil, "Destination", e.srv.URL+"/dav/data/"+n); resp.StatusCode != 400 {
				t.Errorf("%s to %s = %d, want 400", m, n, resp.StatusCode)
			}
		}
	}
}
