package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/contract"
)

type matchedRoute struct {
	route  *routers.Route
	params map[string]string
}

// findRoute matches the request against the spec once per request, and
// keeps the match (nil for a request the spec does not know) in the
// request's requestLogger.
func (s *Server) findRoute(c echo.Context) *matchedRoute {
	l := stateOf(c.Request().Context())
	if l != nil && l.routed {
		return l.matched()
	}
	route, params, ok := s.routes.find(c.Path(), c.Request())
	if !ok {
		var err error
		if route, params, err = s.router.FindRoute(c.Request()); err != nil {
			// Not in the spec: echo has already routed it to 404 or 405.
			route = nil
		}
	}
	m := matchedRoute{route: route, params: params}
	if l == nil {
		// Not through requestLog: matched again when asked again.
		l = &requestLogger{}
	}
	l.route, l.routed = m, true
	return l.matched()
}

// matched is the route findRoute kept, nil when the request matched none.
func (l *requestLogger) matched() *matchedRoute {
	if l.route.route == nil {
		return nil
	}
	return &l.route
}

// validateRequest checks parameters, content type and body against the spec.
// Schema violations in the body are 422 with per-field details; everything
// that makes the request unreadable is 400.
func (s *Server) validateRequest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		m := s.findRoute(c)
		if m == nil {
			return next(c)
		}
		req := c.Request()
		query, err := checkUTF8(req.URL)
		if err != nil {
			return err
		}
		if err := checkParams(query, m.params); err != nil {
			return err
		}
		if req.ContentLength != 0 {
			if err := contract.CheckCharset(req.Header.Get("Content-Type")); err != nil {
				return err
			}
		}
		// The body is read and decoded once: unreadable is answered here,
		// and the strings with control characters join the schema's verdict.
		verdict := s.validator.Request(req.Context(), &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: m.params,
			Route:      m.route,
		})
		if verdict.Unreadable != nil {
			return contract.BodyError(verdict.Unreadable)
		}
		if err := withControlChars(verdict.Err, verdict.Controls); err != nil {
			return err
		}
		// A union body's handler takes it apart from the tree the
		// validation decoded, not from its bytes again.
		if vt, ok := req.Body.(contract.ValidatedTree); ok {
			if l := stateOf(req.Context()); l != nil {
				l.tree = vt.ValidatedTree()
			}
		}
		return next(c)
	}
}

// checkUTF8 refuses paths and query strings that decode to invalid UTF-8:
// a database would refuse them later, as a 500. It returns the query,
// parsed (nil when there is none).
func checkUTF8(u *url.URL) (url.Values, error) {
	if !utf8.ValidString(u.Path) {
		return nil, impl.Errorf(impl.EBadRequest, "The request path is not valid UTF-8.")
	}
	if u.RawQuery == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, impl.Errorf(impl.EBadRequest, "The query string is malformed.")
	}
	for name, values := range q {
		for _, v := range values {
			if !utf8.ValidString(name) || !utf8.ValidString(v) {
				return nil, impl.Errorf(impl.EBadRequest, "The query string is not valid UTF-8.")
			}
		}
	}
	return q, nil
}

// withControlChars adds to the schema's verdict on a request the body's
// strings that hold control characters: the input policy, for fields whose
// schema says nothing about them. A field the schema already faults keeps
// the schema's message; an unreadable request stays unreadable.
func withControlChars(verr error, bad map[string][]string) error {
	var rerr error
	if verr != nil {
		rerr = contract.RequestError(verr)
	}
	if len(bad) == 0 {
		return rerr
	}
	var ae *impl.Error
	switch {
	case rerr == nil:
		ae = impl.Errorf(impl.EValidation, "The given data was invalid.")
		for _, path := range slices.Sorted(maps.Keys(bad)) {
			ae.WithDetailText(path, contract.ControlCharsText(path))
		}
		return ae
	case errors.As(rerr, &ae) && ae.Code == impl.EValidation:
		for _, path := range slices.Sorted(maps.Keys(bad)) {
			if _, faulted := ae.Details[path]; !faulted {
				ae.WithDetailText(path, contract.ControlCharsText(path))
			}
		}
	}
	return rerr
}

