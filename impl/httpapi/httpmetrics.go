package httpapi

import (
	"io"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// httpMetrics counts the requests by route, method and status, and times
// them by route and method, for /metrics. A route is the pattern a request
// matched (/api/v1/leads/:id), never its path, so the series stay as many
// as the routes: a request that matched none counts under "unmatched".
//
// The counters live in a metrics.Set (github.com/VictoriaMetrics/metrics:
// Prometheus' text format without dependencies, a few hundred kilobytes of
// binary); a request finds its own in a map it reads without a lock, and
// creates them once, on its route's first request with that status.
type httpMetrics struct {
	set *metrics.Set

	// series is read without a lock by every request, and replaced
	// (copied, then changed) under mu by a request that needs a series it
	// lacks: a few dozen times in a process's life.
	series atomic.Pointer[httpSeries]
	mu     sync.Mutex
}

type httpSeries struct {
	requests  map[requestSeries]*metrics.Counter
	durations map[durationSeries]*metrics.PrometheusHistogram
}

type requestSeries struct {
	route, method string
	status        int
}

type durationSeries struct{ route, method string }

// requestDurationBuckets are the upper bounds, in seconds, of the
// requests' durations: a read takes well under a millisecond to a few, a
// send waits for its provider up to SEND_TIMEOUT.
var requestDurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func newHTTPMetrics() *httpMetrics {
	m := &httpMetrics{set: metrics.NewSet()}
	m.series.Store(&httpSeries{requests: map[requestSeries]*metrics.Counter{}, durations: map[durationSeries]*metrics.PrometheusHistogram{}})
	return m
}

// observe counts a request that matched route (empty: none) and answered
// status after took.
func (m *httpMetrics) observe(route, method string, status int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	if !knownMethod(method) {
		method = "other"
	}
	rk, dk := requestSeries{route, method, status}, durationSeries{route, method}
	series := m.series.Load()
	c, h := series.requests[rk], series.durations[dk]
	if c == nil || h == nil {
		c, h = m.create(rk, dk)
	}
	c.Inc()
	h.Update(took.Seconds())
}

func (m *httpMetrics) create(rk requestSeries, dk durationSeries) (*metrics.Counter, *metrics.PrometheusHistogram) {
	labels := `route="` + rk.route + `",method="` + rk.method + `"`
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.series.Load()
	c, h := old.requests[rk], old.durations[dk]
	if c != nil && h != nil {
		return c, h // another request made them meanwhile
	}
	next := &httpSeries{requests: maps.Clone(old.requests), durations: maps.Clone(old.durations)}
	if c == nil {
		c = m.set.NewCounter(`iagente_http_requests_total{` + labels + `,status="` + strconv.Itoa(rk.status) + `"}`)
		next.requests[rk] = c
	}
	if h == nil {
		h = m.set.NewPrometheusHistogramExt(`iagente_http_request_duration_seconds{`+labels+`}`, requestDurationBuckets)
		next.durations[dk] = h
	}
	m.series.Store(next)
	return c, h
}

// knownMethod keeps a made-up method out of the series' labels.
func knownMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return true
	}
	return false
}

func (m *httpMetrics) write(w io.Writer) { m.set.WritePrometheus(w) }

func init() {
	// TYPE lines, so that a scraper knows the counters from the gauges.
	metrics.ExposeMetadata(true)
}
