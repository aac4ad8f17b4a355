package contract_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/contract"
)

// maxBody mirrors the server's body limit (httpapi.MaxBodyBytes); the
// request is wrapped the way the server's body-limit middleware wraps it.
const maxBody = 1 << 20

var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
)

// leadsSpec is the real, embedded spec with the server URL the tests use.
func leadsSpec(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	specOnce.Do(func() {
		specDoc, specErr = api.GetSpec()
		if specErr != nil {
			return
		}
		specDoc.Servers = openapi3.Servers{{URL: "/api/v1"}}
		specRouter, specErr = gorillamux.NewRouter(specDoc)
	})
	if specErr != nil {
		t.Fatalf("load spec: %v", specErr)
	}
	return specDoc, specRouter
}

// newRequest builds a request as it reaches validation in the server: with
// its body behind a 1 MiB limit.
func newRequest(method, target, contentType string, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Body = http.MaxBytesReader(httptest.NewRecorder(), req.Body, maxBody)
	return req
}

// validateWith runs kin-openapi's request validation with the contract's
// options and returns the raw validation error.
func validateWith(t testing.TB, router routers.Router, req *http.Request) error {
	t.Helper()
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("FindRoute(%s %s): %v", req.Method, req.URL, err)
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options:    contract.RequestOptions(),
	})
}

// check validates a request against the real spec as the server does
// (contract.Validator) and returns the translated application error, or
// nil when the request is valid.
func check(t testing.TB, method, target, contentType, body string) *impl.Error {
	t.Helper()
	doc, router := leadsSpec(t)
	req := newRequest(method, target, contentType, body)
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("FindRoute(%s %s): %v", req.Method, req.URL, err)
	}
	v := contract.NewValidator(doc)
	verdict := v.Request(context.Background(), &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route})
	switch {
	case verdict.Unreadable != nil:
		return appError(t, contract.BodyError(verdict.Unreadable))
	case verdict.Err != nil:
		return translate(t, verdict.Err)
	}
	return nil
}

// translate is RequestError's answer to kin-openapi's verdict.
func translate(t testing.TB, err error) *impl.Error {
	t.Helper()
	return appError(t, contract.RequestError(err))
}

func appError(t testing.TB, err error) *impl.Error {
	t.Helper()
	var ae *impl.Error
	if !errors.As(err, &ae) {
		t.Fatalf("%T %v, want *impl.Error", err, err)
	}
	return ae
}

const (
	jsonCT       = "application/json"
	phoneMessage = "must have 10 to 15 digits, optionally separated by spaces, dots, dashes or parentheses"
	tempMessage  = "must be one of: hot, warm, cool, cold, frozen"
	sortMessage  = "must be one of: id, -id, name, -name, created_at, -created_at, updated_at, -updated_at, lead_score, -lead_score, deal_value, -deal_value"
)

type details = map[string][]string

