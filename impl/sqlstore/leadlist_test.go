package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// documentedOrder compares two leads the way the API documents a sort:
// values in the direction asked (names byte by byte), leads without a value
// last in both directions, ties broken by id in the same direction.
func documentedOrder(sort impl.LeadSort) func(a, b *impl.Lead) int {
	return func(a, b *impl.Lead) int {
		var c int
		switch sort.Field {
		case "name", "deal_value":
			var na, nb bool
			if sort.Field == "name" {
				na, nb = a.Name == nil, b.Name == nil
				if !na && !nb {
					c = strings.Compare(*a.Name, *b.Name)
				}
			} else {
				na, nb = a.DealValue == nil, b.DealValue == nil
				if !na && !nb {
					c = cmp.Compare(*a.DealValue, *b.DealValue)
				}
			}
			if na != nb {
				if na {
					return 1 // missing: last, whatever the direction
				}
				return -1
			}
		case "lead_score":
			c = cmp.Compare(a.LeadScore, b.LeadScore)
		case "created_at":
			c = a.CreatedAt.Compare(b.CreatedAt)
		case "updated_at":
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if sort.Desc {
			return -c
		}
		return c
	}
}

var allLeadSorts = []string{
	"id", "-id", "name", "-name", "created_at", "-created_at",
	"updated_at", "-updated_at", "lead_score", "-lead_score", "deal_value", "-deal_value",
}

// listFixture stores leads whose every sort field has ties, missing values
// and values that collations disagree on, in two temperatures, with an
// e-mail that several share; and leads of another organization with the
// same values, which must never show.
func listFixture(t *testing.T, f *fixture) []*impl.Lead {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 12))
	names := []*string{nil, ptr(""), ptr("alice"), ptr("alicE"), ptr("Bob"), ptr("émile"), ptr("Ängström"),
		ptr("10"), ptr("9"), ptr("Zoe"), nil, ptr("alice")}
	deals := []*float64{nil, ptr(0.0), ptr(0.5), ptr(100.0), ptr(99.99), ptr(1e12), nil}
	var leads []*impl.Lead
	for i := range 64 {
		// Several leads share a timestamp; others differ by a fraction.
		f.clock.set(sortBase.Add(time.Duration(i/3) * time.Second).Add(time.Duration(rng.IntN(3)) * 250 * time.Millisecond))
		l := &impl.Lead{
			Phone:       fmt.Sprintf("55119%08d", i),
			Name:        names[rng.IntN(len(names))],
			DealValue:   deals[rng.IntN(len(deals))],
			LeadScore:   int32(rng.IntN(5) * 25),
			Temperature: []string{impl.TemperatureHot, impl.TemperatureCold, impl.TemperatureCold}[i%3],
		}
		switch {
		case i%4 == 0:
			l.Email = ptr("compras@cliente.com.br")
		case i%4 == 1:
			l.Email = ptr(fmt.Sprintf("lead%d@cliente.com.br", i))
		}
		for _, org := range []int64{f.other, f.org} {
			c := *l
			f.mustCreate(t, org, &c)
			if org == f.org {
				leads = append(leads, &c)
			}
		}
	}
	// Some are touched later, so updated_at has its own order.
	for i, l := range leads {
		if i%5 != 0 {
			continue
		}
		f.clock.set(sortBase.Add(time.Hour + time.Duration(rng.IntN(4))*time.Second))
		u, err := f.s.Leads.UpdateLead(ctx, f.org, l.ID, func(l *impl.Lead) error { l.LeadScore++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		leads[i] = u
	}
	return leads
}

// listFilters are the filters the list tests walk.
var listFilters = []struct {
	name   string
	filter impl.LeadFilter
	keep   func(*impl.Lead) bool
}{
	{"no filter", impl.LeadFilter{}, func(*impl.Lead) bool { return true }},
	{"temperature", impl.LeadFilter{Temperature: ptr("hot")}, func(l *impl.Lead) bool { return l.Temperature == "hot" }},
	{"email", impl.LeadFilter{Email: ptr("Compras@Cliente.com.br")},
		func(l *impl.Lead) bool { return l.Email != nil && *l.Email == "compras@cliente.com.br" }},
	{"email and temperature", impl.LeadFilter{Email: ptr("compras@cliente.com.br"), Temperature: ptr("cold")},
		func(l *impl.Lead) bool {
			return l.Email != nil && *l.Email == "compras@cliente.com.br" && l.Temperature == "cold"
		}},
	{"phone", impl.LeadFilter{Phone: ptr("+55 11 9000-00007")}, func(l *impl.Lead) bool { return l.Phone == "5511900000007" }},
	{"nothing matches", impl.LeadFilter{Temperature: ptr("frozen")}, func(l *impl.Lead) bool { return false }},
}

func idsOf(leads []*impl.Lead) []int64 {
	ids := []int64{}
	for _, l := range leads {
		ids = append(ids, l.ID)
	}
	return ids
}

// TestLeadListOrdersPagesAndWalks checks every sort under every filter: the
// order is the documented one, numbered pages and a walk by cursor both give
// every lead exactly once and in that order, each page carries the exact
// total, and a walk can start from any numbered page and change its page
// size as it goes. Both databases must give the same orders.
func TestLeadListOrdersPagesAndWalks(t *testing.T) {
	ctx := context.Background()
	orders := map[string]map[string][]string{} // dialect -> filter/sort -> phones in order
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFixture(t, d.URL)
			all := listFixture(t, f)
			orders[d.Name] = map[string][]string{}
			for _, lf := range listFilters {
				for _, key := range append(slices.Clone(allLeadSorts), "") {
					name := lf.name + "/" + cmp.Or(key, "default")
					t.Run(name, func(t *testing.T) {
						sort, _ := impl.ParseLeadSort(key)
						want := slices.DeleteFunc(slices.Clone(all), func(l *impl.Lead) bool { return !lf.keep(l) })
						slices.SortFunc(want, documentedOrder(sort))
						filter := lf.filter
						filter.Sort = key

						// Numbered pages of 7: walked to from the list's start;
						// then each read after the mark (see pageMarks) the page
						// before it left; then backwards, each after the mark
						// the forward pass left.
						for _, pass := range []struct {
							from      int64
							backwards bool
						}{{math.MaxInt64, false}, {1, false}, {1, true}} {
							f.s.Leads.marks.from = pass.from
							var offsets []int64
							for off := int64(0); off <= int64(len(want)); off += 7 {
								offsets = append(offsets, off)
							}
							if pass.backwards {
								slices.Reverse(offsets)
							}
							pages := map[int64][]*impl.Lead{}
							for _, off := range offsets {
								filter.Offset, filter.Limit = off, 7
								page, err := f.s.Leads.FindLeads(ctx, f.org, filter)
								if err != nil {
									t.Fatal(err)
								}
								if page.Total != int64(len(want)) || page.Offset != off {
									t.Fatalf("page at %d: total %d, offset %d; want %d, %d", off, page.Total, page.Offset, len(want), off)
								}
								if more := off+7 < int64(len(want)); more != (page.Next != "") {
									t.Errorf("page at %d of %d: next cursor %q", off, len(want), page.Next)
								}
								pages[off] = page.Leads
							}
							slices.Sort(offsets)
							var paged []*impl.Lead
							for _, off := range offsets {
								paged = append(paged, pages[off]...)
							}
							if got := idsOf(paged); !slices.Equal(got, idsOf(want)) {
								t.Fatalf("numbered pages (marks from %d, backwards %v) give\n %v\nwant\n %v", pass.from, pass.backwards, got, idsOf(want))
							}
							for i := range want {
								sameLead(t, fmt.Sprintf("lead %d", i), paged[i], want[i])
							}
						}
						f.s.Leads.marks.from = 0

						// A walk from the first page, changing its page size.
						walk := func(first impl.LeadFilter, sizes ...int) []int64 {
							t.Helper()
							var got []int64
							filter := first
							for i := 0; ; i++ {
								page, err := f.s.Leads.FindLeads(ctx, f.org, filter)
								if err != nil {
									t.Fatalf("page %d of the walk: %v", i, err)
								}
								if page.Total != int64(len(want)) {
									t.Fatalf("page %d of the walk: total %d, want %d", i, page.Total, len(want))
								}
								if page.Offset != first.Offset+int64(len(got)) {
									t.Errorf("page %d of the walk starts at %d, after %d leads from %d", i, page.Offset, len(got), first.Offset)
								}
								got = append(got, idsOf(page.Leads)...)
								if page.Next == "" {
									return got
								}
								if i > len(want) {
									t.Fatalf("the walk does not end")
								}
								// Only the cursor: it carries the sort and the filters.
								filter = impl.LeadFilter{Cursor: page.Next, Limit: sizes[i%len(sizes)]}
							}
						}
						first := filter
						first.Offset, first.Limit = 0, 3
						if got := walk(first, 10, 1, 4); !slices.Equal(got, idsOf(want)) {
							t.Errorf("a walk by cursor gives\n %v\nwant\n %v", got, idsOf(want))
						}
						// From a numbered page, on by cursor: the rest, once.
						if len(want) > 9 {
							first.Offset, first.Limit = 6, 3
							if got := walk(first, 5); !slices.Equal(got, idsOf(want)[6:]) {
								t.Errorf("a walk from offset 6 gives\n %v\nwant\n %v", got, idsOf(want)[6:])
							}
						}
						var phones []string
						for _, l := range want {
							phones = append(phones, l.Phone)
						}
						orders[d.Name][name] = phones
					})
				}
			}
		})
	}
	if sq, pg := orders["sqlite"], orders["postgres"]; sq != nil && pg != nil {
		for key, o := range sq {
			if !slices.Equal(o, pg[key]) {
				t.Errorf("%s: SQLite gives %v, PostgreSQL %v", key, o, pg[key])
			}
		}
	}
}

