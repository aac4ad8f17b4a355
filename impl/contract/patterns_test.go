package contract

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/internal/race"
)

func isScan(m openapi3.RegexMatcher) bool {
	_, re := m.(*regexp.Regexp)
	return m != nil && !re
}

// specPatterns are the patterns of every schema and parameter of the spec.
func specPatterns(t *testing.T) []string {
	doc, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	add := func(s *openapi3.Schema) {
		if s != nil && s.Pattern != "" {
			seen[s.Pattern] = true
		}
	}
	eachSchema(doc, add)
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				if p.Value != nil && p.Value.Schema != nil {
					add(p.Value.Schema.Value)
				}
			}
		}
	}
	for _, p := range doc.Components.Parameters {
		if p.Value != nil && p.Value.Schema != nil {
			add(p.Value.Schema.Value)
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// patternProbes are strings at the edges of the spec's classes: control
// characters, blanks, non-ASCII letters, invalid UTF-8, a lone surrogate's
// bytes, and lengths around the bounds.
var patternProbes = []string{
	"", " ", "a", "A", "_", "-", "+", "\t", "\n", "\r", "\v", "\f", "\x00", "\x1f", "\x7f", "\u0085", "\u00a0",
	"é", "ação", "日本", "😀", "\xff", "a\xffb", "\xed\xa0\x80", "\ufffd", "\u2028",
	"Olá mundo", "linha 1\nlinha 2", " padded ", "\t\n", "a\x00b", "tab\there", "x\x7f",
	"sk_live_abcdefgh", "sk_live_" + strings.Repeat("a", 43), "whsec_" + strings.Repeat("A", 43) + "=",
	"+5511999998888", "5511999998888", "(11) 99999-8888", "https://exemplo.com.br/a?b=c#d", "image/png",
	"lead_created", "ABC-def_09", "a/b", "a\\b", strings.Repeat("9", 9), strings.Repeat("9", 10),
	strings.Repeat("9", 15), strings.Repeat("9", 16), strings.Repeat("x", 300),
}

// TestSpecPatternsMatchAsRegexps holds compilePattern to kin-openapi's own
// compilation (Go's regexp): for every pattern of the spec, the probes and
// thousands of random strings over the same alphabet match the same way.
// It also requires the "which characters" patterns to take the scan, which
// is what they are there for.
func TestSpecPatternsMatchAsRegexps(t *testing.T) {
	patterns := specPatterns(t)
	if len(patterns) < 15 {
		t.Fatalf("found %d patterns in the spec; the walk is missing some", len(patterns))
	}
	alphabet := []rune{'a', 'Z', '0', '1', '9', 'h', 't', 'p', 's', '_', ' ', '_', '-', '+', '.', '/', ':', '=', '\t', '\n', '\r', 0, 0x08, 0x0b,
		0x0c, 0x0e, 0x1f, 0x20, 0x7e, 0x7f, 0x85, 0xa0, 'é', '日', 0x2028, 0xfffd, 0x1f600}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]string, race.Sample(20000))
	for i := range random {
		var b strings.Builder
		for range rng.IntN(20) {
			if rng.IntN(40) == 0 {
				b.WriteByte(0xff) // not UTF-8
				continue
			}
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		random[i] = b.String()
	}
	scanned := 0
	for _, p := range patterns {
		want := regexp.MustCompile(goRegexp(p))
		got, err := compilePattern(p)
		if err != nil {
			t.Fatalf("pattern %q: %v", p, err)
		}
		if isScan(got) {
			scanned++
		}
		for _, s := range append(slices.Clone(patternProbes), random...) {
			if got.MatchString(s) != want.MatchString(s) {
				t.Errorf("pattern %q, %q: scan %v, regexp %v", p, s, got.MatchString(s), want.MatchString(s))
			}
		}
	}
	for _, p := range []string{
		`^[^\x00-\x08\x0B\x0C\x0E-\x1F]*$`,
		`^[^\x00-\x1F\x7F]*$`,
		`^[^\x00-\x1F\x7F]*[^\x00-\x20\x7F][^\x00-\x1F\x7F]*$`,
		`^[^\x00-\x08\x0B\x0C\x0E-\x1F]*[^\s\x00-\x1F][^\x00-\x08\x0B\x0C\x0E-\x1F]*$`,
		`^[0-9]{10,15}$`,
		`^https?://[^\s\x00-\x1F\x7F]+$`,
		`^\+[1-9][0-9]{6,14}$`,
		`^sk_live_[0-9A-Za-z]{43}$`,
	} {
		if !slices.Contains(patterns, p) {
			t.Errorf("the spec no longer has %q; update this list", p)
		}
		if m, _ := compilePattern(p); !isScan(m) {
			t.Errorf("%q is not matched by a scan", p)
		}
	}
	t.Logf("%d of %d patterns matched by a scan", scanned, len(patterns))
}

// TestClassMatcherShapes covers what the scan takes and what it leaves to
// the regexp, beyond the spec's own patterns.
func TestClassMatcherShapes(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		scan    bool
	}{
		{`^[a-z]+$`, true},
		{`^[a-z]?$`, true},
		{`^.*$`, true},
		{`^x{2,4}$`, true},
		{`^[a-z]*[0-9][a-z]*$`, true},     // a sequence: each class stops where the next starts
		{`^[a-z0-9]*[0-9][a-z]*$`, false}, // [a-z0-9]* could stop early for the [0-9]
		{`^[a-z0-9]*[0-9][a-z0-9]*$`, true},
		{`^a*a$`, false},
		{`^a?b?$`, false}, // b? may take nothing, so a? would need to look further
		{`^a+b+$`, true},
		{`^https?://[^\s]+$`, true},
		{`^(ab)+$`, false},
		{`^a|b$`, false},
		{`^(?i)a+$`, false},
		{`[a-z]+`, false}, // unanchored
		{`^[a-z]+`, false},
		{`^\u00E9+$`, true}, // kin-openapi's \uXXXX, upper-case hex
	} {
		m, err := compilePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if scan := isScan(m); scan != tc.scan {
			t.Errorf("%q: scan %v, want %v", tc.pattern, scan, tc.scan)
		}
		want := regexp.MustCompile(goRegexp(tc.pattern))
		for _, s := range append(slices.Clone(patternProbes), "ab", "a1b", "1", "x", "xx", "xxxx", "xxxxx", "é", "éé", "A", "aA", "\n",
			"a", "aa", "b", "bb", "aab", "abab", "a1", "1b", "a11b", "http://x", "https://x y", "https://", "httpss://x", "0a") {
			if m.MatchString(s) != want.MatchString(s) {
				t.Errorf("%q, %q: %v, regexp %v", tc.pattern, s, m.MatchString(s), want.MatchString(s))
			}
		}
	}
	for _, bad := range []string{`^[a-`, `^\u00e9$`} { // kin-openapi rewrites upper-case hex only
		if _, err := compilePattern(bad); err == nil {
			t.Errorf("%q: Go's regexp refuses it, compilePattern accepted it", bad)
		}
	}
}

