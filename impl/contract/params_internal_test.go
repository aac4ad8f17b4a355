package contract

import (
	"context"
	"net/http/httptest"
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

// BenchmarkRequestGetLead is the Validator's verdict on GET /leads/{id}.
func BenchmarkRequestGetLead(b *testing.B) {
	v, router := specValidator(b)
	req := httptest.NewRequest("GET", "/api/v1/leads/123", nil)
	route, params, err := router.FindRoute(req)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		input := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
		if verdict := v.Request(context.Background(), input); verdict.Err != nil {
			b.Fatal(verdict.Err)
		}
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
