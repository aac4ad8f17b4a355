package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Validator checks requests and responses against the spec with
// kin-openapi, reading each JSON body once.
//
// openapi3filter would decode a body itself, after the server has already
// read it for the input policy, and it visits schemas "as a request" or "as
// a response": for readOnly and writeOnly, which also makes kin-openapi
// deep-copy the value for every branch of a oneOf, visit the branch that
// matched a second time and sort every object's property names. A spec
// without readOnly or writeOnly gains nothing from that (it was 60% of
// validating a carousel), so the Validator leaves the direction out unless
// the spec has them. Parameters, request headers and content types are
// still openapi3filter's; a response's status and simple headers are passed
// by a plan (headOK), and anything the plan does not pass is
// openapi3filter's to judge. A JSON response's body is walked on its tokens
// (walk.go), with the plain scalars passed by a leaf (leaf.go); what the
// walk does not pass is decoded and visited by kin-openapi. A request's
// body is decoded once, for the handler, and those values are walked
// (values.go) before kin-openapi visits what the walk does not pass. The plans,
// the walk and the leaf only ever pass what kin-openapi passes (each has a
// test comparing the two): every refusal and its words are kin-openapi's.
//
// One thing differs on purpose: defaults are not written into the body.
// openapi3filter does that for a member that is missing or null, so it
// accepted "card_width": null, which the spec does not allow, as MEDIUM;
// the handlers apply the spec's defaults themselves.
type Validator struct {
	// request and response validate everything; requestParams and
	// responseHead leave the body to the Validator.
	request, requestParams, response, responseHead *openapi3filter.Options
	// requestBody and responseBody are the schema options for bodies.
	requestBody, responseBody []openapi3.SchemaValidationOption
	// headerOptions are the schema options openapi3filter checks response
	// headers with; heads caches each response's headerPlan.
	headerOptions []openapi3.SchemaValidationOption
	// paramOptions are the schema options openapi3filter checks request
	// parameters with (onlyParamsOK).
	paramOptions []openapi3.SchemaValidationOption
	heads        sync.Map // *openapi3.Response -> *headerPlan
	params       sync.Map // *openapi3.Operation -> *paramPlan
	// walk passes a JSON response's body without decoding it, and a
	// request's decoded body without kin-openapi's visit (see verdict);
	// walks is false when the spec has readOnly or writeOnly, which the
	// walk does not model.
	walk  walker
	walks bool
}

// NewValidator returns the Validator of doc.
func NewValidator(doc *openapi3.T) *Validator {
	v := &Validator{
		request: RequestOptions(), requestParams: RequestOptions(),
		response: ResponseOptions(), responseHead: ResponseOptions(),
	}
	v.requestParams.ExcludeRequestBody = true
	v.responseHead.ExcludeResponseBody = true
	v.requestBody = append([]openapi3.SchemaValidationOption{openapi3.MultiErrors()}, v.request.SchemaValidationOptions...)
	v.responseBody = append([]openapi3.SchemaValidationOption{openapi3.MultiErrors()}, v.response.SchemaValidationOptions...)
	v.headerOptions = append([]openapi3.SchemaValidationOption{openapi3.MultiErrors()}, v.response.SchemaValidationOptions...)
	v.paramOptions = append([]openapi3.SchemaValidationOption{openapi3.MultiErrors()}, v.requestParams.SchemaValidationOptions...)
	v.walk.leaf = append([]openapi3.SchemaValidationOption{openapi3.FailFast()}, v.response.SchemaValidationOptions...)
	v.walks = !hasReadOrWriteOnly(doc)
	if !v.walks {
		v.requestBody = append(v.requestBody, openapi3.VisitAsRequest())
		v.responseBody = append(v.responseBody, openapi3.VisitAsResponse())
	}
	return v
}

// RequestVerdict is what Request found.
type RequestVerdict struct {
	// Unreadable is set when the body is not JSON under the input policy
	// (answer with BodyError); nothing else was checked.
	Unreadable error
	// Controls names the body's strings with control characters.
	Controls map[string][]string
	// Err is kin-openapi's verdict on parameters and body (answer with
	// RequestError, adding Controls).
	Err error
}

