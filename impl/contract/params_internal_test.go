package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/iagente/iagente-sdr/gen/api"
)

// GET /leads/{id} takes paramsOK's way (a plain int64 with a minimum), and
// its verdicts are the ones the spec gives: a lead id of 0 or one past
// int64 is left to openapi3filter.
func TestParamsOKTakesTheLeadsID(t *testing.T) {
	v, router := specValidator(t)
	for target, want := range map[string]bool{"/api/v1/leads/1": true, "/api/v1/leads/9223372036854775807": true,
		"/api/v1/leads/0": false, "/api/v1/leads/9223372036854775808": false, "/api/v1/leads/01x": false} {
		req := httptest.NewRequest("GET", target, nil)
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		input := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
		if !v.paramPlanOf(route).simple {
			t.Fatalf("GET /leads/{id}: no plan of its own")
		}
		if got := v.paramsOK(input); got != want {
			t.Errorf("%s: paramsOK %v, want %v", target, got, want)
		}
		if verdict := v.Request(context.Background(), input); (verdict.Err == nil) != want {
			t.Errorf("%s: verdict %v", target, verdict.Err)
		}
	}
	// A request that sends the optional If-None-Match has it checked
	// against the header's pattern, as openapi3filter would: a malformed
	// one is openapi3filter's to word.
	for value, valid := range map[string]bool{`"abc"`: true, `W/"abc"`: true, `abc`: false, `"a`: false} {
		req := httptest.NewRequest("GET", "/api/v1/leads/1", nil)
		req.Header.Set("If-None-Match", value)
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		input := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
		if v.paramsOK(input) != valid {
			t.Errorf("If-None-Match: %s: paramsOK %v, want %v", value, !valid, valid)
		}
		if verdict := v.Request(context.Background(), input); (verdict.Err == nil) != valid {
			t.Errorf("If-None-Match: %s: verdict %v", value, verdict.Err)
		}
	}
	// A list's query parameters are openapi3filter's.
	req := httptest.NewRequest("GET", "/api/v1/leads?temperature=hot", nil)
	route, _, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	if v.paramPlanOf(route).simple {
		t.Errorf("GET /leads: a plan of its own despite its query parameters")
	}
}

// BenchmarkRequestGetLead is the Validator's verdict on GET /leads/{id},
// plain and conditional (If-None-Match, as a client polling with the
// lead's ETag sends it).
func BenchmarkRequestGetLead(b *testing.B) {
	v, router := specValidator(b)
	for _, tag := range []string{"", `"l123-5f2b9c1e"`} {
		name := "plain"
		req := httptest.NewRequest("GET", "/api/v1/leads/123", nil)
		if tag != "" {
			name = "if-none-match"
			req.Header.Set("If-None-Match", tag)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				input := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
				if verdict := v.Request(context.Background(), input); verdict.Err != nil {
					b.Fatal(verdict.Err)
				}
			}
		})
	}
}

// specValidator is a Validator of the embedded spec, served under /api/v1,
// and its router.
func specValidator(tb testing.TB) (*Validator, routers.Router) {
	tb.Helper()
	doc, err := api.GetSpec()
	if err != nil {
		tb.Fatal(err)
	}
	spec := *doc
	spec.Servers = openapi3.Servers{{URL: "/api/v1"}}
	router, err := gorillamux.NewRouter(&spec)
	if err != nil {
		tb.Fatal(err)
	}
	return NewValidator(&spec), router
}

