package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEnvelopeProtocolErrorsRewritesOnlyNetHTTPsOwn: net/http's own
// plain-text answers become the envelope; what a handler writes, even a
// plain-text 400 that closes the connection, is passed through byte for
// byte, in one write or in pieces.
func TestEnvelopeProtocolErrorsRewritesOnlyNetHTTPsOwn(t *testing.T) {
	handlerText := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_, _ = io.WriteString(w, "up 1\n")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Connection", "close")
		w.Header()["Date"] = nil
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "400 Bad Request")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(handlerText), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(EnvelopeProtocolErrors(ln)) }()
	defer srv.Close()

	exchange := func(request string) (*http.Response, []byte) {
		t.Helper()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, request); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		return res, body
	}

	res, body := exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res.StatusCode != 400 || res.Header.Get("Content-Type") != "text/plain; charset=utf-8" || string(body) != "400 Bad Request" {
		t.Errorf("a handler's own plain-text 400 was changed: %d %v %q", res.StatusCode, res.Header, body)
	}
	res, body = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") || string(body) != "up 1\n" {
		t.Errorf("/metrics was changed: %d %v %q", res.StatusCode, res.Header, body)
	}
	res, body = exchange("GET / HTTP/1.1\r\n\r\n")
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil || res.StatusCode != 400 || e.Error.Code != "bad_request" ||
		e.Error.Message != "The request is not valid HTTP/1.1: missing required Host header." {
		t.Errorf("no Host: %d %v %q", res.StatusCode, res.Header, body)
	}

	// The rewrite alone: each of net/http's forms, and near misses.
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"HTTP/1.1 400 Bad Request" + netHTTPErrorHeaders + "400 Bad Request":                                               "400 bad_request",
		"HTTP/1.1 400 Bad Request: malformed Host header" + netHTTPErrorHeaders + "400 Bad Request: malformed Host header": "400 bad_request",
		"HTTP/1.1 431 Request Header Fields Too Large" + netHTTPErrorHeaders + "431 Request Header Fields Too Large":       "431 request_header_fields_too_large",
		"HTTP/1.1 501 Not Implemented" + netHTTPErrorHeaders + "Unsupported transfer encoding":                             "400 bad_request",
		"HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version" + netHTTPErrorHeaders + "505 …":            "400 bad_request",
		"HTTP/1.1 200 OK" + netHTTPErrorHeaders + "fine":                                                                   "",
		"HTTP/1.1 400 Bad Request\r\nDate: x" + netHTTPErrorHeaders + "400 Bad Request":                                    "",
		"HTTP/1.0 400 Bad Request" + netHTTPErrorHeaders + "400 Bad Request":                                               "",
		"HTTP/1.1 4xx Bad Request" + netHTTPErrorHeaders:                                                                   "",
		"HTTP/1.1 400 Bad Request\r\n": "",
	} {
		out, ok := envelopeProtocolError([]byte(in), now)
		if want == "" {
			if ok {
				t.Errorf("%q was rewritten to %q", in, out)
			}
			continue
		}
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		if !ok || err != nil {
			t.Errorf("%q: %v %v %q", in, ok, err, out)
			continue
		}
		body, _ := io.ReadAll(res.Body)
		var e envelope
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Details == nil ||
			strings.Fields(want)[1] != e.Error.Code || strings.Fields(want)[0] != res.Status[:3] ||
			res.Header.Get("Date") != "Fri, 04 Dec 2026 12:00:00 GMT" {
			t.Errorf("%q became %q, want %s", in, out, want)
		}
	}
}

// BenchmarkProtocolErrorConnPassThrough is what the listener's check costs
// every response: a response's first write, passed through.
func BenchmarkProtocolErrorConnPassThrough(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Fri, 04 Dec 2026 12:00:00 GMT\r\n" +
		"X-Request-Id: 0123456789abcdef01234567\r\nContent-Length: 280\r\n\r\n" + strings.Repeat("x", 280))
	now := time.Now()
	for b.Loop() {
		if _, ok := envelopeProtocolError(resp, now); ok {
			b.Fatal("rewritten")
		}
	}
}
