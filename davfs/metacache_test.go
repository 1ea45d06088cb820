package davfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// finderProps is the live properties Finder and Explorer ask for.
const finderProps = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontentlength/>` +
	`<D:getlastmodified/><D:resourcetype/></D:prop></D:propfind>`

// With MetadataTTL, a PROPFIND Depth:0 of live properties the client
// repeats costs no SMB request; a change made through davgate (PUT, PROPPATCH, MOVE, DELETE)
// shows at once, and a change made on the server directly after at most
// the TTL (issue 12, "Speed").
func TestMetadataCache(t *testing.T) {
	const ttl = 400 * time.Millisecond
	e := newTestEnv(t, func(o *HandlerOptions) { o.MetadataTTL = ttl })
	counter := e.countSMB(t)
	size := func(p string) string {
		t.Helper()
		body := e.expect(t, 207, "PROPFIND", p, strings.NewReader(finderProps), "Depth", "0")
		_, after, _ := strings.Cut(body, "<D:getcontentlength>")
		n, _, _ := strings.Cut(after, "<")
		return n
	}
	e.expect(t, 201, "PUT", "/dav/data/f", strings.NewReader("one"))
	size("/dav/data/f")
	counter.take()
	if got := size("/dav/data/f"); got != "3" {
		t.Fatalf("size %s, want 3", got)
	}
	if n := requests(counter.take()); n != 0 {
		t.Errorf("a repeated PROPFIND Depth:0 cost %d SMB requests, want 0", n)
	}
	// through davgate: seen at once
	e.expect(t, 204, "PUT", "/dav/data/f", strings.NewReader("three"))
	if got := size("/dav/data/f"); got != "5" {
		t.Errorf("after a PUT: size %s, want 5", got)
	}
	e.expect(t, 201, "MOVE", "/dav/data/f", nil, "Destination", e.srv.URL+"/dav/data/g")
	e.expect(t, 404, "PROPFIND", "/dav/data/f", nil, "Depth", "0")
	if got := size("/dav/data/g"); got != "5" {
		t.Errorf("after a MOVE: size %s, want 5", got)
	}
	// on the server directly: seen within the TTL
	if err := os.WriteFile(filepath.Join(e.dir, "g"), []byte("seven!!"), 0o666); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(ttl + 200*time.Millisecond)
	for size("/dav/data/g") != "7" {
		if time.Now().After(deadline) {
			t.Fatalf("a direct change not seen after %v", ttl+200*time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.expect(t, 204, "DELETE", "/dav/data/g", nil)
	e.expect(t, 404, "PROPFIND", "/dav/data/g", nil, "Depth", "0")
}

// The cache answers a user only from that user's own Stat (the server's
// permissions differ between users), and a Stat that was on its way
// while the scope changed is not stored.
func TestMetaCacheKeys(t *testing.T) {
	c := newMetaCache(time.Minute)
	fi := &fileInfo{name: "f", size: 1}
	_, gen := c.get("s", "alice", "/f")
	c.put("s", "alice", "/f", fi, gen)
	if got, _ := c.get("s", "alice", "/f"); got != fi {
		t.Fatalf("alice's own answer not cached")
	}
	if got, _ := c.get("s", "bob", "/f"); got != nil {
		t.Errorf("bob got alice's answer")
	}
	if got, _ := c.get("other", "alice", "/f"); got != nil {
		t.Errorf("another scope got the answer")
	}
	_, gen = c.get("s", "bob", "/f")
	c.invalidate("s") // a write to the scope while bob's Stat is on its way
	c.put("s", "bob", "/f", fi, gen)
	if got, _ := c.get("s", "bob", "/f"); got != nil {
		t.Errorf("a Stat from before a change was stored")
	}
	if got, _ := c.get("s", "alice", "/f"); got != nil {
		t.Errorf("a change to the scope left alice's answer")
	}
	if newMetaCache(0) != nil {
		t.Errorf("a zero TTL made a cache")
	}
}

// A GET of a small file whose metadata is fresh in the cache costs an
// open, one read and a close, no stat; a file changed on the server
// meanwhile (the read shows another length) is asked about and served
// whole.
func TestMetadataCacheGet(t *testing.T) {
	e := newTestEnv(t, func(o *HandlerOptions) { o.MetadataTTL = time.Minute })
	counter := e.countSMB(t)
	e.expect(t, 201, "PUT", "/dav/data/small", strings.NewReader(strings.Repeat("s", 4096)))
	e.expect(t, 200, "GET", "/dav/data/small", nil)
	counter.take()
	if got := e.expect(t, 200, "GET", "/dav/data/small", nil); len(got) != 4096 {
		t.Fatalf("GET: %d bytes", len(got))
	}
	c := counter.take()
	if c[smb2Create] != 1 || c[smb2Read] != 1 || c[smb2QueryInfo] != 0 || c[smb2Close] != 1 {
		t.Errorf("GET with fresh metadata: %v, want one CREATE, READ and CLOSE and no QUERY_INFO", c)
	}
	want := strings.Repeat("t", 5000)
	if err := os.WriteFile(filepath.Join(e.dir, "small"), []byte(want), 0o666); err != nil {
		t.Fatal(err)
	}
	if got := e.expect(t, 200, "GET", "/dav/data/small", nil); got != want {
		t.Errorf("GET after a change on the server: %d bytes, want the new %d", len(got), len(want))
	}
}
