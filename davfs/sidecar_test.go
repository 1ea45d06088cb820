package davfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// On a share of a stock smbd (no streams_xattr) dead properties (RFC 4918
// section 4) live in hidden sidecar files: PROPPATCH answers 207 with 200
// per property, and the properties survive MOVE (section 9.9), COPY
// (section 9.8.2) and a PUT that replaces the file, of files and
// collections; DELETE takes them along, and a listing never shows them.
func TestDeadPropertiesStockShare(t *testing.T) {
	e := newTestEnvStock(t)
	q := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><X:colour xmlns:X="http://example.com/x"/></D:prop></D:propfind>`
	colour := func(p string) string {
		t.Helper()
		body := e.expect(t, 207, "PROPFIND", p, strings.NewReader(q), "Depth", "0")
		if strings.Contains(body, ">blue<") {
			return "blue"
		}
		return ""
	}
	e.expect(t, 201, "PUT", "/dav/data/a", strings.NewReader("x"))
	e.expect(t, 201, "MKCOL", "/dav/data/dir", nil)
	for _, p := range []string{"/dav/data/a", "/dav/data/dir", "/dav/data/"} {
		body := e.expect(t, 207, "PROPPATCH", p, proppatch(`<X:colour>blue</X:colour>`))
		if !strings.Contains(body, "200 OK") {
			t.Fatalf("PROPPATCH %s: %s", p, body)
		}
	}
	e.expect(t, 201, "MOVE", "/dav/data/a", nil, "Destination", e.srv.URL+"/dav/data/b")
	e.expect(t, 201, "COPY", "/dav/data/b", nil, "Destination", e.srv.URL+"/dav/data/c")
	e.expect(t, 204, "PUT", "/dav/data/c", strings.NewReader("new content"))
	e.expect(t, 201, "MOVE", "/dav/data/dir", nil, "Destination", e.srv.URL+"/dav/data/dir2")
	e.expect(t, 201, "COPY", "/dav/data/dir2", nil, "Destination", e.srv.URL+"/dav/data/dir3")
	for _, p := range []string{"/dav/data/b", "/dav/data/c", "/dav/data/dir2", "/dav/data/dir3", "/dav/data/"} {
		if colour(p) != "blue" {
			t.Errorf("%s lost its property", p)
		}
	}
	body := e.expect(t, 207, "PROPFIND", "/dav/data/", strings.NewReader(q), "Depth", "1")
	if n := strings.Count(body, ">blue<"); n != 5 {
		t.Errorf("listing shows the property %d times, want 5:\n%s", n, body)
	}
	if strings.Contains(body, "davgate") {
		t.Errorf("listing shows a sidecar:\n%s", body)
	}
	// a COPY of a resource without properties replaces them too
	e.expect(t, 201, "PUT", "/dav/data/plain", strings.NewReader("x"))
	e.expect(t, 204, "COPY", "/dav/data/plain", nil, "Destination", e.srv.URL+"/dav/data/c")
	if colour("/dav/data/c") != "" {
		t.Errorf("COPY over c kept c's old property")
	}
	e.expect(t, 404, "GET", "/dav/data/"+sidecarPrefix+".b", nil)
	e.expect(t, 204, "DELETE", "/dav/data/b", nil)
	e.expect(t, 204, "DELETE", "/dav/data/dir2", nil)
	left, _ := filepath.Glob(filepath.Join(e.dir, sidecarPrefix+"*"))
	want := []string{filepath.Join(e.dir, sidecarPrefix), filepath.Join(e.dir, sidecarPrefix+".dir3")}
	if strings.Join(left, " ") != strings.Join(want, " ") {
		t.Errorf("sidecars left: %v, want %v", left, want)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "dir3")); err != nil {
		t.Fatal(err)
	}
}
