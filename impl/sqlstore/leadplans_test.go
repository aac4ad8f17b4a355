package sqlstore

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

// sortIndexes names the index that must serve each sort field: without a
// filter, with the temperature filter and with the e-mail filter
// (migrations 00001 and 00008).
var sortIndexes = map[string][3]string{
	"id":         {"leads_org_id", "leads_org_temperature_id", "leads_org_email_id"},
	"name":       {"leads_org_name", "leads_org_temperature_name", "leads_org_email_name"},
	"created_at": {"leads_org_created", "leads_org_temperature", "leads_org_email"},
	"updated_at": {"leads_org_updated", "leads_org_temperature_updated", "leads_org_email_updated"},
	"lead_score": {"leads_org_score", "leads_org_temperature_score", "leads_org_email_score"},
	"deal_value": {"leads_org_deal", "leads_org_temperature_deal", "leads_org_email_deal"},
}

// cursorBound is what the plan of run r must show when the run starts after
// a cursor: the cursor as a bound of the index walk. nil for a run from an
// offset.
func cursorBound(dialect Dialect, field string, r leadRun) *regexp.Regexp {
	switch {
	case r.after == nil:
		return nil
	case dialect == SQLite && r.beyond:
		return regexp.MustCompile(`\b` + field + `[<>]\?`)
	case dialect == SQLite:
		return regexp.MustCompile(`\bid[<>]\?`)
	case field == "id" || r.missing:
		return regexp.MustCompile(`Index Cond: .*\bid [<>] `)
	}
	return regexp.MustCompile(`Index Cond: .*ROW\(`)
}

