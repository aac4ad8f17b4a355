package contract_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/contract"
	"github.com/iagente/iagente-sdr/internal/race"
)

// The Validator must answer exactly what openapi3filter answers with the
// same options, on every operation's examples and on mutations of them
// (each member removed, given the wrong type, null, an unknown member
// added, at every depth): it reads the body once and leaves out the
// request/response direction, nothing else.
func TestValidatorAgreesWithOpenapi3filter(t *testing.T) {
	doc, router := leadsSpec(t)
	v := contract.NewValidator(doc)
	checked, refused, unions := 0, 0, 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			if mt == nil {
				continue
			}
			target := "/api/v1" + strings.NewReplacer("{id}", "1", "{webhook_id}", "1", "{delivery_id}", "1").Replace(path)
			for _, example := range examplesOf(mt) {
				for _, body := range mutations(example) {
					data, err := json.Marshal(body)
					if err != nil {
						t.Fatal(err)
					}
					want := fullPath(t, router, method, target, data)
					got, value := viaValidator(t, v, router, method, target, data)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s %s %s:\nValidator:       %+v\nopenapi3filter:  %+v", method, target, data, got, want)
					}
					if got == nil {
						// What the handler binds is the body as sent: its
						// JSON when the body is a oneOf or an anyOf (the
						// generated union keeps JSON; no ValidatedValue),
						// else its value.
						if raw, isRaw := value.(json.RawMessage); isRaw != (len(mt.Schema.Value.OneOf)+len(mt.Schema.Value.AnyOf) > 0) {
							t.Fatalf("%s %s %s: validated value of type %T", method, target, data, value)
						} else if isRaw {
							if !bytes.Equal(raw, data) {
								t.Fatalf("%s %s %s: validated JSON %s", method, target, data, raw)
							}
							unions++
						} else if sent := decodeSent(t, data); !reflect.DeepEqual(value, sent) {
							t.Fatalf("%s %s %s: validated value %v", method, target, data, value)
						}
					} else {
						refused++
					}
					checked++
				}
			}
		}
	}
	if unions == 0 {
		t.Fatal("no valid oneOf or anyOf body was compared")
	}
	if checked < 200 || refused < checked/2 {
		t.Fatalf("%d bodies compared, %d refused: the corpus is too thin to mean anything", checked, refused)
	}
	t.Logf("%d bodies compared, %d refused", checked, refused)
}

// Responses: the Validator and openapi3filter agree on every response
// example of the spec and on its mutations.
func TestValidatorResponsesAgreeWithOpenapi3filter(t *testing.T) {
	doc, router := leadsSpec(t)
	v := contract.NewValidator(doc)
	checked, violations := 0, 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			target := "/api/v1" + strings.NewReplacer("{id}", "1", "{webhook_id}", "1", "{delivery_id}", "1").Replace(path)
			for code, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				mt := resp.Value.Content.Get("application/json")
				if mt == nil {
					continue
				}
				status := 200
				fmt.Sscan(code, &status)
				for _, example := range examplesOf(mt) {
					for i, body := range mutations(example) {
						if race.Enabled && i%10 != 0 {
							continue // a tenth of them under the race detector (internal/race)
						}
						data, _ := json.Marshal(body)
						if compareResponse(t, v, router, method, target, status, http.Header{"Content-Type": {"application/json"}}, data) {
							violations++
						}
						checked++
					}
				}
			}
		}
	}
	if checked < race.Sample(200) || violations < checked/3 {
		t.Fatalf("%d responses compared, %d violations: the corpus is too thin", checked, violations)
	}
	t.Logf("%d responses compared, %d violations", checked, violations)
}

// A spec that has readOnly properties keeps kin-openapi's direction: the
// Validator refuses a readOnly member in a request, as openapi3filter does.
func TestValidatorKeepsReadOnly(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(`
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /things:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                id: {type: integer, readOnly: true}
                name: {type: string}
      responses:
        '201': {description: created}
`))
	if err != nil {
		t.Fatal(err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	v := contract.NewValidator(doc)
	for body, wantErr := range map[string]bool{`{"name":"a"}`: false, `{"id":1,"name":"a"}`: true} {
		req := httptest.NewRequest("POST", "/things", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		verdict := v.Request(context.Background(), &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route})
		if (verdict.Err != nil) != wantErr {
			t.Errorf("%s: %v, want an error: %v", body, verdict.Err, wantErr)
		}
	}
}

// fullPath is openapi3filter's own verdict on a request, as RequestError
// answers it; nil when valid. Defaults are not written into the body, as
// the Validator does not (see its documentation).
func fullPath(t *testing.T, router routers.Router, method, target string, data []byte) *impl.Error {
	t.Helper()
	req := newRequest(method, target, "application/json", string(data))
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	opts := contract.RequestOptions()
	opts.SkipSettingDefaults = true
	err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route, Options: opts,
	})
	if err == nil {
		return nil
	}
	return translate(t, err)
}

