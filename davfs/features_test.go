package davfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// RFC 9110 section 13.1.1 and 13.1.2: PUT honours If-Match and
// If-None-Match.
func TestPutPreconditions(t *testing.T) {
	e := newTestEnv(t)
	resp, _ := e.do(t, "PUT", "/dav/data/p.txt", strings.NewReader("one"))
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 201 || etag == "" {
		t.Fatalf("PUT: %d, ETag %q", resp.StatusCode, etag)
	}
	e.expect(t, 412, "PUT", "/dav/data/p.txt", strings.NewReader("x"), "If-None-Match", "*")
	e.expect(t, 412, "PUT", "/dav/data/p.txt", strings.NewReader("x"), "If-Match", `"other"`)
	e.expect(t, 412, "PUT", "/dav/data/new.txt", strings.NewReader("x"), "If-Match", "*")
	e.expect(t, 204, "PUT", "/dav/data/p.txt", strings.NewReader("two"), "If-Match", etag)
	e.expect(t, 201, "PUT", "/dav/data/new.txt", strings.NewReader("x"), "If-None-Match", "*")
	if got := e.expect(t, 200, "GET", "/dav/data/p.txt", nil); got != "two" {
		t.Fatalf("content %q", got)
	}
}

// The same preconditions guard DELETE, PROPPATCH, COPY and MOVE, and
// If-Unmodified-Since guards them and PUT: a stale ETag or date gets 412
// and changes nothing.
func TestPreconditionsOnChanges(t *testing.T) {
	e := newTestEnv(t)
	resp, _ := e.do(t, "PUT", "/dav/data/p.txt", strings.NewReader("one"))
	etag := resp.Header.Get("ETag")
	long := "Sat, 01 Jan 2000 00:00:00 GMT"
	dest := e.srv.URL + "/dav/data/q.txt"
	for _, c := range []struct {
		method string
		hdr    []string
	}{
		{"DELETE", []string{"If-Match", `"stale"`}},
		{"DELETE", []string{"If-Unmodified-Since", long}},
		{"DELETE", []string{"If-None-Match", "*"}},
		{"MOVE", []string{"If-Match", `"stale"`, "Destination", dest}},
		{"COPY", []string{"If-Unmodified-Since", long, "Destination", dest}},
		{"PROPPATCH", []string{"If-Match", `"stale"`}},
		{"PUT", []string{"If-Unmodified-Since", long}},
	} {
		var body io.Reader
		switch c.method {
		case "PROPPATCH":
			body = proppatch(`<X:colour>red</X:colour>`)
		case "PUT":
			body = strings.NewReader("two")
		}
		if resp, _ := e.do(t, c.method, "/dav/data/p.txt", body, c.hdr...); resp.StatusCode != 412 {
			t.Errorf("%s with %q = %d, want 412", c.method, c.hdr, resp.StatusCode)
		}
	}
	if got := e.expect(t, 200, "GET", "/dav/data/p.txt", nil); got != "one" {
		t.Errorf("content %q after refused changes", got)
	}
	e.expect(t, 404, "GET", "/dav/data/q.txt", nil)
	body := e.expect(t, 207, "PROPFIND", "/dav/data/p.txt", strings.NewReader(propfindAll), "Depth", "0")
	if strings.Contains(body, ">red<") {
		t.Errorf("refused PROPPATCH was applied:\n%s", body)
	}
	// current validators let the change through
	e.expect(t, 201, "COPY", "/dav/data/p.txt", nil, "Destination", dest, "If-Match", etag)
	e.expect(t, 204, "DELETE", "/dav/data/q.txt", nil, "If-Unmodified-Since", time.Now().UTC().Add(time.Hour).Format(http.TimeFormat))
	e.expect(t, 204, "DELETE", "/dav/data/p.txt", nil, "If-Match", etag)
}