// explain returns the plan of query as text, one node or step per line.
// On PostgreSQL, sorting, sequential and bitmap scans are priced out of
// reach: the plan then sorts only if no index gives the order, and reads
// the table only if no index holds every column the query needs. The
// answer does not depend on how few rows a test has.
func explain(t *testing.T, db *DB, query string, args []any) string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	if db.dialect == SQLite {
		rows, err := db.pool.QueryContext(ctx, `EXPLAIN QUERY PLAN `+query, args...)
		if err != nil {
			t.Fatalf("explain %s: %v", query, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		return strings.Join(lines, "\n")
	}
	tx, err := db.pool.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // only SET LOCAL and EXPLAIN
	for _, set := range []string{"enable_sort", "enable_seqscan", "enable_bitmapscan"} {
		if _, err := tx.ExecContext(ctx, `SET LOCAL `+set+` = off`); err != nil {
			t.Fatal(err)
		}
	}
	err = sqlx.SelectContext(ctx, tx, &lines, `EXPLAIN (COSTS OFF) `+db.rebind(query), args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	return strings.Join(lines, "\n")
}

// TestLeadPagesReadAnIndex: for every documented sort, with and without the
// temperature filter, each part of a page (the leads with a value, those
// without, from an offset or after a cursor) is read from its index, in the
// index's order and from the index alone: no sort of the organization's
// leads, no visit to the table for the leads an offset skips. A change to
// the ORDER BY that no longer matches its index (a collation, NULLs, a
// direction) fails here.
func TestLeadPagesReadAnIndex(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		// The organization's leads are a quarter of the table, mixed with
		// another's, as one tenant's are among many: a plan that walked
		// every tenant's leads and kept this one's would not pass for an
		// index of its own. A tenth of its leads share an e-mail, a third
		// are hot: the e-mail is the more selective filter.
		at := `strftime('%Y-%m-%d %H:%M:%S', ?, '+' || (i / 2) || ' seconds') || '+00:00'` // the store's text form
		if f.db.dialect == Postgres {
			at = `?::timestamptz + (i / 2) * interval '1 second'`
		}
		tx, err := f.db.pool.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if f.db.dialect == Postgres {
			// The test cluster commits asynchronously, and VACUUM cannot mark
			// pages all-visible before their inserter's commit is flushed.
			if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = on`); err != nil {
				t.Fatal(err)
			}
		}
		_, err = tx.ExecContext(ctx, f.db.rebind(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000)
			INSERT INTO leads (organization_id, phone, name, email, temperature, lead_score, deal_value, created_at, updated_at)
			SELECT CASE WHEN i % 4 = 0 THEN CAST(? AS BIGINT) ELSE CAST(? AS BIGINT) END, '55' || i,
				CASE WHEN i % 10 = 0 THEN NULL ELSE 'Lead ' || (i * 7919 % 1009) END,
				CASE WHEN i % 40 = 0 THEN 'compras@x.com' ELSE 'lead' || i || '@x.com' END,
				CASE i % 3 WHEN 0 THEN 'hot' ELSE 'cold' END, i % 101,
				CASE WHEN i % 7 = 0 THEN NULL ELSE i % 50 * 10.0 END, `+at+`, `+at+`
			FROM n`), f.org, f.other, sortBase.Format(time.DateTime), sortBase.Add(time.Hour).Format(time.DateTime))
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if f.db.dialect == Postgres {
			vacuumAllVisible(ctx, t, f.db, "leads")
		}
		store := f.s.Leads
		hot, shared := ptr("hot"), ptr("compras@x.com")
		filters := []struct {
			name               string
			temperature, email *string
			index              int  // in sortIndexes
			alone              bool // the index holds all the walk needs
		}{
			{"", nil, nil, 0, true},
			{" temperature=hot", hot, nil, 1, true},
			{" email", nil, shared, 2, true},
			// The e-mail picks fewer leads; its index gives the order, the
			// table the temperature.
			{" email temperature=hot", hot, shared, 2, false},
		}
		for _, key := range allLeadSorts {
			sort, _ := impl.ParseLeadSort(key)
			for _, filter := range filters {
				q := impl.LeadQuery{Sort: sort, Temperature: filter.temperature, Email: filter.email, Limit: 25}
				cond, args := store.leadConditions(f.org, q)
				// A cursor half-way through.
				after := &impl.LeadKey{ID: 6000}
				switch sort.Field {
				case "name":
					after.Value = "Lead 500"
				case "deal_value":
					after.Value = 250.0
				case "lead_score":
					after.Value = int32(50)
				case "created_at":
					after.Value = sortBase.Add(3000 * time.Second)
				case "updated_at":
					after.Value = sortBase.Add(time.Hour + 3000*time.Second)
				}
				// The runs the store reads: from an offset among the leads
				// with a value, among those without, after a cursor's lead
				// with a value, after one without.
				counts := leadCounts{Total: 3000, WithName: 1500, WithDealValue: 1500}
				runs := map[string]leadRun{}
				queries := map[string]impl.LeadQuery{
					"from an offset": {Sort: sort, Offset: 100},
					"after a cursor": {Sort: sort, After: after},
				}
				if sort.Nullable() {
					queries["without a value"] = impl.LeadQuery{Sort: sort, Offset: 1510}
					queries["without a value, after a cursor"] = impl.LeadQuery{Sort: sort, After: &impl.LeadKey{ID: 6000}}
				}
				for what, q := range queries {
					for i, r := range store.runs(q, counts) {
						r.limit = 26
						runs[fmt.Sprintf("%s, run %d", what, i+1)] = r
					}
				}
				index := sortIndexes[sort.Field][filter.index]
				want := regexp.MustCompile(`(?i)(Index Only Scan (Backward )?using|COVERING INDEX) ` + index + `\b`)
				if !filter.alone {
					want = regexp.MustCompile(`(?i)(Index (Only )?Scan (Backward )?using|USING (COVERING )?INDEX) ` + index + `\b`)
				}
				for what, r := range runs {
					rs := store.runSQL(q, cond, args, r)
					plan := explain(t, f.db, rs.ids(), append(rs.args, r.limit, r.offset))
					if strings.Contains(plan, "TEMP B-TREE") || regexp.MustCompile(`(?m)^\s*(->\s*)?(Incremental )?Sort\b`).MatchString(plan) {
						t.Errorf("sort=%s%s, %s: the page is sorted, not read in index order:\n%s", key, filter.name, what, plan)
					}
					if !want.MatchString(plan) {
						t.Errorf("sort=%s%s, %s: not read from %s:\n%s", key, filter.name, what, index, plan)
					}
					// After a cursor the walk starts at the cursor, bounded
					// in the index, not by reading what comes before it.
					if bound := cursorBound(f.db.dialect, sort.Field, r); bound != nil && !bound.MatchString(plan) {
						t.Errorf("sort=%s%s, %s: the index walk does not start at the cursor (%s):\n%s", key, filter.name, what, bound, plan)
					}
				}
				if filter.email != nil {
					continue // no marks: counted, not read from the counters
				}
				if f.db.dialect == Postgres {
					// A page from the start or after a cursor, its LIMIT written
					// in (literalLimits): PostgreSQL settles on a generic plan,
					// and that plan reads the index in order too.
					for what, q := range map[string]impl.LeadQuery{"from the start": {Sort: sort}, "after a cursor": {Sort: sort, After: after}} {
						q.Temperature = filter.temperature
						r := store.runs(q, counts)[0]
						r.limit = 26
						query, qargs := store.runStatement(q, cond, args, r)
						plan, generic := genericPlan(t, f.db, query, qargs)
						if generic == 0 {
							t.Errorf("sort=%s%s, %s: planned again on every run:\n%s", key, filter.name, what, query)
						}
						// Sorting the page's 26 leads after the join is no cost;
						// under the LIMIT, nothing is sorted, hashed or scanned
						// whole.
						_, underLimit, _ := strings.Cut(plan, "Limit")
						if regexp.MustCompile(`(?m)^\s*(->\s*)?((Incremental )?Sort|Seq Scan|Hash)\b`).MatchString(underLimit) || !want.MatchString(underLimit) {
							t.Errorf("sort=%s%s, %s: the generic plan does not read %s in order:\n%s", key, filter.name, what, index, plan)
						}
					}
				}
				// What a deep page's mark keeps and mends by: the list's
				// largest id, and the leads above one, read from the list's
				// id index, not from the organization's leads. (PostgreSQL
				// may read the leads above the id from the primary key,
				// when its statistics say few are another organization's.)
				idIndex := regexp.MustCompile(`(?i)(Index (Only )?Scan (Backward )?using|USING (COVERING )?INDEX) ` + sortIndexes["id"][filter.index] + `\b`)
				arrivalsIndex := idIndex
				if f.db.dialect == Postgres {
					arrivalsIndex = regexp.MustCompile(`(?s)Index (Only )?Scan using ` + sortIndexes["id"][filter.index] + `\b|Index Scan using leads_pkey on leads\s+Index Cond: \(id > `)
				}
				query, qargs := store.countStatement(f.org, q, cond, args, true)
				if plan := explain(t, f.db, query, qargs); !idIndex.MatchString(plan) {
					t.Errorf("sort=%s%s: the list's largest id is not read from its id index:\n%s", key, filter.name, plan)
				}
				for _, before := range []impl.LeadKey{*after, {ID: 6000}} {
					if before.Value == nil && sort.Field != "id" && !sort.Nullable() {
						continue
					}
					query, qargs := store.arrivalsStatement(q, cond, args, pageMark{before: before, maxID: 11000}, 10)
					plan := explain(t, f.db, query, qargs)
					if !arrivalsIndex.MatchString(plan) || strings.Contains(plan, "TEMP B-TREE") || regexp.MustCompile(`(?m)^\s*(->\s*)?Sort\b`).MatchString(plan) {
						t.Errorf("sort=%s%s: the arrivals above a mark's largest id are not read in the list's id index:\n%s", key, filter.name, plan)
					}
					// Mended, the mark moves back (or on, past the leads
					// that left) through the order's index alone, in its
					// order.
					for _, forward := range []bool{false, true} {
						for i, st := range store.keysFrom(q, cond, args, before, forward) {
							limit, largs := store.limitOf(10)
							plan := explain(t, f.db, st.query+limit, append(st.args, largs...))
							if !want.MatchString(plan) || strings.Contains(plan, "TEMP B-TREE") || regexp.MustCompile(`(?m)^\s*(->\s*)?(Incremental )?Sort\b`).MatchString(plan) {
								t.Errorf("sort=%s%s, from %v (forward %v), run %d: not read in %s alone:\n%s", key, filter.name, before, forward, i+1, index, plan)
							}
						}
					}
				}
			}
		}
		// An e-mail's leads are counted from an index alone, and so is the
		// phone's lead found (the one index a phone is unique in).
		for _, field := range []string{"name", "deal_value", "id"} {
			q := impl.LeadQuery{Sort: impl.LeadSort{Field: field}, Email: shared}
			cond, args := store.leadConditions(f.org, q)
			query, qargs := store.countStatement(f.org, q, cond, args, false)
			if plan := explain(t, f.db, query, qargs); !regexp.MustCompile(`(?i)(Index Only Scan|COVERING INDEX)`).MatchString(plan) {
				t.Errorf("counting an e-mail's leads for sort=%s reads the table:\n%s", field, plan)
			}
		}
		q := impl.LeadQuery{Sort: impl.LeadSort{Field: "name"}, Phone: ptr("5512"), Limit: 25}
		cond, args := store.leadConditions(f.org, q)
		query, qargs := store.runStatement(q, cond, args, leadRun{limit: 26})
		if plan := explain(t, f.db, query, qargs); !regexp.MustCompile(`leads_phone_unique|sqlite_autoindex_leads_1`).MatchString(plan) {
			t.Errorf("the phone filter does not use the phone's unique index:\n%s", plan)
		}
	})
}