// checkParams refuses query and path parameters with control characters,
// naming each: the input policy (impl.HasControlChars) applies to every
// door, and a database would refuse a NUL later, as a 500.
func checkParams(query url.Values, path map[string]string) error {
	var bad map[string]bool // made for the first, as most requests have none
	mark := func(name string) {
		if bad == nil {
			bad = map[string]bool{}
		}
		bad[name] = true
	}
	for name, v := range path {
		if impl.HasControlChars(v) {
			mark(name)
		}
	}
	for name, values := range query {
		for _, v := range values {
			if impl.HasControlChars(name) || impl.HasControlChars(v) {
				mark(sanitizeName(name))
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	ae := impl.Errorf(impl.EBadRequest, "The request has invalid parameters.")
	for _, name := range slices.Sorted(maps.Keys(bad)) {
		ae.WithDetailText(name, contract.ControlCharsText(name))
	}
	return ae
}

// sanitizeName keeps a parameter name fit to echo back.
func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		if impl.ForbiddenRune(r) {
			return '?'
		}
		return r
	}, s)
}

// validateResponse buffers the response, checks it against the spec and,
// in strict mode, replaces a violating one with a 500.
func (s *Server) validateResponse(next echo.HandlerFunc) echo.HandlerFunc {
	if s.cfg.ResponseValidation == ValidateOff {
		return next
	}
	return func(c echo.Context) error {
		m := s.findRoute(c)
		if m == nil {
			return next(c)
		}
		res := c.Response()
		rec := recorders.Get().(*recorder)
		rec.header, rec.status = res.Header(), http.StatusOK
		rec.body.Reset()
		orig := res.Writer
		res.Writer = rec
		restore := func() { res.Writer = orig }
		defer restore()
		if err := next(c); err != nil {
			c.Error(err)
		}
		restore()

		input := rec.input(c.Request(), m)
		if verr := s.validator.Response(c.Request().Context(), input, rec.body.Bytes()); verr != nil {
			s.responseViolations.Add(1)
			logger(c.Request().Context()).Error("response violates the spec",
				"mode", s.cfg.ResponseValidation, "operation", m.route.Operation.OperationID,
				"status", rec.status, "violation", verr.Error())
			if s.cfg.ResponseValidation == ValidateStrict {
				for _, h := range []string{"Content-Type", "Content-Length", "Location", "Retry-After"} {
					rec.header.Del(h)
				}
				res.Committed = false
				s.writeError(c, impl.Errorf(impl.EInternal, internalMessage))
				return nil
			}
		}
		orig.WriteHeader(rec.status)
		_, werr := orig.Write(rec.body.Bytes())
		rec.release()
		return werr
	}
}

// recorders keeps recorders and their buffers from one response to the
// next: growing a fresh buffer to a lead's size was 7 % of the bytes a
// GET /leads/{id} allocated.
var recorders = sync.Pool{New: func() any { return new(recorder) }}

// maxPooledBody is the largest buffer a recorder keeps: one that held a
// large page goes to the collector rather than stay pinned in the pool.
const maxPooledBody = 64 << 10

// input is the recorder's response as the Validator's input, for req and
// its route m: kept in the pooled recorder, as it is used only while the
// response is validated.
func (r *recorder) input(req *http.Request, m *matchedRoute) *openapi3filter.ResponseValidationInput {
	r.request = openapi3filter.RequestValidationInput{Request: req, PathParams: m.params, Route: m.route}
	r.response = openapi3filter.ResponseValidationInput{RequestValidationInput: &r.request, Status: r.status, Header: r.header}
	return &r.response
}

// release returns the recorder to the pool once its body has been written
// (the connection's writer copies it).
func (r *recorder) release() {
	r.header = nil
	r.request, r.response = openapi3filter.RequestValidationInput{}, openapi3filter.ResponseValidationInput{}
	if r.body.Cap() > maxPooledBody {
		return
	}
	r.body.Reset()
	recorders.Put(r)
}

// recorder holds a response until it has been validated.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	// request and response are the Validator's input (see input).
	request  openapi3filter.RequestValidationInput
	response openapi3filter.ResponseValidationInput
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

// jsonBinding is echo's JSON serializer, except that a request body the
// Validator passed (contract.ValidatedBytes), bound to a type that decodes
// itself (a union), is bound by handing its bytes to that type's own
// UnmarshalJSON, which keeps them: echo would decode them once more only to
// find the value's end, and the generated server's BindJSONValue would
// encode the validated value again (see contract.ValidatedBytes). The union
// then holds what it holds when validation is off: the body as sent.
type jsonBinding struct{ echo.DefaultJSONSerializer }

func (b jsonBinding) Deserialize(c echo.Context, i any) error {
	if body, ok := c.Request().Body.(contract.ValidatedBytes); ok {
		if u, ok := i.(json.Unmarshaler); ok {
			return u.UnmarshalJSON(body.ValidatedBytes())
		}
	}
	return b.DefaultJSONSerializer.Deserialize(c, i)
}
