package benchmarks

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// BenchmarkLeadListScale answers "does GET /leads stay flat as an
// organization grows?". It seeds one organization with a million leads and
// another with ten thousand, each with one set-based INSERT ... SELECT, and
// times the same query in both, alternating, for every filter and every
// documented sort, on page 1, on the deepest page both have (up to 400), on
// that page again just after a write to the organization (see
// writeScaleOrg: an update of a lead's score and a lead replaced, through
// the store, which the marks follow; a new lead, past which every order's
// mark is mended; and a lead added and removed by SQL, after which every
// order walks; impl/sqlstore/pagemarks.go) and by cursor
// to that page; through the store and through the whole HTTP stack. It
// prints p50 and p99 of each and their ratios, 1M over 10k, and checks
// meta.total against a COUNT(*) of the leads.
//
// It takes minutes and a few GB of disk, so it runs only with BENCH_SCALE=1:
// make bench-scale (scripts/bench-scale.sh). Settings: BENCH_SCALE_LEADS
// (1000000), BENCH_SCALE_SMALL (10000), BENCH_SCALE_SAMPLES (50 per query
// and organization), BENCH_SCALE_LAYERS (store,http). The benchmark loop
// runs once: the timing is its own, so b.N means nothing here.
func BenchmarkLeadListScale(b *testing.B) {
	if os.Getenv("BENCH_SCALE") != "1" {
		b.Skip("seeds a million leads per database: run it with make bench-scale")
	}
	cfg := scaleConfig{
		big:     scaleEnv(b, "BENCH_SCALE_LEADS", 1_000_000),
		small:   scaleEnv(b, "BENCH_SCALE_SMALL", 10_000),
		samples: scaleEnv(b, "BENCH_SCALE_SAMPLES", 50),
		layers:  strings.Split(cmpOr(os.Getenv("BENCH_SCALE_LAYERS"), "store,http"), ","),
	}
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			for b.Loop() {
				runScale(b, db, cfg)
			}
		})
	}
}

type scaleConfig struct {
	big, small, samples int
	layers              []string
}

