package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl"
)

const headerRequestID = "X-Request-Id"

// The rate-limit headers, as the spec spells them, in the canonical form
// http.Header keeps them in (and writes them with).
var (
	headerRateLimit     = http.CanonicalHeaderKey("X-RateLimit-Limit")
	headerRateRemaining = http.CanonicalHeaderKey("X-RateLimit-Remaining")
	headerRateReset     = http.CanonicalHeaderKey("X-RateLimit-Reset")
)

// requestLog gives every request an id (the caller's X-Request-Id if it is
// sane, else a new one), a logger that stamps it on every line, and one
// access-log line. Headers, query strings and bodies are never logged: they
// carry keys and personal data.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		id := req.Header.Get(headerRequestID)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(headerRequestID, id)
		ctx := context.WithValue(req.Context(), ctxLogger, &requestLogger{base: s.cfg.Logger, id: id})
		c.SetRequest(req.WithContext(ctx))

		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		took := time.Since(start)
		s.requests.observe(c.Path(), req.Method, c.Response().Status, took)
		// LogAttrs, with the attributes in an array: no boxing of each value.
		attrs := [8]slog.Attr{
			slog.String("request_id", id),
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.Int("status", c.Response().Status),
			slog.Int64("bytes", c.Response().Size),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		}
		n := 6
		if k := caller(c.Request().Context()); k != nil {
			attrs[6], attrs[7] = slog.Int64("organization_id", k.OrganizationID), slog.Int64("api_key_id", k.ID)
			n = 8
		}
		// The handler is called as LogAttrs would, but without the caller's
		// program counter, which LogAttrs always looks up (runtime.Callers,
		// 1 % of a GET's CPU) and which a handler without AddSource never
		// reads.
		if h := s.cfg.Logger.Handler(); h.Enabled(ctx, slog.LevelInfo) {
			r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
			r.AddAttrs(attrs[:n]...)
			_ = h.Handle(ctx, r)
		}
		return nil
	}
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// recoverPanics turns a panic into a logged internal error.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				logger(c.Request().Context()).Error("panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = impl.Errorf(impl.EInternal, internalMessage)
			}
		}()
		return next(c)
	}
}

// limitHeaders answers requests whose URL and headers together exceed
// MaxHeaderBytes with the JSON envelope. The listener accepts more
// (ListenerMaxHeaderBytes) so that this layer, not net/http's plain-text
// 431, is what a client normally meets.
func (s *Server) limitHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		n := len(req.RequestURI)
		for name, values := range req.Header {
			for _, v := range values {
				n += len(name) + len(v) + 4 // ": " and CRLF
			}
		}
		if n > MaxHeaderBytes {
			return headerTooLargeError()
		}
		return next(c)
	}
}

func headerTooLargeError() *impl.Error {
	return impl.Errorf(impl.EHeaderTooLarge,
		"The request's URL and headers are larger than %d KiB.", MaxHeaderBytes>>10)
}

// deadline gives the request's context the deadline of its database work.
// Work that must outlive it (a provider call, its outcome) detaches from
// the request's context and sets its own bound.
func (s *Server) deadline(next echo.HandlerFunc) echo.HandlerFunc {
	if s.cfg.DBTimeout <= 0 {
		return next
	}
	return func(c echo.Context) error {
		req := c.Request()
		ctx, cancel := context.WithTimeout(req.Context(), s.cfg.DBTimeout)
		defer cancel()
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}
}

// limitBody refuses bodies over MaxBodyBytes: at once when Content-Length
// says so, otherwise when reading crosses the limit.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > MaxBodyBytes {
			return tooLargeError()
		}
		// A request without a body keeps http.NoBody, which later readers
		// (openapi3filter's security check among them) recognize and skip.
		if req.Body != nil && req.Body != http.NoBody {
			req.Body = http.MaxBytesReader(c.Response(), req.Body, MaxBodyBytes)
		}
		return next(c)
	}
}

// authenticate resolves the API key from "Authorization: Bearer" or
// "X-API-Key" and keeps it in the request's requestLogger, for caller.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if err := s.addressGate(c); err != nil {
			return err
		}
		key, err := presentedKey(req.Header)
		if err == nil {
			var k *impl.APIKey
			if k, err = s.cfg.Auth.Authenticate(req.Context(), key); err == nil {
				l := stateOf(req.Context())
				if l == nil {
					// requestLog runs first for every request; without it
					// the key would have nowhere to go.
					return impl.Errorf(impl.EInternal, internalMessage)
				}
				l.key = k
				return next(c)
			}
		}
		if impl.ErrorCode(err) == impl.EUnauthorized {
			if limited := s.countAddress(c); limited != nil {
				return limited
			}
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="iagente-sdr"`)
		}
		return err
	}
}

// presentedKey returns the one API key the request presents, in
// "Authorization: Bearer" or "X-API-Key". Two different keys (the two
// headers, or one header twice) are refused rather than one of them being
// picked: a request must never be served as an organization its sender did
// not mean. The same key in both headers is one key.
func presentedKey(h http.Header) (string, error) {
	var keys []string
	for _, v := range h.Values("Authorization") {
		scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return "", impl.Errorf(impl.EUnauthorized, "The Authorization header must be 'Bearer sk_live_...'.")
		}
		keys = append(keys, strings.TrimSpace(token))
	}
	for _, v := range h.Values("X-API-Key") {
		if v = strings.TrimSpace(v); v != "" {
			keys = append(keys, v)
		}
	}
	if len(keys) == 0 {
		return "", impl.Errorf(impl.EUnauthorized,
			"Missing API key. Send it as 'Authorization: Bearer sk_live_...' or 'X-API-Key: sk_live_...'.")
	}
	for _, k := range keys[1:] {
		if subtle.ConstantTimeCompare([]byte(k), []byte(keys[0])) != 1 {
			return "", impl.Errorf(impl.EUnauthorized,
				"The request presents more than one API key. Send one key, in 'Authorization: Bearer' or in 'X-API-Key'.")
		}
	}
	return keys[0], nil
}

// rateLimit counts the request against its key's limits and stamps the
// X-RateLimit-* headers on whatever response goes out.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		k := caller(c.Request().Context())
		d, err := s.cfg.Limiter.Allow(c.Request().Context(), strconv.FormatInt(k.ID, 10))
		if err != nil {
			return err
		}
		h := c.Response().Header()
		// The values are formatted once and the keys are canonical already:
		// Header.Set allocated a canonical key and a value slice for each
		// of the six calls, 10 of a GET /leads/{id}'s 225 allocations.
		values := [3]string{strconv.Itoa(d.Limit), strconv.Itoa(d.Remaining), strconv.FormatInt(d.Reset.Unix(), 10)}
		set := func() {
			h[headerRateLimit] = values[0:1:1]
			h[headerRateRemaining] = values[1:2:2]
			h[headerRateReset] = values[2:3:3]
		}
		set()
		// The generated strict responses write their own zero-valued copies
		// of the spec's headers; this hook runs after them, just before the
		// status line, so the real values win.
		c.Response().Before(set)
		if !d.Allowed {
			secs := int((d.RetryAfter + time.Second - 1) / time.Second)
			h.Set("Retry-After", strconv.Itoa(secs))
			return impl.Errorf(impl.ERateLimited, "Rate limit exceeded. Retry after %d seconds.", secs)
		}
		return next(c)
	}
}