// TestLeadCursorMisuse: a cursor is refused, never followed into other rows,
// when it is another organization's, altered, or asked with another sort or
// filter or with an offset; it keeps working across connections (replicas)
// and reopenings of the database, since the key it is signed with is stored.
func TestLeadCursorMisuse(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		for i := range 5 {
			f.mustCreate(t, f.org, &impl.Lead{Phone: fmt.Sprintf("5511900000%02d", i), Temperature: "hot"})
			f.mustCreate(t, f.other, &impl.Lead{Phone: fmt.Sprintf("5511900000%02d", i), Temperature: "hot"})
		}
		first, err := f.s.Leads.FindLeads(ctx, f.org, impl.LeadFilter{Sort: "id", Temperature: ptr("hot"), Limit: 2})
		if err != nil || first.Next == "" {
			t.Fatalf("first page: %+v, %v", first, err)
		}
		bad := func(what string, org int64, filter impl.LeadFilter) {
			t.Helper()
			page, err := f.s.Leads.FindLeads(ctx, org, filter)
			if impl.ErrorCode(err) != impl.EBadRequest {
				t.Errorf("%s: %v (page %+v), want bad_request", what, err, page)
			}
		}
		bad("another organization's cursor", f.other, impl.LeadFilter{Cursor: first.Next, Limit: 2})
		bad("another sort", f.org, impl.LeadFilter{Cursor: first.Next, Sort: "-id", Limit: 2})
		bad("another temperature", f.org, impl.LeadFilter{Cursor: first.Next, Temperature: ptr("cold"), Limit: 2})
		bad("an offset", f.org, impl.LeadFilter{Cursor: first.Next, Offset: 2, Limit: 2})
		altered := []byte(first.Next)
		if mid := len(altered) / 2; altered[mid] == 'A' {
			altered[mid] = 'B'
		} else {
			altered[mid] = 'A'
		}
		bad("altered", f.org, impl.LeadFilter{Cursor: string(altered), Limit: 2})

		// Another connection pool on the same database, as a replica or a
		// restarted server has, reads the same key.
		again := openStore(t, dbURLOf(t, f))
		page, err := NewStores(again).Leads.FindLeads(ctx, f.org, impl.LeadFilter{Cursor: first.Next, Limit: 10})
		if err != nil || len(page.Leads) != 3 || page.Leads[0].ID <= first.Leads[1].ID || page.Next != "" {
			t.Errorf("the cursor on another connection: %+v, %v", page, err)
		}
		var keys int
		if err := f.db.pool.GetContext(ctx, &keys, `SELECT COUNT(*) FROM signing_keys`); err != nil || keys != 1 {
			t.Errorf("%d signing keys, %v; want 1", keys, err)
		}
	})
}

