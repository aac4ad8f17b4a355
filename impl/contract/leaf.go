package contract

import (
	"math"
	"strconv"
	"unicode/utf16"

	"github.com/getkin/kin-openapi/openapi3"
)

// A leaf is how a walk passes a scalar without asking kin-openapi: a
// string, number, boolean or null that plainly meets its schema. It only
// ever passes a value: anything it does not pass (a value that may be
// wrong, or a keyword it does not model) is visited by kin-openapi, which
// decides and words the error. So, like the walk, it can only save time.
//
// kin-openapi's VisitJSON costs 0.4-0.8 µs a scalar even when it passes it:
// its settings and the list of schemas visited are made afresh for each
// call, and an integer's wholeness goes through math/big. That was most of
// validating a lead's response once the walk had taken the decoding away.
//
// What it checks is what kin-openapi 0.152's visitJSON checks of a scalar,
// in the same way: the type (a whole number for an integer), nullable, an
// enum of strings, minLength and maxLength in UTF-16 code units, the
// pattern (compiled by compilePattern, as the Validator's options have
// kin-openapi compile it), a string format by the same validators
// (stringFormats, then kin-openapi's global ones), the ranges of its own
// int32 and int64 validators, and minimum, maximum and both forms of
// exclusive bounds as float64 comparisons. Any other number format
// kin-openapi has a validator for, multipleOf, an enum of anything but
// strings, and any composition are left to it. Should kin-openapi's rules
// change in an upgrade, the agreement tests below are the ones to fail. TestWalkAgreesWithVisitJSON,
// TestLeafAgreesWithVisitJSON and FuzzWalk compare the two.
type leaf struct {
	// ok is false when any scalar must be visited by kin-openapi. str,
	// numeric and boolean are the kinds the type permits; number is set
	// when a number need not be whole.
	ok                            bool
	nullable                      bool
	str, numeric, number, boolean bool
	enum                          []string
	minLength                     uint64
	maxLength                     *uint64
	pattern                       openapi3.RegexMatcher
	format                        openapi3.StringFormatValidator
	min, max                      *float64
	exclusiveMin, exclusiveMax    *float64
	// formatMin and formatMax are an integer format's range (int32 or
	// int64) as float64; both 0 when there is none.
	formatMin, formatMax float64
}

// leafOf works out s's leaf.
func leafOf(s *openapi3.Schema) *leaf {
	l := &leaf{}
	if s.Always != nil || s.Not != nil || len(s.OneOf)+len(s.AnyOf)+len(s.AllOf) != 0 ||
		s.MultipleOf != nil || s.Const != nil || s.IsEmpty() {
		return l
	}
	t := s.Type
	l.nullable = s.Nullable || t.IncludesNull()
	l.str = t.Permits(openapi3.TypeString)
	l.numeric = t.Permits(openapi3.TypeInteger) || t.Permits(openapi3.TypeNumber)
	l.number = t.Permits(openapi3.TypeNumber)
	l.boolean = t.Permits(openapi3.TypeBoolean)
	for _, e := range s.Enum {
		text, isString := e.(string)
		if !isString {
			return l
		}
		l.enum = append(l.enum, text)
	}
	l.minLength, l.maxLength = s.MinLength, s.MaxLength
	if s.Pattern != "" {
		m, err := compilePattern(s.Pattern)
		if err != nil {
			return l
		}
		l.pattern = m
	}
	if f := s.Format; f != "" {
		_, integerFormat := openapi3.SchemaIntegerFormats[f]
		_, numberFormat := openapi3.SchemaNumberFormats[f]
		switch requireInteger := l.numeric && !l.number; {
		case requireInteger && integerFormat && f == "int32":
			// kin-openapi's own range validators for these two.
			l.formatMin, l.formatMax = math.MinInt32, math.MaxInt32
		case requireInteger && integerFormat && f == "int64":
			l.formatMin, l.formatMax = math.MinInt64, math.MaxInt64
		case requireInteger && integerFormat, !requireInteger && l.numeric && numberFormat:
			return l
		}
		if v, known := stringFormats[f]; known {
			l.format = v
		} else if v, known := openapi3.SchemaStringFormats[f]; known {
			l.format = v
		}
	}
	l.min, l.max = s.Min, s.Max
	if eb := s.ExclusiveMin; eb.IsSet() {
		if eb.Value != nil {
			l.exclusiveMin = eb.Value
		} else if eb.Bool != nil && *eb.Bool && s.Min != nil {
			l.exclusiveMin = s.Min
		}
	}
	if eb := s.ExclusiveMax; eb.IsSet() {
		if eb.Value != nil {
			l.exclusiveMax = eb.Value
		} else if eb.Bool != nil && *eb.Bool && s.Max != nil {
			l.exclusiveMax = s.Max
		}
	}
	l.ok = true
	return l
}

// null reports whether the leaf passes null.
func (l *leaf) null() bool { return l.ok && l.nullable }

// boolValue reports whether the leaf passes true or false.
func (l *leaf) boolValue() bool { return l.ok && l.boolean && len(l.enum) == 0 }

// numberValue reports whether the leaf passes the JSON number text.
func (l *leaf) numberValue(text string) bool {
	if !l.ok || len(l.enum) != 0 || !l.numeric {
		return false
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || (!l.number && f != math.Trunc(f)) {
		return false
	}
	if (l.formatMin != 0 || l.formatMax != 0) && (f < l.formatMin || f > l.formatMax) {
		return false
	}
	return (l.exclusiveMin == nil || f > *l.exclusiveMin) && (l.exclusiveMax == nil || f < *l.exclusiveMax) &&
		(l.min == nil || *l.min <= f) && (l.max == nil || *l.max >= f)
}

// stringValue reports whether the leaf passes the string.
func (l *leaf) stringValue(s string) bool {
	if !l.ok || !l.str {
		return false
	}
	if len(l.enum) != 0 {
		found := false
		for _, e := range l.enum {
			if e == s {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if l.minLength != 0 || l.maxLength != nil {
		n := uint64(0)
		for _, r := range s {
			if utf16.IsSurrogate(r) {
				n += 2
			} else {
				n++
			}
		}
		if n < l.minLength || (l.maxLength != nil && n > *l.maxLength) {
			return false
		}
	}
	if l.pattern != nil && !l.pattern.MatchString(s) {
		return false
	}
	return l.format == nil || l.format.Validate(s) == nil
}
