package contracttests

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/mocks/webhookreceiver"
)

// The suite's webhook receivers are the reference receiver of
// mocks/webhookreceiver, served on this machine's loopback: it keeps every
// attempt (AttemptLog), checks the signatures with its own code, and each
// path can be told how to answer (SetBehavior).

// receiver is a reference receiver and where it listens.
type receiver struct {
	*webhookreceiver.Receiver
	srv *httptest.Server
}

// startReceiver serves a reference receiver whose own webhook path is path,
// accepting deliveries signed with secrets, until the test ends.
func startReceiver(t testing.TB, path string, secrets ...string) *receiver {
	t.Helper()
	r := &receiver{Receiver: webhookreceiver.New(path, secrets...)}
	r.srv = httptest.NewServer(r.Receiver)
	t.Cleanup(r.srv.Close)
	return r
}

// url is the address of path on the receiver.
func (r *receiver) url(path string) string { return r.srv.URL + path }

func (r *receiver) port() string {
	u, _ := url.Parse(r.srv.URL)
	return u.Port()
}

// close stops the receiver once every request it is answering is done, so
// that its log is final.
func (r *receiver) close() { r.srv.Close() }

// waitAttempts returns the answered attempts to path ("" for every path)
// once there are at least n, failing the test after within.
func (r *receiver) waitAttempts(t testing.TB, path string, n int, within time.Duration) []webhookreceiver.Attempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	got, err := r.WaitForAttempts(ctx, path, n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// startEndpoints is one receiver standing for several partner endpoints,
// by path:
//
//	/ok, /target  200
//	/fail         500
//	/redirect     302 to /target
//	/fail-twice   500 to the first two requests, then 200
//
// Each answers whether or not the delivery's signature verifies, as an
// endpoint that fails (or does not check) before looking at it would; the
// attempt log still says whether each verified.
func startEndpoints(t testing.TB) *receiver {
	t.Helper()
	r := startReceiver(t, "/webhook")
	ok := webhookreceiver.Behavior{Status: http.StatusOK}
	r.SetBehavior("/ok", ok)
	r.SetBehavior("/target", ok)
	r.SetBehavior("/fail", webhookreceiver.Behavior{Status: http.StatusInternalServerError})
	r.SetBehavior("/redirect", webhookreceiver.Behavior{Status: http.StatusFound, Location: "/target"})
	r.SetBehavior("/fail-twice", webhookreceiver.Behavior{Status: http.StatusInternalServerError, Times: 2}, ok)
	return r
}

// signedWith reports whether header is the X-Webhook-Signature of body
// under secret: "sha256=" and the hex HMAC-SHA256 of the raw body keyed
// with the whole secret, as the API reference documents it. It is computed
// here, not by the server's signing code, which would agree with the
// server's bugs.
func signedWith(secret string, body []byte, header string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal([]byte(header), []byte("sha256="+hex.EncodeToString(mac.Sum(nil))))
}