// Request validates input.Request. A JSON body the operation accepts is
// read and decoded here, once; when it is valid, the decoded value stays on
// the request's body for the handler to bind (the generated server binds
// ValidatedValue instead of decoding again).
func (v *Validator) Request(ctx context.Context, input *openapi3filter.RequestValidationInput) RequestVerdict {
	req := input.Request
	schema := v.jsonBodySchema(input)
	if schema == nil {
		if v.paramsOK(input) {
			return RequestVerdict{}
		}
		input.Options = v.request
		return RequestVerdict{Err: openapi3filter.ValidateRequest(ctx, input)}
	}
	rb := input.Route.Operation.RequestBody.Value
	data, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return RequestVerdict{Err: &openapi3filter.RequestError{Input: input, RequestBody: rb, Reason: "reading failed", Err: err}}
	}
	req.Body = io.NopCloser(bytes.NewReader(data))
	if len(data) == 0 {
		// No body after all (a chunked request with nothing in it):
		// openapi3filter says whether the operation requires one.
		input.Options = v.request
		return RequestVerdict{Err: openapi3filter.ValidateRequest(ctx, input)}
	}
	value, controls, err := DecodeJSON(data)
	if err != nil {
		return RequestVerdict{Unreadable: err}
	}
	// The parameters and security now, without the body, which is checked
	// below: openapi3filter's security check would otherwise copy it once
	// more to hand each authentication function a fresh reader. Plain
	// path parameters need no openapi3filter (onlyParamsOK).
	verdict := RequestVerdict{Controls: controls}
	if !v.onlyParamsOK(input) {
		input.Options = v.requestParams
		body := req.Body
		req.Body = http.NoBody
		verdict.Err = openapi3filter.ValidateRequest(ctx, input)
		req.Body = body
	}
	// A request's body is visited as the values decoded for the handler,
	// not walked: the send bodies are compositions (a discriminated oneOf,
	// an allOf of anyOf and not) that a walk reads again for each part,
	// which made a 10-card carousel's request slower to check (Request
	// 545 against 400 µs in a profile of SendRCSCarousel/sqlite).
	// The walk of the decoded values (values.go) passes most bodies;
	// kin-openapi visits the rest, and words every refusal.
	if !v.walks || v.walk.values(value, schema) != accepted {
		if err := schema.VisitJSON(value, v.requestBody...); err != nil {
			bodyErr := &openapi3filter.RequestError{Input: input, RequestBody: rb, Reason: "doesn't match schema", Err: err}
			verdict.Err = joinErrors(verdict.Err, bodyErr)
		}
	}
	if verdict.Err == nil {
		req.Body = validated(req.Body, req.Header.Get("Content-Type"), schema, value, data)
	}
	return verdict
}

// jsonBodySchema is the schema of the request's body when the operation
// takes it as JSON and the request has one; nil leaves the body to
// openapi3filter (none, or a content type it will refuse).
func (v *Validator) jsonBodySchema(input *openapi3filter.RequestValidationInput) *openapi3.Schema {
	req := input.Request
	op := input.Route.Operation
	if op.RequestBody == nil || op.RequestBody.Value == nil || req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		return nil
	}
	ct := req.Header.Get("Content-Type")
	if !IsJSON(ct) {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get(ct)
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	return mt.Schema.Value
}

// Response validates a response whose body is body: openapi3filter checks
// the status and headers, the Validator the JSON body.
func (v *Validator) Response(ctx context.Context, input *openapi3filter.ResponseValidationInput, body []byte) error {
	schema, isJSON := v.responseSchema(input)
	if !isJSON {
		input.Options = v.response
		input.SetBodyBytes(body)
		return openapi3filter.ValidateResponse(ctx, input)
	}
	if !v.headOK(input) {
		// The head may be wrong, or is of a kind headOK does not judge:
		// openapi3filter decides, and words the error.
		input.Options = v.responseHead
		if err := openapi3filter.ValidateResponse(ctx, input); err != nil {
			return err
		}
	}
	if schema == nil {
		return nil
	}
	switch {
	case input.RequestValidationInput.Request.Method == http.MethodHead:
		return nil // openapi3filter checks nothing of a HEAD response
	case input.Status == http.StatusNotModified, input.Status == http.StatusPermanentRedirect,
		input.Status == http.StatusTemporaryRedirect, input.Status == http.StatusMovedPermanently:
		return nil // nor the body of these
	}
	if v.walks && v.walk.body(body, schema) == accepted {
		return nil
	}
	value, err := decodeResponse(body)
	if err != nil {
		return &openapi3filter.ResponseError{Input: input, Reason: "failed to decode response body", Err: err}
	}
	if err := schema.VisitJSON(value, v.responseBody...); err != nil {
		return &openapi3filter.ResponseError{Input: input, Reason: "response body doesn't match schema", Err: err}
	}
	return nil
}

