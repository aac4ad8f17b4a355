package benchmarks

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// BenchmarkMessageListScale answers for GET /messages what
// BenchmarkLeadListScale answers for leads: one organization with a million
// messages and one with ten thousand, each seeded by one INSERT ... SELECT,
// and the same query timed in both, alternating, through the whole HTTP
// stack, for each filter and combination a partner's screen or automation
// asks for, on page 1 and on the deepest page both have (up to 400), by
// its number and by the cursor of the page before it. It
// prints p50 and p99 and their ratios, 1M over 10k, and checks meta.total
// and the page's length against a COUNT(*) of the messages.
//
// Like the leads', it runs only with BENCH_SCALE=1 (make bench-scale), with
// BENCH_SCALE_MESSAGES (1000000), BENCH_SCALE_SMALL (10000) and
// BENCH_SCALE_SAMPLES (50).
func BenchmarkMessageListScale(b *testing.B) {
	benchListScale(b, "messages", "BENCH_SCALE_MESSAGES", runMessageScale)
}

// messageScaleSeed inserts $2 messages into organization $1 through
// integration $3: a quarter RCS, a third inbound, the five statuses in turn.
func messageScaleSeed(dialect sqlstore.Dialect) string {
	return seriesInsert(dialect, `INSERT INTO messages (organization_id, integration_id, channel, direction, type, status, phone, content, created_at, updated_at)
		SELECT $1, $3,
			CASE WHEN i % 4 = 0 THEN 'rcs' ELSE 'whatsapp' END,
			CASE WHEN i % 3 = 0 THEN 'inbound' ELSE 'outbound' END,
			'text',
			CASE i % 5 WHEN 0 THEN 'queued' WHEN 1 THEN 'sent' WHEN 2 THEN 'delivered' WHEN 3 THEN 'read' ELSE 'failed' END,
			'5511' || (900000000 + i % 100000),
			'{"text":"Olá! Sua proposta está pronta."}',
			{created}, {created}`)
}

func runMessageScale(b *testing.B, db database, big, small, samples int) {
	ctx := context.Background()
	dbURL := freshDatabase(b, db)
	a := start(b, dbURL, validations[0])
	dialect := a.Stores.DB.Dialect()
	raw := rawDB(b, dialect, dbURL)
	type org struct {
		id    int64
		key   string
		truth map[string]int64
	}
	orgs := map[string]*org{}
	for _, o := range []struct {
		name string
		n    int
	}{{"small", small}, {"big", big}} {
		o2, key := newOrganization(b, a)
		in := &impl.Integration{OrganizationID: o2.ID, Name: "bench", Channel: impl.ChannelWhatsApp, Provider: impl.ProviderSandbox, Active: true}
		if err := a.Stores.Integrations.CreateIntegration(ctx, in); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := raw.ExecContext(ctx, messageScaleSeed(dialect), o2.ID, o.n, in.ID); err != nil {
			b.Fatalf("seed %d messages: %v", o.n, err)
		}
		fmt.Printf("%s: seeded %d messages in one INSERT ... SELECT in %.1f s (counting triggers)\n", db.name, o.n, time.Since(t0).Seconds())
		orgs[o.name] = &org{id: o2.ID, key: key, truth: map[string]int64{}}
	}
	if dialect == sqlstore.Postgres {
		if _, err := raw.ExecContext(ctx, `VACUUM ANALYZE messages`); err != nil {
			b.Fatal(err)
		}
	}

	filters := []string{"", "status=failed", "channel=rcs", "direction=inbound",
		"status=failed&channel=rcs", "status=read&direction=inbound", "status=read&direction=inbound&channel=whatsapp"}
	fmt.Printf("\n%s: GET /messages, 25 a page, p50 / p99 in ms, 1M over 10k (%d samples each, alternated)\n", db.name, samples)
	fmt.Printf("| filter | page | 10k p50 | 1M p50 | ratio p50 | 10k p99 | 1M p99 | ratio p99 |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, f := range filters {
		where := ""
		for _, kv := range strings.Split(f, "&") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				where += " AND " + k + " = '" + v + "'"
			}
		}
		for _, name := range []string{"small", "big"} {
			o := orgs[name]
			var n int64
			if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages WHERE organization_id = `+strconv.FormatInt(o.id, 10)+where).Scan(&n); err != nil {
				b.Fatal(err)
			}
			o.truth[f] = n
		}
		deep := min(400, int((orgs["small"].truth[f]+24)/25))
		filter := ""
		if f != "" {
			filter = "&" + f
		}
		keys, want := map[string]string{}, map[string]int64{}
		for name, o := range orgs {
			keys[name], want[name] = o.key, o.truth[f]
		}
		numbered := func(page int) listProbe {
			t := "/api/v1/messages?per_page=25&page=" + strconv.Itoa(page) + filter
			return listProbe{strconv.Itoa(page), page, map[string]string{"small": t, "big": t}}
		}
		probes := []listProbe{numbered(1)}
		if deep > 1 {
			// The deepest page again, by the cursor its page before gave.
			probes = append(probes, numbered(deep), cursorProbe(b, a.Server, keys, deep, numbered(deep-1).targets,
				func(_, cursor string) string { return "/api/v1/messages?per_page=25&cursor=" + cursor }))
		}
		label := f
		if label == "" {
			label = "none"
		}
		timeListProbes(b, a.Server, label, probes, keys, want, samples)
	}
}