func scaleEnv(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// scaleOrg is a seeded organization and what it takes to query it.
type scaleOrg struct {
	id    int64
	key   string
	leads int
	// truth is meta.total of each filter, counted.
	truth map[string]int64
	touch []int64 // the leads writeScaleOrg writes to, one per temperature
	// filters are the benchmark's, and arrived the leads writeScaleOrg
	// added ("arrival") and has not yet taken away (removeArrivals).
	filters []scaleFilter
	arrived []int64
	// What "replacement" picks from: the organization's seeded ids, a
	// generator, the lead the phone filter picks, and how many leads it
	// replaced.
	ids       [2]int64
	rng       *rand.Rand
	phoneLead int64
	replaced  int64
}

// scaleFilter is a filter of the benchmark, as the store and the API take it.
type scaleFilter struct {
	name   string
	filter impl.LeadFilter
	query  url.Values
	where  string // the same, as SQL, for the count
}

// The lead the phone and e-mail filters pick: one that both organizations
// have.
func scaleFilters(small int) []scaleFilter {
	i := small / 2
	phone, email := scalePhone(i), fmt.Sprintf("lead%d@empresa%d.com.br", i, i%97)
	return []scaleFilter{
		{"none", impl.LeadFilter{}, url.Values{}, ""},
		{"temperature=warm", impl.LeadFilter{Temperature: ptrTo("warm")}, url.Values{"temperature": {"warm"}}, " AND temperature = 'warm'"},
		{"phone", impl.LeadFilter{Phone: &phone}, url.Values{"phone": {phone}}, " AND phone = '" + phone + "'"},
		{"email", impl.LeadFilter{Email: &email}, url.Values{"email": {email}}, " AND email = '" + email + "'"},
		{"email shared by 1%", impl.LeadFilter{Email: ptrTo(scaleSharedEmail)}, url.Values{"email": {scaleSharedEmail}},
			" AND email = '" + scaleSharedEmail + "'"},
	}
}

func ptrTo[T any](v T) *T { return &v }

func scalePhone(i int) string { return fmt.Sprintf("55%011d", i) }

// scaleSharedEmail is the address one lead in a hundred has, as when a CRM
// fills in its own purchasing address for leads that gave none.
const scaleSharedEmail = "compras@cliente.com.br"

var scaleSorts = []string{
	"id", "-id", "name", "-name", "created_at", "-created_at",
	"updated_at", "-updated_at", "lead_score", "-lead_score", "deal_value", "-deal_value",
}

// scaleSeed is the one statement that seeds n leads into an organization.
// Both dialects make the same leads: a tenth without a name, a third without
// a company or a deal value (which takes 50 values, so ties abound), three
// leads per second of created_at, the temperature mix of seedTemperature, and
// one lead in a hundred with scaleSharedEmail. Timestamps are written in the
// form the store writes them (SQLite keeps them as text and compares text).
func scaleSeed(dialect sqlstore.Dialect) string {
	firsts, lasts := []string{"Maria", "João", "Ana", "Pedro", "Juliana", "Carlos", "Fernanda", "Lucas"},
		[]string{"Santos", "Silva", "Oliveira", "Souza", "Lima", "Pereira", "Costa"}
	pick := func(expr string, words []string) string {
		var b strings.Builder
		b.WriteString("CASE " + expr)
		for i, w := range words {
			fmt.Fprintf(&b, " WHEN %d THEN '%s'", i, w)
		}
		return b.String() + " END"
	}
	const epoch = 1735689600 // 2025-01-01T00:00:00Z
	phone := `'55' || lpad(i::text, 11, '0')`
	serial := `lpad((i * 7919 % 1000003)::text, 7, '0')`
	created := fmt.Sprintf(`to_timestamp(%d + i / 3)`, epoch)
	updated := fmt.Sprintf(`to_timestamp(%d + i / 3 + i * 31 %% 86400)`, epoch)
	rows := `generate_series(1::bigint, $2) AS i`
	prefix := ""
	if dialect == sqlstore.SQLite {
		phone = `printf('55%011d', i)`
		serial = `printf('%07d', i * 7919 % 1000003)`
		created = fmt.Sprintf(`strftime('%%Y-%%m-%%d %%H:%%M:%%S', %d + i / 3, 'unixepoch') || '+00:00'`, epoch)
		updated = fmt.Sprintf(`strftime('%%Y-%%m-%%d %%H:%%M:%%S', %d + i / 3 + i * 31 %% 86400, 'unixepoch') || '+00:00'`, epoch)
		prefix = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) `
		rows = `n`
	}
	return prefix + `INSERT INTO leads (organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at)
		SELECT $1, ` + phone + `,
			CASE WHEN i % 10 = 0 THEN NULL ELSE ` + pick("i * 7 % 8", firsts) + ` || ' ' || ` + pick("i * 11 % 7", lasts) + ` || ' ' || ` + serial + ` END,
			CASE WHEN i % 100 = 0 THEN '` + scaleSharedEmail + `' ELSE 'lead' || i || '@empresa' || (i % 97) || '.com.br' END,
			CASE WHEN i % 3 = 0 THEN NULL ELSE 'Empresa ' || (i % 5000) END,
			CASE WHEN i % 20 < 2 THEN 'hot' WHEN i % 20 < 6 THEN 'warm' WHEN i % 20 < 11 THEN 'cool' WHEN i % 20 < 18 THEN 'cold' ELSE 'frozen' END,
			i * 37 % 101,
			CASE WHEN i % 3 = 0 THEN NULL ELSE (i * 7919 % 50 + 1) * 1000.0 END,
			` + created + `, ` + updated + `
		FROM ` + rows
}

// rawDB opens the benchmark's database directly, for what the service
// never does: seed in bulk, count, vacuum.
func rawDB(b *testing.B, dialect sqlstore.Dialect, dbURL string) *sql.DB {
	b.Helper()
	driver, dsn := "postgres", dbURL
	if dialect == sqlstore.SQLite {
		// A page cache that holds the indexes: a bulk insert updates fourteen
		// of them at random places, and SQLite's default 2 MB cache would
		// spend the import re-reading pages.
		driver, dsn = "sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite:")+
			"?_pragma=busy_timeout(60000)&_pragma=journal_mode(WAL)&_pragma=cache_size(-2000000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// seedTx begins the transaction of a bulk seed. On PostgreSQL it commits
// synchronously: the throwaway cluster commits asynchronously, and VACUUM
// cannot mark pages all-visible (for index-only scans) before the
// inserting commit is flushed.
func seedTx(b *testing.B, raw *sql.DB, dialect sqlstore.Dialect) *sql.Tx {
	b.Helper()
	tx, err := raw.BeginTx(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if dialect == sqlstore.Postgres {
		if _, err := tx.Exec(`SET LOCAL synchronous_commit = on`); err != nil {
			b.Fatal(err)
		}
	}
	return tx
}

func runScale(b *testing.B, db database, cfg scaleConfig) {
	ctx := context.Background()
	dbURL := freshDatabase(b, db)
	a := start(b, dbURL, validations[0])
	dialect := a.Stores.DB.Dialect()
	raw := rawDB(b, dialect, dbURL)
	seed := scaleSeed(dialect)
	if dialect == sqlstore.SQLite {
		seed = strings.NewReplacer("$1", "?1", "$2", "?2").Replace(seed)
	}

	orgs := map[string]*scaleOrg{}
	for _, o := range []struct {
		name  string
		leads int
	}{{"small", cfg.small}, {"big", cfg.big}} {
		org, key := newOrganization(b, a)
		t0 := time.Now()
		tx := seedTx(b, raw, dialect)
		if _, err := tx.ExecContext(ctx, seed, org.ID, o.leads); err != nil {
			b.Fatalf("seed %d leads: %v", o.leads, err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("%s: seeded %d leads in one INSERT ... SELECT in %.1f s (%d indexes on leads, counting triggers)\n",
			db.name, o.leads, time.Since(t0).Seconds(), scaleIndexes(b, raw, dialect))
		orgs[o.name] = &scaleOrg{id: org.ID, key: key, leads: o.leads, truth: map[string]int64{}}
	}
	if dialect == sqlstore.Postgres {
		// What autovacuum would do within a minute or two of such an import:
		// statistics, and the visibility map that lets index-only scans skip
		// the table.
		t0 := time.Now()
		if _, err := raw.ExecContext(ctx, `VACUUM ANALYZE leads`); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("%s: VACUUM ANALYZE leads in %.1f s\n", db.name, time.Since(t0).Seconds())
		var table, indexes int64
		if err := raw.QueryRowContext(ctx, `SELECT pg_table_size('leads'), pg_indexes_size('leads')`).Scan(&table, &indexes); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("%s: leads table %d MB, its indexes %d MB\n", db.name, table>>20, indexes>>20)
	}

	filters := scaleFilters(cfg.small)
	for _, f := range filters {
		for _, name := range []string{"small", "big"} {
			o := orgs[name]
			o.filters = filters
			t0 := time.Now()
			var n int64
			if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM leads WHERE organization_id = `+strconv.FormatInt(o.id, 10)+f.where).Scan(&n); err != nil {
				b.Fatal(err)
			}
			o.truth[f.name] = n
			if f.name == "none" {
				fmt.Printf("%s: SELECT COUNT(*) of the organization of %s: %.1f ms (what meta.total no longer costs)\n",
					db.name, size(o.leads), float64(time.Since(t0).Microseconds())/1000)
			}
		}
	}

	for _, layer := range cfg.layers {
		fmt.Printf("\n%s, through the %s, 25 per page, %d samples each (p99 of %d is its largest but one or so):\n\n",
			db.name, layer, cfg.samples, cfg.samples)
		small, big := size(cfg.small), size(cfg.big)
		fmt.Printf("| filter | sort | page | p50 %s | p50 %s | **p50 ×** | p99 %s | p99 %s | p99 × |\n", small, big, small, big)
		fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---:|")
		worst, worstShared := 0.0, 0.0
		worstAfter := map[string]float64{}
		walkedAfter := map[string]int64{} // deep pages walked to, by the write before them
		for _, f := range filters {
			for _, sort := range scaleSorts {
				for _, kind := range []string{"1", "deep", afterWrite + "update", afterWrite + "arrival", afterWrite + "replacement", afterWrite + "insert and a delete", "cursor"} {
					times := map[string][]time.Duration{}
					_, _, walked := a.Stores.Leads.DeepPageCounts()
					page := 1
					if kind != "1" {
						total := orgs["small"].truth[f.name]
						page = int(min(400, (total+24)/25))
						if page < 2 {
							continue // a page 1 is all there is
						}
					}
					queries := map[string]func() error{}
					for name, o := range orgs {
						queries[name] = scaleQuery(b, a, layer, o, f, sort, page, kind == "cursor")
					}
					// Alternate, so that both sizes see the same machine.
					for s := range cfg.samples {
						order := []string{"small", "big"}
						if s%2 == 1 {
							order = []string{"big", "small"}
						}
						for _, name := range order {
							if w, ok := strings.CutPrefix(kind, afterWrite); ok {
								writeScaleOrg(b, a, raw, orgs[name], w)
							}
							t0 := time.Now()
							if err := queries[name](); err != nil {
								b.Fatalf("%s %s sort=%s page %s: %v", name, f.name, sort, kind, err)
							}
							times[name] = append(times[name], time.Since(t0))
						}
					}
					_, _, walkedNow := a.Stores.Leads.DeepPageCounts()
					walkedAfter[kind] += walkedNow - walked
					for _, o := range orgs {
						removeArrivals(b, raw, o)
					}
					label := strconv.Itoa(page)
					if kind == "cursor" {
						label = "cursor to " + label
					} else if w, ok := strings.CutPrefix(kind, afterWrite); ok {
						label += ", after " + article(w) + w
					}
					p50s, p50b := percentile(times["small"], 50), percentile(times["big"], 50)
					p99s, p99b := percentile(times["small"], 99), percentile(times["big"], 99)
					ratio := float64(p50b) / float64(p50s)
					switch {
					case f.name == "email shared by 1%":
						worstShared = max(worstShared, ratio)
					case strings.HasPrefix(kind, afterWrite):
						worstAfter[kind] = max(worstAfter[kind], ratio)
					default:
						worst = max(worst, ratio)
					}
					fmt.Printf("| %s | %s | %s | %s | %s | **%.2f** | %s | %s | %.2f |\n", f.name, sort, label,
						ms(p50s), ms(p50b), ratio, ms(p99s), ms(p99b), float64(p99b)/float64(p99s))
				}
			}
		}
		fmt.Printf("\n%s, %s: the largest p50 ratio, %s over %s: %.2f; of a deep page just after an update: %.2f, just after a new lead: %.2f, just after a lead replaced: %.2f, just after an insert and a delete: %.2f; for the shared e-mail, which matches 100 times as many leads: %.2f\n",
			db.name, layer, big, small, worst, worstAfter[afterWrite+"update"], worstAfter[afterWrite+"arrival"], worstAfter[afterWrite+"replacement"], worstAfter[afterWrite+"insert and a delete"], worstShared)
		fmt.Printf("%s, %s: deep pages walked to from the list's start (of %d samples a query), by the write before them: none %d, an update %d, a new lead %d, a lead replaced %d, an insert and a delete %d\n",
			db.name, layer, 2*cfg.samples, walkedAfter["deep"], walkedAfter[afterWrite+"update"], walkedAfter[afterWrite+"arrival"], walkedAfter[afterWrite+"replacement"], walkedAfter[afterWrite+"insert and a delete"])
	}

	// How deep a numbered page can go at a million: page 400 of 100 skips
	// 39,900 leads; a cursor there skips none.
	fmt.Printf("\n%s, through the store, %s leads, 100 per page: page 400 and a cursor there against page 1\n\n", db.name, size(cfg.big))
	fmt.Println("| filter | sort | p50 page 1 | p50 page 400 | × | after an update | × | after a new lead | × | after a lead replaced | × | after an insert and a delete | × | p50 cursor to 400 | × |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, f := range filters[:2] {
		o := orgs["big"]
		if o.truth[f.name] < 400*100 {
			continue // no page 400 at this size
		}
		for _, sort := range scaleSorts {
			q1 := scaleStoreQuery(b, a, o, f, sort, 1, 100, false)
			q400 := scaleStoreQuery(b, a, o, f, sort, 400, 100, false)
			qc := scaleStoreQuery(b, a, o, f, sort, 400, 100, true)
			var t1, t400, tu, ta, tr, ti, tc []time.Duration
			for range cfg.samples {
				for _, q := range []struct {
					run   func() error
					to    *[]time.Duration
					write string
				}{{q1, &t1, ""}, {q400, &t400, ""}, {q400, &tu, "update"}, {q400, &ta, "arrival"}, {q400, &tr, "replacement"}, {q400, &ti, "insert and a delete"}, {qc, &tc, ""}} {
					if q.write != "" {
						writeScaleOrg(b, a, raw, o, q.write)
					}
					t0 := time.Now()
					if err := q.run(); err != nil {
						b.Fatal(err)
					}
					*q.to = append(*q.to, time.Since(t0))
				}
			}
			removeArrivals(b, raw, o)
			p1, p400, pu, pa, pr, pi, pc := percentile(t1, 50), percentile(t400, 50), percentile(tu, 50), percentile(ta, 50), percentile(tr, 50), percentile(ti, 50), percentile(tc, 50)
			fmt.Printf("| %s | %s | %s | %s | %.1f | %s | %.1f | %s | %.1f | %s | %.1f | %s | %.1f | %s | %.1f |\n", f.name, sort, ms(p1), ms(p400),
				float64(p400)/float64(p1), ms(pu), float64(pu)/float64(p1), ms(pa), float64(pa)/float64(p1), ms(pr), float64(pr)/float64(p1),
				ms(pi), float64(pi)/float64(p1), ms(pc), float64(pc)/float64(p1))
		}
	}
}

