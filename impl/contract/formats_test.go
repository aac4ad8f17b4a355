package contract

import (
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/iagente/iagente-sdr/internal/race"
)

// The regexps the format functions stand for.
var (
	emailPattern    = regexp.MustCompile(`^[^@\s\x00-\x1F\x7F]+@[^@\s\x00-\x1F\x7F]+\.[^@\s\x00-\x1F\x7F]+$`)
	dateTimePattern = regexp.MustCompile(openapi3.FormatOfStringDateTime)
)

// mutations returns seeds and random edits of them (a character replaced,
// inserted or removed, from an alphabet of the characters that matter to
// the pattern and some that do not), n in all.
func mutations(seeds []string, alphabet []string, n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	out := append([]string{}, seeds...)
	for len(out) < n {
		s := []byte(seeds[r.IntN(len(seeds))])
		for range 1 + r.IntN(3) {
			a := alphabet[r.IntN(len(alphabet))]
			i := 0
			if len(s) > 0 {
				i = r.IntN(len(s))
			}
			switch r.IntN(3) {
			case 0: // replace
				if len(s) > 0 {
					s = append(s[:i:i], append([]byte(a), s[i+1:]...)...)
				}
			case 1: // insert
				s = append(s[:i:i], append([]byte(a), s[i:]...)...)
			case 2: // remove
				if len(s) > 0 {
					s = append(s[:i:i], s[i+1:]...)
				}
			}
		}
		out = append(out, string(s))
	}
	return out
}

func TestIsEmailIsItsRegexp(t *testing.T) {
	seeds := []string{"joao@empresa.com", "a@b.c", "x@y.z.w", "maria.santos@empresa.com.br", "é@ç.pt", "", "@", "a@.b", "a@b.", "a@b"}
	alphabet := []string{"a", "Z", "0", ".", "@", " ", "\t", "\n", "\r", "\f", "\v", "\x00", "\x1f", "\x7f", "é", "\xff", "\u00a0", "+", "-"}
	accepted := 0
	for _, s := range mutations(seeds, alphabet, race.Sample(200000)) {
		if got, want := isEmail(s), emailPattern.MatchString(s); got != want {
			t.Fatalf("isEmail(%q) = %v, the regexp says %v", s, got, want)
		}
		if emailPattern.MatchString(s) {
			accepted++
		}
	}
	if accepted < race.Sample(1000) {
		t.Fatalf("only %d accepted inputs: the corpus proves little", accepted)
	}
}

func TestIsDateTimeIsKinOpenapisRegexp(t *testing.T) {
	seeds := []string{"2026-03-13T14:02:11Z", "2026-12-31T23:59:60.123456+03:00", "1999-09-09T09:09:09-00:30",
		"2026-02-30T00:00:00Z", "2026-10-01T20:10:59.5Z", "2026-13-01T00:00:00Z", "2026-03-13 14:02:11Z"}
	alphabet := []string{"0", "1", "2", "3", "5", "6", "9", "-", ":", "T", "Z", ".", "+", " ", "t", "z", "x", "\u0663"}
	accepted := 0
	for _, s := range mutations(seeds, alphabet, race.Sample(300000)) {
		if got, want := isDateTime(s), dateTimePattern.MatchString(s); got != want {
			t.Fatalf("isDateTime(%q) = %v, kin-openapi's regexp says %v", s, got, want)
		}
		if dateTimePattern.MatchString(s) {
			accepted++
		}
	}
	if accepted < race.Sample(1000) {
		t.Fatalf("only %d accepted inputs: the corpus proves little", accepted)
	}
}

// Every month, day, hour, minute and second the patterns allow or refuse.
func TestIsDateTimeFields(t *testing.T) {
	for mo := 0; mo < 100; mo++ {
		for d := 0; d < 100; d += 1 {
			s := "2026-" + two(mo) + "-" + two(d) + "T12:30:45Z"
			if isDateTime(s) != dateTimePattern.MatchString(s) {
				t.Fatalf("%s: disagree", s)
			}
		}
	}
	for h := 0; h < 100; h++ {
		for m := 0; m < 100; m += 7 {
			for sec := 0; sec < 100; sec++ {
				s := "2026-01-01T" + two(h) + ":" + two(m) + ":" + two(sec) + ".5+01:00"
				if isDateTime(s) != dateTimePattern.MatchString(s) {
					t.Fatalf("%s: disagree", s)
				}
			}
		}
	}
}

func two(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

func BenchmarkFormats(b *testing.B) {
	for _, c := range []struct {
		name string
		fn   func(string) bool
		s    string
	}{
		{"email/func", isEmail, "joao@empresa.com"}, {"email/regexp", emailPattern.MatchString, "joao@empresa.com"},
		{"date-time/func", isDateTime, "2026-03-13T14:02:11Z"}, {"date-time/regexp", dateTimePattern.MatchString, "2026-03-13T14:02:11Z"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.fn(c.s)
			}
		})
	}
}

