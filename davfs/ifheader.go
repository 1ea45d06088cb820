package davfs

import (
	"errors"
	"strings"
)

// ifList is one parenthesised list of an If header (RFC 4918 section
// 10.4), with the resource tag that precedes it, if any.
type ifList struct {
	resource   string // absolute URI or path from a tagged list, "" if untagged
	conditions []ifCondition
}

// ifCondition is a state token or an entity tag, possibly negated.
type ifCondition struct {
	not   bool
	token string // Coded-URL content without the angle brackets
	etag  string // entity tag with its quotes
}

var errBadIfHeader = errors.New("malformed If header")

// readIf parses an If header value as parseIf does, and also takes a
// header that is nothing but a bare lock token, as the JavaScript client
// "webdav" sends to refresh a lock.
func readIf(s string) ([]ifList, error) {
	lists, err := parseIf(s)
	if err != nil {
		if t, ok := bareToken(s); ok {
			return []ifList{{conditions: []ifCondition{{token: t}}}}, nil
		}
	}
	return lists, err
}

// parseIf parses an If header value.
func parseIf(s string) ([]ifList, error) {
	var lists []ifList
	resource := ""
	s = strings.TrimSpace(s)
	for s != "" {
		switch s[0] {
		case '<':
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return nil, errBadIfHeader
			}
			resource = s[1:end]
			s = strings.TrimSpace(s[end+1:])
			if s == "" || s[0] != '(' {
				return nil, errBadIfHeader
			}
		case '(':
			end := strings.IndexByte(s, ')')
			if end < 0 {
				return nil, errBadIfHeader
			}
			conds, err := parseConditions(s[1:end])
			if err != nil {
				return nil, err
			}
			lists = append(lists, ifList{resource: resource, conditions: conds})
			s = strings.TrimSpace(s[end+1:])
		default:
			return nil, errBadIfHeader
		}
	}
	if len(lists) == 0 {
		return nil, errBadIfHeader
	}
	return lists, nil
}

func parseConditions(s string) ([]ifCondition, error) {
	var conds []ifCondition
	s = strings.TrimSpace(s)
	for s != "" {
		var c ifCondition
		if len(s) > 3 && strings.EqualFold(s[:3], "not") && strings.ContainsRune(" \t<[", rune(s[3])) {
			c.not = true
			s = strings.TrimSpace(s[3:])
		}
		if s == "" {
			return nil, errBadIfHeader
		}
		switch s[0] {
		case '<':
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return nil, errBadIfHeader
			}
			c.token = s[1:end]
			s = s[end+1:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, errBadIfHeader
			}
			c.etag = s[1:end]
			s = s[end+1:]
		default:
			// a state token without its angle brackets, as some clients
			// send it: up to the next space
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			t, ok := bareToken(s[:end])
			if !ok {
				return nil, errBadIfHeader
			}
			c.token = t
			s = s[end:]
		}
		conds = append(conds, c)
		s = strings.TrimSpace(s)
	}
	if len(conds) == 0 {
		return nil, errBadIfHeader
	}
	return conds, nil
}

// tokens returns the lock tokens an If header submits: every state token
// it names outside a Not.
func ifTokens(lists []ifList) []string {
	var out []string
	for _, l := range lists {
		for _, c := range l.conditions {
			if c.token != "" && !c.not {
				out = append(out, c.token)
			}
		}
	}
	return out
}

// bareToken accepts a lock token sent without its angle brackets (a
// popular JavaScript client does this): an absolute URI such as
// "urn:uuid:...", with no space, bracket or parenthesis in it.
func bareToken(s string) (string, bool) {
	s = strings.TrimSpace(s)
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme == "" || rest == "" || strings.ContainsAny(s, " \t<>()[]") {
		return "", false
	}
	return s, true
}

// lockToken reads a Lock-Token header (RFC 4918 section 10.5): a Coded-URL,
// "<" token ">", or the bare token some clients send.
func lockToken(h string) (string, bool) {
	h = strings.TrimSpace(h)
	if len(h) >= 2 && h[0] == '<' && h[len(h)-1] == '>' {
		return h[1 : len(h)-1], len(h) > 2
	}
	return bareToken(h)
}
