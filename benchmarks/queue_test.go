package benchmarks

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// queueBatch is how many deliveries BenchmarkDeliveryQueue claims and
// records at a time: what a quick webhook runs at once with the defaults
// (64 workers, a share of 16 kept free).
const queueBatch = 48

// BenchmarkDeliveryQueue times the store's side of a delivery alone, with no
// HTTP and no dispatcher: a backlog of b.N pending deliveries of one webhook
// (written untimed) is claimed queueBatch at a time and each batch recorded
// as succeeded, one after the other, on one goroutine. ns/op is the wall
// time of a delivery's claim and record. It reports the claim and the
// record per delivery in this process's CPU (on SQLite that includes the
// database's work), and the PostgreSQL cluster's CPU for both together:
// reading the cluster's processes costs more than a batch, so it is read
// around the whole drain. A change to the queue's statements shows here
// without the drain's noise. -cpuprofile covers the backlog's writing too;
// the timed part is under ClaimDeliveries and RecordAttempts.
func BenchmarkDeliveryQueue(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			b.StopTimer()
			s := newWebhookSetup(b, db, false)
			q := s.app.Stores.Queue
			ctx := context.Background()
			meter := newCPUMeter()
			var claimCPU, recordCPU time.Duration
			n := b.N
			for range n {
				s.createLead(b)
			}
			settle(b, s.app, s.dbURL, "deliveries")
			runtime.GC() // the backlog's garbage is not the queue's
			code := int32(204)
			_, db0 := meter.read()
			b.StartTimer()
			for done := 0; done < n; {
				now := time.Now()
				self0 := selfCPU()
				batch, err := q.ClaimDeliveries(ctx, impl.ClaimRequest{
					Worker: "bench", Now: now, LeaseUntil: now.Add(time.Minute),
					PerWebhook: queueBatch + 1, Candidates: 4 * queueBatch,
					Pick: func(cands []impl.ClaimCandidate) []int64 {
						ids := make([]int64, 0, queueBatch)
						for _, c := range cands[:min(len(cands), queueBatch)] {
							ids = append(ids, c.ID)
						}
						return ids
					},
				})
				self1 := selfCPU()
				if err != nil {
					b.Fatalf("claim: %v", err)
				}
				if len(batch) == 0 {
					b.Fatalf("claim: nothing due after %d of %d deliveries", done, n)
				}
				attempts := make([]impl.Attempted, len(batch))
				for i, c := range batch {
					attempts[i] = impl.Attempted{Delivery: c, Record: impl.AttemptRecord{
						DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: now, StatusCode: &code, DurationMS: 1},
						Outcome:         impl.OutcomeSucceeded}}
				}
				self2 := selfCPU()
				if err := q.RecordAttempts(ctx, "bench", attempts, 20); err != nil {
					b.Fatalf("record: %v", err)
				}
				self3 := selfCPU()
				claimCPU += self1 - self0
				recordCPU += self3 - self2
				done += len(batch)
			}
			b.StopTimer()
			_, db1 := meter.read()
			s.checkDelivered(b, n)
			us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
			b.ReportMetric(us(claimCPU), "claim-cpu-µs/delivery")
			b.ReportMetric(us(recordCPU), "record-cpu-µs/delivery")
			if s.app.Stores.DB.Dialect() == sqlstore.Postgres {
				b.ReportMetric(us(db1-db0), "db-cpu-µs/delivery")
			}
		})
	}
}