// genericPlan prepares query on a connection of its own, runs it six times
// with args as PostgreSQL's plan cache would, and returns the generic plan
// (EXPLAIN EXECUTE under force_generic_plan) and how many runs used one.
func genericPlan(t *testing.T, db *DB, query string, args []any) (string, int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.pool.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	values := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			values[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case time.Time:
			values[i] = "'" + v.UTC().Format(time.RFC3339Nano) + "'"
		default:
			values[i] = fmt.Sprint(v)
		}
	}
	execute := "EXECUTE page_plan(" + strings.Join(values, ", ") + ")"
	if _, err := conn.ExecContext(ctx, "PREPARE page_plan AS "+db.rebind(query)); err != nil {
		t.Fatalf("prepare %s: %v", query, err)
	}
	defer conn.ExecContext(ctx, "DEALLOCATE page_plan") //nolint:errcheck // the connection goes back clean or not at all
	for range 6 {
		if _, err := conn.ExecContext(ctx, execute); err != nil {
			t.Fatal(err)
		}
	}
	var generic int64
	if err := conn.GetContext(ctx, &generic, `SELECT generic_plans FROM pg_prepared_statements WHERE name = 'page_plan'`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `RESET plan_cache_mode`) //nolint:errcheck // as above
	var lines []string
	if err := conn.SelectContext(ctx, &lines, "EXPLAIN (COSTS OFF) "+execute); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n"), generic
}

// vacuumAllVisible runs VACUUM ANALYZE on a PostgreSQL table until the
// visibility map covers all its pages, or five times. The plans checked
// here read index-only scans, which the planner prices by the share of the
// table's pages that VACUUM marked all-visible. A VACUUM that leaves pages
// unmarked (it skips a page it cannot lock at once) makes the primary key
// look cheaper for sort=id: the plan this test got once, under a whole
// go test ./... against one cluster, and never when run alone.
func vacuumAllVisible(ctx context.Context, t *testing.T, db *DB, table string) {
	t.Helper()
	var pages, visible int64
	for range 5 {
		if _, err := db.pool.ExecContext(ctx, `VACUUM ANALYZE `+table); err != nil {
			t.Fatal(err)
		}
		if err := db.pool.QueryRowContext(ctx, `SELECT relpages, relallvisible FROM pg_class WHERE relname = $1`, table).Scan(&pages, &visible); err != nil {
			t.Fatal(err)
		}
		if visible >= pages {
			return
		}
	}
	t.Logf("%s: %d of %d pages all-visible after five VACUUMs; the plans may prefer another index", table, visible, pages)
}
