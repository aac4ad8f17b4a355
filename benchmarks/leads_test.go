package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
)

// createLeadBody is the API reference's example with a distinct phone per
// request (11 digits), as the phone is unique within an organization.
const createLeadBody = `{"phone":"11%09d","name":"Maria Santos","email":"maria@empresa.com","company_name":"Tech Corp","deal_value":15000}`

// createLeads is the timed loop of the lead-creating benchmarks: a new lead
// (a new phone) per iteration, each sent with idempotencyKey(n) as its
// Idempotency-Key when that is set, and the CPU per request reported. It
// returns how many leads it created.
func createLeads(b *testing.B, a *app.App, key string, idempotencyKey func(n int) string) int {
	b.ReportAllocs()
	var body []byte
	n := 0
	report := reportCPUPerOp(b)
	for b.Loop() {
		body = fmt.Appendf(body[:0], createLeadBody, n)
		req := newRequest(http.MethodPost, "/api/v1/leads", key, bytes.NewReader(body))
		if idempotencyKey != nil {
			req.Header.Set("Idempotency-Key", idempotencyKey(n))
		}
		n++
		serve(b, a.Server, req, http.StatusCreated)
	}
	report()
	return n
}

// BenchmarkCreateLead is POST /leads through the whole stack into an empty
// database, with validation on and off. Each setting gets its own database so
// that neither starts on a table the other has filled.
func BenchmarkCreateLead(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			for _, v := range validations {
				b.Run(v.name, func(b *testing.B) {
					a := start(b, freshDatabase(b, db), v)
					org, key := newOrganization(b, a)
					n := createLeads(b, a, key, nil)
					// Not timed: every request stored exactly one lead.
					page, err := a.Stores.Leads.FindLeads(context.Background(), org.ID, impl.LeadFilter{Limit: 1})
					if err != nil {
						b.Fatal(err)
					}
					if page.Total != int64(n) {
						b.Fatalf("%d leads stored after %d requests", page.Total, n)
					}
				})
			}
		})
	}
}

// BenchmarkGetLead is GET /leads/{id} of one lead, with validation on and off.
// The database work (the key lookup and one primary-key read) is the same in
// both, so the difference is what validating the request and the response
// costs.
func BenchmarkGetLead(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			dbURL := freshDatabase(b, db)
			a := start(b, dbURL, validations[0])
			org, key := newOrganization(b, a)
			seedLeads(b, a, org.ID, 1)
			page, err := a.Stores.Leads.FindLeads(context.Background(), org.ID, impl.LeadFilter{Limit: 1})
			if err != nil || len(page.Leads) != 1 {
				b.Fatalf("find the seeded lead: %v", err)
			}
			target := fmt.Sprintf("/api/v1/leads/%d", page.Leads[0].ID)
			for _, v := range validations {
				b.Run(v.name, func(b *testing.B) {
					a := start(b, dbURL, v)
					b.ReportAllocs()
					report := reportCPUPerOp(b)
					for b.Loop() {
						serve(b, a.Server, newRequest(http.MethodGet, target, key, nil), http.StatusOK)
					}
					report()
				})
			}
		})
	}
}

// listSeedSize is how many leads BenchmarkListLeads lists from.
const listSeedSize = 10000

// BenchmarkListLeads is GET /leads with one filter on an organization of
// 10,000 leads (a tenth of them hot), 25 per page, with validation on and
// off, and with validation on for a poller whose If-None-Match names the
// page (304).
// The leads are seeded once per database, through the store, and the
// database is then settled (see settle).
func BenchmarkListLeads(b *testing.B) {
	filters := []struct {
		name  string
		query url.Values
		// total is how many leads match, checked once before timing.
		total int64
	}{
		{"filter=temperature", url.Values{"temperature": {"hot"}, "per_page": {"25"}}, listSeedSize / 10},
		{"filter=email", url.Values{"email": {seedEmail(listSeedSize / 2)}, "per_page": {"25"}}, 1},
	}
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			dbURL := freshDatabase(b, db)
			seeder := start(b, dbURL, validations[0])
			org, key := newOrganization(b, seeder)
			seedLeads(b, seeder, org.ID, listSeedSize)
			settle(b, seeder, dbURL)
			for _, f := range filters {
				b.Run(f.name, func(b *testing.B) {
					target := "/api/v1/leads?" + f.query.Encode()
					for _, v := range validations {
						b.Run(v.name, func(b *testing.B) {
							a := start(b, dbURL, v)
							rec := serve(b, a.Server, newRequest(http.MethodGet, target, key, nil), http.StatusOK)
							total, page := listTotal(b, rec)
							if total != f.total || page != int(min(f.total, 25)) {
								b.Fatalf("GET %s: total %d and %d on the page, want %d", target, total, page, f.total)
							}
							b.ReportAllocs()
							for b.Loop() {
								serve(b, a.Server, newRequest(http.MethodGet, target, key, nil), http.StatusOK)
							}
						})
					}
					// A poller's request while the page is the same: the
					// query runs, the page is encoded and digested, and the
					// answer is a 304 without a body to validate or send.
					b.Run("validation=on/unchanged", func(b *testing.B) {
						a := start(b, dbURL, validations[0])
						tag := serve(b, a.Server, newRequest(http.MethodGet, target, key, nil), http.StatusOK).Header().Get("ETag")
						b.ReportAllocs()
						for b.Loop() {
							req := newRequest(http.MethodGet, target, key, nil)
							req.Header.Set("If-None-Match", tag)
							serve(b, a.Server, req, http.StatusNotModified)
						}
					})
				})
			}
		})
	}
}

