package benchmarks

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/iagente/iagente-sdr/impl"
)

// BenchmarkConcurrentReads: GET /leads/{id} and GET /messages/{id} from 32
// goroutines at once (as the loadtest's 32 connections, without the HTTP
// transport), each walking its own order through 500 leads or messages of
// one organization, with validation on; and pages of GET /leads
// (lead-pages), by the default order and by a temperature's score, and of
// GET /messages (message-pages), all and by status. On PostgreSQL the
// single reads that arrive together go to the database together, and the
// pages run on prepared statements; the CPU a request costs the process
// and the cluster shows what each saves.
func BenchmarkConcurrentReads(b *testing.B) {
	n := sized(500, 50)
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			ctx := context.Background()
			dbURL := freshDatabase(b, db)
			a := start(b, dbURL, validations[0])
			org, key := newOrganization(b, a)
			seedLeads(b, a, org.ID, n)
			in := &impl.Integration{OrganizationID: org.ID, Name: "bench", Channel: impl.ChannelWhatsApp, Provider: impl.ProviderSandbox, Active: true}
			if err := a.Stores.Integrations.CreateIntegration(ctx, in); err != nil {
				b.Fatal(err)
			}
			dialect := a.Stores.DB.Dialect()
			raw := rawDB(b, dialect, dbURL)
			if _, err := raw.ExecContext(ctx, messageScaleSeed(dialect), org.ID, n, in.ID); err != nil {
				b.Fatal(err)
			}
			settle(b, a, dbURL)
			for _, kind := range []string{"leads", "messages", "lead-pages", "message-pages"} {
				b.Run(kind, func(b *testing.B) {
					var paths []string
					switch kind {
					case "lead-pages":
						// The pages of 25 a CRM walks, by the default order
						// and by a filter's.
						for page := 1; page <= n/25; page++ {
							paths = append(paths, fmt.Sprintf("/api/v1/leads?per_page=25&page=%d", page),
								fmt.Sprintf("/api/v1/leads?per_page=25&page=%d&temperature=%s&sort=-lead_score", page%3+1, seedTemperature(page)))
						}
					case "message-pages":
						// The pages an automation polls: all, and by status.
						for page := 1; page <= n/25; page++ {
							paths = append(paths, fmt.Sprintf("/api/v1/messages?per_page=25&page=%d", page),
								fmt.Sprintf("/api/v1/messages?per_page=25&page=%d&status=%s", page%4+1, []string{"queued", "sent", "delivered", "read", "failed"}[page%5]))
						}
					default:
						for _, id := range int64s(b, raw, fmt.Sprintf(`SELECT id FROM %s WHERE organization_id = %d ORDER BY id`, kind, org.ID)) {
							paths = append(paths, fmt.Sprintf("/api/v1/%s/%d", kind, id))
						}
						if len(paths) != n {
							b.Fatalf("%d %s seeded, want %d", len(paths), kind, n)
						}
					}
					var next, failed atomic.Int64
					b.SetParallelism(16) // 32 goroutines on 2 CPUs
					b.ReportAllocs()
					report := reportCPUPerOp(b)
					b.RunParallel(func(pb *testing.PB) {
						i := int(next.Add(97))
						for pb.Next() {
							i++
							rec := httptest.NewRecorder()
							a.Server.ServeHTTP(rec, newRequest(http.MethodGet, paths[i%len(paths)], key, nil))
							if rec.Code != http.StatusOK && failed.Add(1) == 1 {
								b.Errorf("GET %s: %d %s", paths[i%len(paths)], rec.Code, rec.Body)
							}
						}
					})
					report()
				})
			}
		})
	}
}
