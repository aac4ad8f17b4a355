package httpapi

import (
	"testing"
	"time"
)

// BenchmarkHTTPMetricsObserve is what /metrics' counting adds to every
// request: a read-locked map lookup, a counter and a histogram update.
func BenchmarkHTTPMetricsObserve(b *testing.B) {
	m := newHTTPMetrics()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.observe("/api/v1/leads/:id", "GET", 200, 850*time.Microsecond)
		}
	})
}
