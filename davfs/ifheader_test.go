package davfs

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// RFC 4918 section 10.4.2: the If header grammar.
func TestParseIf(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []ifList
		wantErr bool
	}{
		{"one token", "(<urn:uuid:a>)", []ifList{{conditions: []ifCondition{{token: "urn:uuid:a"}}}}, false},
		{"token and etag", `(<urn:uuid:a> ["e1"])`, []ifList{{conditions: []ifCondition{{token: "urn:uuid:a"}, {etag: `"e1"`}}}}, false},
		{"two lists with not", "(<urn:uuid:a>) (Not <DAV:no-lock>)", []ifList{
			{conditions: []ifCondition{{token: "urn:uuid:a"}}},
			{conditions: []ifCondition{{not: true, token: "DAV:no-lock"}}},
		}, false},
		{"tagged", "<http://h/dav/x> (<urn:uuid:a>) (<urn:uuid:b>)", []ifList{
			{resource: "http://h/dav/x", conditions: []ifCondition{{token: "urn:uuid:a"}}},
			{resource: "http://h/dav/x", conditions: []ifCondition{{token: "urn:uuid:b"}}},
		}, false},
		{"weak etag", `([W/"x"])`, []ifList{{conditions: []ifCondition{{etag: `W/"x"`}}}}, false},
		{"empty", "", nil, true},
		{"empty list", "()", nil, true},
		{"unclosed", "(<urn:uuid:a>", nil, true},
		{"tag without list", "<http://h/x>", nil, true},
		{"garbage", "urn:uuid:a", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseIf(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(ifList{}, ifCondition{})); diff != "" {
				t.Errorf("parseIf(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
