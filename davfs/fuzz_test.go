package davfs

import (
	"encoding/xml"
	"io"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzParseIf checks that the If header parser never panics and that a
// parsed header is made of non-empty lists of conditions, each a token or
// an entity tag that cannot hold its closing bracket.
func FuzzParseIf(f *testing.F) {
	for _, s := range []string{
		`(<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2>)`,
		`(<urn:uuid:a> ["etag"]) (Not <DAV:no-lock>)`,
		`<http://h/dav/data/a> (<urn:uuid:a>) <http://h/dav/data/b> (Not <urn:uuid:b> [W/"x"])`,
		`</dav/data/dir/> (<opaquelocktoken:1234>)`,
		`(Not<DAV:no-lock>["1-2"])`,
		`(["x"])`,
		`NOT (<a>)`,
		`()`,
		`(<a`,
		`<a> <b>`,
		`(<a>) garbage`,
		"(\t<a>\t)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lists, err := parseIf(s)
		if err != nil {
			if lists != nil {
				t.Fatalf("%q: error %v with lists %v", s, err, lists)
			}
			return
		}
		if len(lists) == 0 || len(lists) > len(s)/2 {
			t.Fatalf("%q: %d lists", s, len(lists))
		}
		for _, l := range lists {
			if len(l.conditions) == 0 || strings.Contains(l.resource, ">") {
				t.Fatalf("%q: bad list %+v", s, l)
			}
			for _, c := range l.conditions {
				if c.token != "" && c.etag != "" {
					t.Fatalf("%q: condition %+v is both a token and an etag", s, c)
				}
				if strings.Contains(c.token, ">") || strings.Contains(c.etag, "]") {
					t.Fatalf("%q: condition %+v holds its closing bracket", s, c)
				}
			}
		}
		// A token comes in angle brackets or, as some clients send it,
		// bare inside a list: either way it is in the header as sent.
		for _, tok := range ifTokens(lists) {
			bracketed := strings.Contains(s, "<"+tok+">")
			bare := strings.Contains(s, tok) && !strings.ContainsAny(tok, "<>() \t")
			if !bracketed && !bare {
				t.Fatalf("%q: token %q not in the header", s, tok)
			}
		}
	})
}

// FuzzRequestPath checks that the mapping of a request path to a share
// name and to its SMB path never leaves the share's root, and holds no
// "..", ".", empty segment, NUL or name not in NFC.
func FuzzRequestPath(f *testing.F) {
	for _, s := range []string{
		"/dav/data", "/dav/data/", "/dav/data/a/b.txt", "/dav/data/../other",
		"/dav/data/a/../../..", "/dav/data//a//./b/", "/dav/database",
		"/dav/data/caf\u0065\u0301", "/dav/data/a\\b", "/dav/data/a:stream",
		"/dav/data/a\x00b", "/dav/data/\xff", "/dav/data/%2e%2e", "/dav/data/..\u0338",
		"/dav/data/\u212b/\u037e",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, urlPath string, inDir bool) {
		s := &shareRequest{prefix: "/dav/data"}
		name, ok := s.inShare(urlPath)
		if !ok {
			return
		}
		if !strings.HasPrefix(name, "/") || path.Clean(name) != name {
			t.Fatalf("%q: name %q not clean", urlPath, name)
		}
		if utf8.ValidString(name) && !norm.NFC.IsNormalString(name) {
			t.Fatalf("%q: name %q not NFC", urlPath, name)
		}
		fsys := &FS{} // NewFS, without the share smbPath does not use
		if inDir {
			fsys.root = `home\alice`
		}
		p, err := fsys.smbPath(name)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, fsys.root) || strings.ContainsAny(p, "/\x00:") || !norm.NFC.IsNormalString(p) {
			t.Fatalf("%q: SMB path %q (root %q)", urlPath, p, fsys.root)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, fsys.root), `\`)
		if rel == "" {
			return
		}
		for _, seg := range strings.Split(rel, `\`) {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("%q: SMB path %q has segment %q", urlPath, p, seg)
			}
		}
	})
}

var propfindSeeds = []string{
	``,
	`<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`,
	`<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`,
	// Finder
	`<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/><D:getcontentlength/><D:creationdate/><D:resourcetype/></D:prop></D:propfind>`,
	// Explorer (Mini-Redirector)
	`<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop xmlns:Z="urn:schemas-microsoft-com:"><D:name/><D:getcontenttype/><Z:Win32CreationTime/><Z:Win32LastAccessTime/><Z:Win32LastModifiedTime/><Z:Win32FileAttributes/><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>`,
	`<propfind xmlns="DAV:"><allprop/><include><lockdiscovery/></include></propfind>`,
	// litmus propfind_invalid2
	`<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>`,
	`<D:propfind xmlns:D="DAV:"><D:prop>`,
	`<foo/>`,
	`<D:propfind xmlns:D="DAV:"><D:prop><X:a xmlns:X="http://example.com/ns"/></D:prop></D:propfind>`,
}

// FuzzParsePropfind checks that the PROPFIND body parser never panics and
// returns at most one property name for every few bytes of body.
func FuzzParsePropfind(f *testing.F) {
	for _, s := range propfindSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pf, err := parsePropfind(body)
		if err != nil {
			return
		}
		if pf.mode != modeAllprop && pf.mode != modePropname && pf.mode != modeProp {
			t.Fatalf("%q: mode %d", body, pf.mode)
		}
		if len(pf.names) > len(body)/3 {
			t.Fatalf("%q: %d names", body, len(pf.names))
		}
		for _, n := range pf.names {
			if n.Local == "" {
				t.Fatalf("%q: empty property name", body)
			}
		}
	})
}

var lockSeeds = []string{
	`<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>http://example.org/~ejw/contact.html</D:href></D:owner></D:lockinfo>`,
	// litmus
	`<?xml version="1.0" encoding="utf-8"?><lockinfo xmlns='DAV:'><lockscope><shared/></lockscope><locktype><write/></locktype><owner>litmus test suite</owner></lockinfo>`,
	`<lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope><locktype><write/></locktype><owner><x:a xmlns:x="urn:x" x:attr="1" b="&lt;2&gt;">t&amp;<y/></x:a></owner></lockinfo>`,
	// Office
	`<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>CONTOSO\alice</D:href></D:owner></D:lockinfo>`,
	`<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope></D:lockinfo>`,
	`<D:lockinfo xmlns:D="DAV:" xmlns:p=""><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`,
	`<D:lockinfo xmlns:D="DAV:"><D:owner>`,
}