func TestRequestErrorBodySchema(t *testing.T) {
	tests := []struct {
		name          string
		method, path  string
		body          string
		wantDetails   details
		wantCode      string // default validation_error
		wantMsgSubstr string
	}{
		{name: "missing phone", body: `{}`,
			wantDetails: details{"phone": {"phone is required"}}},
		{name: "missing phone on replace", method: "PUT", path: "/api/v1/leads/1", body: `{"name":"Ana"}`,
			wantDetails: details{"phone": {"phone is required"}}},
		{name: "phone with too few digits", body: `{"phone":"123456789"}`,
			wantDetails: details{"phone": {phoneMessage}}},
		{name: "phone with too many digits", body: `{"phone":"1234567890123456"}`,
			wantDetails: details{"phone": {phoneMessage}}},
		{name: "phone with letters", body: `{"phone":"11 9999-ABCD-99"}`,
			wantDetails: details{"phone": {phoneMessage}}},
		{name: "empty phone", body: `{"phone":""}`,
			wantDetails: details{"phone": {phoneMessage}}},
		{name: "phone too long", body: `{"phone":"` + strings.Repeat(" ", 30) + `1234567890"}`,
			wantDetails: details{"phone": {"must be at most 32 characters"}}},
		{name: "phone not a string", body: `{"phone":11999999999}`,
			wantDetails: details{"phone": {"must be a string"}}},
		{name: "unknown field", body: `{"phone":"11999999999","extra":1}`,
			wantDetails: details{"extra": {"is not a known field"}}},
		{name: "unknown field on patch", method: "PATCH", path: "/api/v1/leads/7", body: `{"nmae":"Ana"}`,
			wantDetails: details{"nmae": {"is not a known field"}}},
		{name: "unknown field names are kept verbatim", body: `{"phone":"11999999999","a.b":1,"c[0]":2}`,
			wantDetails: details{"a.b": {"is not a known field"}, "c[0]": {"is not a known field"}}},
		{name: "lead_score above maximum", body: `{"phone":"11999999999","lead_score":101}`,
			wantDetails: details{"lead_score": {"must be between 0 and 100"}}},
		{name: "lead_score below minimum", body: `{"phone":"11999999999","lead_score":-1}`,
			wantDetails: details{"lead_score": {"must be between 0 and 100"}}},
		{name: "lead_score beyond int32", body: `{"phone":"11999999999","lead_score":2147483648}`,
			wantDetails: details{"lead_score": {"must be between 0 and 100"}}},
		{name: "lead_score huge integer", body: `{"phone":"11999999999","lead_score":99999999999999999999999999}`,
			wantDetails: details{"lead_score": {"must be between 0 and 100"}}},
		{name: "lead_score fraction", body: `{"phone":"11999999999","lead_score":1.5}`,
			wantDetails: details{"lead_score": {"must be an integer"}}},
		{name: "lead_score string", body: `{"phone":"11999999999","lead_score":"5"}`,
			wantDetails: details{"lead_score": {"must be an integer"}}},
		{name: "deal_value negative", body: `{"phone":"11999999999","deal_value":-0.01}`,
			wantDetails: details{"deal_value": {"must be between 0 and 1000000000000"}}},
		{name: "deal_value above maximum", body: `{"phone":"11999999999","deal_value":1e13}`,
			wantDetails: details{"deal_value": {"must be between 0 and 1000000000000"}}},
		{name: "deal_value boolean", body: `{"phone":"11999999999","deal_value":true}`,
			wantDetails: details{"deal_value": {"must be a number"}}},
		{name: "null phone", body: `{"phone":null}`,
			wantDetails: details{"phone": {"must not be null"}}},
		{name: "null phone on patch", method: "PATCH", path: "/api/v1/leads/7", body: `{"phone":null}`,
			wantDetails: details{"phone": {"must not be null"}}},
		{name: "null temperature", body: `{"phone":"11999999999","temperature":null}`,
			wantDetails: details{"temperature": {"must not be null"}}},
		{name: "null lead_score", body: `{"phone":"11999999999","lead_score":null}`,
			wantDetails: details{"lead_score": {"must not be null"}}},
		{name: "null lead_score on patch", method: "PATCH", path: "/api/v1/leads/7", body: `{"lead_score":null,"temperature":null}`,
			wantDetails: details{"lead_score": {"must not be null"}, "temperature": {"must not be null"}}},
		{name: "bad enum", body: `{"phone":"11999999999","temperature":"boiling"}`,
			wantDetails: details{"temperature": {tempMessage}}},
		{name: "enum is case-sensitive", body: `{"phone":"11999999999","temperature":"HOT"}`,
			wantDetails: details{"temperature": {tempMessage}}},
		{name: "bad email", body: `{"phone":"11999999999","email":"not-an-address"}`,
			wantDetails: details{"email": {"must be a valid e-mail address"}}},
		{name: "email without domain dot", body: `{"phone":"11999999999","email":"ana@localhost"}`,
			wantDetails: details{"email": {"must be a valid e-mail address"}}},
		{name: "email with space", body: `{"phone":"11999999999","email":"ana maria@x.com"}`,
			wantDetails: details{"email": {"must be a valid e-mail address"}}},
		{name: "email with control character", body: `{"phone":"11999999999","email":"ana\u0007@x.com"}`,
			wantDetails: details{"email": {"must be a valid e-mail address"}}},
		{name: "email too long", body: `{"phone":"11999999999","email":"` + strings.Repeat("a", 250) + `@x.com"}`,
			wantDetails: details{"email": {"must be at most 254 characters"}}},
		{name: "control character in name", body: `{"phone":"11999999999","name":"Ana\u0001Maria"}`,
			wantDetails: details{"name": {"must not contain control characters"}}},
		{name: "NUL in name", body: `{"phone":"11999999999","name":"\u0000"}`,
			wantDetails: details{"name": {"must not contain control characters"}}},
		{name: "DEL in company_name", body: `{"phone":"11999999999","company_name":"Acme\u007f"}`,
			wantDetails: details{"company_name": {"must not contain control characters"}}},
		{name: "newline in name", body: `{"phone":"11999999999","name":"Ana\nMaria"}`,
			wantDetails: details{"name": {"must not contain control characters"}}},
		{name: "name too long", body: `{"phone":"11999999999","name":"` + strings.Repeat("é", 256) + `"}`,
			wantDetails: details{"name": {"must be at most 255 characters"}}},
		{name: "name of an object", body: `{"phone":"11999999999","name":{"first":"Ana"}}`,
			wantDetails: details{"name": {"must be a string"}}},
		{name: "several errors at once",
			body: `{"phone":"1","extra":1,"lead_score":101,"email":"x","temperature":"x","name":"` +
				strings.Repeat("a", 256) + `","deal_value":-1,"company_name":"a\tb"}`,
			wantDetails: details{
				"phone":        {phoneMessage},
				"extra":        {"is not a known field"},
				"lead_score":   {"must be between 0 and 100"},
				"email":        {"must be a valid e-mail address"},
				"temperature":  {tempMessage},
				"name":         {"must be at most 255 characters"},
				"deal_value":   {"must be between 0 and 1000000000000"},
				"company_name": {"must not contain control characters"},
			}},
		{name: "missing phone and unknown field", body: `{"extra":1}`,
			wantDetails: details{"phone": {"phone is required"}, "extra": {"is not a known field"}}},
		{name: "body is an array", body: `[]`,
			wantDetails: details{"body": {"must be an object"}}},
		{name: "body is a string", body: `"11999999999"`,
			wantDetails: details{"body": {"must be an object"}}},
		{name: "body is a number", body: `42`,
			wantDetails: details{"body": {"must be an object"}}},
		{name: "body is null", body: `null`,
			wantDetails: details{"body": {"must not be null"}}},
		{name: "patch body is an array", method: "PATCH", path: "/api/v1/leads/7", body: `[{"name":"Ana"}]`,
			wantDetails: details{"body": {"must be an object"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, path := tt.method, tt.path
			if method == "" {
				method, path = "POST", "/api/v1/leads"
			}
			got := check(t, method, path, jsonCT, tt.body)
			if got == nil {
				t.Fatalf("%s %s %s: valid, want %s", method, path, tt.body, impl.EValidation)
			}
			if got.Code != impl.EValidation {
				t.Errorf("code = %q (%s), want %q", got.Code, got.Message, impl.EValidation)
			}
			if got.Message != "The given data was invalid." {
				t.Errorf("message = %q", got.Message)
			}
			if !reflect.DeepEqual(got.Details, tt.wantDetails) {
				t.Errorf("details =\n  %v\nwant\n  %v", got.Details, tt.wantDetails)
			}
		})
	}
}

// The pattern message comes from the spec, not from Go: change the spec's
// x-pattern-message and the API's message changes with it.
func TestRequestErrorPatternMessageIsTheSpecs(t *testing.T) {
	doc, _ := leadsSpec(t)
	for _, name := range []string{"PhoneInput", "Text"} {
		s := doc.Components.Schemas[name]
		if s == nil || s.Value == nil {
			t.Fatalf("spec has no schema %s", name)
		}
		want, wantPt := contract.PatternMessage(s.Value)
		if want == "" || wantPt == "" {
			t.Fatalf("schema %s has no x-pattern-message in both languages", name)
		}
		body := `{"phone":"12"}`
		field := "phone"
		if name == "Text" {
			body, field = `{"phone":"11999999999","company_name":"\u001b[31m"}`, "company_name"
		}
		got := check(t, "POST", "/api/v1/leads", jsonCT, body)
		if got == nil || !reflect.DeepEqual(got.Details, details{field: {want}}) {
			t.Errorf("%s: got %+v, want details {%s: [%s]}", name, got, field, want)
		}
		if wantPt = "O campo " + field + " " + wantPt + "."; got == nil || !reflect.DeepEqual(got.DetailsPtBR, details{field: {wantPt}}) {
			t.Errorf("%s: got %+v, want Portuguese details {%s: [%s]}", name, got, field, wantPt)
		}
	}
}

func TestRequestErrorValidRequests(t *testing.T) {
	tests := []struct {
		name, method, path, contentType, body string
	}{
		{"seed example", "POST", "/api/v1/leads", jsonCT,
			`{"phone":"11999999999","name":"Maria Santos","email":"maria@empresa.com","company_name":"Tech Corp","deal_value":15000}`},
		{"formatted phone", "POST", "/api/v1/leads", jsonCT, `{"phone":"+55 (21) 98888-7777"}`},
		{"fifteen digits", "POST", "/api/v1/leads", jsonCT, `{"phone":"123456789012345"}`},
		{"nullable fields null", "POST", "/api/v1/leads", jsonCT,
			`{"phone":"11999999999","name":null,"email":null,"company_name":null,"deal_value":null}`},
		{"bounds", "POST", "/api/v1/leads", jsonCT,
			`{"phone":"11999999999","lead_score":100,"deal_value":1000000000000,"temperature":"frozen"}`},
		{"zero bounds", "POST", "/api/v1/leads", jsonCT, `{"phone":"11999999999","lead_score":0,"deal_value":0}`},
		{"upper-case e-mail", "POST", "/api/v1/leads", jsonCT, `{"phone":"11999999999","email":"Maria@Empresa.COM"}`},
		{"unicode name", "POST", "/api/v1/leads", jsonCT, `{"phone":"11999999999","name":"João Çé 日本 🙂"}`},
		{"content type with charset", "POST", "/api/v1/leads", "application/json; charset=utf-8", `{"phone":"11999999999"}`},
		{"content type in capitals", "POST", "/api/v1/leads", "Application/JSON", `{"phone":"11999999999"}`},
		{"whitespace around the body", "POST", "/api/v1/leads", jsonCT, " \n\t{\"phone\":\"11999999999\"}\r\n "},
		{"replace", "PUT", "/api/v1/leads/1", jsonCT,
			`{"phone":"5511999999999","name":"Maria Santos","email":"maria@techcorp.com","company_name":"Tech Corp","deal_value":18000,"temperature":"warm","lead_score":60}`},
		{"empty patch", "PATCH", "/api/v1/leads/1", jsonCT, `{}`},
		{"patch clearing fields", "PATCH", "/api/v1/leads/1", jsonCT, `{"email":null,"name":null}`},
		{"list without parameters", "GET", "/api/v1/leads", "", ""},
		{"list with every parameter", "GET",
			"/api/v1/leads?page=2&per_page=100&phone=%2B55%2011%2099999-9999&email=A%40B.CO&temperature=hot&sort=-deal_value", "", ""},
		{"list per_page minimum", "GET", "/api/v1/leads?per_page=1", "", ""},
		{"get", "GET", "/api/v1/leads/9223372036854775807", "", ""},
		{"delete", "DELETE", "/api/v1/leads/1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No Authorization header either: security is the auth
			// middleware's job, not validation's.
			if got := check(t, tt.method, tt.path, tt.contentType, tt.body); got != nil {
				t.Errorf("%s %s %s: %+v, want valid", tt.method, tt.path, tt.body, got)
			}
		})
	}
}

