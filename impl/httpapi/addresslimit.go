package httpapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl"
)

// The per-address limit covers what is reachable without an API key: the
// docs and the spec files (every request counts), failed authentications
// on the API, and failed signatures or handshakes on the provider
// callbacks. A request from an address out of requests is refused before
// any of its work is done, so a flood of bad keys costs no database time.

// addressKey is the address's key in the limiter.
func (s *Server) addressKey(c echo.Context) string {
	return "addr:" + s.cfg.TrustedProxies.ClientIP(c.Request())
}

// addressGate refuses the request when its address has no request left.
func (s *Server) addressGate(c echo.Context) error {
	if s.cfg.AddressLimiter == nil {
		return nil
	}
	out, err := s.cfg.AddressLimiter.Exhausted(c.Request().Context(), s.addressKey(c))
	if err != nil || !out {
		return err
	}
	return s.countAddress(c) // refused: it says when to retry
}

// countAddress counts one request of the address, and refuses it when the
// address is out of requests.
func (s *Server) countAddress(c echo.Context) error {
	if s.cfg.AddressLimiter == nil {
		return nil
	}
	d, err := s.cfg.AddressLimiter.Allow(c.Request().Context(), s.addressKey(c))
	if err != nil || d.Allowed {
		return err
	}
	secs := int((d.RetryAfter + time.Second - 1) / time.Second)
	h := c.Response().Header()
	h.Set("Retry-After", strconv.Itoa(secs))
	// The spec's 429 carries the window it ran out of; here that is the
	// address's window.
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
	return impl.Errorf(impl.ERateLimited,
		"Too many requests without a valid credential from your address. Retry after %d seconds.", secs)
}

// isDocsPath reports the docs and the spec files, which anyone may read.
func isDocsPath(p string) bool {
	switch p {
	case "/openapi.yaml", "/openapi.json", "/webhooks.yaml", "/asyncapi.yaml", "/docs":
		return true
	}
	return strings.HasPrefix(p, "/docs/")
}

// limitDocs counts every request for the docs against its address.
func (s *Server) limitDocs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isDocsPath(c.Request().URL.Path) {
			if err := s.countAddress(c); err != nil {
				return err
			}
		}
		return next(c)
	}
}
