package authn

import (
	"encoding/json"
	"unicode/utf8"
)

// secret is a password in a JSON body, decoded into bytes the caller
// zeroes after use: encoding/json would make a string of it, which cannot
// be. A JSON string without escapes (the usual password) is copied from
// the body byte for byte; one with escapes is decoded through a string,
// a copy left to the garbage collector.
type secret []byte

// UnmarshalJSON implements json.Unmarshaler.
func (s *secret) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		inner := b[1 : len(b)-1]
		plain := utf8.Valid(inner)
		for _, c := range inner {
			if c == '\\' || c < 0x20 {
				plain = false
				break
			}
		}
		if plain {
			*s = append(secret(nil), inner...)
			return nil
		}
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return err
	}
	*s = secret(str)
	return nil
}

// String keeps the password out of %v.
func (s secret) String() string { return "[password]" }