func TestRequestErrorUnreadableBody(t *testing.T) {
	tests := []struct {
		name, contentType, body, wantMessage string
	}{
		{"wrong content type", "text/plain", `{"phone":"11999999999"}`, "The Content-Type header must be application/json."},
		{"form content type", "application/x-www-form-urlencoded", `phone=11999999999`, "The Content-Type header must be application/json."},
		{"json-like content type", "application/problem+json", `{"phone":"11999999999"}`, "The Content-Type header must be application/json."},
		{"no content type", "", `{"phone":"11999999999"}`, "The Content-Type header must be application/json."},
		{"empty body", jsonCT, ``, "The request body is required."},
		{"whitespace body", jsonCT, "  \n", "The request body is not valid JSON."},
		{"malformed JSON", jsonCT, `{"phone":`, "The request body is not valid JSON."},
		{"single quotes", jsonCT, `{'phone':'11999999999'}`, "The request body is not valid JSON."},
		{"trailing comma", jsonCT, `{"phone":"11999999999",}`, "The request body is not valid JSON."},
		{"raw tab inside a string", jsonCT, "{\"phone\":\"11999999999\",\"name\":\"a\tb\"}", "The request body is not valid JSON."},
		{"byte order mark", jsonCT, "\ufeff{\"phone\":\"11999999999\"}", "The request body is not valid JSON."},
		{"NaN", jsonCT, `{"phone":"11999999999","deal_value":NaN}`, "The request body is not valid JSON."},
		{"trailing garbage", jsonCT, `{"phone":"11999999999"} x`, "The request body has data after the JSON value."},
		{"two documents", jsonCT, `{"phone":"11999999999"}{"phone":"11999999998"}`, "The request body has data after the JSON value."},
		{"trailing bracket", jsonCT, `{"phone":"11999999999"}]`, "The request body has data after the JSON value."},
		{"trailing garbage with charset", "application/json; charset=utf-8", `{"phone":"11999999999"}0`, "The request body has data after the JSON value."},
		{"invalid UTF-8 in a string", jsonCT, "{\"phone\":\"11999999999\",\"name\":\"Jo\xe3o\"}", "The request body is not valid UTF-8."},
		{"invalid UTF-8 in a key", jsonCT, "{\"phone\":\"11999999999\",\"\xff\":1}", "The request body is not valid UTF-8."},
		{"overlong UTF-8", jsonCT, "{\"phone\":\"11999999999\",\"name\":\"\xc0\xaf\"}", "The request body is not valid UTF-8."},
		{"UTF-16 surrogate encoded in UTF-8", jsonCT, "{\"phone\":\"11999999999\",\"name\":\"\xed\xa0\x80\"}", "The request body is not valid UTF-8."},
		{"1e400", jsonCT, `{"phone":"11999999999","deal_value":1e400}`, "The request body has a number that cannot be represented."},
		{"-1e400 in an integer field", jsonCT, `{"phone":"11999999999","lead_score":-1e400}`, "The request body has a number that cannot be represented."},
		{"1e400 in an unknown field", jsonCT, `{"phone":"11999999999","x":[{"y":1e400}]}`, "The request body has a number that cannot be represented."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(t, "POST", "/api/v1/leads", tt.contentType, tt.body)
			if got == nil {
				t.Fatalf("valid, want %s", impl.EBadRequest)
			}
			// The decoder's reason may follow ("...: unexpected end of input.").
			msg := strings.TrimSuffix(tt.wantMessage, ".")
			if got.Code != impl.EBadRequest || (got.Message != tt.wantMessage && !strings.HasPrefix(got.Message, msg+": ")) || len(got.Details) != 0 {
				t.Errorf("got {%s %q %v}, want {%s %q no details}", got.Code, got.Message, got.Details, impl.EBadRequest, tt.wantMessage)
			}
		})
	}
}