// BenchmarkResponse is the Validator's verdict on a lead's 200 and on a
// 10-card carousel's 201, with the walk (walk=on) and with the decode and
// full visit it saves (walk=off).
func BenchmarkResponse(b *testing.B) {
	v, router := specValidator(b)
	var cards []string
	for i := range 10 {
		cards = append(cards, fmt.Sprintf(`{"title":"Produto %d","description":"Uma descricao do produto numero %d, com detalhes.","media":{"url":"https://cdn.empresa.com/img/%d.png","height":"MEDIUM"},"suggestions":[{"type":"url","text":"Ver","url":"https://empresa.com/p/%d"},{"type":"reply","text":"Quero","payload":"want-%d"}]}`, i, i, i, i, i))
	}
	carousel := `{"id":4521,"integration_id":1,"channel":"rcs","direction":"outbound","type":"carousel","status":"sent","lead_id":123,"phone":"5511999999999",` +
		`"content":{"type":"carousel","card_width":"MEDIUM","cards":[` + strings.Join(cards, ",") + `]},` +
		`"provider_message_id":"abc","error":null,"error_code":null,"error_title":null,"sent_at":"2026-03-13T14:02:11Z","delivered_at":null,"read_at":null,"failed_at":null,"created_at":"2026-03-13T14:02:11Z","updated_at":"2026-03-13T14:02:11Z"}`
	rate := http.Header{"Content-Type": {"application/json"}, "X-Ratelimit-Limit": {"60"},
		"X-Ratelimit-Remaining": {"59"}, "X-Ratelimit-Reset": {"1767225600"}}
	sent := rate.Clone()
	sent.Set("Location", "/api/v1/rcs/messages/4521")
	lead := rate.Clone()
	lead.Set("ETag", `"l123-5f2b9c1e"`)
	for _, c := range []struct {
		name, method, target string
		status               int
		header               http.Header
		body                 string
	}{
		{"lead", "GET", "/api/v1/leads/123", 200, lead, `{"id":123,"phone":"5511999999999","name":"Maria Santos","email":"maria@empresa.com","company_name":"Tech Solutions","temperature":"hot","lead_score":85,"deal_value":15000.5,"created_at":"2026-03-13T14:02:11Z","updated_at":"2026-03-14T09:30:00Z"}`},
		{"carousel", "POST", "/api/v1/rcs/messages", 201, sent, carousel},
	} {
		req := httptest.NewRequest(c.method, c.target, nil)
		route, params, err := router.FindRoute(req)
		if err != nil {
			b.Fatal(err)
		}
		for _, walks := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/walk=%v", c.name, walks), func(b *testing.B) {
				v.walks = walks
				b.ReportAllocs()
				for b.Loop() {
					input := &openapi3filter.ResponseValidationInput{
						RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
						Status:                 c.status, Header: c.header,
					}
					if err := v.Response(context.Background(), input, []byte(c.body)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRequestCarousel is the Validator's verdict on the spec's
// carousel example for POST /rcs/messages, its cards repeated up to 10,
// with the walk of the decoded body (walk=true) and with kin-openapi's
// visit alone (false).
func BenchmarkRequestCarousel(b *testing.B) {
	v, router := specValidator(b)
	probe := httptest.NewRequest("POST", "/api/v1/rcs/messages", nil)
	route, params, err := router.FindRoute(probe)
	if err != nil {
		b.Fatal(err)
	}
	example := route.Operation.RequestBody.Value.Content.Get("application/json").Examples["carousel"].Value.Value.(map[string]any)
	cards := append([]any{}, example["cards"].([]any)...)
	for len(cards) < 10 {
		cards = append(cards, cards[len(cards)%2])
	}
	body, err := json.Marshal(map[string]any{"phone": example["phone"], "type": "carousel", "cards": cards})
	if err != nil {
		b.Fatal(err)
	}
	for _, walks := range []bool{true, false} {
		b.Run(fmt.Sprintf("walk=%v", walks), func(b *testing.B) {
			v.walks = walks
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/api/v1/rcs/messages", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				input := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
				if verdict := v.Request(context.Background(), input); verdict.Err != nil || verdict.Unreadable != nil {
					b.Fatal(verdict.Err, verdict.Unreadable)
				}
			}
		})
	}
}

// For an operation that takes a body, onlyParamsOK passes only parameters
// openapi3filter passes too, its body aside: every operation with a body,
// the path values of TestValidatorParamsAgreeWithOpenapi3filter, with
// optional headers left out, well-formed and malformed (Idempotency-Key's
// length and pattern, If-Match's pattern). And it takes its way for the
// common requests: a lead's PATCH with a plain id, POST /leads with or
// without an Idempotency-Key.
func TestOnlyParamsOKAgreesWithOpenapi3filterOnBodyOperations(t *testing.T) {
	v, router := specValidator(t)
	doc, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	paramsOnly := RequestOptions()
	paramsOnly.ExcludeRequestBody = true
	values := []string{"1", "123", "0", "-1", "01", "+1", "1.0", "1e3", "%201", "2147483648",
		"9223372036854775807", "9223372036854775808", "abc", "%20", "msg_1", "x%2Fy"}
	keys := []string{"k-1", "4f9c1e2a-8b7d-4c55-9e61-2d7f0a3b5c11", "", " bad ", "bad key", "chave-ção", "a\tb",
		strings.Repeat("a", 255), strings.Repeat("a", 256), "~!", `"x"`}
	tags := []string{`"abc"`, `W/"abc"`, `abc`, `*`, `"a", "b"`, "", `"`}
	var headers []map[string]string
	headers = append(headers, nil)
	for i, key := range keys {
		headers = append(headers, map[string]string{"Idempotency-Key": key}, map[string]string{"Idempotency-Key": key, "If-Match": tags[i%len(tags)]})
	}
	for _, tag := range tags {
		headers = append(headers, map[string]string{"If-Match": tag})
	}
	passed, passedWithHeaders, compared := 0, 0, 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil {
				continue
			}
			for i, value := range values {
				for j, sent := range headers {
					if i%4 != 0 && j%5 != i%5 {
						continue // every header set with the plain ids, a fifth of them with the others
					}
					target := "/api/v1" + strings.NewReplacer("{id}", value, "{webhook_id}", value, "{delivery_id}", value).Replace(path)
					req := httptest.NewRequest(method, target, http.NoBody)
					for name, h := range sent {
						req.Header[name] = []string{h}
					}
					route, params, err := router.FindRoute(req)
					if err != nil {
						continue
					}
					input := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
					fast := v.onlyParamsOK(input)
					want := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
						Request: req, PathParams: params, Route: route, Options: paramsOnly})
					if fast && want != nil {
						t.Errorf("%s %s %v: onlyParamsOK passed what openapi3filter refuses: %v", method, target, req.Header, want)
					}
					compared++
					if fast {
						passed++
						if len(sent) > 0 {
							passedWithHeaders++
						}
					}
				}
			}
		}
	}
	t.Logf("%d requests compared, %d passed by onlyParamsOK (%d sending an optional header)", compared, passed, passedWithHeaders)
	if compared < 500 || passed == 0 || passedWithHeaders == 0 {
		t.Fatalf("%d requests compared, %d passed by onlyParamsOK: the corpus is too thin", compared, passed)
	}
	for _, c := range []struct {
		method, target, key string
		want                bool
	}{
		{"PATCH", "/api/v1/leads/123", "", true},
		{"POST", "/api/v1/leads", "", true},
		{"POST", "/api/v1/leads", "k-1", true},
		{"POST", "/api/v1/leads", "chave-ção", false},
		{"PATCH", "/api/v1/leads/abc", "", false},
	} {
		req := httptest.NewRequest(c.method, c.target, http.NoBody)
		if c.key != "" {
			req.Header.Set("Idempotency-Key", c.key)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.onlyParamsOK(&openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}); got != c.want {
			t.Errorf("%s %s (Idempotency-Key %q): onlyParamsOK %v, want %v", c.method, c.target, c.key, got, c.want)
		}
	}
}