// responseSchema finds the schema openapi3filter would check a JSON
// response's body against. isJSON is false when openapi3filter must see
// the body itself: another media type, or one the operation does not
// declare for the status (its error names it).
func (v *Validator) responseSchema(input *openapi3filter.ResponseValidationInput) (schema *openapi3.Schema, isJSON bool) {
	ct := input.Header.Get("Content-Type")
	if !IsJSON(ct) {
		return nil, false
	}
	ref := responseFor(input)
	if ref == nil || ref.Value == nil || len(ref.Value.Content) == 0 {
		return nil, true // no body to check, or a status openapi3filter refuses
	}
	mt := ref.Value.Content.Get(ct)
	if mt == nil {
		return nil, false
	}
	if mt.Schema == nil || mt.Schema.Value == nil {
		return nil, true
	}
	return mt.Schema.Value, true
}

// responseFor is the response the operation declares for the status, or
// its default, as openapi3filter finds it; nil when there is none.
func responseFor(input *openapi3filter.ResponseValidationInput) *openapi3.ResponseRef {
	responses := input.RequestValidationInput.Route.Operation.Responses
	if responses.Len() == 0 {
		return nil
	}
	if st := input.Status; 99 < st && st < 600 {
		// What Responses.Status does, without formatting the code anew
		// for every response (an allocation each time).
		if ref := responses.Value(statusKeys[st]); ref != nil {
			return ref
		}
		if ref := responses.Value(statusRanges[st/100]); ref != nil {
			return ref
		}
	} else if ref := responses.Status(st); ref != nil {
		return ref
	}
	return responses.Default()
}

// statusKeys are the status codes as the spec's responses name them, and
// statusRanges their ranges ("2XX").
var (
	statusKeys   [600]string
	statusRanges = [6]string{"", "1XX", "2XX", "3XX", "4XX", "5XX"}
)

func init() {
	for code := 100; code < 600; code++ {
		statusKeys[code] = strconv.Itoa(code)
	}
}

// validatedBody is a request body with the value validated from it, which
// the generated server binds (it looks for ValidatedValue, as
// openapi3filter's KeepValidatedValue leaves it).
type validatedBody struct {
	validatedJSON
	value any
}

// ValidatedValue returns the decoded, validated body.
func (b validatedBody) ValidatedValue() any { return b.value }

// ValidatedBytes is a request body the Validator passed, with the bytes that
// were sent: a middleware that needs them reads them here and leaves the
// body as it is, so that the handler still binds what was validated rather
// than decoding the body again.
//
// A valid body that is a oneOf or an anyOf, sent as exactly
// application/json, has no ValidatedValue: its handler binds its bytes.
// oapi-codegen makes such a body a union type, which keeps the body's JSON
// and decodes it when the handler asks for one of its kinds. The generated
// server binds a ValidatedValue with BindJSONValue, which gives a
// json.Unmarshaler the JSON of the value: for a decoded value that means
// encoding it again (a 10-card carousel: about 380 allocations, a fifth of
// the request's validation in a profile of SendRCSCarousel/sqlite), and for
// a json.RawMessage compacting it again (80 µs of the same request).
// Without a ValidatedValue, the generated server binds through echo's
// binder, whose JSON serializer in httpapi hands these bytes to the union's
// UnmarshalJSON: the bytes as sent are that JSON already (valid, with no
// name twice) and what the union keeps when validation is off.
type ValidatedBytes interface {
	ValidatedBytes() []byte
}

// ValidatedTree is a valid union body's value as the Validator decoded and
// visited it: objects as map[string]any, arrays as []any, numbers as
// json.Number (a whole number written as 2.0 or 2e0 as "2"), strings,
// booleans and nil. A handler that takes such a body apart reads this tree
// rather than decoding the bytes once more: the body is then decoded once,
// for the validation and for the handler alike. It is not ValidatedValue,
// which the generated server would bind by encoding it again (see
// ValidatedBytes).
type ValidatedTree interface {
	ValidatedTree() any
}

// validatedJSON is a valid body with its bytes (ValidatedBytes): a union's,
// bound from them, and, within validatedBody, every other one. tree is a
// union's decoded value (ValidatedTree), nil for the others.
type validatedJSON struct {
	io.ReadCloser
	data []byte
	tree any
}