// decodeSent is data decoded as the Validator decodes a body.
func decodeSent(t *testing.T, data []byte) any {
	t.Helper()
	var sent any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&sent); err != nil {
		t.Fatal(err)
	}
	return sent
}

// viaValidator is the Validator's verdict on the same request, and the
// value it leaves for the handler.
func viaValidator(t *testing.T, v *contract.Validator, router routers.Router, method, target string, data []byte) (*impl.Error, any) {
	t.Helper()
	req := newRequest(method, target, "application/json", string(data))
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	verdict := v.Request(context.Background(), &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route})
	switch {
	case verdict.Unreadable != nil:
		t.Fatalf("%s %s: unreadable: %v", method, data, verdict.Unreadable)
	case verdict.Err != nil:
		return translate(t, verdict.Err), nil
	}
	sent, ok := req.Body.(contract.ValidatedBytes)
	if !ok || !bytes.Equal(sent.ValidatedBytes(), data) {
		t.Fatalf("%s %s: the body does not carry the bytes sent", method, data)
	}
	if vb, ok := req.Body.(interface{ ValidatedValue() any }); ok {
		return nil, vb.ValidatedValue()
	}
	return nil, json.RawMessage(sent.ValidatedBytes()) // bound as sent
}

// schemaErrorText is an error's text without what the two paths word
// differently around the same schema errors.
func schemaErrorText(err error) string {
	var re *openapi3filter.ResponseError
	if errors.As(err, &re) {
		if re.Err != nil {
			return re.Err.Error()
		}
		return re.Reason
	}
	return err.Error()
}

// examplesOf lists a media type's example values.
func examplesOf(mt *openapi3.MediaType) []any {
	var out []any
	if mt.Example != nil {
		out = append(out, mt.Example)
	}
	names := make([]string, 0, len(mt.Examples))
	for name := range mt.Examples {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if ex := mt.Examples[name]; ex != nil && ex.Value != nil {
			out = append(out, ex.Value.Value)
		}
	}
	if len(out) == 0 && mt.Schema != nil && mt.Schema.Value != nil && mt.Schema.Value.Example != nil {
		out = append(out, mt.Schema.Value.Example)
	}
	return out
}

// mutations is the value itself, then for each member of each object in it
// (at any depth, through arrays): the value without the member, with it
// null, a number, a string, an object, and with an unknown member added.
func mutations(value any) []any {
	out := []any{value}
	var walk func(path []any)
	walk = func(path []any) {
		node := at(value, path)
		switch n := node.(type) {
		case map[string]any:
			out = append(out, replaced(value, path, withMember(n, "zz_unknown", 1)))
			keys := make([]string, 0, len(n))
			for k := range n {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				out = append(out, replaced(value, path, withoutMember(n, k)))
				for _, wrong := range []any{nil, 12345, "x\u00e9", map[string]any{}} {
					out = append(out, replaced(value, path, withMember(n, k, wrong)))
				}
				walk(append(append([]any{}, path...), k))
			}
		case []any:
			for i := range n {
				walk(append(append([]any{}, path...), i))
			}
		}
	}
	walk(nil)
	return out
}

func at(v any, path []any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// replaced is a deep copy of v with the node at path replaced.
func replaced(v any, path []any, node any) any {
	if len(path) == 0 {
		return node
	}
	switch c := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, e := range c {
			m[k] = e
		}
		k := path[0].(string)
		m[k] = replaced(c[k], path[1:], node)
		return m
	case []any:
		a := append([]any{}, c...)
		i := path[0].(int)
		a[i] = replaced(c[i], path[1:], node)
		return a
	}
	return v
}

func withMember(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for key, e := range m {
		out[key] = e
	}
	out[k] = v
	return out
}

func withoutMember(m map[string]any, k string) map[string]any {
	out := make(map[string]any, len(m))
	for key, e := range m {
		if key != k {
			out[key] = e
		}
	}
	return out
}

