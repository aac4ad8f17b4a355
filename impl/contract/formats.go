package contract

// isEmail reports whether s is what the spec's "email" format accepts: what
// the generators of test data and real users mean by an address
// (anything@domain.tld), refusing whitespace, control characters, a second
// @ and a missing domain. It is the regexp
// ^[^@\s\x00-\x1F\x7F]+@[^@\s\x00-\x1F\x7F]+\.[^@\s\x00-\x1F\x7F]+$
// (emailPattern in formats_test.go), byte by byte: every character it
// refuses is ASCII.
func isEmail(s string) bool {
	at := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c == 0x7F: // control characters, space (and \t \n \f \r)
			return false
		case c == '@':
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at < 1 {
		return false
	}
	// A dot in the domain with something on each side of it.
	domain := s[at+1:]
	for i := 1; i < len(domain)-1; i++ {
		if domain[i] == '.' {
			return true
		}
	}
	return false
}

// isDateTime reports whether s matches kin-openapi's date-time format,
// openapi3.FormatOfStringDateTime:
// ^[0-9]{4}-(0[1-9]|10|11|12)-(0[1-9]|[12][0-9]|3[01])T([0-1][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)[0-9]{2}:[0-9]{2})$
func isDateTime(s string) bool {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return false
	}
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	in := func(c, lo, hi byte) bool { return lo <= c && c <= hi }
	switch {
	case !digit(s[0]) || !digit(s[1]) || !digit(s[2]) || !digit(s[3]) || s[4] != '-':
		return false
	case !(s[5] == '0' && in(s[6], '1', '9') || s[5] == '1' && in(s[6], '0', '2')) || s[7] != '-':
		return false
	case !(s[8] == '0' && in(s[9], '1', '9') || in(s[8], '1', '2') && digit(s[9]) || s[8] == '3' && in(s[9], '0', '1')):
		return false
	case s[10] != 'T':
		return false
	case !(in(s[11], '0', '1') && digit(s[12]) || s[11] == '2' && in(s[12], '0', '3')) || s[13] != ':':
		return false
	case !in(s[14], '0', '5') || !digit(s[15]) || s[16] != ':':
		return false
	case !(in(s[17], '0', '5') && digit(s[18]) || s[17] == '6' && s[18] == '0'):
		return false
	}
	rest := s[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && digit(rest[n]) {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	if rest == "Z" {
		return true
	}
	return len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && digit(rest[1]) && digit(rest[2]) &&
		rest[3] == ':' && digit(rest[4]) && digit(rest[5])
}
