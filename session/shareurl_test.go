package session

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseShareURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ShareURL
		addr string
	}{
		{"smb://srv/data", ShareURL{Host: "srv", Share: "data"}, "srv:445"},
		{"SMB://srv.example.com:4450/data/", ShareURL{Host: "srv.example.com", Port: 4450, Share: "data"}, "srv.example.com:4450"},
		{"smb://srv/", ShareURL{Host: "srv"}, "srv:445"},
		{"smb://srv", ShareURL{Host: "srv"}, "srv:445"},
		{"smb://srv:445/homes/{user}", ShareURL{Host: "srv", Port: 445, Share: "homes", Path: "{user}"}, "srv:445"},
		{"smb://srv/data//a/./b/", ShareURL{Host: "srv", Share: "data", Path: "a/b"}, "srv:445"},
		{"smb://srv/My%20Share/x%20y", ShareURL{Host: "srv", Share: "My Share", Path: "x y"}, "srv:445"},
		{"smb://srv/{user}", ShareURL{Host: "srv", Share: "{user}"}, "srv:445"},
		{"smb://srv/d/{domain}/u-{user}.x/{ldap:uid}", ShareURL{Host: "srv", Share: "d", Path: "{domain}/u-{user}.x/{ldap:uid}"}, "srv:445"},
		{"smb://[::1]:4450/data", ShareURL{Host: "::1", Port: 4450, Share: "data"}, "[::1]:4450"},
		{"smb://[fe80::1]/data", ShareURL{Host: "fe80::1", Share: "data"}, "[fe80::1]:445"},
		{"smb://127.0.0.1:4450/data", ShareURL{Host: "127.0.0.1", Port: 4450, Share: "data"}, "127.0.0.1:4450"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseShareURL(tc.in)
			if err != nil {
				t.Fatalf("ParseShareURL: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.Addr() != tc.addr {
				t.Errorf("Addr() = %q, want %q", got.Addr(), tc.addr)
			}
			again, err := ParseShareURL(got.String())
			if err != nil || again != got {
				t.Errorf("ParseShareURL(String() = %q) = %+v, %v; want the same URL", got.String(), again, err)
			}
		})
	}
}

func TestParseShareURLErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"no scheme", "srv/data"},
		{"http", "http://srv/data"},
		{"no host", "smb:///data"},
		{"user info", "smb://alice:pw@srv/data"},
		{"query", "smb://srv/data?x=1"},
		{"fragment", "smb://srv/data#x"},
		{"dotdot", "smb://srv/data/../etc"},
		{"leading dotdot", "smb://srv/../x"},
		{"encoded dotdot", "smb://srv/data/%2e%2e/x"},
		{"backslash", `smb://srv/data\x`},
		{"encoded slash", "smb://srv/data/a%2Fb"},
		{"encoded backslash", "smb://srv/data/a%5Cb"},
		{"NUL", "smb://srv/data/a%00b"},
		{"control", "smb://srv/data/a%0Ab"},
		{"bad percent", "smb://srv/data/a%zz"},
		{"bad port", "smb://srv:0/data"},
		{"big port", "smb://srv:70000/data"},
		{"named port", "smb://srv:smb/data"},
		{"var in host", "smb://{user}.srv/data"},
		{"unclosed var", "smb://srv/data/{user"},
		{"unmatched brace", "smb://srv/data/user}"},
		{"empty var", "smb://srv/data/{}"},
		{"nested var", "smb://srv/data/{{user}}"},
		{"bad ipv6", "smb://[::1/data"},
		{"not ipv6", "smb://[1.2.3.4]/data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseShareURL(tc.in)
			if err == nil {
				t.Fatalf("ParseShareURL(%q) = %+v, want error", tc.in, u)
			}
			if strings.Contains(err.Error(), ":pw@") {
				t.Errorf("error %q repeats the password", err)
			}
		})
	}
}

func TestShareURLExpand(t *testing.T) {
	vars := map[string]string{"user": "alice", "domain": "LAB", "ldap:uid": "a.lice"}
	for _, tc := range []struct {
		in      string
		vars    map[string]string
		want    ShareURL
		wantErr string
	}{
		{in: "smb://srv/homes/{user}", vars: vars, want: ShareURL{Host: "srv", Share: "homes", Path: "alice"}},
		{in: "smb://srv/{user}", vars: vars, want: ShareURL{Host: "srv", Share: "alice"}},
		{in: "smb://srv/d/{domain}/u-{user}/{ldap:uid}", vars: vars, want: ShareURL{Host: "srv", Share: "d", Path: "LAB/u-alice/a.lice"}},
		{in: "smb://srv/data/x", vars: nil, want: ShareURL{Host: "srv", Share: "data", Path: "x"}},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": "Jürgen Müller"}, want: ShareURL{Host: "srv", Share: "homes", Path: "Jürgen Müller"}},
		{in: "smb://srv/homes/{user}", vars: map[string]string{}, wantErr: "no value for {user}"},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": ""}, wantErr: "empty"},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": ".."}, wantErr: ".."},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": "."}, wantErr: `"."`},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": "a..b"}, wantErr: ".."},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": "../root"}, wantErr: ".."},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": "a/b"}, wantErr: "slash"},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": `LAB\alice`}, wantErr: "slash"},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": "a\x00b"}, wantErr: "control"},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": "a\nb"}, wantErr: "control"},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": "a\u0085b"}, wantErr: "control"},
		{in: "smb://srv/homes/{user}", vars: map[string]string{"user": "{domain}"}, wantErr: "brace"},
		{in: "smb://srv/homes/{a}{b}", vars: map[string]string{"a": ".", "b": "."}, wantErr: `"."`},
		{in: "smb://srv/homes/x.{a}", vars: map[string]string{"a": ".y"}, wantErr: ".."},
	} {
		t.Run(tc.in+" "+strings.Join(mapValues(tc.vars), ","), func(t *testing.T) {
			u, err := ParseShareURL(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := u.Expand(tc.vars)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Expand = %+v, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expand: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestShareURLVars(t *testing.T) {
	u, err := ParseShareURL("smb://srv/{user}/{domain}/x-{ldap:uid}")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"user", "domain", "ldap:uid"}, u.Vars()); diff != "" {
		t.Errorf("Vars (-want +got):\n%s", diff)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}
