package impl

import "strings"

// The input policy for text: what no string we accept may hold, from any
// door (the API, a provider's callback, the CLI).

// ForbiddenRune reports a C0 control character that text may not hold. Tab,
// line feed and carriage return are text; NUL and the rest are not, and
// PostgreSQL refuses NUL outright, so the two databases would disagree.
func ForbiddenRune(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' && r != '\r'
}

// HasControlChars reports whether s holds a forbidden control character.
func HasControlChars(s string) bool {
	return strings.IndexFunc(s, ForbiddenRune) >= 0
}

// StripControlChars removes the forbidden control characters from text that
// we must keep rather than refuse, such as a message a contact sent.
func StripControlChars(s string) string {
	if !HasControlChars(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if ForbiddenRune(r) {
			return -1
		}
		return r
	}, s)
}