func (b validatedJSON) ValidatedBytes() []byte { return b.data }

func (b validatedJSON) ValidatedTree() any { return b.tree }

// validated is the valid body decoded as value from data, as the handler
// binds it (see ValidatedBytes): its JSON when it is a union that echo's
// binder reads as JSON (it takes only a media type of exactly
// application/json for JSON), else its value, or for a union sent as
// another JSON media type its JSON as the value.
func validated(body io.ReadCloser, contentType string, schema *openapi3.Schema, value any, data []byte) io.ReadCloser {
	if len(schema.OneOf) == 0 && len(schema.AnyOf) == 0 {
		return validatedBody{validatedJSON: validatedJSON{ReadCloser: body, data: data}, value: value}
	}
	if base, _, _ := strings.Cut(contentType, ";"); strings.TrimSpace(base) == "application/json" {
		return validatedJSON{ReadCloser: body, data: data, tree: value}
	}
	return validatedBody{validatedJSON: validatedJSON{ReadCloser: body, data: data}, value: json.RawMessage(data)}
}

// joinErrors adds err to openapi3filter's verdict, as one MultiError.
func joinErrors(verdict, err error) error {
	switch v := verdict.(type) {
	case nil:
		return openapi3.MultiError{err}
	case openapi3.MultiError:
		return append(v, err)
	default:
		return openapi3.MultiError{v, err}
	}
}

// hasReadOrWriteOnly reports whether any schema of doc, named or inline,
// says readOnly or writeOnly.
func hasReadOrWriteOnly(doc *openapi3.T) bool {
	found := false
	eachSchema(doc, func(s *openapi3.Schema) {
		found = found || s.ReadOnly || s.WriteOnly
	})
	return found
}

// headerPlan is how headOK checks a response's headers: each is a simple
// header of one primitive type, decoded as openapi3filter decodes it.
// simple is false when one is not; then openapi3filter checks them all.
type headerPlan struct {
	simple  bool
	headers []headerCheck
}

type headerCheck struct {
	name     string // canonical
	required bool
	bits     int // an integer's size (32 or 64); 0 for a string
	schema   *openapi3.Schema
	// plain is set when the schema checks nothing but the type and, for an
	// integer, an inclusive minimum and maximum (see plainSchema): headOK
	// checks those itself instead of through VisitJSON, which allocated
	// its settings and the boxed value for each of the rate-limit headers
	// of every response.
	plain bool
	// pattern is set when a string's schema checks nothing but its type
	// and a pattern (a lead's ETag): headOK matches it itself, by the
	// matcher validation compiles patterns with.
	pattern openapi3.RegexMatcher
}

// plainSchema reports whether s checks nothing but its type and, when
// bounds is set, an inclusive minimum and maximum. Whatever else it holds
// (an enum, a pattern, a format of a string, an exclusive bound...) makes it
// not plain, and VisitJSON judges it. The annotations judge nothing.
func plainSchema(s *openapi3.Schema, bounds bool) bool {
	c := *s
	c.Extensions, c.Origin, c.Type = nil, nil, nil
	c.Title, c.Description, c.Comment = "", "", ""
	c.Example, c.Examples, c.Default, c.ExternalDocs, c.XML = nil, nil, nil, nil, nil
	c.Deprecated, c.Nullable, c.ReadOnly, c.WriteOnly = false, false, false, false
	if bounds {
		// An integer's format (int32, int64) is its size, which the
		// parse already enforces.
		c.Format, c.Min, c.Max = "", nil, nil
	}
	return reflect.DeepEqual(c, openapi3.Schema{})
}

