package impl

import (
	"strings"
	"unicode/utf8"
)

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

// MaxProviderText is the most characters of a provider's own words that a
// message keeps (its error and error title) and that the API shows.
const MaxProviderText = 1000

// ProviderText is a provider's words about a message as they are kept and
// shown: one line of UTF-8 (each byte that is not, as U+FFFD), each control
// character a space, trimmed, and at most MaxProviderText characters, the
// last an ellipsis when the rest was cut. A provider's answer, or a proxy
// posing as one, is not ours: without this a NUL in it failed the record
// of the send on PostgreSQL, where SQLite kept it, and 50 KB of it came
// back in every read of the message.
func ProviderText(s string) string { return ProviderTextMax(s, MaxProviderText) }

// ProviderTextMax is ProviderText with room for at most limit characters
// (at least 1), for words that something else will follow.
func ProviderTextMax(s string, limit int) string {
	s = OneLine(s)
	limit = max(limit, 1)
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	cut, n := 0, 0
	for i := range s {
		if n == limit-1 {
			cut = i
			break
		}
		n++
	}
	return strings.TrimRight(s[:cut], " ") + "…"
}

// OneLine is ProviderText without the cut: for words that are redacted
// before they are cut, so that a cut cannot leave half a secret behind.
func OneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, isControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isControl(r) {
				return ' '
			}
			return r
		}, s)
	}
	return strings.TrimSpace(s)
}

// ProviderCode is a provider's error code as it is kept: up to 64 ASCII
// letters, digits, '_', '.' and '-' (Meta's numbers, Google's statuses).
// Anything else is no code rather than a code no client can match.
func ProviderCode(s string) string {
	if s == "" || len(s) > 64 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return ""
		}
	}
	return s
}

// MaxProviderID bounds the provider ids a message keeps or looks up. Meta's
// wamid values and RBM's names are tens of characters; anything far longer
// is not one of them.
const MaxProviderID = 512

// ProviderIDOK reports whether id can be kept as a provider's id for a
// message (or looked up as one): at most MaxProviderID bytes of UTF-8
// without control characters. The empty id, none, is OK.
func ProviderIDOK(id string) bool {
	return len(id) <= MaxProviderID && PlainLineOK(id)
}

// PlainLineOK reports whether s is one line of UTF-8 without control
// characters: what a name or an id from any door (the CLI included) must
// be, so that both databases keep it alike.
func PlainLineOK(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, isControl) < 0
}

// isControl is a C0 or C1 control character, or DEL.
func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }
