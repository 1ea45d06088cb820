package authn

import "unicode"

// maxMarkRun is the most combining marks accepted on one character of an
// app's name: enough for Vietnamese, Indic scripts and Hebrew pointing,
// not for a pile drawn over the approval page's other lines.
const maxMarkRun = 3

// blankRune reports runes that unicode.IsPrint accepts but that render as
// nothing: the Hangul fillers (letters) and the blank Braille pattern.
func blankRune(r rune) bool {
	switch r {
	case '\u115f', '\u1160', '\u3164', '\uffa0', '\u2800':
		return true
	}
	return false
}

// visibleName reports whether an app's name (already printable) shows as
// what it says on the approval page: at least one letter or digit, no
// blank runes, at most maxMarkRun combining marks in a row.
func visibleName(s string) bool {
	marks, seen := 0, false
	for _, r := range s {
		if blankRune(r) {
			return false
		}
		if unicode.In(r, unicode.Mn, unicode.Me) {
			if marks++; marks > maxMarkRun {
				return false
			}
			continue
		}
		marks = 0
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			seen = true
		}
	}
	return seen
}
