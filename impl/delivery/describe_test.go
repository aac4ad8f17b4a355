package delivery

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestDescribeKeepsText: an attempt's error is text a store keeps whatever
// bytes the transport's error quotes from the receiver, and it leaves out
// the URL.
func TestDescribeKeepsText(t *testing.T) {
	raw := errors.New("malformed MIME header line: X-Bad\x00\xff\xfe: y")
	err := &url.Error{Op: "Post", URL: "https://example.com/hook?token=segredo", Err: fmt.Errorf("broken: %w", raw)}
	got := describe(err, time.Second)
	if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
		t.Errorf("describe gave %q, not text a store keeps", got)
	}
	if want := "request failed: broken: malformed MIME header line: X-Bad\uFFFD\uFFFD: y"; got != want {
		t.Errorf("describe gave %q, want %q", got, want)
	}
	if strings.Contains(got, "segredo") {
		t.Errorf("describe gave %q, with the URL's token", got)
	}
}