// FuzzParseLockInfo checks that the LOCK body parser never panics, and
// that a parsed owner is bounded and well-formed wherever it is written.
func FuzzParseLockInfo(f *testing.F) {
	for _, s := range lockSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		li, err := parseLockInfo(body)
		if err != nil {
			return
		}
		if len(li.owner) > maxOwnerBytes {
			t.Fatalf("owner of %d bytes", len(li.owner))
		}
		dec := xml.NewDecoder(strings.NewReader("<owner xmlns=\"DAV:\">" + li.owner + "</owner>"))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%q: owner %q is not well-formed: %v", body, li.owner, err)
			}
		}
	})
}

// TestLockOwnerNamespaceBlowupRefused: an owner of many empty elements under one long
// default namespace would be re-serialised with the namespace on each,
// quadratically larger than the body; it is refused instead.
func TestLockOwnerNamespaceBlowupRefused(t *testing.T) {
	ns := strings.Repeat("n", 4<<10)
	body := `<D:lockinfo xmlns:D="DAV:" xmlns="urn:` + ns + `"><D:lockscope><D:exclusive/></D:lockscope>` +
		`<D:locktype><D:write/></D:locktype><D:owner>` + strings.Repeat("<a/>", 4<<10) + `</D:owner></D:lockinfo>`
	li, err := parseLockInfo([]byte(body))
	if err == nil {
		t.Fatalf("a %d-byte body gave an owner of %d bytes", len(body), len(li.owner))
	}
}

// FuzzProppatch sends PROPPATCH bodies through davfs's propertyupdate
// parser: it never panics, and every property it accepts has a name and a
// value that is well-formed XML once written back.
func FuzzProppatch(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://ns.example.com/standards/z39.50/"><D:set><D:prop><Z:Authors><Z:Author>Jim Whitehead</Z:Author></Z:Authors></D:prop></D:set><D:remove><D:prop><Z:Copyright-Owner/></D:prop></D:remove></D:propertyupdate>`,
		// Explorer
		`<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32CreationTime>Tue, 01 Dec 2026 10:00:00 GMT</Z:Win32CreationTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>`,
		// litmus propset, with a language and mixed content
		`<?xml version="1.0" encoding="utf-8" ?><propertyupdate xmlns="DAV:"><set><prop><t:valnspace xmlns:t="http://example.com/neon/litmus/" xml:lang="en"><foo xmlns="bar">x</foo>y</t:valnspace></prop></set></propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><set><prop><getetag>x</getetag></prop></set></propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><remove><prop/></remove></propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><set>`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		patches, err := parseProppatch(body)
		if err != nil {
			return
		}
		for _, p := range patches {
			for _, pr := range p.Props {
				if pr.XMLName.Local == "" {
					t.Fatalf("%q: a property without a name", body)
				}
				var b strings.Builder
				writeElement(&b, pr.XMLName, pr.Lang, string(pr.InnerXML), true)
				dec := xml.NewDecoder(strings.NewReader(b.String()))
				for {
					_, err := dec.Token()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("%q: property %q written back is not well-formed: %v", body, b.String(), err)
					}
				}
			}
		}
	})
}
