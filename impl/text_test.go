package impl_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/iagente/iagente-sdr/impl"
)

func TestProviderText(t *testing.T) {
	long := strings.Repeat("ab ", 600)
	for _, tc := range []struct{ in, want string }{
		{"Recipient not in allowed list", "Recipient not in allowed list"},
		{"  two\nlines\r\n", "two lines"},
		{"nul\x00here", "nul here"},
		{"tab\tand\x1b[0m del\x7f c1\u0085", "tab and [0m del  c1"},
		{"bad \xff\xfe bytes", "bad \uFFFD bytes"},
		{"", ""},
		{long, strings.TrimRight(long[:impl.MaxProviderText-1], " ") + "…"},
	} {
		got := impl.ProviderText(tc.in)
		if got != tc.want {
			t.Errorf("ProviderText(%.40q) = %.60q, want %.60q", tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) || strings.IndexFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			t.Errorf("ProviderText(%.40q) = %.60q: not one line of text", tc.in, got)
		}
	}
	// A cut counts characters, not bytes, and never splits one.
	wide := strings.Repeat("ç", 3000)
	got := impl.ProviderText(wide)
	if n := utf8.RuneCountInString(got); n != impl.MaxProviderText || got != strings.Repeat("ç", impl.MaxProviderText-1)+"…" {
		t.Errorf("%d characters: %.20q…", n, got)
	}
	if got := impl.ProviderText(strings.Repeat("ç", impl.MaxProviderText)); utf8.RuneCountInString(got) != impl.MaxProviderText || strings.HasSuffix(got, "…") {
		t.Errorf("a text of exactly the limit was cut: %.20q", got)
	}
}

func TestProviderCode(t *testing.T) {
	for in, want := range map[string]string{
		"131047":                "131047",
		"INVALID_ARGUMENT":      "INVALID_ARGUMENT",
		"invalid.param-x":       "invalid.param-x",
		"INVALID\x00ARGUMENT":   "",
		"two words":             "",
		"código":                "",
		strings.Repeat("A", 64): strings.Repeat("A", 64),
		strings.Repeat("A", 65): "",
		"":                      "",
	} {
		if got := impl.ProviderCode(in); got != want {
			t.Errorf("ProviderCode(%.70q) = %q, want %q", in, got, want)
		}
	}
}
