package contract

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// compilePattern is how the spec's `pattern`s are compiled for validation
// (openapi3.SetSchemaRegexCompiler). It compiles what kin-openapi compiles,
// Go's regexp of the pattern with \uXXXX written as \x{XXXX}, and so refuses
// the same patterns with the same error. Most of the spec's patterns only
// say which characters a string may hold, in what order ("no control
// characters", "not blank", "https?:// then no spaces"); classMatcher
// matches those by one scan of the string's runes instead of the regexp
// engine, which cost half of the validation of a 10-card carousel.
// patterns_test.go proves each of the spec's patterns matches the same
// strings both ways.
func compilePattern(pattern string) (openapi3.RegexMatcher, error) {
	expr := goRegexp(pattern)
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	if m := classMatcher(expr); m != nil {
		return m, nil
	}
	return re, nil
}

// unicodeEscape is the JSON-Schema-style \uXXXX that Go's regexp writes as
// \x{XXXX}; kin-openapi rewrites it the same way before compiling.
var unicodeEscape = regexp.MustCompile(`\\u([0-9A-F]{4})`)

func goRegexp(pattern string) string {
	return unicodeEscape.ReplaceAllString(pattern, `\x{$1}`)
}

// runeClass is a set of runes: a bitmap of ASCII and the sorted ranges
// (lo, hi pairs) of the rest, as regexp/syntax gives them.
type runeClass struct {
	ascii  [2]uint64
	ranges []rune
	// high is set when every rune from U+0080 up is in the class, as in
	// the spec's negated classes of control characters.
	high bool
}

func newRuneClass(ranges []rune) *runeClass {
	c := &runeClass{ranges: ranges}
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1] && r < utf8.RuneSelf; r++ {
			c.ascii[r>>6] |= 1 << (r & 63)
		}
		if ranges[i] <= utf8.RuneSelf && ranges[i+1] == utf8.MaxRune {
			c.high = true
		}
	}
	return c
}

func (c *runeClass) has(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0 && c.ascii[r>>6]&(1<<(r&63)) != 0
	}
	if c.high {
		return true
	}
	// Binary search for the first range whose upper end is at least r.
	lo, hi := 0, len(c.ranges)/2
	for lo < hi {
		mid := (lo + hi) / 2
		if c.ranges[2*mid+1] < r {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo < len(c.ranges)/2 && c.ranges[2*lo] <= r
}

// within reports whether every rune of c is in d.
func (c *runeClass) within(d *runeClass) bool {
	for i := 0; i+1 < len(c.ranges); i += 2 {
		lo, hi := c.ranges[i], c.ranges[i+1]
		// Each run of c must lie inside one run of d, since d's runs are
		// disjoint and sorted.
		inside := false
		for j := 0; j+1 < len(d.ranges); j += 2 {
			if d.ranges[j] <= lo && hi <= d.ranges[j+1] {
				inside = true
				break
			}
		}
		if !inside {
			return false
		}
	}
	return true
}

// disjoint reports whether c and d have no rune in common.
func (c *runeClass) disjoint(d *runeClass) bool {
	for i := 0; i+1 < len(c.ranges); i += 2 {
		for j := 0; j+1 < len(d.ranges); j += 2 {
			if c.ranges[i] <= d.ranges[j+1] && d.ranges[j] <= c.ranges[i+1] {
				return false
			}
		}
	}
	return true
}

// item is one step of a seqMatch: between min and max runes (max < 0: no
// upper bound) of class.
type item struct {
	class    *runeClass
	min, max int
}

// seqMatch matches a whole string that is its items one after the other,
// each taking as many runes as it can. classMatcher only builds one where
// that greedy reading is the regexp's (see greedyIsExact).
type seqMatch struct{ items []item }

// MatchString implements openapi3.RegexMatcher. A byte that is not UTF-8
// reads as U+FFFD, one per byte, as it does for Go's regexp.
func (m *seqMatch) MatchString(s string) bool {
	i := 0
	for _, it := range m.items {
		n := 0
		for i < len(s) && (it.max < 0 || n < it.max) {
			if c := s[i]; c < utf8.RuneSelf {
				if it.class.ascii[c>>6]&(1<<(c&63)) == 0 {
					break
				}
				i++
			} else {
				r, size := utf8.DecodeRuneInString(s[i:])
				if !it.class.has(r) {
					break
				}
				i += size
			}
			n++
		}
		if n < it.min {
			return false
		}
	}
	return i == len(s)
}

// someMatch matches a whole string whose runes are all in all, at least one
// of them in some (a subset of all): "not blank".
type someMatch struct{ all, some *runeClass }

// MatchString implements openapi3.RegexMatcher, as seqMatch's does.
func (m *someMatch) MatchString(s string) bool {
	found := false
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			i++
			if m.all.ascii[c>>6]&(1<<(c&63)) == 0 {
				return false
			}
			found = found || m.some.ascii[c>>6]&(1<<(c&63)) != 0
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if !m.all.has(r) {
			return false
		}
		found = found || m.some.has(r)
	}
	return found
}