func TestRequestErrorPayloadTooLarge(t *testing.T) {
	for _, body := range []string{
		`{"phone":"11999999999","name":"` + strings.Repeat("a", maxBody) + `"}`,
		// Too large and malformed: the size is what the partner must fix first.
		`{"phone":` + strings.Repeat(" ", maxBody) + `x`,
	} {
		got := check(t, "POST", "/api/v1/leads", jsonCT, body)
		if got == nil || got.Code != impl.EPayloadTooLarge {
			t.Errorf("body of %d bytes: got %+v, want %s", len(body), got, impl.EPayloadTooLarge)
		}
	}
	// Exactly at the limit is fine as far as size goes.
	prefix, suffix := `{"phone":"11999999999","name":"`, `"}`
	name := strings.Repeat("a", 200)
	body := prefix + name + suffix + strings.Repeat(" ", maxBody-len(prefix)-len(name)-len(suffix))
	if got := check(t, "POST", "/api/v1/leads", jsonCT, body); got != nil {
		t.Errorf("body of exactly %d bytes: %+v, want valid", len(body), got)
	}
}

// Deep nesting must neither crash the process (stack exhaustion is fatal,
// not a recoverable panic) nor become a 500.
func TestRequestErrorDeeplyNestedJSON(t *testing.T) {
	const depth = 100000
	tests := []struct {
		name, body string
	}{
		{"arrays", strings.Repeat("[", depth) + strings.Repeat("]", depth)},
		{"objects", strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)},
		{"unclosed arrays", strings.Repeat("[", depth)},
		{"inside a field", `{"phone":"11999999999","name":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`},
		// Within encoding/json's own depth limit: the whole value reaches
		// the number check and schema validation.
		{"just under the decoder's limit", `{"phone":"11999999999","name":` + strings.Repeat("[", 9000) + "1e400" + strings.Repeat("]", 9000) + `}`},
		{"nested unknown field", `{"phone":"11999999999","x":` + strings.Repeat(`{"a":`, 9000) + "1" + strings.Repeat("}", 9000) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(t, "POST", "/api/v1/leads", jsonCT, tt.body)
			if got == nil {
				t.Fatal("valid, want a 4xx")
			}
			if got.Code != impl.EBadRequest && got.Code != impl.EValidation {
				t.Errorf("code = %q, want %s or %s", got.Code, impl.EBadRequest, impl.EValidation)
			}
		})
	}
}

