package benchmarks

import (
	"fmt"
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
			createLeads(b, a, key, func(n int) string { return fmt.Sprintf("bench-%d", n) })
		})
	}
}
