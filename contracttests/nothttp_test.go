package contracttests

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// rawExchange writes request to the target's host as bytes on one
// connection and reads the answers to the first n requests in it.
func rawExchange(t *testing.T, tg *target, request string, n int) []*http.Response {
	t.Helper()
	u, err := url.Parse(tg.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "http" {
		t.Skipf("raw HTTP/1.1 needs a plain-http target, not %s", u.Scheme)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	// Written beside the reads: the server may answer (and hang up) before
	// it has read all of a request it refuses.
	go func() { _, _ = io.WriteString(conn, request) }()
	br := bufio.NewReader(conn)
	var out []*http.Response
	for range n {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading answer %d of %q: %v", len(out)+1, trimmed(request), err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("reading answer %d's body: %v", len(out)+1, err)
		}
		res.Body.Close()
		res.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, res)
	}
	return out
}

func trimmed(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// TestRequestsThatAreNotHTTP: what net/http refuses before any handler runs
// (a request line or header that is not HTTP/1.1, no Host, headers past the
// listener's 2 MiB, an unknown Transfer-Encoding, another major version)
// is answered with the JSON envelope like every other bad request, also
// after a good request on the same connection, whose answer is untouched.
func TestRequestsThatAreNotHTTP(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		path := mustPath(t, tg.baseURL) + "/leads"
		for _, c := range []struct {
			name, request, code, says string
			status                    int
		}{
			{"garbage", "HELLO\r\n\r\n", impl.EBadRequest, "not valid HTTP/1.1", 400},
			{"no Host", "GET " + path + " HTTP/1.1\r\n\r\n", impl.EBadRequest, "missing required Host header", 400},
			{"malformed Host", "GET " + path + " HTTP/1.1\r\nHost: a b\r\n\r\n", impl.EBadRequest, "malformed Host header", 400},
			{"header value", "GET " + path + " HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", impl.EBadRequest, "not valid HTTP/1.1", 400},
			{"header name", "GET " + path + " HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n", impl.EBadRequest, "not valid HTTP/1.1", 400},
			{"version", "GET " + path + " HTTP/2.0\r\nHost: x\r\n\r\n", impl.EBadRequest, "HTTP/1.1", 400},
			{"transfer encoding", "POST " + path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", impl.EBadRequest, "Transfer-Encoding", 400},
			{"headers past the listener", "GET " + path + " HTTP/1.1\r\nHost: x\r\nX-Padding: " + strings.Repeat("p", 3<<20) + "\r\n\r\n",
				impl.EHeaderTooLarge, "larger than 16 KiB", http.StatusRequestHeaderFieldsTooLarge},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := rawExchange(t, tg, c.request, 1)[0]
				wantNotHTTP(t, res, c.status, c.code, c.says)
			})
		}

		t.Run("after a good request", func(t *testing.T) {
			good := "GET " + path + "?per_page=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tg.key + "\r\n\r\n"
			res := rawExchange(t, tg, good+"GET "+path+" HTTP/1.1\r\nHost: x\r\nX-A: \x01\r\n\r\n", 2)
			body, _ := io.ReadAll(res[0].Body)
			if res[0].StatusCode != http.StatusOK || !strings.Contains(string(body), `"meta"`) || res[0].Header.Get("Date") == "" {
				t.Errorf("the good request: %d %v %.200s", res[0].StatusCode, res[0].Header, body)
			}
			wantNotHTTP(t, res[1], 400, impl.EBadRequest, "not valid HTTP/1.1")
		})
	})
}

// wantNotHTTP checks an answer to a request that was not HTTP: the
// envelope, with its length, not to be cached, and the connection closed.
func wantNotHTTP(t *testing.T, res *http.Response, status int, code, says string) {
	t.Helper()
	body, _ := io.ReadAll(res.Body)
	e := wantError(t, res, body, status, code)
	if !strings.Contains(e.Error.Message, says) {
		t.Errorf("message %q does not say %q", e.Error.Message, says)
	}
	if e.Error.Details == nil {
		t.Errorf("details missing: %s", body)
	}
	if got := res.Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q for %d bytes", got, len(body))
	}
	if !res.Close || res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v (close %v)", res.Header, res.Close)
	}
	if _, err := http.ParseTime(res.Header.Get("Date")); err != nil {
		t.Errorf("Date: %v", err)
	}
}

func mustPath(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}
