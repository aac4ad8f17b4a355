package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
)

// BenchmarkValidationCost is what validating requests and responses adds to
// a request, as the ratio of validation on to validation off, with the two
// settings interleaved in one run: two services on one database, one with
// validation on and one with it off, serve the same requests in alternate
// blocks, and each setting's CPU time (this process's, and the throwaway
// PostgreSQL cluster's when there is one) and wall time are summed over
// its blocks.
//
// GetLead, CreateLead and SendRCSCarousel time on and off a second or more
// apart, and on these shared machines the host's speed moves by more than
// validation costs between the two: six runs of one binary gave GetLead
// ratios of 1.05 to 1.32. Blocks of a few dozen milliseconds leave such
// drift in both settings alike. The collector's work is not kept to the
// block whose garbage started it: a cycle that runs across a block's end
// is partly counted to the other setting, which pulls the ratio toward 1
// by part of the collector's share of the difference; a GetLead block
// spans about two cycles, so most of them end where they began.
//
// A burst of the host's other work (or the cluster's checkpoint) within a
// few blocks weighs on the sums in full. on/off-cpu-median is steadier
// against it: each on block's CPU over that of the off block that follows
// it, the median of those ratios.
//
// b.N is the number of requests, half of them with each setting.
// Reports: on/off-cpu, on/off-cpu-median and on/off-time, and each
// setting's cpu-µs/op.
func BenchmarkValidationCost(b *testing.B) {
	carousel := carouselBody(b)
	cases := []struct {
		name  string
		block int // requests a setting serves before the other's turn
		// prepare readies the database (through a, with validation on)
		// and returns the request of the n-th iteration and its status.
		prepare func(b *testing.B, a *app.App, orgID int64, key string) func(n int) (*http.Request, int)
		// check runs once after the loop, on what n requests stored.
		check func(b *testing.B, a *app.App, orgID int64, n int)
	}{
		{
			name: "GetLead", block: 500,
			prepare: func(b *testing.B, a *app.App, orgID int64, key string) func(int) (*http.Request, int) {
				seedLeads(b, a, orgID, 1)
				page, err := a.Stores.Leads.FindLeads(context.Background(), orgID, impl.LeadFilter{Limit: 1})
				if err != nil || len(page.Leads) != 1 {
					b.Fatalf("find the seeded lead: %v", err)
				}
				target := fmt.Sprintf("/api/v1/leads/%d", page.Leads[0].ID)
				return func(int) (*http.Request, int) {
					return newRequest(http.MethodGet, target, key, nil), http.StatusOK
				}
			},
		},
		{
			name: "CreateLead", block: 200,
			prepare: func(b *testing.B, a *app.App, orgID int64, key string) func(int) (*http.Request, int) {
				return func(n int) (*http.Request, int) {
					body := fmt.Appendf(nil, createLeadBody, n)
					return newRequest(http.MethodPost, "/api/v1/leads", key, bytes.NewReader(body)), http.StatusCreated
				}
			},
			check: func(b *testing.B, a *app.App, orgID int64, n int) {
				page, err := a.Stores.Leads.FindLeads(context.Background(), orgID, impl.LeadFilter{Limit: 1})
				if err != nil || page.Total != int64(n) {
					b.Fatalf("%d leads stored after %d requests (%v)", page.Total, n, err)
				}
			},
		},
		{
			name: "SendRCSCarousel", block: 25,
			prepare: func(b *testing.B, a *app.App, orgID int64, key string) func(int) (*http.Request, int) {
				newIntegration(b, a, &impl.Integration{OrganizationID: orgID, Name: "RCS sandbox",
					Channel: impl.ChannelRCS, Provider: impl.ProviderSandbox})
				return func(int) (*http.Request, int) {
					return newRequest(http.MethodPost, "/api/v1/rcs/messages", key, bytes.NewReader(carousel)), http.StatusCreated
				}
			},
			check: func(b *testing.B, a *app.App, orgID int64, n int) {
				checkSent(b, a, orgID, n, "sandbox.rcs.")
			},
		},
	}
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					dbURL := freshDatabase(b, db)
					services := [2]*app.App{start(b, dbURL, validations[0]), start(b, dbURL, validations[1])}
					if validations[0].name != "validation=on" || validations[1].name != "validation=off" {
						b.Fatal("validations are not on, off")
					}
					org, key := newOrganization(b, services[0])
					request := c.prepare(b, services[0], org.ID, key)
					// One request of each before timing: both services
					// have prepared their statements and warmed their caches.
					n := 0
					for _, a := range services {
						req, want := request(n)
						serve(b, a.Server, req, want)
						n++
					}

					meter := newCPUMeter()
					var cpu, wall [2]time.Duration
					var served [2]int
					var blocks [2][]time.Duration // each block's CPU, in order
					// Each pair of blocks (on, then off) is of its own length,
					// between half and one and a half times c.block: blocks of
					// one length can fall into step with the collector's cycles
					// (about two a GetLead block), which then land in one
					// setting's blocks more than in the other's for a whole run.
					jitter := rand.New(rand.NewPCG(1, 2))
					blockLen, inBlock := c.block, 0
					setting := 0
					self0, db0 := meter.read()
					t0 := time.Now()
					b.ReportAllocs()
					for b.Loop() {
						req, want := request(n)
						serve(b, services[setting].Server, req, want)
						n++
						served[setting]++
						if inBlock++; inBlock == blockLen {
							self1, db1 := meter.read()
							t1 := time.Now()
							cpu[setting] += self1 - self0 + db1 - db0
							blocks[setting] = append(blocks[setting], self1-self0+db1-db0)
							wall[setting] += t1.Sub(t0)
							self0, db0, t0 = self1, db1, t1
							setting, inBlock = 1-setting, 0
							if setting == 0 {
								blockLen = c.block/2 + jitter.IntN(c.block)
							}
						}
					}
					self1, db1 := meter.read()
					cpu[setting] += self1 - self0 + db1 - db0
					wall[setting] += time.Since(t0)
					if c.check != nil {
						c.check(b, services[0], org.ID, n)
					}
					if served[0] < c.block || served[1] < c.block {
						// A smoke run (make test runs every benchmark once):
						// the requests were served and checked, but there is
						// no ratio to report without a block of each.
						b.Logf("%d and %d requests served: no ratios without at least %d (-benchtime %dx)", served[0], served[1], 2*c.block, 2*c.block)
						return
					}
					per := func(d time.Duration, n int) float64 { return float64(d) / float64(n) }
					b.ReportMetric(per(cpu[0], served[0])/per(cpu[1], served[1]), "on/off-cpu")
					b.ReportMetric(pairedMedian(blocks[0], blocks[1]), "on/off-cpu-median")
					b.ReportMetric(per(wall[0], served[0])/per(wall[1], served[1]), "on/off-time")
					b.ReportMetric(per(cpu[0], served[0])/1e3, "on-cpu-µs/op")
					b.ReportMetric(per(cpu[1], served[1])/1e3, "off-cpu-µs/op")
				})
			}
		})
	}
}