// Response heads: the Validator (which judges simple headers itself) and
// openapi3filter agree on every declared response's headers, valid, left
// out, empty, malformed, out of range or repeated.
func TestValidatorResponseHeadersAgreeWithOpenapi3filter(t *testing.T) {
	doc, router := leadsSpec(t)
	v := contract.NewValidator(doc)
	checked, violations := 0, 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			target := "/api/v1" + strings.NewReplacer("{id}", "1", "{webhook_id}", "1", "{delivery_id}", "1").Replace(path)
			for code, resp := range op.Responses.Map() {
				if resp.Value == nil || len(resp.Value.Headers) == 0 {
					continue
				}
				status := 200
				fmt.Sscan(code, &status)
				body := []byte("{}")
				if mt := resp.Value.Content.Get("application/json"); mt != nil {
					if examples := examplesOf(mt); len(examples) > 0 {
						body, _ = json.Marshal(examples[0])
					}
				}
				valid := http.Header{"Content-Type": {"application/json"}}
				for name, h := range resp.Value.Headers {
					value := "5"
					if s := h.Value.Schema.Value; s.Type.Is("string") {
						value = "x"
						if len(s.Enum) > 0 {
							value = fmt.Sprint(s.Enum[0])
						}
						if s.Pattern != "" {
							value = `"x"` // an entity tag, the one string header with a pattern
						}
					}
					valid.Set(name, value)
				}
				heads := []http.Header{valid}
				for name := range resp.Value.Headers {
					for _, bad := range [][]string{nil, {}, {""}, {"abc"}, {"-1"}, {"0"}, {"1.5"}, {" 5"}, {"+5"}, {"99999999999999999999"}, {"5", "x"}, {"x", "5"},
						{`"abc"`}, {`W/"abc"`}, {`""`}, {`"a b"`}, {`"abc`}, {`"abc"x`}} {
						h := valid.Clone()
						if bad == nil {
							h.Del(name)
						} else {
							h[http.CanonicalHeaderKey(name)] = bad
						}
						heads = append(heads, h)
					}
				}
				for _, header := range heads {
					if compareResponse(t, v, router, method, target, status, header, body) {
						violations++
					}
					checked++
				}
			}
		}
	}
	if checked < 500 || violations < checked/3 || violations == checked {
		t.Fatalf("%d response heads compared, %d violations: the corpus proves little", checked, violations)
	}
	t.Logf("%d response heads compared, %d violations", checked, violations)
}

// compareResponse validates one response both ways, the Validator's and
// openapi3filter's with the same options, fails the test when their
// verdicts differ, and reports whether the response was refused.
func compareResponse(t *testing.T, v *contract.Validator, router routers.Router, method, target string, status int, header http.Header, body []byte) bool {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	input := func() *openapi3filter.ResponseValidationInput {
		return &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: contract.RequestOptions()},
			Status:                 status, Header: header,
		}
	}
	full := input()
	full.Body, full.Options = io.NopCloser(bytes.NewReader(body)), contract.ResponseOptions()
	want := openapi3filter.ValidateResponse(context.Background(), full)
	got := v.Response(context.Background(), input(), body)
	if (got == nil) != (want == nil) || (got != nil && schemaErrorText(got) != schemaErrorText(want)) {
		t.Fatalf("%s %s %d %v %s:\nValidator:      %v\nopenapi3filter: %v", method, target, status, header, body, got, want)
	}
	return got != nil
}

// Requests without a body: the Validator's verdict on path parameters
// (which it checks itself when they are plain, see paramsOK) is
// openapi3filter's, for every operation of the spec and for values that
// are valid, out of range, of the wrong size or not numbers at all.
func TestValidatorParamsAgreeWithOpenapi3filter(t *testing.T) {
	doc, router := leadsSpec(t)
	v := contract.NewValidator(doc)
	values := []string{"1", "123", "0", "-1", "01", "+1", "1.0", "1e3", "%201", "2147483648",
		"9223372036854775807", "9223372036854775808", "abc", "%20", "msg_1", "x%2Fy"}
	checked, refused := 0, 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil || !strings.Contains(path, "{") {
				continue
			}
			// The optional conditional headers (If-Match, If-None-Match),
			// left out, well-formed and malformed.
			for i, value := range values {
				target := "/api/v1" + regexp.MustCompile(`\{[a-z_]+\}`).ReplaceAllString(path, value)
				tag := []string{"", `"abc"`, `abc`}[i%3]
				req := newRequest(method, target, "", "")
				route, params, err := router.FindRoute(req)
				if err != nil {
					continue // not a path of the spec with this value
				}
				withTag := func(r *http.Request) *http.Request {
					if tag != "" {
						r.Header.Set("If-Match", tag)
						r.Header.Set("If-None-Match", tag)
					}
					return r
				}
				opts := contract.RequestOptions()
				want := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
					Request: withTag(req), PathParams: params, Route: route, Options: opts})
				req = withTag(newRequest(method, target, "", ""))
				route, params, _ = router.FindRoute(req)
				got := v.Request(context.Background(), &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route})
				if got.Unreadable != nil || (got.Err == nil) != (want == nil) {
					t.Fatalf("%s %s: Validator %v, openapi3filter %v", method, target, got.Err, want)
				}
				if want != nil {
					if g, w := translate(t, got.Err), translate(t, want); !reflect.DeepEqual(g, w) {
						t.Fatalf("%s %s:\nValidator:      %+v\nopenapi3filter: %+v", method, target, g, w)
					}
					refused++
				}
				checked++
			}
		}
	}
	if checked < 100 || refused < checked/3 || refused == checked {
		t.Fatalf("%d requests compared, %d refused: the corpus is too thin", checked, refused)
	}
	t.Logf("%d requests compared, %d refused", checked, refused)
}
