package davfs

import (
	"encoding/xml"
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
