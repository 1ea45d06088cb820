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
		if len(s) >= 3 && strings.EqualFold(s[:3], "not") {
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
			return nil, errBadIfHeader
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
