package impl

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestResponseExcerpt(t *testing.T) {
	euro := "€" // 3 bytes
	for _, c := range []struct {
		name string
		in   string
		want *string
	}{
		{"empty", "", nil},
		{"short text", `{"error":"invalid signature"}`, ptr(`{"error":"invalid signature"}`)},
		{"exactly the limit", strings.Repeat("x", ResponseExcerptBytes), ptr(strings.Repeat("x", ResponseExcerptBytes))},
		{"past the limit", strings.Repeat("x", ResponseExcerptBytes+10), ptr(strings.Repeat("x", ResponseExcerptBytes))},
		{"a character cut at the limit", strings.Repeat("x", ResponseExcerptBytes-1) + euro, ptr(strings.Repeat("x", ResponseExcerptBytes-1))},
		{"a character ending at the limit", strings.Repeat("x", ResponseExcerptBytes-3) + euro + "y", ptr(strings.Repeat("x", ResponseExcerptBytes-3) + euro)},
		{"a body that ends mid-character", "ok \xe2\x82", ptr("ok ")},
		{"only part of a character", "\xe2", nil},
		{"invalid bytes", "a\xff\xfeb", ptr("a\uFFFDb")},
		{"NUL", "a\x00b", ptr("a\uFFFDb")},
		{"stray continuation bytes at the end", "ab\x82\x82\x82\x82\x82", ptr("ab\uFFFD")},
	} {
		got := ResponseExcerpt([]byte(c.in))
		if (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
			t.Errorf("%s: got %s, want %s", c.name, show(got), show(c.want))
		}
		if got != nil && (!utf8.ValidString(*got) || strings.ContainsRune(*got, 0) || utf8.RuneCountInString(*got) > ResponseExcerptBytes) {
			t.Errorf("%s: %q is not text the spec allows", c.name, *got)
		}
	}
}

func ptr(s string) *string { return &s }

func show(s *string) string {
	if s == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", *s)
}
