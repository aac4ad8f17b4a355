package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// BenchmarkMendedPage reads a deep page (offset 4,000) of 10,000 leads
// after one to three new leads each time, as a CRM polls a list while
// leads arrive. With marks, the page's mark is mended past the arrivals
// (pagemarks.go), whose number changes from one read to the next; walked
// is the same read by a store that keeps no marks, the anchor. Only the
// read is timed; "mended/op" says which path the reads took.
func BenchmarkMendedPage(b *testing.B) {
	for _, d := range sqlstoretest.Databases(b) {
		for _, marks := range []bool{true, false} {
			name := d.Name + "/mended"
			if !marks {
				name = d.Name + "/walked"
			}
			b.Run(name, func(b *testing.B) { benchmarkMendedPage(b, d.URL, marks) })
		}
	}
}

func benchmarkMendedPage(b *testing.B, url string, marks bool) {
	ctx := context.Background()
	db, err := Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	stores := NewStores(db)
	org := &impl.Organization{Name: "Org"}
	if err := stores.Organizations.CreateOrganization(ctx, org); err != nil {
		b.Fatal(err)
	}
	at := `strftime('%Y-%m-%d %H:%M:%S', '2026-01-01 00:00:00', '+' || i || ' seconds') || '+00:00'`
	if db.dialect == Postgres {
		at = `timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'`
	}
	if _, err := db.pool.ExecContext(ctx, db.rebind(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
		INSERT INTO leads (organization_id, phone, name, temperature, lead_score, deal_value, created_at, updated_at)
		SELECT CAST(? AS BIGINT), '55' || i, 'Lead ' || (i * 7919 % 10007), 'hot', i % 101, i % 50 * 10.0, `+at+`, `+at+` FROM n`), org.ID); err != nil {
		b.Fatal(err)
	}
	if db.dialect == Postgres {
		// As autovacuum would have by the time a list is this long: the
		// planner's statistics of the seeded leads.
		if _, err := db.pool.ExecContext(ctx, `ANALYZE leads`); err != nil {
			b.Fatal(err)
		}
	}
	stores.Leads.marks.from = 1
	if !marks {
		stores.Leads.marks.from = 1 << 62
	}
	mended := 0
	stores.Leads.marks.mending = func() { mended++ }
	list := impl.LeadFilter{Sort: "name", Offset: 4000, Limit: 20}
	if _, err := stores.Leads.FindLeads(ctx, org.ID, list); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		for range 1 + i%3 {
			i++
			name := fmt.Sprintf("Lead %d", i*31%10007)
			if err := stores.Leads.CreateLead(ctx, org.ID, &impl.Lead{Phone: fmt.Sprintf("5599%08d", i), Name: &name,
				Temperature: impl.TemperatureHot, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if _, err := stores.Leads.FindLeads(ctx, org.ID, list); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(mended)/float64(b.N), "mended/op")
}