func TestRequestErrorParameters(t *testing.T) {
	tests := []struct {
		name, method, target string
		want                 details
	}{
		{"per_page above maximum and page zero", "GET", "/api/v1/leads?per_page=101&page=0",
			details{"per_page": {"must be between 1 and 100"}, "page": {"must be at least 1"}}},
		{"per_page zero", "GET", "/api/v1/leads?per_page=0", details{"per_page": {"must be between 1 and 100"}}},
		{"per_page negative", "GET", "/api/v1/leads?per_page=-5", details{"per_page": {"must be between 1 and 100"}}},
		{"page not a number", "GET", "/api/v1/leads?page=abc", details{"page": {"must be an integer"}}},
		{"page fraction", "GET", "/api/v1/leads?page=1.5", details{"page": {"must be an integer"}}},
		{"per_page not a number", "GET", "/api/v1/leads?per_page=ten", details{"per_page": {"must be an integer"}}},
		{"unknown sort", "GET", "/api/v1/leads?sort=phone", details{"sort": {sortMessage}}},
		{"sort with two dashes", "GET", "/api/v1/leads?sort=--id", details{"sort": {sortMessage}}},
		{"sort with plus", "GET", "/api/v1/leads?sort=%2Bid", details{"sort": {sortMessage}}},
		{"bad temperature filter", "GET", "/api/v1/leads?temperature=boiling", details{"temperature": {tempMessage}}},
		{"bad email filter", "GET", "/api/v1/leads?email=nobody", details{"email": {"must be a valid e-mail address"}}},
		{"bad phone filter", "GET", "/api/v1/leads?phone=123", details{"phone": {phoneMessage}}},
		{"every filter bad", "GET", "/api/v1/leads?temperature=x&email=x&phone=1&sort=x&page=x&per_page=1000",
			details{"temperature": {tempMessage}, "email": {"must be a valid e-mail address"}, "phone": {phoneMessage},
				"sort": {sortMessage}, "page": {"must be an integer"}, "per_page": {"must be between 1 and 100"}}},
		{"lead id zero", "GET", "/api/v1/leads/0", details{"id": {"must be at least 1"}}},
		{"lead id negative", "DELETE", "/api/v1/leads/-1", details{"id": {"must be at least 1"}}},
		{"lead id not a number", "GET", "/api/v1/leads/abc", details{"id": {"must be an integer"}}},
		{"lead id beyond int64", "GET", "/api/v1/leads/99999999999999999999", details{"id": {"must be an integer"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(t, tt.method, tt.target, "", "")
			if got == nil {
				t.Fatalf("%s %s: valid, want %s", tt.method, tt.target, impl.EBadRequest)
			}
			if got.Code != impl.EBadRequest || got.Message != "The request has invalid parameters." {
				t.Errorf("got %s %q, want %s %q", got.Code, got.Message, impl.EBadRequest, "The request has invalid parameters.")
			}
			if !reflect.DeepEqual(got.Details, tt.want) {
				t.Errorf("details =\n  %v\nwant\n  %v", got.Details, tt.want)
			}
		})
	}
}

// A bad parameter makes the whole request a 400, even when the body has
// problems of its own: the partner fixes the URL first.
func TestRequestErrorParameterWinsOverBody(t *testing.T) {
	got := check(t, "PATCH", "/api/v1/leads/0", jsonCT, `{"extra":1}`)
	want := details{"id": {"must be at least 1"}}
	if got == nil || got.Code != impl.EBadRequest || !reflect.DeepEqual(got.Details, want) {
		t.Errorf("got %+v, want bad_request %v", got, want)
	}
	got = check(t, "PUT", "/api/v1/leads/abc", "text/plain", `x`)
	want = details{"id": {"must be an integer"}}
	if got == nil || got.Code != impl.EBadRequest || !reflect.DeepEqual(got.Details, want) {
		t.Errorf("got %+v, want bad_request %v", got, want)
	}
}

func TestRequestErrorOtherErrors(t *testing.T) {
	for _, err := range []error{
		errors.New("something else"),
		openapi3.MultiError{},
		&openapi3filter.SecurityRequirementsError{},
	} {
		got := translate(t, err)
		if got.Code != impl.EBadRequest || got.Message != "The request is invalid." {
			t.Errorf("RequestError(%T) = %+v, want bad_request", err, got)
		}
	}
}

// The lead bodies are flat; messages about nested fields, arrays and item
// counts are exercised on a spec shaped like the RCS payloads.
const nestedSpec = `openapi: 3.0.3
info: {title: nested, version: "1"}
paths:
  /messages:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [cards]
              properties:
                cards:
                  type: array
                  minItems: 2
                  maxItems: 10
                  items:
                    type: object
                    additionalProperties: false
                    required: [title]
                    properties:
                      title: {type: string, maxLength: 5}
                      rank: {type: integer, minimum: 1}
                quick_replies:
                  type: array
                  maxItems: 2
                  items: {type: string, minLength: 1}
                location:
                  type: object
                  properties:
                    latitude: {type: number, minimum: -90, maximum: 90}
                note:
                  allOf: [{type: string, maxLength: 10}]
                choice:
                  oneOf:
                    - {type: string}
                    - {type: integer}
      responses:
        '204': {description: sent}
`

func nestedRouter(t *testing.T) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(nestedSpec))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return router
}