// dbURLOf is the URL the fixture's database was opened with.
func dbURLOf(t *testing.T, f *fixture) string {
	t.Helper()
	if f.db.dialect == SQLite {
		return "sqlite:" + strings.TrimPrefix(strings.SplitN(f.db.dsn, "?", 2)[0], "file:")
	}
	return f.db.dsn
}

// TestSigningKeyMadeOnce: servers that start at once and all need the key
// end up with the one key that was stored.
func TestSigningKeyMadeOnce(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		url := dbURLOf(t, f)
		keys := make([][]byte, 6)
		var wg sync.WaitGroup
		for i := range keys {
			db := openStore(t, url)
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := db.signingKey(ctx, leadCursorKey)
				if err != nil {
					t.Errorf("server %d: %v", i, err)
				}
				keys[i] = k
			}()
		}
		wg.Wait()
		for i, k := range keys {
			if len(k) != 32 || string(k) != string(keys[0]) {
				t.Errorf("server %d has key %x, server 0 %x", i, k, keys[0])
			}
		}
	})
}

// countsOf reads the counters and what they should say, counted, leaving
// out counters at zero (a temperature an organization no longer has).
func countsOf(t *testing.T, f *fixture) (kept, counted []string) {
	t.Helper()
	read := func(query string) []string {
		rows, err := f.db.pool.QueryContext(context.Background(), query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var org, total, named, valued int64
			var temp string
			if err := rows.Scan(&org, &temp, &total, &named, &valued); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("org %d %s: %d leads, %d named, %d with a deal value", org, temp, total, named, valued))
		}
		return out
	}
	// The slots of a counter add up to it (see migration 00010).
	kept = read(`SELECT organization_id, temperature, SUM(total), SUM(with_name), SUM(with_deal_value) FROM lead_counts
		GROUP BY organization_id, temperature
		HAVING SUM(total) <> 0 OR SUM(with_name) <> 0 OR SUM(with_deal_value) <> 0 ORDER BY organization_id, temperature`)
	counted = read(`SELECT organization_id, temperature, COUNT(*), COUNT(name), COUNT(deal_value) FROM leads
		GROUP BY organization_id, temperature ORDER BY organization_id, temperature`)
	return kept, counted
}