// TestPlainHeaderSchemas: the spec's integer headers with a minimum are
// judged by headOK itself; a header with an enum, and any schema with a
// keyword beyond type and inclusive bounds, is left to VisitJSON.
func TestPlainHeaderSchemas(t *testing.T) {
	spec, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	for name, plain := range map[string]bool{
		"X-RateLimit-Limit": true, "X-RateLimit-Remaining": true, "X-RateLimit-Reset": true, "Retry-After": true,
		"Idempotent-Replayed": false, // an enum
	} {
		h := spec.Components.Headers[name]
		if h == nil || h.Value == nil || h.Value.Schema == nil {
			t.Fatalf("the spec has no header %s", name)
		}
		s := h.Value.Schema.Value
		if got := plainSchema(s, s.Type.Is(openapi3.TypeInteger)); got != plain {
			t.Errorf("%s: plain %v, want %v", name, got, plain)
		}
	}
	one, ten, yes := 1.0, 10.0, true
	for what, s := range map[string]*openapi3.Schema{
		"multipleOf":       {Type: &openapi3.Types{"integer"}, Min: &one, MultipleOf: &ten},
		"exclusiveMinimum": {Type: &openapi3.Types{"integer"}, Min: &one, ExclusiveMin: openapi3.ExclusiveBound{Bool: &yes}},
		"enum":             {Type: &openapi3.Types{"integer"}, Enum: []any{1, 2}},
		"not":              {Type: &openapi3.Types{"integer"}, Not: openapi3.NewSchemaRef("", openapi3.NewIntegerSchema())},
	} {
		if plainSchema(s, true) {
			t.Errorf("an integer schema with %s is plain", what)
		}
	}
	for what, s := range map[string]*openapi3.Schema{
		"pattern":   {Type: &openapi3.Types{"string"}, Pattern: "^a$"},
		"format":    {Type: &openapi3.Types{"string"}, Format: "date-time"},
		"minLength": {Type: &openapi3.Types{"string"}, MinLength: 2},
		"bounds":    {Type: &openapi3.Types{"string"}, Min: &one},
	} {
		if plainSchema(s, false) {
			t.Errorf("a string schema with %s is plain", what)
		}
	}
}

// A lead's ETag (a string with only a pattern) is matched by headOK itself,
// by the pattern's compiled matcher, not visited by VisitJSON.
func TestETagHeaderMatchedByItsPattern(t *testing.T) {
	spec, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	ok := spec.Components.Responses["LeadOK"]
	if ok == nil || ok.Value == nil {
		t.Fatal("the spec has no LeadOK response")
	}
	plan := NewValidator(spec).headerPlanOf(ok.Value)
	if !plan.simple {
		t.Fatal("LeadOK's headers are not judged by headOK")
	}
	for _, h := range plan.headers {
		if h.name != "Etag" {
			continue
		}
		if h.pattern == nil || !h.required {
			t.Fatalf("ETag: pattern %v, required %v", h.pattern, h.required)
		}
		for value, want := range map[string]bool{`"GojDmyqkrSRdO-rOW1z5aA"`: true, `W/"a"`: false, `a`: false, `""`: false} {
			if got := h.pattern.MatchString(value); got != want {
				t.Errorf("ETag %s: match %v, want %v", value, got, want)
			}
		}
		return
	}
	t.Fatal("LeadOK has no ETag header")
}

// TestReplayHeaderWhereKeysAreTaken: `Idempotent-Replayed` is documented
// on every success of an operation that takes an `Idempotency-Key`, and on
// no other: a read that named it (the handoff's did) tells a client that a
// GET may be a replay, which it never is.
func TestReplayHeaderWhereKeysAreTaken(t *testing.T) {
	spec, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			takesKey := false
			for _, p := range append(append(openapi3.Parameters{}, item.Parameters...), op.Parameters...) {
				if p.Value != nil && p.Value.In == openapi3.ParameterInHeader && p.Value.Name == "Idempotency-Key" {
					takesKey = true
				}
			}
			for code, resp := range op.Responses.Map() {
				if resp.Value == nil || len(code) != 3 || code[0] != '2' {
					continue
				}
				if named := resp.Value.Headers["Idempotent-Replayed"] != nil; named != takesKey {
					t.Errorf("%s %s %s: Idempotent-Replayed documented %v, Idempotency-Key taken %v", method, path, code, named, takesKey)
				}
				checked++
			}
		}
	}
	if checked < 25 {
		t.Fatalf("%d successes checked: the spec was not read", checked)
	}
}