const propfindAll = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`

// RFC 4918 section 15 live properties, getetag on collections too, and
// RFC 4331 quota properties from the SMB server's figures.
func TestLiveProperties(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "MKCOL", "/dav/data/c", nil)
	e.expect(t, 201, "PUT", "/dav/data/c/f.html", strings.NewReader("<p>x</p>"))
	body := e.expect(t, 207, "PROPFIND", "/dav/data/c", strings.NewReader(propfindAll), "Depth", "1")
	for _, re := range []string{
		`<D:href>/dav/data/c/</D:href><D:propstat><D:prop>[^\n]*<D:getetag>"[0-9a-f]+-0"</D:getetag>`,
		`<D:getcontenttype>text/html; charset=utf-8</D:getcontenttype>`,
		`<D:creationdate>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</D:creationdate>`,
		`<D:getlastmodified>[A-Z][a-z][a-z], \d\d [A-Z][a-z][a-z] \d{4} \d\d:\d\d:\d\d GMT</D:getlastmodified>`,
		`<D:getcontentlength>8</D:getcontentlength>`,
		`<D:supportedlock><D:lockentry><D:lockscope><D:exclusive/>`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("PROPFIND lacks %s:\n%s", re, body)
		}
	}
	if strings.Contains(body, "quota") {
		t.Errorf("allprop reports quota (RFC 4331 section 3 says it should not)")
	}
	q := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/><D:nothing/></D:prop></D:propfind>`
	body = e.expect(t, 207, "PROPFIND", "/dav/data/", strings.NewReader(q), "Depth", "0")
	for _, re := range []string{`<D:quota-available-bytes>[1-9]\d*</D:quota-available-bytes>`, `<D:quota-used-bytes>\d+</D:quota-used-bytes>`,
		`<D:nothing></D:nothing></D:prop><D:status>HTTP/1.1 404 Not Found`} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("PROPFIND lacks %s:\n%s", re, body)
		}
	}
	// bodies are size-limited
	big := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>` + strings.Repeat("<D:getetag/>", 200000) + `</D:prop></D:propfind>`
	e.expect(t, 413, "PROPFIND", "/dav/data/", strings.NewReader(big), "Depth", "0")
}

func proppatch(set string) *strings.Reader {
	return strings.NewReader(`<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:" xmlns:X="http://example.com/x"><D:set><D:prop>` +
		set + `</D:prop></D:set></D:propertyupdate>`)
}

