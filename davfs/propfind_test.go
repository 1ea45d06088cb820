package davfs

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// RFC 4918 section 14.20 propfind bodies; an empty namespace prefix
// declaration is refused (XML Namespaces 1.0, litmus propfind_invalid2).
func TestParsePropfind(t *testing.T) {
	dav := func(l string) xml.Name { return xml.Name{Space: "DAV:", Local: l} }
	tests := []struct {
		name    string
		body    string
		want    propfindReq
		wantErr bool
	}{
		{"empty body is allprop", "", propfindReq{mode: modeAllprop}, false},
		{"allprop", `<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`, propfindReq{mode: modeAllprop}, false},
		{"allprop include", `<propfind xmlns="DAV:"><allprop/><include><quota-used-bytes/></include></propfind>`,
			propfindReq{mode: modeAllprop, names: []xml.Name{dav("quota-used-bytes")}}, false},
		{"propname", `<propfind xmlns="DAV:"><propname/></propfind>`, propfindReq{mode: modePropname}, false},
		{"prop", `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><x:a xmlns:x="urn:x"/><b xmlns=""/></D:prop></D:propfind>`,
			propfindReq{mode: modeProp, names: []xml.Name{dav("getetag"), {Space: "urn:x", Local: "a"}, {Local: "b"}}}, false},
		{"empty prefix declaration", `<D:propfind xmlns:D="DAV:"><D:prop xmlns:ns1=""><ns1:foo/></D:prop></D:propfind>`, propfindReq{}, true},
		{"not propfind", `<D:lockinfo xmlns:D="DAV:"/>`, propfindReq{}, true},
		{"no mode", `<D:propfind xmlns:D="DAV:"/>`, propfindReq{}, true},
		{"not well formed", `<D:propfind xmlns:D="DAV:"><D:prop>`, propfindReq{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePropfind([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(propfindReq{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// xmlEscape's shortcut for plain ASCII gives what encoding/xml gives, for
// every byte value alone and inside a name.
func TestXMLEscape(t *testing.T) {
	inputs := []string{"", "report-2026.pdf", "/dav/data/a%20b/", "Tue, 24 Nov 2026 10:00:00 GMT",
		"a<b>&\"c'", "tab\there", "line\nbreak\r", "caf\u00e9", "\xff\xfe", "x\x7fy"}
	for c := range 256 {
		inputs = append(inputs, string([]byte{byte(c)}), "name"+string([]byte{byte(c)})+".txt")
	}
	for _, in := range inputs {
		var want strings.Builder
		xml.EscapeText(&want, []byte(in))
		if got := xmlEscape(in); got != want.String() {
			t.Errorf("xmlEscape(%q) = %q, want %q", in, got, want.String())
		}
	}
}
