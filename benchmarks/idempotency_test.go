package benchmarks

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkCreateLeadIdempotent is BenchmarkCreateLead with a new
// Idempotency-Key on every request: the key's claim, the request, the
// answer kept for a retry and the sweep of the organization's expired keys.
func BenchmarkCreateLeadIdempotent(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			a := start(b, freshDatabase(b, db), validations[0])
			_, key := newOrganization(b, a)
			b.ReportAllocs()
			var body []byte
			n := 0
			report := reportCPUPerOp(b)
			for b.Loop() {
				body = fmt.Appendf(body[:0], createLeadBody, n)
				req := newRequest(http.MethodPost, "/api/v1/leads", key, bytes.NewReader(body))
				req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", n))
				n++
				serve(b, a.Server, req, http.StatusCreated)
			}
			report()
		})
	}
}
