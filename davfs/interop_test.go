package davfs

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// getetag is written with literal quotes (RFC 4918 section 15.6 gives the
// entity tag with its quotes), not as &#34;, which some clients' XML
// parsers do not decode; the value is the ETag header's.
func TestGetetagLiteralQuotes(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/f", strings.NewReader("x"))
	resp, _ := e.do(t, "HEAD", "/dav/data/f", nil)
	etag := resp.Header.Get("ETag")
	for _, p := range []string{"/dav/data/f", "/dav/"} {
		body := e.expect(t, 207, "PROPFIND", p, nil, "Depth", "0")
		if strings.Contains(body, "&#34;") || !strings.Contains(body, `<D:getetag>"`) {
			t.Errorf("PROPFIND %s: getetag not written with quotes:\n%s", p, body)
		}
		if p == "/dav/data/f" && !strings.Contains(body, "<D:getetag>"+etag+"</D:getetag>") {
			t.Errorf("getetag is not the ETag %s:\n%s", etag, body)
		}
	}
}

// A lock token sent without its angle brackets, in Lock-Token (UNLOCK,
// RFC 4918 section 10.5) or in If (a refresh, section 9.10.2, or a write
// under the lock), is understood: the JavaScript client "webdav" sends
// them so, and its locks would otherwise stay until they expire.
func TestBareLockTokens(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/l", strings.NewReader("x"))
	lock := func() string {
		t.Helper()
		resp, _ := e.do(t, "LOCK", "/dav/data/l", strings.NewReader(lockBody), "Timeout", "Second-60")
		tok := resp.Header.Get("Lock-Token")
		if resp.StatusCode != 200 || !strings.HasPrefix(tok, "<") {
			t.Fatalf("LOCK: %d %q", resp.StatusCode, tok)
		}
		return strings.Trim(tok, "<>")
	}
	tok := lock()
	for _, hdr := range []string{tok, "(" + tok + ")"} {
		if body := e.expect(t, 200, "LOCK", "/dav/data/l", nil, "If", hdr, "Timeout", "Second-3600"); !strings.Contains(body, "Second-3600") {
			t.Errorf("refresh with If %q:\n%s", hdr, body)
		}
	}
	e.expect(t, 204, "PUT", "/dav/data/l", strings.NewReader("y"), "If", "("+tok+")")
	e.expect(t, 204, "UNLOCK", "/dav/data/l", nil, "Lock-Token", tok)
	e.expect(t, 204, "PUT", "/dav/data/l", strings.NewReader("z")) // unlocked
	tok = lock()
	e.expect(t, 204, "UNLOCK", "/dav/data/l", nil, "Lock-Token", "<"+tok+">")
	e.expect(t, 400, "UNLOCK", "/dav/data/l", nil, "Lock-Token", "not a token")
}

// A chunked PUT announces its size in X-Expected-Entity-Length (macOS
// Finder): a body of another length is refused with 400 and replaces
// nothing.
func TestPutExpectedEntityLength(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/f", strings.NewReader("old"))
	put := func(body string, expected string) int {
		t.Helper()
		// an io.Reader of unknown length: sent chunked
		req, err := http.NewRequestWithContext(context.Background(), "PUT", e.srv.URL+"/dav/data/f", io.MultiReader(strings.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Expected-Entity-Length", expected)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct{ body, expected string }{{"short", "10"}, {"longer than said", "4"}} {
		if st := put(c.body, c.expected); st != 400 {
			t.Errorf("PUT of %d bytes, expected %s: %d, want 400", len(c.body), c.expected, st)
		}
		if got, _ := os.ReadFile(filepath.Join(e.dir, "f")); string(got) != "old" {
			t.Errorf("refused PUT replaced the file: %q", got)
		}
	}
	if len(tempFiles(t, e.dir)) != 0 {
		t.Errorf("temporary files left: %v", tempFiles(t, e.dir))
	}
	if st := put("exact", "5"); st != 204 {
		t.Errorf("PUT of the expected length: %d", st)
	}
}
