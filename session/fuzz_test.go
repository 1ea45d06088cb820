package session

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzOpenToken checks that a sealed token opens to the data sealed in it
// and that any other string, random or a sealed token altered, never
// opens and never panics.
func FuzzOpenToken(f *testing.F) {
	kr := newKeyring(f)
	var sealed []string
	for i := range 3 {
		td := &tokenData{expiry: time.Unix(1_800_000_000+int64(i), 0)}
		td.sid[0], td.key[31] = byte(i), byte(i+1)
		tok, err := sealToken(kr, td)
		if err != nil {
			f.Fatal(err)
		}
		sealed = append(sealed, tok)
		f.Add(tok)
		f.Add(tok[:len(tok)-1] + "A")
		f.Add(tok[1:])
		f.Add(tok + "A")
	}
	f.Add("")
	f.Add(strings.Repeat("A", tokenEncoding.EncodedLen(tokenRawSize)))
	f.Add("not a token")
	f.Fuzz(func(t *testing.T, tok string) {
		td, err := openToken(kr, tok)
		isSealed := false
		for _, s := range sealed {
			isSealed = isSealed || s == tok
		}
		switch {
		case err == nil && !isSealed:
			t.Fatalf("token %q that was never sealed opened", tok)
		case err != nil && isSealed:
			t.Fatalf("sealed token %q did not open: %v", tok, err)
		case err != nil && (td != nil || !errors.Is(err, ErrInvalidToken)):
			t.Fatalf("failure is %v with data %v, want ErrInvalidToken and nil", err, td)
		}
	})
}

// FuzzSealOpen checks that any token data opens to itself and that
// flipping any bit of the token makes it fail.
func FuzzSealOpen(f *testing.F) {
	kr := newKeyring(f)
	f.Add(bytes.Repeat([]byte{1}, sidSize), bytes.Repeat([]byte{2}, sessionKeySize), int64(1_800_000_000), uint(0))
	f.Add([]byte{}, []byte{}, int64(-1), uint(400))
	f.Fuzz(func(t *testing.T, sid, key []byte, expiry int64, flip uint) {
		td := &tokenData{expiry: time.Unix(expiry, 0)}
		copy(td.sid[:], sid)
		copy(td.key[:], key)
		tok, err := sealToken(kr, td)
		if err != nil {
			t.Fatal(err)
		}
		got, err := openToken(kr, tok)
		if err != nil {
			t.Fatalf("sealed token did not open: %v", err)
		}
		if got.sid != td.sid || got.key != td.key || !got.expiry.Equal(td.expiry) {
			t.Fatalf("opened %+v, sealed %+v", got, td)
		}
		raw, _ := tokenEncoding.DecodeString(tok)
		bit := flip % uint(len(raw)*8)
		raw[bit/8] ^= 1 << (bit % 8)
		if _, err := openToken(kr, tokenEncoding.EncodeToString(raw)); err == nil {
			t.Fatalf("token with bit %d flipped opened", bit)
		}
	})
}

var shareURLSeeds = []string{
	"smb://fs1/home/{user}",
	"smb://fs1.example.com:1445/data",
	"smb://[::1]:445/share/{domain}/{user}",
	"smb://[fe80::1]/s",
	"smb://fs1/{ldap:homeDirectory}",
	"smb://fs1/",
	"SMB://FS1/Team%20Share/a%2Fb",
	"smb://fs1/share/../etc",
	"smb://fs1/share/%2e%2e/x",
	"smb://fs1/share/a%5Cb",
	"smb://user@fs1/share",
	"smb://fs1/share?x#y",
	"smb://fs1:0/s",
	"smb://fs1/{user/x}",
	"smb://fs1/pre{user}post/{domain}.d",
	"smb://fs1/s/%00",
	"smb://fs1/s/caf%C3%A9",
	"http://fs1/s",
}

// FuzzParseShareURL checks that a parsed share URL holds no "..", empty
// or "." segment, no backslash and no control character, and that it
// reads back the same from its String.
func FuzzParseShareURL(f *testing.F) {
	for _, s := range shareURLSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseShareURL(s)
		if err != nil {
			return
		}
		checkShareURL(t, u)
		back, err := ParseShareURL(u.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose String %q does not parse: %v", s, u, u.String(), err)
		}
		if back != u {
			t.Fatalf("%q parsed to %+v, its String %q to %+v", s, u, u.String(), back)
		}
	})
}

// FuzzExpandShareURL checks that expanding a template with any values
// keeps the host and port and yields no segment that could climb out of
// the share or name something else.
func FuzzExpandShareURL(f *testing.F) {
	for _, s := range shareURLSeeds {
		f.Add(s, "alice", "EXAMPLE", `home\alice`)
	}
	f.Add("smb://fs1/home/{user}", "..", "x", "y")
	f.Add("smb://fs1/home/{user}{domain}", ".", ".", "y")
	f.Add("smb://fs1/home/x{user}", "a/b", "x", "y")
	f.Add("smb://fs1/home/{user}", "a\x00b", "x", "y")
	f.Add("smb://fs1/{domain}/{user}", "b?c#d", "%2e%2e", "y")
	f.Fuzz(func(t *testing.T, tmpl, user, domain, home string) {
		u, err := ParseShareURL(tmpl)
		if err != nil {
			return
		}
		vars := map[string]string{"user": user, "domain": domain, "ldap:homeDirectory": home}
		x, err := u.Expand(vars)
		if err != nil {
			return
		}
		if x.Host != u.Host || x.Port != u.Port || x.Addr() != u.Addr() {
			t.Fatalf("%q expanded to %+v: another server", tmpl, x)
		}
		if (x.Share == "") != (u.Share == "") {
			t.Fatalf("%q expanded to %+v: share appeared or vanished", tmpl, x)
		}
		checkShareURL(t, x)
		back, err := ParseShareURL(x.String())
		if err != nil || back.Addr() != u.Addr() || back.Share != x.Share || back.Path != x.Path {
			t.Fatalf("%q expanded to %+v, whose String %q reads as %+v (%v)", tmpl, x, x.String(), back, err)
		}
	})
}

func checkShareURL(t *testing.T, u ShareURL) {
	t.Helper()
	if u.Host == "" || strings.ContainsAny(u.Host, "/\\@?#%{} \x00") {
		t.Fatalf("%+v: bad host", u)
	}
	if u.Port < 0 || u.Port > 65535 {
		t.Fatalf("%+v: bad port", u)
	}
	if strings.Contains(u.Share, "/") {
		t.Fatalf("%+v: share name with a slash", u)
	}
	if u.Share == "" && u.Path != "" {
		t.Fatalf("%+v: path without a share", u)
	}
	for _, p := range []string{u.Share, u.Path} {
		if p == "" {
			continue
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("%+v: segment %q", u, seg)
			}
			if strings.ContainsAny(seg, "\\\x00") {
				t.Fatalf("%+v: backslash or NUL in %q", u, seg)
			}
		}
	}
}
