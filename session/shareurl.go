package session

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// ShareURL is a parsed smb://host[:port]/share[/path] URL.
//
// Share and Path may hold variables such as {user}, {domain} or
// {ldap:homeDirectory}, replaced by Expand. Variables are allowed only in
// the URL's path (the share name and the path inside it), never in the host
// or port, and each value must be a single path segment, so an expanded URL
// cannot name another server or climb out of its share.
type ShareURL struct {
	Host  string // name or IP address; an IPv6 address without brackets
	Port  int    // 0 means the default, 445
	Share string // share name; empty only for a server URL (smb://host/)
	Path  string // directory inside the share: slash separated, cleaned, no leading slash, no backslash
}

// DefaultSMBPort is the port of a ShareURL without one.
const DefaultSMBPort = 445

// ParseShareURL parses smb://host[:port]/share[/path]. Path segments may be
// percent-encoded; "." and empty segments are dropped, and a ".." segment,
// a backslash, user info, a query or a fragment is an error. A URL without
// a share (smb://host/) is valid, for log-on checks against a server.
func ParseShareURL(s string) (ShareURL, error) {
	u, err := parseShareURL(s)
	if err != nil {
		return ShareURL{}, fmt.Errorf("share URL %q: %w", redactURL(s), err)
	}
	return u, nil
}