func TestRequestErrorNestedPaths(t *testing.T) {
	router := nestedRouter(t)
	tests := []struct {
		body string
		want details
	}{
		{`{"cards":[{"title":"ok"},{"title":"toolong"},{"title":"x","rank":0,"z":1},{}]}`, details{
			"cards[1].title": {"must be at most 5 characters"},
			"cards[2].rank":  {"must be at least 1"},
			"cards[2].z":     {"is not a known field"},
			"cards[3].title": {"title is required"},
		}},
		{`{"cards":[{"title":"ok"}]}`, details{"cards": {"must contain between 2 and 10 cards"}}},
		{`{"cards":[{"title":"a"},{"title":"b"}],"quick_replies":["a","b","c"]}`,
			details{"quick_replies": {"must contain at most 2 quick replies"}}},
		{`{"cards":[{"title":"a"},{"title":"b"}],"quick_replies":[""]}`,
			details{"quick_replies[0]": {"must not be empty"}}},
		{`{"cards":[{"title":"a"},{"title":"b"}],"location":{"latitude":90.5}}`,
			details{"location.latitude": {"must be between -90 and 90"}}},
		{`{"cards":[{"title":"a"},{"title":null}]}`, details{"cards[1].title": {"must not be null"}}},
		// An allOf failure is reported as the inner failure, at the field.
		{`{"cards":[{"title":"a"},{"title":"b"}],"note":"far too long a note"}`,
			details{"note": {"must be at most 10 characters"}}},
	}
	for _, tt := range tests {
		req := newRequest("POST", "/messages", jsonCT, tt.body)
		err := validateWith(t, router, req)
		if err == nil {
			t.Errorf("%s: valid, want %s", tt.body, impl.EValidation)
			continue
		}
		got := translate(t, err)
		if got.Code != impl.EValidation || !reflect.DeepEqual(got.Details, tt.want) {
			t.Errorf("%s:\n got  %s %v\n want %s %v", tt.body, got.Code, got.Details, impl.EValidation, tt.want)
		}
	}
}

