package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The request sequences with which Windows Explorer and macOS Finder save
// a file on a WebDAV drive, as their traces show them, replayed against
// the whole davgate with the clients' own headers and Basic
// authentication (user name and device token). Neither client can run
// here; these sequences are what they depend on.

const (
	miniRedirUA = "Microsoft-WebDAV-MiniRedir/10.0.19045"
	finderUA    = "WebDAVFS/3.0.0 (03008000) Darwin/22.1.0 (arm64)"
	lockOwner   = `<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>` +
		`<D:locktype><D:write/></D:locktype><D:owner><D:href>%s</D:href></D:owner></D:lockinfo>`
)

// saveClient sends one client's requests and checks each status.
type saveClient struct {
	c    client
	auth func(*http.Request)
	ua   string
}

func (s saveClient) expect(status int, method, path string, body io.Reader, hdr ...string) (*http.Response, string) {
	s.c.t.Helper()
	resp, b := s.c.do(method, path, body, s.auth, append([]string{"User-Agent", s.ua}, hdr...)...)
	if resp.StatusCode != status {
		s.c.t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, status, b)
	}
	return resp, b
}

func (s saveClient) lock(path, owner string, timeout string) string {
	s.c.t.Helper()
	resp, b := s.expect(http.StatusOK, "LOCK", path, strings.NewReader(strings.Replace(lockOwner, "%s", owner, 1)),
		"Content-Type", "text/xml; charset=\"utf-8\"", "Depth", "0", "Timeout", timeout)
	tok := resp.Header.Get("Lock-Token")
	if !strings.HasPrefix(tok, "<urn:uuid:") || !strings.Contains(b, owner) {
		s.c.t.Fatalf("LOCK %s: token %q, body %s", path, tok, b)
	}
	return tok
}

func TestEndToEndWindowsExplorerSave(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	tok := c.logon("dgalice", alicePass, http.StatusCreated).Token
	win := saveClient{c: c, auth: basic("dgalice", tok), ua: miniRedirUA}
	anon := saveClient{c: c, ua: miniRedirUA}

	// The redirector probes the server root before it authenticates.
	resp, _ := anon.expect(http.StatusOK, "OPTIONS", "/", nil, "Translate", "f")
	if dav := resp.Header.Get("DAV"); !strings.Contains(dav, "2") || resp.Header.Get("MS-Author-Via") != "DAV" {
		t.Fatalf("OPTIONS / headers: %v", resp.Header)
	}
	win.expect(http.StatusMultiStatus, "PROPFIND", "/dav/data", nil, "Depth", "0", "Translate", "f")
	win.expect(http.StatusNotFound, "PROPFIND", "/dav/data/Report.docx", nil, "Depth", "0", "Translate", "f")
	// Copying a file in: an empty file, a lock, the content under the
	// lock, the Win32 times, the unlock.
	win.expect(http.StatusCreated, "PUT", "/dav/data/Report.docx", strings.NewReader(""), "Translate", "f")
	lt := win.lock("/dav/data/Report.docx", "DOMAIN\\alice", "Second-3600")
	content := strings.Repeat("windows ", 1<<17)
	win.expect(http.StatusNoContent, "PUT", "/dav/data/Report.docx", strings.NewReader(content), "If", "("+lt+")", "Translate", "f")
	written := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	_, b := win.expect(http.StatusMultiStatus, "PROPPATCH", "/dav/data/Report.docx", strings.NewReader(
		`<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>`+
			`<Z:Win32CreationTime>`+written.Format(http.TimeFormat)+`</Z:Win32CreationTime>`+
			`<Z:Win32LastAccessTime>`+written.Format(http.TimeFormat)+`</Z:Win32LastAccessTime>`+
			`<Z:Win32LastModifiedTime>`+written.Format(http.TimeFormat)+`</Z:Win32LastModifiedTime>`+
			`<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>`+
			`</D:prop></D:set></D:propertyupdate>`),
		"Content-Type", "text/xml; charset=\"utf-8\"", "If", "("+lt+")")
	if strings.Contains(b, "HTTP/1.1 4") || strings.Contains(b, "HTTP/1.1 5") {
		t.Fatalf("PROPPATCH of the Win32 properties failed:\n%s", b)
	}
	if _, b := win.expect(http.StatusMultiStatus, "PROPFIND", "/dav/data/Report.docx", nil, "Depth", "0"); !strings.Contains(b, "<D:activelock>") {
		t.Errorf("the locked file shows no active lock:\n%s", b)
	}
	win.expect(http.StatusNoContent, "UNLOCK", "/dav/data/Report.docx", nil, "Lock-Token", lt)
	_, listing := win.expect(http.StatusMultiStatus, "PROPFIND", "/dav/data/", nil, "Depth", "1")
	if !strings.Contains(listing, "Report.docx") || strings.Contains(listing, "<D:activelock>") {
		t.Errorf("listing after the save:\n%s", listing)
	}

	path := filepath.Join(f.smbd.SharePath("data"), "Report.docx")
	got, err := os.ReadFile(path)
	if err != nil || string(got) != content {
		t.Fatalf("file on the share: %d bytes, %v; want %d", len(got), err, len(content))
	}
	if st, err := os.Stat(path); err != nil || !st.ModTime().Equal(written) {
		t.Errorf("modification time on the share = %v, %v; want %v (Win32LastModifiedTime)", st.ModTime(), err, written)
	}
	// Deleting from Explorer: the file goes at once.
	win.expect(http.StatusNoContent, "DELETE", "/dav/data/Report.docx", nil)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after DELETE the file is still on the share: %v", err)
	}
}