func (f *fixture) wantCountsExact(t *testing.T, after string) {
	t.Helper()
	kept, counted := countsOf(t, f)
	if !slices.Equal(kept, counted) {
		t.Errorf("after %s the counters say\n %s\nthe leads are\n %s", after, strings.Join(kept, "\n "), strings.Join(counted, "\n "))
	}
	// And the list says the same.
	ctx := context.Background()
	for _, org := range []int64{f.org, f.other} {
		for _, temp := range append([]*string{nil}, ptr("hot"), ptr("warm"), ptr("cold")) {
			var n int64
			cond, args := "organization_id = ?", []any{org}
			if temp != nil {
				cond, args = cond+" AND temperature = ?", append(args, *temp)
			}
			if err := f.db.pool.GetContext(ctx, &n, f.db.rebind(`SELECT COUNT(*) FROM leads WHERE `+cond), args...); err != nil {
				t.Fatal(err)
			}
			page, err := f.s.Leads.FindLeads(ctx, org, impl.LeadFilter{Temperature: temp, Limit: 1})
			if err != nil || page.Total != n {
				t.Errorf("after %s, organization %d, temperature %s: total %d, %v; %d leads counted", after, org, str(temp), page.Total, err, n)
			}
		}
	}
}

// TestLeadCountsFollowEveryWrite: the counters behind meta.total stay exact
// through the store's writes and through SQL written by hand (a bulk import,
// a bulk fix, a bulk delete), because the database keeps them.
func TestLeadCountsFollowEveryWrite(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.wantCountsExact(t, "nothing")
		var leads []*impl.Lead
		for i := range 12 {
			l := &impl.Lead{Phone: fmt.Sprintf("5511900000%02d", i), Temperature: []string{"hot", "cold", "warm"}[i%3]}
			if i%2 == 0 {
				l.Name = ptr("Maria")
			}
			if i%4 == 0 {
				l.DealValue = ptr(10.0)
			}
			leads = append(leads, f.mustCreate(t, f.org, l))
		}
		f.mustCreate(t, f.other, &impl.Lead{Phone: "5511900000001", Name: ptr("Ana")})
		f.wantCountsExact(t, "creates")

		for _, change := range []struct {
			what string
			fn   func(*impl.Lead)
		}{
			{"a temperature change", func(l *impl.Lead) { l.Temperature = "warm" }},
			{"a name set", func(l *impl.Lead) { l.Name = ptr("João") }},
			{"a name cleared", func(l *impl.Lead) { l.Name = nil }},
			{"a deal value set and the temperature changed", func(l *impl.Lead) { l.DealValue = ptr(1.0); l.Temperature = "hot" }},
			{"a deal value cleared", func(l *impl.Lead) { l.DealValue = nil }},
			{"a score change", func(l *impl.Lead) { l.LeadScore = 99 }},
		} {
			for _, l := range leads[:4] {
				if _, err := f.s.Leads.UpdateLead(ctx, f.org, l.ID, func(l *impl.Lead) error { change.fn(l); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			f.wantCountsExact(t, change.what)
		}
		if err := f.s.Leads.DeleteLead(ctx, f.org, leads[5].ID); err != nil {
			t.Fatal(err)
		}
		f.wantCountsExact(t, "a delete")

		exec := func(what, query string, args ...any) {
			t.Helper()
			if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(query), args...); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			f.wantCountsExact(t, what)
		}
		// A bulk import: one statement, many rows, straight into the table.
		exec("a bulk import", `INSERT INTO leads (organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at)
			SELECT ?, phone || '9', name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at
			FROM leads WHERE organization_id = ?`, f.other, f.org)
		exec("a bulk fix", `UPDATE leads SET temperature = 'frozen', name = NULL WHERE organization_id = ? AND lead_score < 50`, f.other)
		exec("a bulk fix that changes nothing counted", `UPDATE leads SET lead_score = lead_score + 1 WHERE organization_id = ?`, f.other)
		exec("a bulk delete", `DELETE FROM leads WHERE organization_id = ? AND temperature = 'hot'`, f.org)
		exec("an update that matches nothing", `UPDATE leads SET temperature = 'cool' WHERE organization_id = ? AND temperature = 'nonexistent'`, f.org)

		// A statement that fails rolls its counting back with it.
		_, err := f.db.pool.ExecContext(ctx, f.db.rebind(`INSERT INTO leads (organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at)
			SELECT organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at
			FROM leads WHERE organization_id = ?`), f.org)
		if !isUniqueViolation(err) {
			t.Fatalf("a duplicate import: %v, want a unique violation", err)
		}
		f.wantCountsExact(t, "a failed import")

		// An organization deleted takes its leads and its counters.
		exec("an organization deleted", `DELETE FROM organizations WHERE id = ?`, f.other)
		var left int
		if err := f.db.pool.GetContext(ctx, &left, f.db.rebind(`SELECT COUNT(*) FROM lead_counts WHERE organization_id = ?`), f.other); err != nil || left != 0 {
			t.Errorf("%d counters of the deleted organization, %v", left, err)
		}
		if f.db.dialect == Postgres {
			exec("TRUNCATE", `TRUNCATE leads CASCADE`)
		} else {
			exec("DELETE without WHERE", `DELETE FROM leads`)
		}
	})
}