func TestResponseOptions(t *testing.T) {
	_, router := leadsSpec(t)
	validLead := `{"id":1,"phone":"5511999999999","name":null,"email":null,"company_name":null,` +
		`"temperature":"cold","lead_score":0,"deal_value":null,` +
		`"created_at":"2026-03-13T14:02:11Z","updated_at":"2026-03-13T14:02:11Z"}`
	leadHeaders := http.Header{
		"Content-Type":          {jsonCT},
		"Etag":                  {`"GojDmyqkrSRdO-rOW1z5aA"`},
		"X-Ratelimit-Limit":     {"60"},
		"X-Ratelimit-Remaining": {"59"},
		"X-Ratelimit-Reset":     {"1773410580"},
	}
	without := func(name string) http.Header {
		h := leadHeaders.Clone()
		h.Del(name)
		return h
	}
	with := func(name, value string) http.Header {
		h := leadHeaders.Clone()
		h.Set(name, value)
		return h
	}
	tests := []struct {
		name   string
		status int
		body   string
		valid  bool
		header http.Header // leadHeaders when nil
	}{
		{"a lead without its ETag", 200, validLead, false, without("ETag")},
		{"an ETag that is not a quoted tag", 200, validLead, false, with("ETag", "GojDmyqkrSRdO")},
		{"a weak ETag", 200, validLead, false, with("ETag", `W/"GojDmyqkrSRdO"`)},
		{"304 without a body", 304, "", true, without("Content-Type")},
		{"valid lead", 200, validLead, true, nil},
		{"status the spec does not list", 418, validLead, false, nil},
		{"undocumented 201 on get", 201, validLead, false, nil},
		{"invalid e-mail in a response", 200, strings.Replace(validLead, `"email":null`, `"email":"not-an-address"`, 1), false, nil},
		{"missing required field", 200, strings.Replace(validLead, `"deal_value":null,`, ``, 1), false, nil},
		{"phone not normalised", 200, strings.Replace(validLead, `"5511999999999"`, `"+55 11 99999-9999"`, 1), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/v1/leads/1", nil)
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatal(err)
			}
			header := tt.header
			if header == nil {
				header = leadHeaders
			}
			err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
				RequestValidationInput: &openapi3filter.RequestValidationInput{
					Request: req, PathParams: params, Route: route, Options: contract.RequestOptions(),
				},
				Status:  tt.status,
				Header:  header,
				Body:    io.NopCloser(strings.NewReader(tt.body)),
				Options: contract.ResponseOptions(),
			})
			if tt.valid && err != nil {
				t.Errorf("want valid, got %v", err)
			}
			if !tt.valid && err == nil {
				t.Error("want a violation, got none")
			}
		})
	}
}

// RequestOptions returns fresh options: a caller changing its copy must not
// change what the next caller gets.
func TestRequestOptionsAreFresh(t *testing.T) {
	a := contract.RequestOptions()
	a.MultiError = false
	a.ExcludeRequestBody = true
	b := contract.RequestOptions()
	if !b.MultiError || b.ExcludeRequestBody {
		t.Errorf("RequestOptions shares state between calls: %+v", b)
	}
}

// Validating a hostile body must cost time and memory in proportion to it.
// kin-openapi renders a failing value, indented, into the text of its schema
// errors, which is quadratic in the value's nesting; allOf and oneOf do it
// eagerly, during validation. With schema error details disabled neither
// the validation nor the error's text blows up.
func TestRequestValidationOfDeepValuesIsLinear(t *testing.T) {
	const depth = 5000
	deep := strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)

	t.Run("leads", func(t *testing.T) {
		body := `{"phone":"11999999999","name":` + deep + `,"email":` + deep +
			`,"company_name":` + deep + `,"deal_value":` + deep + `}`
		_, router := leadsSpec(t)
		err := validateWith(t, router, newRequest("POST", "/api/v1/leads", jsonCT, body))
		got := translate(t, err)
		want := details{"name": {"must be a string"}, "email": {"must be a string"},
			"company_name": {"must be a string"}, "deal_value": {"must be a number"}}
		if got.Code != impl.EValidation || !reflect.DeepEqual(got.Details, want) {
			t.Errorf("got %s %v, want %s %v", got.Code, got.Details, impl.EValidation, want)
		}
		// The raw error is what a log line would carry.
		if n := len(err.Error()); n > 100*len(body) {
			t.Errorf("the validation error of a %d-byte body renders as %d bytes", len(body), n)
		}
	})

	t.Run("allOf and oneOf", func(t *testing.T) {
		body := `{"cards":[{"title":"a"},{"title":"b"}],"note":` + deep + `,"choice":` + deep + `}`
		router := nestedRouter(t)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := validateWith(t, router, newRequest("POST", "/messages", jsonCT, body))
		got := translate(t, err)
		runtime.ReadMemStats(&after)
		if got.Code != impl.EValidation || len(got.Details["note"]) == 0 || len(got.Details["choice"]) == 0 {
			t.Errorf("got %s %v, want %s about note and choice", got.Code, got.Details, impl.EValidation)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
			t.Errorf("validating a %d-byte body allocated %d MiB", len(body), alloc>>20)
		}
	})
}

