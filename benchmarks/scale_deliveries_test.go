package benchmarks

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// BenchmarkDeliveryListScale answers for a webhook's delivery log (GET
// /webhooks/{id}/deliveries) what BenchmarkMessageListScale answers for
// messages: one webhook with a million deliveries and one with ten
// thousand, in two organizations, each seeded by one INSERT ... SELECT
// (98 % succeeded, 2 % failed, a few pending and not yet due), and the
// same query timed in both, alternating, through the whole HTTP stack:
// every status filter on page 1, on the deepest page both have (up to
// 400), and on that page by the cursor of the page before it. It prints
// p50 and p99 and their ratios, 1M over 10k, and checks meta.total and
// the page's length against a COUNT(*) of the deliveries.
//
// It runs only with BENCH_SCALE=1 (make bench-scale), with
// BENCH_SCALE_DELIVERIES (1000000), BENCH_SCALE_SMALL (10000) and
// BENCH_SCALE_SAMPLES (50). The seeded deliveries have no attempts: a
// page reads its own rows' attempts by their delivery, whatever the log's
// size.
func BenchmarkDeliveryListScale(b *testing.B) {
	benchListScale(b, "deliveries", "BENCH_SCALE_DELIVERIES", runDeliveryScale)
}

// deliveryScaleSeed inserts $2 deliveries of event $3 to webhook $4 of
// organization $1, their message ids $5 and a number: one in 50 failed,
// one in 1,000 pending (due in 2100, so that no dispatcher takes it), the
// rest succeeded.
func deliveryScaleSeed(dialect sqlstore.Dialect) string {
	return seriesInsert(dialect, `INSERT INTO deliveries (organization_id, webhook_id, event_id, message_id, status, attempt_count, attempt_limit, due_ms, created_at, updated_at)
		SELECT $1, $4, $3, $5 || i,
			CASE WHEN i % 1000 = 7 THEN 'pending' WHEN i % 50 = 3 THEN 'failed' ELSE 'succeeded' END,
			CASE WHEN i % 1000 = 7 THEN 0 ELSE 1 END, 8,
			CASE WHEN i % 1000 = 7 THEN 4102444800000 END,
			{created}, {created}`)
}

func runDeliveryScale(b *testing.B, db database, big, small, samples int) {
	ctx := context.Background()
	dbURL := freshDatabase(b, db)
	a := start(b, dbURL, validations[0])
	dialect := a.Stores.DB.Dialect()
	raw := rawDB(b, dialect, dbURL)
	type org struct {
		key   string
		hook  int64
		truth map[string]int64
	}
	orgs := map[string]*org{}
	for _, o := range []struct {
		name string
		n    int
	}{{"small", small}, {"big", big}} {
		o2, key := newOrganization(b, a)
		w := &impl.Webhook{Name: "bench", URL: "https://example.com/hook", Events: []string{impl.EventLeadCreated}, MaxAttempts: 8}
		if err := a.Stores.Webhooks.CreateWebhook(ctx, o2.ID, w); err != nil {
			b.Fatal(err)
		}
		var event int64
		if err := raw.QueryRowContext(ctx, numbered(dialect, `INSERT INTO events (organization_id, type, payload, created_at, public_id, body)
			VALUES ($1, 'lead.created', '{}', $2, $3, '{}') RETURNING id`), o2.ID, time.Now().UTC(), fmt.Sprintf("evt_scale_%d", o2.ID)).Scan(&event); err != nil {
			b.Fatalf("seed the event: %v", err)
		}
		t0 := time.Now()
		tx := seedTx(b, raw, dialect)
		if _, err := tx.ExecContext(ctx, deliveryScaleSeed(dialect), o2.ID, o.n, event, w.ID, fmt.Sprintf("msg_scale_%d_", w.ID)); err != nil {
			b.Fatalf("seed %d deliveries: %v", o.n, err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("%s: seeded %d deliveries in one INSERT ... SELECT in %.1f s (counting triggers)\n", db.name, o.n, time.Since(t0).Seconds())
		orgs[o.name] = &org{key: key, hook: w.ID, truth: map[string]int64{}}
	}
	if dialect == sqlstore.Postgres {
		if _, err := raw.ExecContext(ctx, `VACUUM ANALYZE deliveries`); err != nil {
			b.Fatal(err)
		}
	}

	fmt.Printf("\n%s: GET /webhooks/{id}/deliveries, 25 a page, p50 / p99 in ms, 1M over 10k (%d samples each, alternated)\n", db.name, samples)
	fmt.Printf("| status | page | 10k p50 | 1M p50 | ratio p50 | 10k p99 | 1M p99 | ratio p99 |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, st := range []string{"", impl.DeliverySucceeded, impl.DeliveryFailed, impl.DeliveryPending} {
		where := ""
		if st != "" {
			where = " AND status = '" + st + "'"
		}
		for _, name := range []string{"small", "big"} {
			o := orgs[name]
			var n int64
			if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE webhook_id = `+strconv.FormatInt(o.hook, 10)+where).Scan(&n); err != nil {
				b.Fatal(err)
			}
			o.truth[st] = n
		}
		deep := min(400, int((orgs["small"].truth[st]+24)/25))
		filter := ""
		if st != "" {
			filter = "&status=" + st
		}
		keys, want, paths := map[string]string{}, map[string]int64{}, map[string]string{}
		for name, o := range orgs {
			keys[name], want[name] = o.key, o.truth[st]
			paths[name] = "/api/v1/webhooks/" + strconv.FormatInt(o.hook, 10) + "/deliveries?per_page=25"
		}
		numbered := func(page int) listProbe {
			p := listProbe{strconv.Itoa(page), page, map[string]string{}}
			for name := range orgs {
				p.targets[name] = paths[name] + "&page=" + strconv.Itoa(page) + filter
			}
			return p
		}
		probes := []listProbe{numbered(1)}
		if deep > 1 {
			probes = append(probes, numbered(deep), cursorProbe(b, a.Server, keys, deep, numbered(deep-1).targets,
				func(org, cursor string) string { return paths[org] + "&cursor=" + cursor }))
		}
		label := st
		if label == "" {
			label = "any"
		}
		timeListProbes(b, a.Server, label, probes, keys, want, samples)
	}
}