// FuzzClassPatterns compares the scan with the regexp on the spec's class
// patterns for any input.
func FuzzClassPatterns(f *testing.F) {
	for _, s := range patternProbes {
		f.Add(s)
	}
	patterns := []string{
		`^[^\x00-\x08\x0B\x0C\x0E-\x1F]*$`,
		`^[^\x00-\x1F\x7F]*[^\x00-\x20\x7F][^\x00-\x1F\x7F]*$`,
		`^[^\x00-\x08\x0B\x0C\x0E-\x1F]*[^\s\x00-\x1F][^\x00-\x08\x0B\x0C\x0E-\x1F]*$`,
		`^[0-9]{10,15}$`,
		`^[A-Za-z0-9_-]+$`,
		`^https?://[^\s\x00-\x1F\x7F]+$`,
		`^\+[1-9][0-9]{6,14}$`,
		`^[a-z]+/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$`,
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range patterns {
			m, _ := compilePattern(p)
			if got, want := m.MatchString(s), regexp.MustCompile(goRegexp(p)).MatchString(s); got != want {
				t.Fatalf("%q, %q: scan %v, regexp %v", p, s, got, want)
			}
		}
	})
}

// BenchmarkClassPatterns matches a card's description against the spec's
// "no control characters" and "not blank" patterns, by the scan and by
// Go's regexp (what kin-openapi compiles without compilePattern).
func BenchmarkClassPatterns(b *testing.B) {
	text := "Plano Empresarial com atendimento 24h, integração com o seu CRM e relatórios semanais"
	for _, p := range []string{
		`^[^\x00-\x08\x0B\x0C\x0E-\x1F]*$`,
		`^[^\x00-\x1F\x7F]*[^\x00-\x20\x7F][^\x00-\x1F\x7F]*$`,
	} {
		scan, _ := compilePattern(p)
		re := regexp.MustCompile(goRegexp(p))
		for _, m := range []struct {
			name string
			m    openapi3.RegexMatcher
		}{{"scan", scan}, {"regexp", re}} {
			b.Run(m.name+"/"+p, func(b *testing.B) {
				for b.Loop() {
					if !m.m.MatchString(text) {
						b.Fatal("no match")
					}
				}
			})
		}
	}
}