// article is the one a write's name takes.
func article(write string) string {
	if strings.HasPrefix(write, "r") {
		return "a "
	}
	return "an "
}

// afterWrite begins the kinds of query timed just after writeScaleOrg;
// the write's name follows.
const afterWrite = "deep after an "

// int64s is the one integer column of query's rows.
func int64s(b *testing.B, raw *sql.DB, query string) []int64 {
	b.Helper()
	rows, err := raw.Query(query)
	if err != nil {
		b.Fatal(err)
	}
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			b.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	return out
}

// writeScaleOrg makes one of these writes to o, untimed, before a deep
// page is read again:
//
//   - "update": a new score for one lead of each temperature, through the
//     store, as PATCH /leads/{id} makes it (its updated_at moves too). The
//     orders by score and by update time move; their marks follow the
//     write (impl/sqlstore/followmarks.go); the others' stand (00014).
//   - "arrival": a new lead in each temperature, through the store, as
//     POST /leads makes it (the newest, so first in the default order).
//     Every order's mark is mended past it (impl/sqlstore/pagemarks.go).
//     The new leads stay until removeArrivals, and the totals the queries
//     check count them.
//   - "replacement": in each temperature, a lead picked at random is
//     replaced: a copy of it (same temperature, name, e-mail, score and
//     deal value, so that every total stays what the queries check) made
//     through the store as POST /leads makes it, then the lead deleted
//     through the store as DELETE /leads/{id} makes it. The marks are
//     mended past the copy and follow the delete. The copies stay: over a
//     run, leads of the seed give way to newer ones.
//   - "insert and a delete": a lead added to each temperature and removed
//     again (so that meta.total stays what the queries check), by SQL.
//     Every order walks to a deep page again after it.
func writeScaleOrg(b *testing.B, a *app.App, raw *sql.DB, o *scaleOrg, write string) {
	b.Helper()
	ctx := context.Background()
	if o.touch == nil {
		// One lead of each temperature: the revisions are per temperature.
		o.touch = int64s(b, raw, `SELECT MIN(id) FROM leads WHERE organization_id = `+strconv.FormatInt(o.id, 10)+` GROUP BY temperature`)
		if len(o.touch) == 0 {
			b.Fatal("no leads to write to")
		}
	}
	switch write {
	case "update":
		for _, id := range o.touch {
			if _, err := a.Stores.Leads.UpdateLead(ctx, o.id, id, func(l *impl.Lead) error {
				l.LeadScore = (l.LeadScore + 1) % 101
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	case "arrival":
		for _, id := range o.touch {
			like, err := a.Stores.Leads.FindLeadByID(ctx, o.id, id)
			if err != nil {
				b.Fatal(err)
			}
			lead := &impl.Lead{Phone: fmt.Sprintf("98%011d", o.id*1_000_000+int64(len(o.arrived))),
				Name: like.Name, Temperature: like.Temperature, LeadScore: like.LeadScore, DealValue: like.DealValue}
			if err := a.Stores.Leads.CreateLead(ctx, o.id, lead); err != nil {
				b.Fatal(err)
			}
			o.arrived = append(o.arrived, lead.ID)
			countArrival(b, raw, o, lead.ID, 1)
		}
	case "replacement":
		replaceScaleLeads(b, a, raw, o)
	case "insert and a delete":
		org := strconv.FormatInt(o.id, 10)
		for _, id := range o.touch {
			phone := fmt.Sprintf("'99%011d'", id)
			if _, err := raw.Exec(`INSERT INTO leads (organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at)
				SELECT organization_id, ` + phone + `, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at
				FROM leads WHERE id = ` + strconv.FormatInt(id, 10)); err != nil {
				b.Fatal(err)
			}
			if _, err := raw.Exec(`DELETE FROM leads WHERE organization_id = ` + org + ` AND phone = ` + phone); err != nil {
				b.Fatal(err)
			}
		}
	default:
		b.Fatalf("no write %q", write)
	}
}

// replaceScaleLeads replaces a lead of each of o's temperatures, picked at
// random, by a copy, through the store (writeScaleOrg's "replacement").
func replaceScaleLeads(b *testing.B, a *app.App, raw *sql.DB, o *scaleOrg) {
	b.Helper()
	ctx := context.Background()
	org := strconv.FormatInt(o.id, 10)
	if o.rng == nil {
		o.rng = rand.New(rand.NewPCG(uint64(o.id), 1))
		if err := raw.QueryRow(`SELECT MIN(id), MAX(id) FROM leads WHERE organization_id = `+org).Scan(&o.ids[0], &o.ids[1]); err != nil {
			b.Fatal(err)
		}
		if err := raw.QueryRow(`SELECT id FROM leads WHERE organization_id = ` + org + ` AND phone = '` + *o.filters[2].filter.Phone + `'`).Scan(&o.phoneLead); err != nil {
			b.Fatal(err)
		}
	}
	for _, id := range o.touch {
		like, err := a.Stores.Leads.FindLeadByID(ctx, o.id, id)
		if err != nil {
			b.Fatal(err)
		}
		var x int64
		for x == 0 || x == o.phoneLead || slices.Contains(o.touch, x) {
			from := o.ids[0] + o.rng.Int64N(o.ids[1]-o.ids[0])
			err := raw.QueryRow(`SELECT id FROM leads WHERE organization_id = ` + org + ` AND temperature = '` + like.Temperature +
				`' AND id > ` + strconv.FormatInt(from, 10) + ` ORDER BY id LIMIT 1`).Scan(&x)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				b.Fatal(err)
			}
		}
		old, err := a.Stores.Leads.FindLeadByID(ctx, o.id, x)
		if err != nil {
			b.Fatal(err)
		}
		o.replaced++
		lead := &impl.Lead{Phone: fmt.Sprintf("97%011d", o.id*1_000_000+o.replaced), Name: old.Name, Email: old.Email,
			CompanyName: old.CompanyName, Temperature: old.Temperature, LeadScore: old.LeadScore, DealValue: old.DealValue}
		if err := a.Stores.Leads.CreateLead(ctx, o.id, lead); err != nil {
			b.Fatal(err)
		}
		if err := a.Stores.Leads.DeleteLead(ctx, o.id, x); err != nil {
			b.Fatal(err)
		}
	}
}

// scaleIndexes counts the indexes a lead written to leads goes into,
// the primary key's included.
func scaleIndexes(b *testing.B, raw *sql.DB, dialect sqlstore.Dialect) int {
	query := `SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'leads'`
	if dialect == sqlstore.SQLite {
		// The rowid table is the primary key's b-tree.
		query = `SELECT COUNT(*) + 1 FROM sqlite_master WHERE type = 'index' AND tbl_name = 'leads'`
	}
	var n int
	if err := raw.QueryRow(query).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// scaleQuery returns one request of the benchmark for organization o,
// checked once against the counted total before it is timed.
func scaleQuery(b *testing.B, a *app.App, layer string, o *scaleOrg, f scaleFilter, sort string, page int, byCursor bool) func() error {
	b.Helper()
	if layer == "store" {
		return scaleStoreQuery(b, a, o, f, sort, page, 25, byCursor)
	}
	q := url.Values{"sort": {sort}, "per_page": {"25"}}
	for k, v := range f.query {
		q[k] = v
	}
	if byCursor {
		prev := scaleStoreFilter(f, sort, page-1, 25)
		p, err := a.Stores.Leads.FindLeads(context.Background(), o.id, prev)
		if err != nil || p.Next == "" {
			b.Fatalf("no cursor after page %d: %v", page-1, err)
		}
		q = url.Values{"cursor": {p.Next}, "per_page": {"25"}}
	} else {
		q.Set("page", strconv.Itoa(page))
	}
	target := "/api/v1/leads?" + q.Encode()
	rec := serve(b, a.Server, newRequest(http.MethodGet, target, o.key, nil), http.StatusOK)
	var body struct {
		Data []json.RawMessage `json:"data"`
		Meta struct {
			Total int64 `json:"total"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		b.Fatal(err)
	}
	if want := o.truth[f.name]; body.Meta.Total != want || len(body.Data) != scalePageLen(want, page, 25) {
		b.Fatalf("GET %s: total %d, %d leads; want %d, %d", target, body.Meta.Total, len(body.Data), want, scalePageLen(want, page, 25))
	}
	return func() error {
		req := newRequest(http.MethodGet, target, o.key, nil)
		rec := httptest.NewRecorder()
		a.Server.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", target, rec.Code, rec.Body)
		}
		return nil
	}
}

func scaleStoreFilter(f scaleFilter, sort string, page, perPage int) impl.LeadFilter {
	filter := f.filter
	filter.Sort, filter.Offset, filter.Limit = sort, int64(page-1)*int64(perPage), perPage
	return filter
}

func scaleStoreQuery(b *testing.B, a *app.App, o *scaleOrg, f scaleFilter, sort string, page, perPage int, byCursor bool) func() error {
	b.Helper()
	ctx := context.Background()
	filter := scaleStoreFilter(f, sort, page, perPage)
	if byCursor {
		prev, err := a.Stores.Leads.FindLeads(ctx, o.id, scaleStoreFilter(f, sort, page-1, perPage))
		if err != nil || prev.Next == "" {
			b.Fatalf("no cursor after page %d: %v", page-1, err)
		}
		filter = impl.LeadFilter{Cursor: prev.Next, Limit: perPage}
	}
	run := func() error {
		p, err := a.Stores.Leads.FindLeads(ctx, o.id, filter)
		if err != nil {
			return err
		}
		want := o.truth[f.name] // new leads may have come since (writeScaleOrg)
		if p.Total != want || len(p.Leads) != scalePageLen(want, page, perPage) {
			return fmt.Errorf("total %d, %d leads; want %d, %d", p.Total, len(p.Leads), want, scalePageLen(want, page, perPage))
		}
		return nil
	}
	if err := run(); err != nil {
		b.Fatalf("%s sort=%s page %d (cursor %v): %v", f.name, sort, page, byCursor, err)
	}
	return run
}

func scalePageLen(total int64, page, perPage int) int {
	return int(max(0, min(int64(perPage), total-int64(page-1)*int64(perPage))))
}

// percentile is the nearest-rank percentile p of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(0, i)]
}

// size names a number of leads the way the tables do: 10k, 1M.
func size(n int) string {
	switch {
	case n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// countArrival adds n to the totals of o's filters that lead id matches.
func countArrival(b *testing.B, raw *sql.DB, o *scaleOrg, id, n int64) {
	b.Helper()
	for _, f := range o.filters {
		var in int64
		if err := raw.QueryRow(`SELECT COUNT(*) FROM leads WHERE id = ` + strconv.FormatInt(id, 10) + f.where).Scan(&in); err != nil {
			b.Fatal(err)
		}
		o.truth[f.name] += in * n
	}
}

// removeArrivals deletes the leads writeScaleOrg added to o, so that each
// query finds o as it was seeded.
func removeArrivals(b *testing.B, raw *sql.DB, o *scaleOrg) {
	b.Helper()
	for _, id := range o.arrived {
		countArrival(b, raw, o, id, -1)
		if _, err := raw.Exec(`DELETE FROM leads WHERE id = ` + strconv.FormatInt(id, 10)); err != nil {
			b.Fatal(err)
		}
	}
	o.arrived = nil
}