// BenchmarkCreateLeadConcurrent is POST /leads from 16 writers at once
// (validation off), into one organization and, as the anchor, into one
// organization per writer, in the same database. Writes of different
// organizations share nothing but the database; writes of one organization
// also share its lead counters (meta.total), so the ratio of the two shows
// what that sharing costs a CRM that syncs with several writers.
// Reports leads/s; compare the two sub-benchmarks of one run.
func BenchmarkCreateLeadConcurrent(b *testing.B) {
	const writers = 16
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			a := start(b, freshDatabase(b, db), validations[1])
			var keys [writers]string
			_, shared := newOrganization(b, a)
			for i := range keys {
				_, keys[i] = newOrganization(b, a)
			}
			var n atomic.Int64
			for _, mode := range []string{"one-organization", "organization-per-writer"} {
				b.Run(mode, func(b *testing.B) {
					var writer atomic.Int64
					b.SetParallelism(writers / runtime.GOMAXPROCS(0))
					start := time.Now()
					b.RunParallel(func(pb *testing.PB) {
						key := shared
						if mode != "one-organization" {
							key = keys[int(writer.Add(1)-1)%writers]
						}
						var body []byte
						for pb.Next() {
							body = fmt.Appendf(body[:0], createLeadBody, n.Add(1))
							rec := httptest.NewRecorder()
							a.Server.ServeHTTP(rec, newRequest(http.MethodPost, "/api/v1/leads", key, bytes.NewReader(body)))
							if rec.Code != http.StatusCreated {
								b.Errorf("POST /leads: status %d: %s", rec.Code, rec.Body.String())
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "leads/s")
				})
			}
		})
	}
}

// BenchmarkUpdateLead is PATCH /leads/{id} (a new score) through the whole
// stack, in an organization of 1,000 leads where this process holds no
// deep-page marks, and in one where it does (a page past the 500th lead
// was read): there the update also reads what it added to the lead
// counters, for the marks to follow it (impl/sqlstore/followmarks.go).
// What that costs a write is the ratio of the two.
func BenchmarkUpdateLead(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			a := start(b, freshDatabase(b, db), validations[0])
			for _, marks := range []string{"none", "held"} {
				org, key := newOrganization(b, a)
				seedLeads(b, a, org.ID, 1000)
				page, err := a.Stores.Leads.FindLeads(context.Background(), org.ID, impl.LeadFilter{Sort: "lead_score", Offset: 600, Limit: 1})
				if err != nil || len(page.Leads) != 1 {
					b.Fatalf("find a lead: %v", err)
				}
				if marks == "held" {
					for _, sort := range []string{"lead_score", "-updated_at", "name"} {
						serve(b, a.Server, newRequest(http.MethodGet, "/api/v1/leads?sort="+sort+"&page=30", key, nil), http.StatusOK)
					}
				}
				target := fmt.Sprintf("/api/v1/leads/%d", page.Leads[0].ID)
				b.Run("marks="+marks, func(b *testing.B) {
					b.ReportAllocs()
					report := reportCPUPerOp(b)
					n := 0
					for b.Loop() {
						n++
						req := newRequest(http.MethodPatch, target, key, bytes.NewReader(fmt.Appendf(nil, `{"lead_score":%d}`, n%100)))
						serve(b, a.Server, req, http.StatusOK)
					}
					report()
				})
			}
		})
	}
}