// TestLeadCountsUnderConcurrentWrites: writers changing leads of one
// organization at once neither deadlock on the counters nor lose a count.
func TestLeadCountsUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 15 {
					l := &impl.Lead{Phone: fmt.Sprintf("55119%02d%06d", w, i), Temperature: []string{"hot", "cold"}[i%2]}
					if err := f.s.Leads.CreateLead(ctx, f.org, l); err != nil {
						t.Errorf("writer %d create: %v", w, err)
						return
					}
					_, err := f.s.Leads.UpdateLead(ctx, f.org, l.ID, func(l *impl.Lead) error {
						l.Temperature, l.Name = []string{"warm", "hot", "cold"}[i%3], ptr("x")
						return nil
					})
					if err != nil {
						t.Errorf("writer %d update: %v", w, err)
						return
					}
					if i%4 == 0 {
						if err := f.s.Leads.DeleteLead(ctx, f.org, l.ID); err != nil {
							t.Errorf("writer %d delete: %v", w, err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		f.wantCountsExact(t, "concurrent writers")
	})
}

// TestLeadCountsDoNotQueueWriters: on PostgreSQL a transaction that has
// created a lead and not yet committed does not hold up another session's
// lead in the same organization and temperature: their counters are in
// different slots (migration 00010). With one counter row per organization
// and temperature, the second insert waits for the first to commit. SQLite
// has one writer at a time and is not concerned.
func TestLeadCountsDoNotQueueWriters(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		if f.db.dialect != Postgres {
			t.Skip("SQLite has one writer at a time")
		}
		// Two sessions whose backends write to different slots.
		slotOf := func(c *sql.Conn) int {
			var s int
			if err := c.QueryRowContext(ctx, `SELECT pg_backend_pid() % 16`).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		first, err := f.db.pool.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		var second *sql.Conn
		var held []*sql.Conn
		for range 64 {
			c, err := f.db.pool.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if slotOf(c) != slotOf(first) {
				second = c
				break
			}
			held = append(held, c) // kept, so the pool opens another session
		}
		for _, c := range held {
			c.Close()
		}
		if second == nil {
			t.Fatal("no session with another slot among 64")
		}
		defer second.Close()

		insert := `INSERT INTO leads (organization_id, phone, temperature, lead_score, created_at, updated_at)
			VALUES ($1, $2, 'hot', 0, now(), now())`
		tx, err := first.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, insert, f.org, "5511900000001"); err != nil {
			t.Fatal(err)
		}
		waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := second.ExecContext(waitCtx, insert, f.org, "5511900000002"); err != nil {
			t.Fatalf("a second writer of the organization waited for the first one's commit: %v", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		f.wantCountsExact(t, "two sessions' creates")
		var slots int
		if err := f.db.pool.GetContext(ctx, &slots, `SELECT COUNT(DISTINCT slot) FROM lead_counts WHERE organization_id = $1`, f.org); err != nil {
			t.Fatal(err)
		}
		if slots != 2 {
			t.Errorf("the organization's counters are in %d slots, want 2", slots)
		}
	})
}

// TestLeadCountSlotsMigrateDownAndUp: migration 00010 undone sums the slots
// back into one counter per organization and temperature, and done again
// keeps them exact, on both databases.
func TestLeadCountSlotsMigrateDownAndUp(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		for i := range 6 {
			f.mustCreate(t, f.org, &impl.Lead{Phone: fmt.Sprintf("55119000000%02d", i), Temperature: []string{"hot", "cold"}[i%2], Name: ptr("Ana")})
		}
		if f.db.dialect == Postgres {
			// Counters of one temperature spread over two slots, as
			// concurrent sessions leave them.
			if _, err := f.db.pool.ExecContext(ctx, `UPDATE lead_counts SET total = total - 1, with_name = with_name - 1
				WHERE organization_id = $1 AND temperature = 'hot'`, f.org); err != nil {
				t.Fatal(err)
			}
			if _, err := f.db.pool.ExecContext(ctx, `INSERT INTO lead_counts (organization_id, temperature, slot, total, with_name, with_deal_value)
				VALUES ($1, 'hot', 15, 1, 1, 0) ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET total = lead_counts.total + 1, with_name = lead_counts.with_name + 1`, f.org); err != nil {
				t.Fatal(err)
			}
		}
		f.wantCountsExact(t, "creates")
		p := migrationProvider(t, f.db)
		if _, err := p.DownTo(ctx, 9); err != nil {
			t.Fatalf("down to 9: %v", err)
		}
		// The counters alone: the list reads the revisions of 00012.
		countersExact := func(after string) {
			t.Helper()
			if kept, counted := countsOf(t, f); !slices.Equal(kept, counted) {
				t.Errorf("after %s the counters say\n %s\nthe leads are\n %s", after, strings.Join(kept, "\n "), strings.Join(counted, "\n "))
			}
		}
		countersExact("undoing 00010")
		f.mustCreate(t, f.org, &impl.Lead{Phone: "5511900000099", Temperature: "hot"})
		countersExact("a create under 00009")
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("up: %v", err)
		}
		f.mustCreate(t, f.org, &impl.Lead{Phone: "5511900000098", Temperature: "warm"})
		f.wantCountsExact(t, "00010 again and a create")
	})
}

