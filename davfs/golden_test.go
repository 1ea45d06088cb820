package davfs

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// normalise replaces what changes from run to run (times, etags, lock
// tokens, quota figures) with placeholders.
func normalise(s string) string {
	for _, r := range []struct{ re, with string }{
		{`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`, "CREATIONDATE"},
		{`[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT`, "HTTPDATE"},
		{`"[0-9a-f]+-[0-9a-f]+"`, "ETAG"},
		{`urn:uuid:[0-9a-f-]{36}`, "urn:uuid:TOKEN"},
		{`Second-\d+`, "Second-N"},
		{`(quota-(available|used)-bytes>)\d+<`, "${1}N<"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.with)
	}
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	got = normalise(got)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// The XML davgate writes for PROPFIND (RFC 4918 section 9.1), LOCK
// (section 9.10), the share list and the server root above it.
func TestGoldenXML(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "MKCOL", "/dav/data/dir", nil)
	e.expect(t, 201, "PUT", "/dav/data/dir/a b.txt", strings.NewReader("hello"))
	e.expect(t, 207, "PROPPATCH", "/dav/data/dir/a b.txt", proppatch(`<X:colour xml:lang="en">blue &amp; green</X:colour>`))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(e.dir, "dir", "a b.txt"), old, old)

	golden(t, "propfind-allprop.xml", e.expect(t, 207, "PROPFIND", "/dav/data/dir/", strings.NewReader(propfindAll), "Depth", "1"))
	golden(t, "propfind-propname.xml", e.expect(t, 207, "PROPFIND", "/dav/data/dir/a%20b.txt",
		strings.NewReader(`<propfind xmlns="DAV:"><propname/></propfind>`), "Depth", "0"))
	golden(t, "propfind-prop.xml", e.expect(t, 207, "PROPFIND", "/dav/data/dir/a%20b.txt", strings.NewReader(
		`<propfind xmlns="DAV:"><prop><getetag/><quota-available-bytes/><nope xmlns="urn:x"/><Win32LastModifiedTime xmlns="urn:schemas-microsoft-com:"/></prop></propfind>`),
		"Depth", "0"))
	golden(t, "lock.xml", e.expect(t, 200, "LOCK", "/dav/data/dir/a%20b.txt", strings.NewReader(lockBody), "Timeout", "Second-600"))
	golden(t, "shares.xml", e.expect(t, 207, "PROPFIND", "/dav/", nil, "Depth", "1"))
	golden(t, "server-root.xml", e.expect(t, 207, "PROPFIND", "/", nil, "Depth", "1"))
}