// Portuguese is the API's default: every message derived from a schema
// keyword has a sentence of its own, worded like the API reference's
// "O campo phone é obrigatório.".
func TestRequestErrorPortuguese(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		want                       details
	}{
		{"the reference's example", "POST", "/api/v1/leads", `{"name":"Maria Santos"}`,
			details{"phone": {"O campo phone é obrigatório."}}},
		{"e-mail", "POST", "/api/v1/leads", `{"phone":"11999999999","email":"maria"}`,
			details{"email": {"O campo email deve ser um endereço de e-mail válido."}}},
		{"range, enum, unknown field, type", "POST", "/api/v1/leads",
			`{"phone":"11999999999","lead_score":101,"temperature":"boiling","extra":1,"company_name":5}`,
			details{
				"lead_score":   {"O campo lead_score deve estar entre 0 e 100."},
				"temperature":  {"O campo temperature deve ser um destes valores: hot, warm, cool, cold, frozen."},
				"extra":        {"O campo extra não é permitido."},
				"company_name": {"O campo company_name deve ser um texto."},
			}},
		{"pattern", "POST", "/api/v1/leads", `{"phone":"12"}`,
			details{"phone": {"O campo phone deve ter de 10 a 15 dígitos, separados ou não por espaços, pontos, hífens ou parênteses."}}},
		{"length", "POST", "/api/v1/leads", `{"phone":"11999999999","name":"` + strings.Repeat("a", 256) + `"}`,
			details{"name": {"O campo name deve ter no máximo 255 caracteres."}}},
		{"null", "PATCH", "/api/v1/leads/1", `{"phone":null}`,
			details{"phone": {"O campo phone não pode ser nulo."}}},
		{"items and nested paths", "POST", "/api/v1/rcs/messages",
			`{"phone":"5511999999999","type":"carousel","cards":[{"title":"A"}]}`,
			details{"cards": {"O campo cards deve ter entre 2 e 10 itens."}}},
		{"nested required", "POST", "/api/v1/rcs/messages",
			`{"phone":"5511999999999","type":"card","title":"A","buttons":[{"type":"url","text":"Ver"}]}`,
			details{"buttons[0].url": {"O campo buttons[0].url é obrigatório."}}},
		{"empty", "POST", "/api/v1/rcs/messages", `{"phone":"5511999999999","type":"text","text":""}`,
			details{"text": {"O campo text não pode ficar vazio."}}},
		{"discriminator", "POST", "/api/v1/rcs/messages", `{"phone":"5511999999999","type":"fax"}`,
			details{"type": {"O campo type deve ser um destes valores: text, file, card, carousel, replyable_text, location."}}},
		{"one of two fields, neither", "POST", "/api/v1/rcs/messages", `{"type":"text","text":"Oi"}`,
			details{"lead_id": {"O campo lead_id ou phone é obrigatório."}, "phone": {"O campo lead_id ou phone é obrigatório."}}},
		{"one of two fields, both", "POST", "/api/v1/rcs/messages", `{"lead_id":1,"phone":"5511999999999","type":"text","text":"Oi"}`,
			details{"lead_id": {"Os campos lead_id e phone não podem ser enviados juntos."}, "phone": {"Os campos lead_id e phone não podem ser enviados juntos."}}},
		{"parameters", "GET", "/api/v1/leads?per_page=101&page=abc", "",
			details{"per_page": {"O campo per_page deve estar entre 1 e 100."}, "page": {"O campo page deve ser um número inteiro."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := jsonCT
			if tt.body == "" {
				ct = ""
			}
			got := check(t, tt.method, tt.target, ct, tt.body)
			if got == nil {
				t.Fatal("valid, want an error")
			}
			if !reflect.DeepEqual(got.DetailsPtBR, tt.want) {
				t.Errorf("Portuguese details =\n  %v\nwant\n  %v", got.DetailsPtBR, tt.want)
			}
			if pt := got.DetailsIn(impl.LangPtBR); !reflect.DeepEqual(pt, tt.want) {
				t.Errorf("DetailsIn(pt-BR) = %v", pt)
			}
			// The same fields in both languages, one message for one.
			if len(got.Details) != len(got.DetailsPtBR) {
				t.Errorf("English details %v do not match the Portuguese ones", got.Details)
			}
			for f, msgs := range got.DetailsPtBR {
				if len(got.Details[f]) != len(msgs) {
					t.Errorf("%s: English %v, Portuguese %v", f, got.Details[f], msgs)
				}
			}
		})
	}
}