// Dead properties (RFC 4918 section 4) live in an SMB stream: they
// survive MOVE (section 9.9) and COPY (section 9.8.2) and a PUT that
// replaces the file.
func TestDeadPropertiesSurviveMoveCopyPut(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/a", strings.NewReader("x"))
	body := e.expect(t, 207, "PROPPATCH", "/dav/data/a", proppatch(`<X:colour>blue</X:colour>`))
	if !strings.Contains(body, "200 OK") {
		t.Fatalf("PROPPATCH: %s", body)
	}
	e.expect(t, 201, "MOVE", "/dav/data/a", nil, "Destination", e.srv.URL+"/dav/data/b")
	e.expect(t, 201, "COPY", "/dav/data/b", nil, "Destination", e.srv.URL+"/dav/data/c")
	e.expect(t, 204, "PUT", "/dav/data/c", strings.NewReader("new content"))
	q := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><X:colour xmlns:X="http://example.com/x"/></D:prop></D:propfind>`
	for _, p := range []string{"/dav/data/b", "/dav/data/c"} {
		body := e.expect(t, 207, "PROPFIND", p, strings.NewReader(q), "Depth", "0")
		if !strings.Contains(body, `<colour xmlns="http://example.com/x">blue</colour>`) {
			t.Errorf("%s lost its property:\n%s", p, body)
		}
	}
	// and a listing asking for them reads them
	body = e.expect(t, 207, "PROPFIND", "/dav/data/", strings.NewReader(q), "Depth", "1")
	if n := strings.Count(body, ">blue<"); n != 2 {
		t.Errorf("listing shows the property %d times:\n%s", n, body)
	}
	// also after a MOVE into another collection (the listing looks at
	// children's properties only where some were written)
	e.expect(t, 201, "MKCOL", "/dav/data/d2", nil)
	e.expect(t, 201, "MOVE", "/dav/data/b", nil, "Destination", e.srv.URL+"/dav/data/d2/b")
	body = e.expect(t, 207, "PROPFIND", "/dav/data/d2/", strings.NewReader(q), "Depth", "1")
	if n := strings.Count(body, ">blue<"); n != 1 {
		t.Errorf("listing of d2 shows the property %d times:\n%s", n, body)
	}
}

// Setting or removing a dead property leaves the resource's ETag and
// modification time alone: its content did not change, and a client that
// holds the ETag (If-Match on its next PUT, a sync tool) must not see one.
func TestProppatchKeepsETag(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/e.txt", strings.NewReader("v1"))
	e.expect(t, 201, "MKCOL", "/dav/data/ed", nil)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, p := range []string{"e.txt", "ed"} {
		if err := os.Chtimes(filepath.Join(e.dir, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	etagOf := func(p string) string {
		t.Helper()
		body := e.expect(t, 207, "PROPFIND", p, strings.NewReader(propfindAll), "Depth", "0")
		m := regexp.MustCompile(`<D:getetag>([^<]*)</D:getetag>`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no getetag for %s:\n%s", p, body)
		}
		return m[1]
	}
	for _, p := range []string{"/dav/data/e.txt", "/dav/data/ed/"} {
		before := etagOf(p)
		e.expect(t, 207, "PROPPATCH", p, proppatch(`<X:author>me</X:author>`))
		e.expect(t, 207, "PROPPATCH", p, strings.NewReader(`<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="http://example.com/x"><D:remove><D:prop><X:author/></D:prop></D:remove></D:propertyupdate>`))
		if after := etagOf(p); after != before {
			t.Errorf("%s: ETag %s before PROPPATCH, %s after", p, before, after)
		}
	}
	for _, p := range []string{"e.txt", "ed"} {
		if st, err := os.Stat(filepath.Join(e.dir, p)); err != nil || !st.ModTime().Equal(old) {
			t.Errorf("%s: mtime %v after PROPPATCH, want %v (%v)", p, st.ModTime(), old, err)
		}
	}
	resp, _ := e.do(t, "HEAD", "/dav/data/e.txt", nil)
	e.expect(t, 204, "PUT", "/dav/data/e.txt", strings.NewReader("v2"), "If-Match", resp.Header.Get("ETag"))
	// nor does the folder of a resource that gets its first property
	e.expect(t, 201, "PUT", "/dav/data/ed/c.txt", strings.NewReader("c"))
	if err := os.Chtimes(filepath.Join(e.dir, "ed"), old, old); err != nil {
		t.Fatal(err)
	}
	e.expect(t, 207, "PROPPATCH", "/dav/data/ed/c.txt", proppatch(`<X:author>me</X:author>`))
	if st, err := os.Stat(filepath.Join(e.dir, "ed")); err != nil || !st.ModTime().Equal(old) {
		t.Errorf("folder mtime %v after a PROPPATCH inside it, want %v (%v)", st.ModTime(), old, err)
	}
}

// COPY of a collection copies its own dead properties and, with Depth
// infinity, those of the collections below it (RFC 4918 section 9.8.2).
func TestCopyCollectionKeepsProperties(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "MKCOL", "/dav/data/pe", nil)
	e.expect(t, 201, "MKCOL", "/dav/data/pe/sub", nil)
	e.expect(t, 201, "PUT", "/dav/data/pe/sub/f", strings.NewReader("x"))
	for _, p := range []string{"/dav/data/pe/", "/dav/data/pe/sub/", "/dav/data/pe/sub/f"} {
		e.expect(t, 207, "PROPPATCH", p, proppatch(`<X:colour>blue</X:colour>`))
	}
	e.expect(t, 201, "COPY", "/dav/data/pe/", nil, "Destination", e.srv.URL+"/dav/data/deep/")
	e.expect(t, 201, "COPY", "/dav/data/pe/", nil, "Destination", e.srv.URL+"/dav/data/flat/", "Depth", "0")
	q := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><X:colour xmlns:X="http://example.com/x"/></D:prop></D:propfind>`
	for _, p := range []string{"/dav/data/deep/", "/dav/data/deep/sub/", "/dav/data/deep/sub/f", "/dav/data/flat/"} {
		body := e.expect(t, 207, "PROPFIND", p, strings.NewReader(q), "Depth", "0")
		if !strings.Contains(body, ">blue<") {
			t.Errorf("%s lost its property:\n%s", p, body)
		}
	}
}