// On SQLite the list's statements are prepared once and kept (see
// readRun): their text must hold no value, or every new filter value or
// cursor would prepare and keep one more. Walks with every filter and sort,
// then again with other values, prepare nothing new the second time.
// statementsBounded runs a walk of a list and then another with other
// values, and fails unless the first kept at least min statements in the
// prepared-statement cache (the list prepares them) and the second kept
// none more (their text holds no value).
func (f *fixture) statementsBounded(t *testing.T, min int, first, again func()) {
	t.Helper()
	count := func() (n int) {
		f.db.stmts.Range(func(any, any) bool { n++; return true })
		return n
	}
	first()
	kept := count()
	if kept < min {
		t.Errorf("%d statements kept after the walk: the list does not prepare its statements", kept)
	}
	t.Logf("%d statements kept", kept)
	again()
	if n := count(); n != kept {
		t.Errorf("the second walk, with other values, prepared %d statements more", n-kept)
	}
}

// TestLeadListStatementsAreBounded: a list's pages are read through
// statements prepared once, on both databases, and reading other values
// prepares no more of them.
func TestLeadListStatementsAreBounded(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) { leadListStatementsAreBounded(t, f) })
}

func leadListStatementsAreBounded(t *testing.T, f *fixture) {
	ctx := context.Background()
	for i := range 6 {
		email := fmt.Sprintf("p%d@example.com", i%2)
		temp := []string{"cold", "warm", "hot"}[i%3]
		score := int32(i * 10)
		f.mustCreate(t, f.org, &impl.Lead{Phone: fmt.Sprintf("551190000%04d", i), Email: &email, Temperature: temp,
			LeadScore: score, Name: ptr(fmt.Sprintf("Lead %d", i))})
	}
	walk := func(phone, email, temp string) {
		t.Helper()
		for field := range impl.LeadSortColumns {
			for _, sort := range []string{field, "-" + field} {
				for _, filter := range []impl.LeadFilter{
					{Sort: sort, Limit: 2},
					{Sort: sort, Limit: 2, Offset: 2},
					{Sort: sort, Limit: 2, Temperature: &temp},
					{Sort: sort, Limit: 2, Email: &email},
					{Sort: sort, Limit: 2, Email: &email, Temperature: &temp},
					{Sort: sort, Limit: 2, Phone: &phone},
				} {
					for range 3 { // the first page, then two by cursor
						page, err := f.s.Leads.FindLeads(ctx, f.org, filter)
						if err != nil {
							t.Fatalf("%+v: %v", filter, err)
						}
						if page.Next == "" {
							break
						}
						filter.Cursor, filter.Offset = page.Next, 0
					}
				}
			}
		}
	}
	f.statementsBounded(t, 24, func() { walk("5511900000001", "p0@example.com", "hot") },
		func() { walk("5511900000002", "p1@example.com", "cold") })
}