func parseShareURL(s string) (ShareURL, error) {
	var u ShareURL
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !strings.EqualFold(scheme, "smb") {
		return u, errors.New("want smb://host[:port]/share[/path]")
	}
	if strings.ContainsAny(rest, "?#") {
		return u, errors.New("query and fragment are not allowed")
	}
	if strings.ContainsRune(rest, '\\') {
		return u, errors.New("backslashes are not allowed; separate path segments with /")
	}
	authority, p, _ := strings.Cut(rest, "/")
	if strings.ContainsRune(authority, '@') {
		return u, errors.New("user info is not allowed")
	}
	if err := u.parseHostPort(authority); err != nil {
		return u, err
	}
	var segs []string
	for _, raw := range strings.Split(p, "/") {
		seg, err := url.PathUnescape(raw)
		if err != nil {
			return u, errors.New("malformed percent-encoding")
		}
		switch {
		case seg == "" || seg == ".":
			continue
		case seg == "..":
			return u, errors.New(`".." is not allowed`)
		case strings.ContainsAny(seg, `/\`):
			return u, errors.New("encoded slashes and backslashes are not allowed")
		case strings.ContainsFunc(seg, unicode.IsControl):
			return u, errors.New("control characters are not allowed")
		}
		if err := checkVars(seg); err != nil {
			return u, err
		}
		segs = append(segs, seg)
	}
	if len(segs) > 0 {
		u.Share = segs[0]
		u.Path = strings.Join(segs[1:], "/")
	}
	return u, nil
}

func (u *ShareURL) parseHostPort(a string) error {
	host, port := a, ""
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return errors.New("unclosed [ in host")
		}
		host = a[1:end]
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return errors.New("bad IPv6 address in host")
		}
		switch rest := a[end+1:]; {
		case rest == "":
		case strings.HasPrefix(rest, ":"):
			port = rest[1:]
		default:
			return errors.New("unexpected text after ]")
		}
	} else {
		if i := strings.LastIndexByte(a, ':'); i >= 0 {
			host, port = a[:i], a[i+1:]
		}
		for _, r := range host {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
				return fmt.Errorf("host may hold letters, digits, '.', '-' and '_' only")
			}
		}
	}
	if host == "" {
		return errors.New("no host")
	}
	u.Host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return errors.New("bad port")
		}
		u.Port = n
	}
	return nil
}

// checkVars checks that every brace in seg belongs to a {name} variable.
func checkVars(seg string) error {
	for {
		i := strings.IndexAny(seg, "{}")
		if i < 0 {
			return nil
		}
		if seg[i] == '}' {
			return errors.New("unmatched }")
		}
		j := strings.IndexAny(seg[i+1:], "{}")
		if j < 0 || seg[i+1+j] != '}' {
			return errors.New("unclosed {")
		}
		if !validVarName(seg[i+1 : i+1+j]) {
			return fmt.Errorf("bad variable name %q", seg[i+1:i+1+j])
		}
		seg = seg[i+2+j:]
	}
}

func validVarName(n string) bool {
	if n == "" {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == ':' || r == '.') {
			return false
		}
	}
	return true
}

// Vars lists the names of the variables u uses, in order of appearance.
func (u ShareURL) Vars() []string {
	var out []string
	for _, s := range []string{u.Share, u.Path} {
		for {
			i := strings.IndexByte(s, '{')
			if i < 0 {
				break
			}
			j := strings.IndexByte(s[i:], '}')
			out = append(out, s[i+1:i+j])
			s = s[i+j+1:]
		}
	}
	return out
}

// Expand replaces the variables in the share name and path with values
// from vars (e.g. "user", "domain", "ldap:homeDirectory"). A missing
// variable is an error, and so is a value that is empty, ".", contains
// "/", "\", "..", NUL or another control character: each value must stay
// one path segment inside the share.
func (u ShareURL) Expand(vars map[string]string) (ShareURL, error) {
	var err error
	if u.Share, err = expandSegs(u.Share, vars); err != nil {
		return ShareURL{}, fmt.Errorf("expand share URL: %w", err)
	}
	if u.Path, err = expandSegs(u.Path, vars); err != nil {
		return ShareURL{}, fmt.Errorf("expand share URL: %w", err)
	}
	return u, nil
}

func expandSegs(p string, vars map[string]string) (string, error) {
	if !strings.Contains(p, "{") {
		return p, nil
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		var b strings.Builder
		for {
			open := strings.IndexByte(seg, '{')
			if open < 0 {
				b.WriteString(seg)
				break
			}
			end := open + strings.IndexByte(seg[open:], '}')
			name := seg[open+1 : end]
			v, ok := vars[name]
			if !ok {
				return "", fmt.Errorf("no value for {%s}", name)
			}
			if err := checkVarValue(v); err != nil {
				return "", fmt.Errorf("value of {%s} %w", name, err)
			}
			b.WriteString(seg[:open])
			b.WriteString(v)
			seg = seg[end+1:]
		}
		s := b.String()
		if s == "." || s == ".." || strings.Contains(s, "..") {
			return "", errors.New(`expanded path segment is "." or holds ".."`)
		}
		segs[i] = s
	}
	return strings.Join(segs, "/"), nil
}

func checkVarValue(v string) error {
	switch {
	case v == "":
		return errors.New("is empty")
	case v == ".":
		return errors.New(`is "."`)
	case strings.Contains(v, ".."):
		return errors.New(`holds ".."`)
	case strings.ContainsAny(v, `/\`):
		return errors.New("holds a slash or backslash")
	case strings.ContainsFunc(v, unicode.IsControl):
		return errors.New("holds a control character")
	case strings.ContainsAny(v, "{}"):
		return errors.New("holds a brace")
	}
	return nil
}

// Addr is host:port for dialing, with port 445 by default.
func (u ShareURL) Addr() string {
	port := u.Port
	if port == 0 {
		port = DefaultSMBPort
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(port))
}

// String returns the URL as smb://host[:port]/share[/path].
func (u ShareURL) String() string {
	var b strings.Builder
	b.WriteString("smb://")
	if u.Port != 0 {
		b.WriteString(net.JoinHostPort(u.Host, strconv.Itoa(u.Port)))
	} else if strings.Contains(u.Host, ":") {
		b.WriteString("[" + u.Host + "]")
	} else {
		b.WriteString(u.Host)
	}
	b.WriteString("/")
	if u.Share != "" {
		b.WriteString(escapeSegs(u.Share))
		if u.Path != "" {
			b.WriteString("/" + escapeSegs(u.Path))
		}
	}
	return b.String()
}

// keepBraces undoes the escaping of variable braces; a Replacer is safe
// for concurrent use, and building one per call cost more than the rest
// of a cached PROPFIND (the share source names every mount by its URL).
var keepBraces = strings.NewReplacer("%7B", "{", "%7D", "}")

// escapeSegs percent-encodes each segment, keeping variable braces.
func escapeSegs(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = keepBraces.Replace(url.PathEscape(s))
	}
	return strings.Join(segs, "/")
}
