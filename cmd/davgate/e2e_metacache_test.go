package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// Two instances on one Redis, each with a 10 s metadata cache: a change
// made through A (PUT, PROPPATCH, DELETE, MOVE) is seen through B at
// once, though B had the file's metadata cached; a change made on the
// server directly is not (it waits for the TTL), which shows that B does
// answer from its cache (issue 12, "Speed").
func TestEndToEndMetadataCacheAcrossInstances(t *testing.T) {
	r := testenv.StartRedis(t)
	f := newFixture(t, r.URL)
	appendFile(t, f.cfgPath, "webdav: {metadata_ttl: 10s}\n")
	ca := client{t: t, base: startDavgate(t, f.cfgPath).URL}
	cb := client{t: t, base: startDavgate(t, f.cfgPath).URL}
	auth := bearer(ca.logon("dgalice", alicePass, http.StatusCreated).Token)
	put := func(c client, p, data string) {
		t.Helper()
		if resp, body := c.do("PUT", p, strings.NewReader(data), auth); resp.StatusCode/100 != 2 {
			t.Fatalf("PUT %s = %d %s", p, resp.StatusCode, body)
		}
	}

	put(ca, "/dav/data/direct.txt", "v1")
	before := metaView(cb, auth, "/dav/data/direct.txt")
	if err := os.WriteFile(filepath.Join(f.smbd.SharePath("data"), "direct.txt"), []byte("changed directly"), 0o666); err != nil {
		t.Fatal(err)
	}
	if got := metaView(cb, auth, "/dav/data/direct.txt"); got != before {
		t.Fatalf("B does not answer from its cache: a direct change shows at once:\n%s\nthen\n%s", before, got)
	}

	proppatch := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>` +
		`<Z:Win32LastModifiedTime>Mon, 01 Jan 2001 00:00:00 GMT</Z:Win32LastModifiedTime></D:prop></D:set></D:propertyupdate>`
	for _, c := range []struct {
		name   string
		change func(p string)
	}{
		{"PUT", func(p string) { put(ca, p, "the second version") }},
		{"PROPPATCH", func(p string) {
			ca.do("PROPPATCH", p, strings.NewReader(proppatch), auth, "Content-Type", "application/xml")
		}},
		{"DELETE", func(p string) { ca.do("DELETE", p, nil, auth) }},
		{"MOVE", func(p string) { ca.do("MOVE", p, nil, auth, "Destination", ca.base+p+".moved") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := "/dav/data/" + c.name + ".txt"
			put(ca, p, "v1")
			old := metaView(cb, auth, p)
			metaView(cb, auth, p)
			c.change(p)
			want := metaView(ca, auth, p)
			if want == old {
				t.Fatalf("the %s changed nothing A shows: %s", c.name, want)
			}
			if got := metaView(cb, auth, p); got != want {
				t.Errorf("after a %s through A, B shows\n%s\nwant\n%s", c.name, got, want)
			}
		})
	}
}

// metaView is what a PROPFIND Depth:0 and a HEAD through c say of p's
// metadata.
func metaView(c client, auth func(*http.Request), p string) string {
	c.t.Helper()
	resp, body := c.do("PROPFIND", p, strings.NewReader(propfindBody), auth, "Depth", "0", "Content-Type", "application/xml")
	field := func(name string) string {
		_, after, _ := strings.Cut(body, name+">")
		v, _, _ := strings.Cut(after, "<")
		return v
	}
	head, _ := c.do("HEAD", p, nil, auth)
	return fmt.Sprintf("PROPFIND %d length %q modified %q etag %q; HEAD %d length %q modified %q etag %q",
		resp.StatusCode, field("getcontentlength"), field("getlastmodified"), field("getetag"),
		head.StatusCode, head.Header.Get("Content-Length"), head.Header.Get("Last-Modified"), head.Header.Get("ETag"))
}

// appendFile adds text to the end of the file at p.
func appendFile(t *testing.T, p, text string) {
	t.Helper()
	fl, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if _, err := fl.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// webdav.metadata_ttl is 1s by default with every store: with Redis the
// instances share the cache's generations.
func TestConfigMetadataTTLDefault(t *testing.T) {
	for _, store := range []string{"memory", "redis://127.0.0.1:6379/0", "file:///var/lib/davgate/sessions"} {
		c, err := parseConfig([]byte(strings.Replace(goodConfig, "store: memory", "store: "+store, 1)))
		if err != nil {
			t.Fatalf("%s: %v", store, err)
		}
		if c.Store != store || c.WebDAV.MetadataTTL != Duration(time.Second) {
			t.Errorf("store %q: metadata_ttl %v, want 1s", c.Store, time.Duration(c.WebDAV.MetadataTTL))
		}
	}
}