// A PROPPATCH the server cannot store (here a value larger than ext4
// keeps in the extended attribute behind the stream) fails on its own and
// leaves the properties already stored; shorter values written after
// longer ones read back exactly.
func TestProppatchFailureKeepsProperties(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/a", strings.NewReader("x"))
	long := strings.Repeat("k", 500)
	e.expect(t, 207, "PROPPATCH", "/dav/data/a", proppatch(`<X:keep>`+long+`</X:keep>`))
	big := strings.Repeat("b", 6000)
	body := e.expect(t, 207, "PROPPATCH", "/dav/data/a", proppatch(`<X:big>`+big+`</X:big>`))
	stored := strings.Contains(body, "200 OK")
	if !stored && !strings.Contains(body, "507 Insufficient Storage") {
		t.Fatalf("PROPPATCH of a large value: %s", body)
	}
	q := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><X:keep xmlns:X="http://example.com/x"/><X:big xmlns:X="http://example.com/x"/></D:prop></D:propfind>`
	check := func(keep string) {
		t.Helper()
		body := e.expect(t, 207, "PROPFIND", "/dav/data/a", strings.NewReader(q), "Depth", "0")
		if !strings.Contains(body, `<keep xmlns="http://example.com/x">`+keep+`</keep>`) {
			t.Errorf("keep is not %.10q...:\n%.400s", keep, body)
		}
		if got := strings.Contains(body, ">"+big+"<"); got != stored {
			t.Errorf("large value: stored %v, read back %v", stored, got)
		}
	}
	check(long)
	e.expect(t, 207, "PROPPATCH", "/dav/data/a", proppatch(`<X:keep>short</X:keep>`))
	check("short")
}

// PROPPATCH always answers 207 (RFC 4918 section 9.2); protected
// properties fail with 403 and the rest with 424.
func TestProppatchProtected(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/a", strings.NewReader("x"))
	body := e.expect(t, 207, "PROPPATCH", "/dav/data/a", proppatch(`<D:quota-used-bytes>1</D:quota-used-bytes><X:y>1</X:y>`))
	if !strings.Contains(body, "403 Forbidden") || !strings.Contains(body, "424 Failed Dependency") {
		t.Fatalf("PROPPATCH: %s", body)
	}
}

// Windows Explorer sets Win32LastModifiedTime after an upload; it sets the
// SMB timestamp. Win32FileAttributes and davfs2's executable are accepted.
func TestWin32Properties(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/w.txt", strings.NewReader("x"))
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	body := e.expect(t, 207, "PROPPATCH", "/dav/data/w.txt", proppatch(
		`<Z:Win32LastModifiedTime>`+when.Format(http.TimeFormat)+`</Z:Win32LastModifiedTime>`+
			`<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>`+
			`<E:executable xmlns:E="http://apache.org/dav/props/">F</E:executable>`))
	if strings.Contains(body, "HTTP/1.1 4") {
		t.Fatalf("PROPPATCH: %s", body)
	}
	st, err := os.Stat(filepath.Join(e.dir, "w.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(when) {
		t.Fatalf("mtime %v, want %v", st.ModTime(), when)
	}
	// A value that cannot be set is 409, the rest of the PROPPATCH 424,
	// and nothing changes; RFC 3339 is read as well.
	for _, v := range []string{"garbage", "Mon, 01 Jan 1601 00:00:00 GMT", "Fri, 01 Jan 9999 00:00:00 GMT"} {
		body := e.expect(t, 207, "PROPPATCH", "/dav/data/w.txt", proppatch(
			`<Z:Win32LastModifiedTime>`+v+`</Z:Win32LastModifiedTime><X:colour>red</X:colour>`))
		if !strings.Contains(body, "409 Conflict") || !strings.Contains(body, "424 Failed Dependency") {
			t.Errorf("PROPPATCH of Win32LastModifiedTime %q: %s", v, body)
		}
	}
	// the read-only bit is set and cleared (Explorer's Properties dialog)
	attrs := func() string {
		q := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:prop><Z:Win32FileAttributes/></D:prop></D:propfind>`
		body := e.expect(t, 207, "PROPFIND", "/dav/data/w.txt", strings.NewReader(q), "Depth", "0")
		m := regexp.MustCompile(`Win32FileAttributes[^>]*>([0-9A-F]+)<`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no Win32FileAttributes:\n%s", body)
		}
		return m[1]
	}
	e.expect(t, 207, "PROPPATCH", "/dav/data/w.txt", proppatch(`<Z:Win32FileAttributes>00000021</Z:Win32FileAttributes>`))
	if a := attrs(); a[len(a)-1] != '1' {
		t.Errorf("attributes %s after setting read-only", a)
	}
	// a read-only file is neither replaced nor deleted, as on Windows
	e.expect(t, 201, "PUT", "/dav/data/other.txt", strings.NewReader("o"))
	e.expect(t, 403, "PUT", "/dav/data/w.txt", strings.NewReader("refused"))
	e.expect(t, 403, "DELETE", "/dav/data/w.txt", nil)
	e.expect(t, 403, "MOVE", "/dav/data/other.txt", nil, "Destination", e.srv.URL+"/dav/data/w.txt")
	e.expect(t, 403, "COPY", "/dav/data/other.txt", nil, "Destination", e.srv.URL+"/dav/data/w.txt")
	if got := e.expect(t, 200, "GET", "/dav/data/w.txt", nil); got != "x" {
		t.Errorf("read-only file now holds %q", got)
	}
	e.expect(t, 207, "PROPPATCH", "/dav/data/w.txt", proppatch(`<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>`))
	if a := attrs(); a[len(a)-1] != '0' {
		t.Errorf("attributes %s after clearing read-only", a)
	}
	body = e.expect(t, 207, "PROPPATCH", "/dav/data/w.txt", proppatch(`<Z:Win32FileAttributes>not hex</Z:Win32FileAttributes>`))
	if !strings.Contains(body, "409 Conflict") {
		t.Errorf("PROPPATCH of Win32FileAttributes: %s", body)
	}
	later := time.Date(2011, 2, 3, 4, 5, 6, 0, time.UTC)
	e.expect(t, 207, "PROPPATCH", "/dav/data/w.txt", proppatch(`<Z:Win32LastModifiedTime>`+later.Format(time.RFC3339)+`</Z:Win32LastModifiedTime>`))
	if st, err := os.Stat(filepath.Join(e.dir, "w.txt")); err != nil || !st.ModTime().Equal(later) {
		t.Errorf("mtime after an RFC 3339 value: %v, %v", st.ModTime(), err)
	}
	body = e.expect(t, 207, "PROPFIND", "/dav/data/w.txt", strings.NewReader(propfindAll), "Depth", "0")
	if strings.Contains(body, ">red<") {
		t.Errorf("a refused PROPPATCH stored a property:\n%s", body)
	}
}

