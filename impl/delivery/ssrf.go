package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenTarget is wrapped by every refusal, so callers can tell a
// refused target from a network failure: retrying a refusal is pointless, and
// it should be reported to the partner as a configuration problem.
var ErrForbiddenTarget = errors.New("delivery: forbidden delivery target")

// forbiddenTargetError carries the address and reason in its message because
// that message is what an operator sees in the delivery log and must act on.
type forbiddenTargetError struct {
	addr   string
	reason string
}

func (e *forbiddenTargetError) Error() string {
	return fmt.Sprintf("refused to connect to %s: %s (set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow private targets in development)", e.addr, e.reason)
}

func (e *forbiddenTargetError) Unwrap() error { return ErrForbiddenTarget }

// nonPublicRanges lists the special-purpose blocks netip has no predicate
// for. Partner URLs are attacker-controlled input, so anything that is not
// ordinary public unicast is refused, not only the obviously internal ranges.
var nonPublicRanges = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" address (0.0.0.0/8)`},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT address (100.64.0.0/10)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment address (192.0.0.0/24)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation address (192.0.2.0/24)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking address (198.18.0.0/15)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation address (198.51.100.0/24)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation address (203.0.113.0/24)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved address (240.0.0.0/4)"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation address (2001:db8::/32)"},
}

// CheckTarget returns an error wrapping ErrForbiddenTarget if ip is not a
// public unicast address. IPv4-mapped IPv6 addresses are judged by the IPv4
// address they carry, since the kernel delivers them there.
func CheckTarget(ip netip.Addr) error {
	if !ip.IsValid() {
		return &forbiddenTargetError{addr: "invalid address", reason: "not an IP address"}
	}
	// The zone only names an interface; dropping it lets the prefix lookups,
	// which never match zoned addresses, see the address itself.
	a := ip.Unmap().WithZone("")

	reason := ""
	switch {
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		// Checked before 240.0.0.0/4, which contains it, for a clearer message.
		reason = "broadcast address"
	case a.IsUnspecified():
		reason = "unspecified address"
	case a.IsLoopback():
		reason = "loopback address"
	case a.IsPrivate():
		reason = "private address"
	case a.IsLinkLocalUnicast():
		// Covers 169.254.169.254, the cloud metadata endpoint.
		reason = "link-local address"
	case a.IsLinkLocalMulticast():
		reason = "link-local multicast address"
	case a.IsMulticast():
		reason = "multicast address"
	default:
		for _, r := range nonPublicRanges {
			if r.prefix.Contains(a) {
				reason = r.reason
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return &forbiddenTargetError{addr: ip.String(), reason: reason}
}

// guardDial runs after DNS resolution, once per address actually dialled.
// Checking the URL's host name beforehand would not be enough: the name could
// resolve to a public address for the check and a private one for the dial.
func guardDial(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed: an address we cannot read is an address we cannot vet.
		return &forbiddenTargetError{addr: address, reason: "unparseable dial address"}
	}
	return CheckTarget(ap.Addr())
}

// fallbackDeliveryTimeout replaces a non-positive timeout: a transport reads
// zero as "wait forever", which would let one stalled partner pin a delivery
// worker indefinitely.
const fallbackDeliveryTimeout = 30 * time.Second

// NewTransport returns the transport deliveries are sent on. timeout bounds
// the wait for an answer's headers; the attempt bounds the whole of it,
// body included, with its context. allowPrivate disables the target check
// and exists for development, where partner endpoints run on localhost.
// idle is how many connections may wait for reuse, per host and in all: at
// least the number of concurrent attempts, so that a burst to one partner
// does not close connections only to dial (and handshake) them again.
//
// A transport follows no redirect: a public endpoint could otherwise
// bounce the request to an internal one, and a partner's delivery URL
// should not move silently anyway. No proxy is used: with one, the guarded
// dial would reach the proxy rather than the target, and the target would
// go unchecked.
func NewTransport(timeout time.Duration, allowPrivate bool, idle int) *http.Transport {
	if timeout <= 0 {
		timeout = fallbackDeliveryTimeout
	}
	// The smaller phase limits let a dead host fail fast, but none may exceed
	// the overall timeout or it would be the one that fires, with a vaguer error.
	phase := min(10*time.Second, timeout)

	dialer := &net.Dialer{
		Timeout:   phase,
		KeepAlive: 30 * time.Second,
	}
	if !allowPrivate {
		dialer.ControlContext = guardDial
	}

	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true, // a custom DialContext turns HTTP/2 off unless asked
		TLSHandshakeTimeout:   phase,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          max(idle, 1),
		MaxIdleConnsPerHost:   max(idle, 1),
		IdleConnTimeout:       90 * time.Second,
		// Partner responses are only logged; huge headers are not worth
		// buffering.
		MaxResponseHeaderBytes: 64 << 10,
	}
}