// classMatcher returns a matcher for expr when expr is, between ^ and $,
// a sequence of literals and character classes, each repeated or not
// (https?://[^\s]+, [0-9]{10,15}), that greedyIsExact accepts; or a class
// repeated around a narrower one (A*BA* with B within A: every rune in A, at
// least one in B). nil for anything else (groups, alternations, case
// folding, anchors elsewhere), which the regexp matches.
func classMatcher(expr string) openapi3.RegexMatcher {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) < 3 {
		return nil
	}
	first, last := re.Sub[0], re.Sub[len(re.Sub)-1]
	if first.Op != syntax.OpBeginText || last.Op != syntax.OpEndText {
		return nil
	}
	var items []item
	for _, sub := range re.Sub[1 : len(re.Sub)-1] {
		if sub.Op == syntax.OpLiteral && sub.Flags&syntax.FoldCase == 0 {
			for _, r := range sub.Rune {
				items = append(items, item{newRuneClass([]rune{r, r}), 1, 1})
			}
			continue
		}
		if c := class(sub); c != nil {
			items = append(items, item{c, 1, 1})
			continue
		}
		c, lo, hi, ok := repeated(sub)
		if !ok {
			return nil
		}
		items = append(items, item{c, lo, hi})
	}
	if len(items) == 3 {
		a, b, a2 := items[0], items[1], items[2]
		if a.min == 0 && a.max < 0 && b.min == 1 && b.max == 1 && a2.min == 0 && a2.max < 0 &&
			slices.Equal(a.class.ranges, a2.class.ranges) && b.class.within(a.class) {
			return &someMatch{all: a.class, some: b.class}
		}
	}
	if !greedyIsExact(items) {
		return nil
	}
	return &seqMatch{items: items}
}

// greedyIsExact reports whether taking as many runes as possible for each
// item in turn matches exactly the strings the regexp matches. It does when
// every item that may take a varying number of runes is the last one, or is
// followed by one that takes at least one rune from a class it shares no
// rune with: then a rune of the first item's class can never start the
// next, so stopping early never helps.
func greedyIsExact(items []item) bool {
	for i, it := range items[:len(items)-1] {
		if it.min == it.max {
			continue
		}
		next := items[i+1]
		if next.min < 1 || !it.class.disjoint(next.class) {
			return false
		}
	}
	return len(items) > 0
}

// repeated reads C*, C+, C? and C{n,m} of one character C.
func repeated(re *syntax.Regexp) (c *runeClass, lo, hi int, ok bool) {
	switch re.Op {
	case syntax.OpStar:
		lo, hi = 0, -1
	case syntax.OpPlus:
		lo, hi = 1, -1
	case syntax.OpQuest:
		lo, hi = 0, 1
	case syntax.OpRepeat:
		lo, hi = re.Min, re.Max
	default:
		return nil, 0, 0, false
	}
	if c = class(re.Sub[0]); c == nil {
		return nil, 0, 0, false
	}
	return c, lo, hi, true
}

// class reads one character: a class, any character, or a literal rune
// that is not case-folded.
func class(re *syntax.Regexp) *runeClass {
	switch re.Op {
	case syntax.OpCharClass:
		return newRuneClass(re.Rune)
	case syntax.OpAnyChar:
		return newRuneClass([]rune{0, utf8.MaxRune})
	case syntax.OpAnyCharNotNL:
		return newRuneClass([]rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune})
	case syntax.OpLiteral:
		if len(re.Rune) == 1 && re.Flags&syntax.FoldCase == 0 {
			return newRuneClass([]rune{re.Rune[0], re.Rune[0]})
		}
	}
	return nil
}