// A rename that changes only the case of a name (Explorer renaming
// report.txt to Report.txt) is a rename on a server that ignores case,
// with Overwrite F or T, for files and folders; COPY onto such a name is a
// copy onto itself.
func TestCaseOnlyRename(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/report.txt", strings.NewReader("r"))
	e.expect(t, 201, "MKCOL", "/dav/data/folder", nil)
	e.expect(t, 201, "PUT", "/dav/data/folder/in.txt", strings.NewReader("in"))
	dest := func(p string) []string { return []string{"Destination", e.srv.URL + p} }
	e.expect(t, 403, "COPY", "/dav/data/report.txt", nil, dest("/dav/data/REPORT.txt")...)
	e.expect(t, 201, "MOVE", "/dav/data/report.txt", nil, append(dest("/dav/data/Report.txt"), "Overwrite", "F")...)
	e.expect(t, 201, "MOVE", "/dav/data/Report.txt", nil, dest("/dav/data/REPORT.TXT")...)
	e.expect(t, 201, "MOVE", "/dav/data/folder/", nil, append(dest("/dav/data/Folder/"), "Overwrite", "F")...)
	e.expect(t, 201, "MOVE", "/dav/data/Folder/", nil, dest("/dav/data/FOLDER/")...)
	ents, err := os.ReadDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	if !slices.Contains(names, "REPORT.TXT") || !slices.Contains(names, "FOLDER") || len(names) != 2 {
		t.Errorf("share holds %q, want REPORT.TXT and FOLDER", names)
	}
	if got := e.expect(t, 200, "GET", "/dav/data/FOLDER/in.txt", nil); got != "in" {
		t.Errorf("FOLDER/in.txt = %q", got)
	}
	// into itself under another case is into itself
	e.expect(t, 403, "COPY", "/dav/data/FOLDER/", nil, dest("/dav/data/folder/sub/")...)
	e.expect(t, 403, "MOVE", "/dav/data/FOLDER/", nil, dest("/dav/data/Folder/sub/")...)
}