// headOK reports whether openapi3filter, leaving the body out, would find
// nothing wrong with the response's status and headers; false means it
// might, or that this is a case headOK leaves to it. It exists because
// openapi3filter sorts and decodes the headers afresh for each response,
// which was a fifth of validating a GET /leads/{id} response.
// TestValidatorResponsesAgreeWithOpenapi3filter holds the two together.
func (v *Validator) headOK(input *openapi3filter.ResponseValidationInput) bool {
	ref := responseFor(input)
	if ref == nil || ref.Value == nil {
		return false
	}
	plan := v.headerPlanOf(ref.Value)
	if !plan.simple {
		return false
	}
	for _, h := range plan.headers {
		raw, ok := input.Header[h.name]
		if !ok {
			if h.required {
				return false
			}
			continue
		}
		if len(raw) == 0 || raw[0] == "" {
			return false
		}
		if h.plain && h.bits == 0 {
			continue // any string, and it is not empty
		}
		if h.pattern != nil {
			if !h.pattern.MatchString(raw[0]) {
				return false
			}
			continue
		}
		// Boxed only here, past the plain checks: boxing first was three
		// allocations of every response (the rate-limit headers).
		var value any
		if h.bits == 0 {
			value = raw[0]
		} else {
			n, err := strconv.ParseInt(raw[0], 10, h.bits)
			if err != nil {
				return false
			}
			if h.plain {
				// As VisitJSON compares them: as float64.
				f := float64(n)
				if (h.schema.Min != nil && f < *h.schema.Min) || (h.schema.Max != nil && f > *h.schema.Max) {
					return false
				}
				continue
			}
			if h.bits == 32 {
				value = int32(n)
			} else {
				value = n
			}
		}
		if h.schema.VisitJSON(value, v.headerOptions...) != nil {
			return false
		}
	}
	return true
}

func (v *Validator) headerPlanOf(response *openapi3.Response) *headerPlan {
	if p, ok := v.heads.Load(response); ok {
		return p.(*headerPlan)
	}
	plan := &headerPlan{simple: true}
	for name, ref := range response.Headers {
		if name == "Content-Type" {
			continue
		}
		if ref.Value == nil {
			plan.simple = false
			break
		}
		sch, bits, ok := simplePrimitive(&ref.Value.Parameter)
		if !ok {
			plan.simple = false
			break
		}
		check := headerCheck{name: http.CanonicalHeaderKey(name), required: ref.Value.Required, schema: sch, bits: bits}
		check.plain = plainSchema(sch, check.bits != 0)
		if !check.plain && check.bits == 0 && sch.Pattern != "" {
			bare := *sch
			bare.Pattern = ""
			if plainSchema(&bare, false) {
				// As kin-openapi would compile it; a pattern it cannot
				// compile stays VisitJSON's to refuse.
				if m, err := compilePattern(sch.Pattern); err == nil {
					check.pattern = m
				}
			}
		}
		plan.headers = append(plan.headers, check)
	}
	v.heads.Store(response, plan)
	return plan
}

// paramPlan is how paramsOK checks an operation's parameters: each is a
// path parameter with a plain integer or string schema, or an optional
// header (If-None-Match on GET /leads/{id}, Idempotency-Key on POST
// /leads) that paramsOK only passes when the request leaves it out.
// simpleParams is false when one is neither; then openapi3filter judges
// the parameters. simple is simpleParams for an operation without a body:
// paramsOK then judges the whole request.
type paramPlan struct {
	simple       bool
	simpleParams bool
	params       []paramCheck
	// optionalHeaders are the optional headers: a request that leaves one
	// out passes it; one it sends is checked against its schema as
	// openapi3filter would, or left to openapi3filter.
	optionalHeaders []optionalHeader
}

// optionalHeader is an optional header parameter of an operation.
type optionalHeader struct {
	name string // canonical
	// schema is set for a string in the simple style, without
	// allowEmptyValue: the value sent is the string openapi3filter checks
	// against it. Nil leaves any value sent to openapi3filter.
	schema *openapi3.Schema
}

type paramCheck struct {
	name   string
	bits   int // an integer's size (32 or 64); 0 for a string
	schema *openapi3.Schema
}

// paramsOK reports whether openapi3filter would find nothing wrong with a
// request that has no JSON body for the Validator: false means it might,
// or that this is a request paramsOK leaves to it. It exists because
// openapi3filter decodes even a plain integer path parameter through its
// general styled decoder and visits its schema: 1.0-1.3 µs a request on
// its own (0.12-0.14 here, BenchmarkRequestGetLead), and 4 % of the
// server's CPU in a make loadtest profile of GET /leads/{id}. Security needs no check here: the Validator's
// AuthenticationFunc is openapi3filter.NoopAuthenticationFunc, which
// passes every declared scheme. TestValidatorParamsAgreeWithOpenapi3filter
// holds the two together.
func (v *Validator) paramsOK(input *openapi3filter.RequestValidationInput) bool {
	return v.paramPlanOf(input.Route).simple && v.onlyParamsOK(input)
}