var quotaFigure = regexp.MustCompile(`quota-available-bytes>[0-9]+<`)

func TestEndToEndFinderSave(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	tok := c.logon("dgalice", alicePass, http.StatusCreated).Token
	mac := saveClient{c: c, auth: basic("dgalice", tok), ua: finderUA}

	// Mounting: OPTIONS, then the root's quota and the folder's listing.
	resp, _ := mac.expect(http.StatusOK, "OPTIONS", "/dav/data/", nil)
	if !strings.Contains(resp.Header.Get("DAV"), "2") {
		t.Fatalf("DAV header %q: Finder mounts read-only without class 2", resp.Header.Get("DAV"))
	}
	_, b := mac.expect(http.StatusMultiStatus, "PROPFIND", "/dav/data/", strings.NewReader(
		`<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>`+
			`<D:quota-available-bytes/><D:quota-used-bytes/><D:quota/><D:quotaused/></D:prop></D:propfind>`),
		"Depth", "0", "Content-Type", "text/xml")
	if !quotaFigure.MatchString(b) {
		t.Errorf("no quota-available-bytes figure:\n%s", b)
	}
	mac.expect(http.StatusNotFound, "PROPFIND", "/dav/data/Notes.txt", nil, "Depth", "0")
	// Saving: an empty file, a lock, the content chunked with its
	// expected length announced, the AppleDouble companion, the unlock.
	mac.expect(http.StatusCreated, "PUT", "/dav/data/Notes.txt", strings.NewReader(""))
	lt := mac.lock("/dav/data/Notes.txt", "http://www.apple.com/webdav_fs/", "Second-600")
	content := strings.Repeat("finder ", 300<<10) // 2.1 MB, several chunks
	chunked := func(path, body string, hdr ...string) {
		t.Helper()
		req, err := http.NewRequest("PUT", in.URL+path, io.MultiReader(strings.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1 // unknown length: chunked
		req.Header.Set("User-Agent", finderUA)
		req.Header.Set("X-Expected-Entity-Length", strconv.Itoa(len(body)))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		req.SetBasicAuth("dgalice", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
			t.Fatalf("chunked PUT %s = %d: %s", path, resp.StatusCode, rb)
		}
	}
	chunked("/dav/data/Notes.txt", content, "If", "("+lt+")")
	appleDouble := "\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "
	chunked("/dav/data/._Notes.txt", appleDouble)
	// Finder refreshes its lock while it works.
	resp, _ = mac.expect(http.StatusOK, "LOCK", "/dav/data/Notes.txt", nil, "If", "("+lt+")", "Timeout", "Second-600")
	if !strings.Contains(resp.Header.Get("Content-Type"), "xml") {
		t.Errorf("lock refresh Content-Type %q", resp.Header.Get("Content-Type"))
	}
	mac.expect(http.StatusNoContent, "UNLOCK", "/dav/data/Notes.txt", nil, "Lock-Token", lt)

	dir := f.smbd.SharePath("data")
	if got, err := os.ReadFile(filepath.Join(dir, "Notes.txt")); err != nil || string(got) != content {
		t.Fatalf("Notes.txt on the share: %d bytes, %v; want %d", len(got), err, len(content))
	}
	if got, err := os.ReadFile(filepath.Join(dir, "._Notes.txt")); err != nil || string(got) != appleDouble {
		t.Errorf("AppleDouble file on the share: %q, %v", got, err)
	}
	// Renaming in Finder is a MOVE of both files.
	mac.expect(http.StatusCreated, "MOVE", "/dav/data/Notes.txt", nil, "Destination", in.URL+"/dav/data/Notes%20renamed.txt")
	mac.expect(http.StatusCreated, "MOVE", "/dav/data/._Notes.txt", nil, "Destination", in.URL+"/dav/data/._Notes%20renamed.txt")
	if _, err := os.Stat(filepath.Join(dir, "Notes renamed.txt")); err != nil {
		t.Errorf("after the rename: %v", err)
	}
}
