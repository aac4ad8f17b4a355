package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/impl/httpapi"
	"github.com/iagente/iagente-sdr/internal/promtext"
)

// exposition is /metrics parsed (promtext.Parse), failing the test on
// anything the format does not allow.
func exposition(t *testing.T, body string) map[string]float64 {
	t.Helper()
	m, err := promtext.Parse(body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	return m
}

// TestRequestMetrics: /metrics counts the requests by route (the pattern,
// never the path), method and status, and times them, in Prometheus' text
// format, beside the Go runtime's and the process's own series.
func TestRequestMetrics(t *testing.T) {
	f := newFixtureWith(t, httpapi.ValidateStrict, nil, nil)
	rec := f.do(t, http.MethodPost, "/api/v1/leads", `{"phone":"5511999990001"}`, f.bearer())
	var lead struct{ ID int64 }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &lead) != nil {
		t.Fatalf("create lead: %d %s", rec.Code, rec.Body)
	}
	for range 2 {
		f.do(t, http.MethodGet, "/api/v1/leads/"+strconv.FormatInt(lead.ID, 10), "", f.bearer())
	}
	f.do(t, http.MethodGet, "/api/v1/leads/987654321", "", f.bearer())         // 404
	f.do(t, http.MethodGet, "/api/v1/leads", "", nil)                          // 401
	f.do(t, http.MethodPost, "/api/v1/leads", `{"phone":"x"}`, f.bearer())     // 422
	f.do(t, http.MethodGet, "/api/v1/no-such-thing/123456789", "", f.bearer()) // no route
	f.do(t, "BREW", "/api/v1/leads", "", f.bearer())                           // no such method
	m := exposition(t, f.do(t, http.MethodGet, "/metrics", "", nil).Body.String())

	for series, want := range map[string]float64{
		`iagente_http_requests_total{route="/api/v1/leads",method="POST",status="201"}`:                  1,
		`iagente_http_requests_total{route="/api/v1/leads",method="POST",status="422"}`:                  1,
		`iagente_http_requests_total{route="/api/v1/leads/:id",method="GET",status="200"}`:               2,
		`iagente_http_requests_total{route="/api/v1/leads/:id",method="GET",status="404"}`:               1,
		`iagente_http_requests_total{route="/api/v1/leads",method="GET",status="401"}`:                   1,
		`iagente_http_request_duration_seconds_count{route="/api/v1/leads/:id",method="GET"}`:            3,
		`iagente_http_request_duration_seconds_bucket{route="/api/v1/leads/:id",method="GET",le="+Inf"}`: 3,
		`iagente_http_request_duration_seconds_count{route="/api/v1/leads",method="POST"}`:               2,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	var unmatched, other float64
	for series, v := range m {
		if strings.Contains(series, "987654321") || strings.Contains(series, "123456789") || strings.Contains(series, "BREW") {
			t.Errorf("a path or a method from the request became a label: %s", series)
		}
		if strings.HasPrefix(series, `iagente_http_requests_total{route="unmatched"`) {
			unmatched += v
		}
		if strings.HasPrefix(series, "iagente_http_requests_total{") && strings.Contains(series, `method="other"`) {
			other += v
		}
	}
	if unmatched < 1 || other != 1 {
		t.Errorf("requests without a route: %v, with an unknown method: %v; want at least 1 and 1", unmatched, other)
	}
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes", "iagente_response_validation_failures_total"} {
		if _, ok := m[series]; !ok {
			t.Errorf("no %s in /metrics", series)
		}
	}
}
