package delivery_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl/delivery"
)

func TestCheckTarget(t *testing.T) {
	refused := map[string]string{ // address -> expected reason fragment
		"127.0.0.1":              "loopback",
		"127.255.0.9":            "loopback",
		"::1":                    "loopback",
		"10.0.0.1":               "private",
		"172.16.5.4":             "private",
		"192.168.1.1":            "private",
		"fc00::1":                "private",
		"fd12:3456::1":           "private",
		"169.254.169.254":        "link-local",
		"fe80::1":                "link-local",
		"fe80::1%eth0":           "link-local",
		"224.0.0.1":              "multicast",
		"239.1.2.3":              "multicast",
		"ff02::1":                "multicast",
		"ff0e::1":                "multicast",
		"0.0.0.0":                "unspecified",
		"::":                     "unspecified",
		"0.1.2.3":                "this network",
		"100.64.0.1":             "carrier-grade NAT",
		"100.127.255.254":        "carrier-grade NAT",
		"192.0.0.8":              "IETF",
		"192.0.2.1":              "documentation",
		"198.51.100.7":           "documentation",
		"203.0.113.5":            "documentation",
		"2001:db8::1":            "documentation",
		"198.18.0.1":             "benchmarking",
		"198.19.255.1":           "benchmarking",
		"240.0.0.1":              "reserved",
		"255.255.255.255":        "broadcast",
		"::ffff:127.0.0.1":       "loopback",
		"::ffff:10.0.0.1":        "private",
		"::ffff:169.254.169.254": "link-local",
		"::ffff:100.64.0.1":      "carrier-grade NAT",
	}
	for addr, reason := range refused {
		err := delivery.CheckTarget(netip.MustParseAddr(addr))
		if !errors.Is(err, delivery.ErrForbiddenTarget) {
			t.Errorf("CheckTarget(%s) = %v, want ErrForbiddenTarget", addr, err)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "refused to connect to "+addr+": ") ||
			!strings.Contains(msg, reason) ||
			!strings.Contains(msg, "WEBHOOK_ALLOW_PRIVATE_TARGETS=true") {
			t.Errorf("CheckTarget(%s) message %q: want address, %q and the override hint", addr, msg, reason)
		}
	}

	for _, addr := range []string{
		"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111",
		"100.63.255.255", "100.128.0.1", "172.32.0.1", "198.20.0.1", "223.255.255.254",
		"::ffff:8.8.8.8",
	} {
		if err := delivery.CheckTarget(netip.MustParseAddr(addr)); err != nil {
			t.Errorf("CheckTarget(%s) = %v, want nil", addr, err)
		}
	}

	if err := delivery.CheckTarget(netip.Addr{}); !errors.Is(err, delivery.ErrForbiddenTarget) {
		t.Errorf("CheckTarget(zero Addr) = %v, want ErrForbiddenTarget", err)
	}
}

// countingServer is a local endpoint that records whether anything reached it.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func withHost(t *testing.T, rawURL, host string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = host + ":" + u.Port()
	return u.String()
}

func TestGuardedClientRefusesLocalTargets(t *testing.T) {
	srv, hits := countingServer(t)
	client := &http.Client{Transport: delivery.NewTransport(5*time.Second, false, 4)}

	for name, target := range map[string]string{
		"IP literal": srv.URL + "/hook",
		// A name proves the check runs on the resolved address, not the URL.
		"hostname": withHost(t, srv.URL, "localhost") + "/hook",
	} {
		resp, err := client.Post(target, "application/json", strings.NewReader(`{}`))
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: POST %s succeeded with %s, want refusal", name, target, resp.Status)
			continue
		}
		if !errors.Is(err, delivery.ErrForbiddenTarget) {
			t.Errorf("%s: POST %s error %v does not wrap ErrForbiddenTarget", name, target, err)
		}
		if !strings.Contains(err.Error(), "loopback address") {
			t.Errorf("%s: error %q does not give the reason", name, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server received %d requests despite refusal", n)
	}
}

func TestAllowPrivateClientReachesLocalTargets(t *testing.T) {
	srv, hits := countingServer(t)
	client := &http.Client{Transport: delivery.NewTransport(5*time.Second, true, 4)}

	for _, target := range []string{srv.URL + "/hook", withHost(t, srv.URL, "localhost") + "/hook"} {
		resp, err := client.Post(target, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatalf("POST %s: %v", target, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("POST %s: status %s", target, resp.Status)
		}
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("server received %d requests, want 2", n)
	}
}

// Deliveries are sent on the transport itself (no http.Client, which
// would follow the redirect), so the 302 is the answer.
func TestTransportDoesNotFollowRedirects(t *testing.T) {
	var targetHits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/internal", http.StatusFound)
	})
	mux.HandleFunc("/internal", func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/hook", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := delivery.NewTransport(5*time.Second, true, 4).RoundTrip(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status = %s, want the 302 itself", resp.Status)
	}
	if loc := resp.Header.Get("Location"); loc != "/internal" {
		t.Errorf("Location = %q, want /internal", loc)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("redirect target was hit %d times", n)
	}
}

func TestTransportIgnoresEnvironmentProxy(t *testing.T) {
	proxy, proxyHits := countingServer(t)
	target, targetHits := countingServer(t)
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	client := &http.Client{Transport: delivery.NewTransport(5*time.Second, true, 4)}
	if tr, ok := client.Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Fatalf("transport %T has a proxy function; want direct connections", client.Transport)
	}

	// The local server is reached directly...
	resp, err := client.Post(target.URL+"/hook", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatalf("POST %s: %v", target.URL, err)
	}
	resp.Body.Close()
	if n := targetHits.Load(); n != 1 {
		t.Errorf("target received %d requests; want 1", n)
	}

	// ...but Go never proxies loopback targets anyway, so that alone would
	// pass with an environment proxy too. A name that does not resolve would
	// be handed to the proxy; going direct, it fails at DNS instead.
	const unresolvable = "http://partner-endpoint.invalid/hook"
	resp, err = client.Post(unresolvable, "application/json", strings.NewReader(`{}`))
	if err == nil {
		resp.Body.Close()
		t.Errorf("POST %s succeeded with %s; want a DNS failure", unresolvable, resp.Status)
	} else if dnsErr := (*net.DNSError)(nil); !errors.As(err, &dnsErr) {
		t.Errorf("POST %s: %v; want a DNS failure", unresolvable, err)
	}

	if n := proxyHits.Load(); n != 0 {
		t.Errorf("proxy received %d requests; want none", n)
	}
}

func TestNewTransportTimeouts(t *testing.T) {
	for _, timeout := range []time.Duration{0, -time.Second, 2 * time.Second, 10 * time.Second, time.Minute} {
		tr := delivery.NewTransport(timeout, false, 4)
		limit := timeout
		if limit <= 0 {
			limit = 30 * time.Second // the fallback: never "wait forever"
		}
		if tr.ResponseHeaderTimeout != limit {
			t.Errorf("timeout %v: ResponseHeaderTimeout = %v, want %v", timeout, tr.ResponseHeaderTimeout, limit)
		}
		if d := tr.TLSHandshakeTimeout; d <= 0 || d > limit {
			t.Errorf("timeout %v: TLSHandshakeTimeout = %v, want within (0, %v]", timeout, d, limit)
		}
		if tr.MaxIdleConnsPerHost < 2 {
			t.Errorf("MaxIdleConnsPerHost = %d; connections would not be reused", tr.MaxIdleConnsPerHost)
		}
	}
}