// pairedMedian is the median of on[i]/off[i] over the blocks both have:
// on's i-th block of requests and off's i-th, served just after it, are
// of the same size.
func pairedMedian(on, off []time.Duration) float64 {
	n := min(len(on), len(off))
	ratios := make([]float64, 0, n)
	for i := range n {
		if off[i] > 0 {
			ratios = append(ratios, float64(on[i])/float64(off[i]))
		}
	}
	if len(ratios) == 0 {
		return 0
	}
	slices.Sort(ratios)
	if m := len(ratios) / 2; len(ratios)%2 == 0 {
		return (ratios[m-1] + ratios[m]) / 2
	}
	return ratios[len(ratios)/2]
}

func TestPairedMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	for _, c := range []struct {
		on, off []time.Duration
		want    float64
	}{
		// A burst in the third pair's on block does not move the median.
		{ms(11, 12, 90, 11, 12), ms(10, 10, 10, 10, 10), 1.2},
		// An even count takes the mean of the middle two; an on block
		// without its off block (the run ended) is left out.
		{ms(11, 13, 12, 14, 50), ms(10, 10, 10, 10), 1.25},
		{ms(5), nil, 0},
	} {
		if got := pairedMedian(c.on, c.off); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("pairedMedian(%v, %v) = %v, want %v", c.on, c.off, got, c.want)
		}
	}
}