// RFC 4918 section 9.9: MOVE over an existing collection replaces it; the
// replaced one is never left half gone.
func TestMoveReplacesCollection(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "MKCOL", "/dav/data/src", nil)
	e.expect(t, 201, "PUT", "/dav/data/src/new", strings.NewReader("new"))
	e.expect(t, 201, "MKCOL", "/dav/data/dst", nil)
	e.expect(t, 201, "PUT", "/dav/data/dst/old", strings.NewReader("old"))
	e.expect(t, 412, "MOVE", "/dav/data/src", nil, "Destination", e.srv.URL+"/dav/data/dst", "Overwrite", "F")
	e.expect(t, 204, "MOVE", "/dav/data/src", nil, "Destination", e.srv.URL+"/dav/data/dst")
	e.expect(t, 200, "GET", "/dav/data/dst/new", nil)
	e.expect(t, 404, "GET", "/dav/data/dst/old", nil)
	ents, _ := os.ReadDir(e.dir)
	if len(ents) != 1 || ents[0].Name() != "dst" {
		t.Fatalf("share holds %v", ents)
	}
}

// COPY of files below and above the server-side copy limit.
func TestCopyFiles(t *testing.T) {
	e := newTestEnv(t)
	for _, size := range []int{0, 5, 3<<20 + 7, copyChunkLimit + 3<<20 + 11} {
		data := bytes.Repeat([]byte{byte(size)}, size)
		for i := 0; i < size; i += 4096 {
			data[i] = byte(i >> 12)
		}
		os.WriteFile(filepath.Join(e.dir, "src"), data, 0o666)
		e.expect(t, 201, "COPY", "/dav/data/src", nil, "Destination", e.srv.URL+"/dav/data/dst")
		got, err := os.ReadFile(filepath.Join(e.dir, "dst"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("copy of %d bytes: got %d bytes, %v", size, len(got), err)
		}
		os.Remove(filepath.Join(e.dir, "dst"))
	}
}

const lockBody = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>me</D:href></D:owner></D:lockinfo>`

type userKey struct{}

// Locks are bound to the user who took them (issue 3): another user who
// presents the token still gets 423, and cannot UNLOCK (403).
func TestLockBoundToUser(t *testing.T) {
	e := newTestEnv(t, func(o *HandlerOptions) {
		o.User = func(ctx context.Context) string { s, _ := ctx.Value(userKey{}).(string); return s }
	})
	// wrap the server's handler to take the user from a header, as authn
	// does from the token
	inner := e.srv.Config.Handler
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, r.Header.Get("X-User"))))
	})
	e.expect(t, 201, "PUT", "/dav/data/l.txt", strings.NewReader("x"), "X-User", "alice")
	resp, _ := e.do(t, "LOCK", "/dav/data/l.txt", strings.NewReader(lockBody), "X-User", "alice", "Timeout", "Second-100000000")
	tok := resp.Header.Get("Lock-Token")
	if resp.StatusCode != 200 || !strings.HasPrefix(tok, "<urn:uuid:") {
		t.Fatalf("LOCK: %d, token %q", resp.StatusCode, tok)
	}
	// the timeout is capped at the maximum (24 h by default)
	body := e.expect(t, 207, "PROPFIND", "/dav/data/l.txt", nil, "Depth", "0", "X-User", "alice")
	if !strings.Contains(body, "<D:timeout>Second-86400</D:timeout>") || !strings.Contains(body, tok[1:len(tok)-1]) {
		t.Errorf("lockdiscovery:\n%s", body)
	}
	e.expect(t, 423, "PUT", "/dav/data/l.txt", strings.NewReader("bob"), "X-User", "bob", "If", "("+tok+")")
	if body := e.expect(t, 423, "PUT", "/dav/data/l.txt", strings.NewReader("anon"), "X-User", "alice"); !strings.Contains(body, "<D:lock-token-submitted>") {
		t.Errorf("PUT without the token: %s", body)
	}
	// a conflicting LOCK names its precondition (RFC 4918 section 9.10.6)
	if body := e.expect(t, 423, "LOCK", "/dav/data/l.txt", strings.NewReader(lockBody), "X-User", "bob"); !strings.Contains(body, "<D:no-conflicting-lock>") {
		t.Errorf("conflicting LOCK: %s", body)
	}
	e.expect(t, 403, "UNLOCK", "/dav/data/l.txt", nil, "X-User", "bob", "Lock-Token", tok)
	e.expect(t, 204, "PUT", "/dav/data/l.txt", strings.NewReader("alice"), "X-User", "alice", "If", "("+tok+")")
	// DELETE releases the lock (RFC 4918 section 9.6.1)
	e.expect(t, 204, "DELETE", "/dav/data/l.txt", nil, "X-User", "alice", "If", "("+tok+")")
	e.expect(t, 201, "PUT", "/dav/data/l.txt", strings.NewReader("bob"), "X-User", "bob")
	// A lock holds against the same name in another case, which the
	// server takes for the same file.
	e.expect(t, 201, "PUT", "/dav/data/Case.txt", strings.NewReader("alice"), "X-User", "alice")
	resp, _ = e.do(t, "LOCK", "/dav/data/CASE.TXT", strings.NewReader(lockBody), "X-User", "alice")
	if resp.StatusCode != 200 {
		t.Fatalf("LOCK CASE.TXT = %d", resp.StatusCode)
	}
	e.expect(t, 423, "PUT", "/dav/data/case.txt", strings.NewReader("bob"), "X-User", "bob")
	e.expect(t, 423, "DELETE", "/dav/data/case.txt", nil, "X-User", "bob")
	e.expect(t, 423, "LOCK", "/dav/data/case.txt", strings.NewReader(lockBody), "X-User", "bob")
	if got := e.expect(t, 200, "GET", "/dav/data/Case.txt", nil, "X-User", "bob"); got != "alice" {
		t.Errorf("locked file now holds %q", got)
	}
}

// The Office save pattern: with a lock on the document, the editor moves
// a temporary file over it; MOVE checks the source's locks, and a MOVE
// releases the locks of what it moved away.
func TestMoveOverLockedDocument(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/doc.docx", strings.NewReader("v1"))
	resp, _ := e.do(t, "LOCK", "/dav/data/doc.docx", strings.NewReader(lockBody))
	tok := resp.Header.Get("Lock-Token")
	e.expect(t, 201, "PUT", "/dav/data/~tmp1", strings.NewReader("v2"))
	e.expect(t, 204, "MOVE", "/dav/data/~tmp1", nil, "Destination", e.srv.URL+"/dav/data/doc.docx")
	if got := e.expect(t, 200, "GET", "/dav/data/doc.docx", nil); got != "v2" {
		t.Fatalf("doc = %q", got)
	}
	// the document is still locked
	e.expect(t, 423, "DELETE", "/dav/data/doc.docx", nil)
	e.expect(t, 201, "MOVE", "/dav/data/doc.docx", nil, "Destination", e.srv.URL+"/dav/data/moved.docx", "If", "("+tok+")")
	e.expect(t, 204, "DELETE", "/dav/data/moved.docx", nil)
}

// Without alternate data streams on the share, PROPPATCH still answers
// 207 (RFC 4918 section 9.2.1), with 200 per property: the properties
// live in sidecar files (issue 12; see TestDeadPropertiesStockShare), and
// everything else works.
func TestProppatchWithoutStreams(t *testing.T) {
	e := newTestEnvShare(t, "vfs objects =")
	e.expect(t, 201, "PUT", "/dav/data/a", strings.NewReader("x"))
	body := e.expect(t, 207, "PROPPATCH", "/dav/data/a", proppatch(`<X:colour>blue</X:colour>`))
	if !strings.Contains(body, "200 OK") || !strings.Contains(body, "colour") {
		t.Fatalf("PROPPATCH: %s", body)
	}
	if body := e.expect(t, 207, "PROPFIND", "/dav/data/", strings.NewReader(propfindAll), "Depth", "1"); !strings.Contains(body, ">blue<") {
		t.Errorf("listing lacks the property:\n%s", body)
	}
}

// RFC 4918 section 7.5: a depth-0 lock on a collection protects its
// membership, not the content of its members.
func TestDepthZeroCollectionLock(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "MKCOL", "/dav/data/c", nil)
	e.expect(t, 201, "PUT", "/dav/data/c/old", strings.NewReader("x"))
	resp, _ := e.do(t, "LOCK", "/dav/data/c/", strings.NewReader(lockBody), "Depth", "0")
	tok := resp.Header.Get("Lock-Token")
	if resp.StatusCode != 200 {
		t.Fatalf("LOCK: %d", resp.StatusCode)
	}
	e.expect(t, 423, "PUT", "/dav/data/c/new", strings.NewReader("x"))
	e.expect(t, 423, "MKCOL", "/dav/data/c/sub", nil)
	e.expect(t, 423, "DELETE", "/dav/data/c/old", nil)
	e.expect(t, 204, "PUT", "/dav/data/c/old", strings.NewReader("new content"))
	e.expect(t, 201, "PUT", "/dav/data/c/new", strings.NewReader("x"), "If", "<"+e.srv.URL+"/dav/data/c/>("+tok+")")
}

// A PROPPATCH that runs while a PUT replaces the file never dates the new
// content with the old file's time: the ETag changes with the content.
func TestProppatchRacingPut(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/r.txt", strings.NewReader("round-000"))
	for i := 1; i <= 60; i++ {
		resp, _ := e.do(t, "HEAD", "/dav/data/r.txt", nil)
		before := resp.Header.Get("ETag")
		body := fmt.Sprintf("round-%03d", i)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); e.do(t, "PUT", "/dav/data/r.txt", strings.NewReader(body)) }()
		go func() { defer wg.Done(); e.do(t, "PROPPATCH", "/dav/data/r.txt", proppatch(`<X:n>`+body+`</X:n>`)) }()
		wg.Wait()
		resp, got := e.do(t, "GET", "/dav/data/r.txt", nil)
		if got == body && resp.Header.Get("ETag") == before {
			t.Fatalf("round %d: new content %q under the old ETag %s", i, got, before)
		}
	}
}

// A folder that holds a read-only file is not replaced by a COPY or MOVE
// either: replacing it would delete the file (403, nothing changed).
func TestReplaceFolderHoldingReadOnly(t *testing.T) {
	e := newTestEnv(t)
	for _, p := range []string{"rodir", "rodir/sub", "srcd"} {
		e.expect(t, 201, "MKCOL", "/dav/data/"+p, nil)
	}
	e.expect(t, 201, "PUT", "/dav/data/rodir/sub/ro.txt", strings.NewReader("ro"))
	e.expect(t, 201, "PUT", "/dav/data/srcd/new.txt", strings.NewReader("new"))
	e.expect(t, 201, "PUT", "/dav/data/file.txt", strings.NewReader("f"))
	e.expect(t, 207, "PROPPATCH", "/dav/data/rodir/sub/ro.txt", proppatch(`<Z:Win32FileAttributes>00000021</Z:Win32FileAttributes>`))
	dest := []string{"Destination", e.srv.URL + "/dav/data/rodir/"}
	e.expect(t, 403, "COPY", "/dav/data/srcd/", nil, dest...)
	e.expect(t, 403, "MOVE", "/dav/data/srcd/", nil, dest...)
	e.expect(t, 403, "COPY", "/dav/data/file.txt", nil, "Destination", e.srv.URL+"/dav/data/rodir")
	if got := e.expect(t, 200, "GET", "/dav/data/rodir/sub/ro.txt", nil); got != "ro" {
		t.Errorf("read-only file now %q", got)
	}
	e.expect(t, 200, "GET", "/dav/data/srcd/new.txt", nil)
}
