package httpapi

import (
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		peer, xff, want string
	}{
		{"203.0.113.9:5000", "", "203.0.113.9"},
		{"203.0.113.9:5000", "1.2.3.4", "203.0.113.9"},                       // an untrusted peer's header is ignored
		{"127.0.0.1:5000", "198.51.100.7", "198.51.100.7"},                   // through one trusted proxy
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.7, 10.0.0.5", "198.51.100.7"}, // a forged left part is skipped
		{"127.0.0.1:5000", "", "127.0.0.1"},
		{"127.0.0.1:5000", "not-an-ip", "127.0.0.1"},
		{"[::ffff:10.0.0.1]:5000", "198.51.100.8", "198.51.100.8"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := trusted.ClientIP(r); got != tt.want {
			t.Errorf("peer %s, XFF %q: %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
	if _, err := ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Error("a bad prefix was accepted")
	}
}