// onlyParamsOK reports whether openapi3filter would find nothing wrong with
// the request's parameters and security, its body aside (ExcludeRequestBody,
// as the Validator checks a body on its own). It is paramsOK for an
// operation that takes a body: POST /leads paid openapi3filter's 16 µs a
// request (0.13 of 0.23 s of Validator.Request in a profile of
// CreateLead/sqlite/validation=on) for a request without parameters.
func (v *Validator) onlyParamsOK(input *openapi3filter.RequestValidationInput) bool {
	plan := v.paramPlanOf(input.Route)
	if !plan.simpleParams {
		return false
	}
	for _, h := range plan.optionalHeaders {
		values, sent := input.Request.Header[h.name]
		if !sent {
			continue
		}
		// As openapi3filter reads it: the first value, a string. An empty
		// one is its to word.
		if h.schema == nil || len(values) == 0 || values[0] == "" || h.schema.VisitJSON(values[0], v.paramOptions...) != nil {
			return false
		}
	}
	for _, p := range plan.params {
		raw := input.PathParams[p.name]
		if raw == "" {
			return false
		}
		if p.bits == 0 {
			continue // a plain string, and not empty
		}
		n, err := strconv.ParseInt(raw, 10, p.bits)
		if err != nil {
			return false
		}
		// As VisitJSON compares them: as float64.
		f := float64(n)
		if (p.schema.Min != nil && f < *p.schema.Min) || (p.schema.Max != nil && f > *p.schema.Max) {
			return false
		}
	}
	return true
}

func (v *Validator) paramPlanOf(route *routers.Route) *paramPlan {
	op := route.Operation
	if p, ok := v.params.Load(op); ok {
		return p.(*paramPlan)
	}
	plan := &paramPlan{simpleParams: true}
	var all openapi3.Parameters
	if route.PathItem != nil {
		all = append(all, route.PathItem.Parameters...)
	}
	all = append(all, op.Parameters...)
	for _, ref := range all {
		p := ref.Value
		if p != nil && p.In == openapi3.ParameterInHeader && !p.Required {
			h := optionalHeader{name: http.CanonicalHeaderKey(p.Name)}
			if sch, bits, ok := simplePrimitive(p); ok && bits == 0 && !p.AllowEmptyValue && !route.Spec.IsOpenAPI31OrLater() {
				h.schema = sch
			}
			plan.optionalHeaders = append(plan.optionalHeaders, h)
			continue
		}
		if p == nil || p.In != openapi3.ParameterInPath {
			plan.simpleParams = false
			break
		}
		sch, bits, ok := simplePrimitive(p)
		// Only a schema that checks nothing but the type and, for an
		// integer, its size and inclusive bounds: an enum, a pattern or an
		// exclusive bound is openapi3filter's to judge.
		if !ok || !plainSchema(sch, bits != 0) || (bits != 0 && sch.Format != "" && sch.Format != "int32" && sch.Format != "int64") {
			plan.simpleParams = false
			break
		}
		plan.params = append(plan.params, paramCheck{name: p.Name, schema: sch, bits: bits})
	}
	plan.simple = plan.simpleParams && op.RequestBody == nil
	v.params.Store(op, plan)
	return plan
}

// simplePrimitive reports whether p (a parameter, or a header's) is
// serialized in the simple style with a schema of primitive, and returns
// the schema and its bits.
func simplePrimitive(p *openapi3.Parameter) (sch *openapi3.Schema, bits int, ok bool) {
	if p.Content != nil || p.Schema == nil || p.Schema.Value == nil ||
		(p.Style != "" && p.Style != openapi3.SerializationSimple) {
		return nil, 0, false
	}
	bits, ok = primitive(p.Schema.Value)
	return p.Schema.Value, bits, ok
}

// primitive reports whether s is a string or an integer schema of one type
// and no composition; bits is an integer's size (32 for format int32, 64
// otherwise) and 0 for a string.
func primitive(s *openapi3.Schema) (bits int, ok bool) {
	if len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.Not != nil || s.Type == nil || len(s.Type.Slice()) != 1 {
		return 0, false
	}
	switch {
	case s.Type.Is(openapi3.TypeString):
		return 0, true
	case s.Type.Is(openapi3.TypeInteger) && s.Format == "int32":
		return 32, true
	case s.Type.Is(openapi3.TypeInteger):
		return 64, true
	}
	return 0, false
}
