package sqlstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// TestLeadPageMarksFollowEveryWrite: a numbered page read after a mark is
// the page the list has now, after every kind of write, whoever made it: the
// API's store, or SQL that bypasses it (a bulk import, a manual fix, another
// replica). Each write moves a lead across the pages' marks; a mark trusted
// after it would give a page shifted by that lead. The marks are used
// (counted hits), and the pages are compared with a store that keeps none.
func TestLeadPageMarksFollowEveryWrite(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.s.Leads.marks.from = 1
		plain := &LeadStore{db: f.db}
		plain.marks.from = math.MaxInt64
		var ids []int64
		for i := range 40 {
			l := &impl.Lead{
				Phone: fmt.Sprintf("55119%08d", i), Name: ptr(fmt.Sprintf("lead %02d", i)),
				LeadScore: int32(i % 7 * 10), Temperature: []string{impl.TemperatureHot, impl.TemperatureCold}[i%2],
			}
			if i%3 != 0 {
				l.DealValue = ptr(float64(i * 100))
			}
			if i%8 == 5 {
				l.Name = nil
			}
			f.clock.advance(time.Second) // each lead its own times
			ids = append(ids, f.mustCreate(t, f.org, l).ID)
			f.mustCreate(t, f.other, &impl.Lead{Phone: l.Phone, Name: l.Name, Temperature: l.Temperature})
		}
		exec := func(query string, args ...any) {
			t.Helper()
			if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(query), args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		lists := []impl.LeadFilter{
			{Sort: "name"}, {Sort: "-deal_value"}, {Sort: "lead_score"}, {Sort: "-updated_at"},
			{Sort: "-name", Temperature: ptr(impl.TemperatureCold)}, {Sort: "deal_value", Temperature: ptr(impl.TemperatureHot)},
			{Sort: "created_at"}, {Sort: "-id"},
		}
		// pages reads every page of 6 of each list from store, the last
		// first when backwards: then each page is read after the mark an
		// earlier call left, not one this call just left.
		pages := func(store *LeadStore, backwards bool) [][]int64 {
			t.Helper()
			var all [][]int64
			for _, list := range lists {
				list.Limit = 6
				first, err := store.FindLeads(ctx, f.org, list)
				if err != nil {
					t.Fatal(err)
				}
				offsets := []int64{}
				for off := int64(0); off < first.Total; off += 6 {
					offsets = append(offsets, off)
				}
				if backwards {
					slices.Reverse(offsets)
				}
				var read [][]int64
				for _, off := range offsets {
					list.Offset = off
					page, err := store.FindLeads(ctx, f.org, list)
					if err != nil {
						t.Fatal(err)
					}
					read = append(read, idsOf(page.Leads))
				}
				if backwards {
					slices.Reverse(read)
				}
				all = append(all, read...)
			}
			return all
		}
		check := func(after string) {
			t.Helper()
			hits := f.s.Leads.marks.hits.Load()
			want := pages(plain, false)
			// Backwards, each page is read after the mark the last check
			// left (stale, were the revision not moved by the write);
			// forwards, after the mark the page before it just left.
			for round, backwards := range []bool{true, false} {
				if got := pages(f.s.Leads, backwards); !slices.EqualFunc(got, want, slices.Equal) {
					t.Fatalf("after %s, round %d: pages\n %v\nwant\n %v", after, round, got, want)
				}
			}
			if f.s.Leads.marks.hits.Load() == hits {
				t.Errorf("after %s: no page was read after a mark", after)
			}
		}
		check("the leads were made")
		writes := []struct {
			what  string
			query string
			args  []any
		}{
			{"a name set by SQL", `UPDATE leads SET name = 'a first' WHERE id = ?`, []any{ids[30]}},
			{"a name removed by SQL", `UPDATE leads SET name = NULL WHERE id = ?`, []any{ids[2]}},
			{"a score changed by SQL", `UPDATE leads SET lead_score = 99 WHERE id = ?`, []any{ids[0]}},
			{"a deal value changed by SQL", `UPDATE leads SET deal_value = 1 WHERE id = ?`, []any{ids[38]}},
			{"a temperature changed by SQL", `UPDATE leads SET temperature = 'cold' WHERE id = ?`, []any{ids[4]}},
			{"an update time moved by SQL", `UPDATE leads SET updated_at = (SELECT MIN(created_at) FROM leads) WHERE id = ?`, []any{ids[39]}},
			{"a creation time moved by SQL", `UPDATE leads SET created_at = (SELECT MIN(created_at) FROM leads) WHERE id = ?`, []any{ids[35]}},
			{"a company changed by SQL", `UPDATE leads SET company_name = 'Acme' WHERE id = ?`, []any{ids[8]}},
			{"a lead deleted by SQL", `DELETE FROM leads WHERE id = ?`, []any{ids[1]}},
			{"a lead inserted by SQL", `INSERT INTO leads (organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at)
				SELECT organization_id, '5511999999999', 'a second', email, company_name, temperature, lead_score, 5, created_at, updated_at FROM leads WHERE id = ?`, []any{ids[3]}},
			{"a lead's id changed by SQL", `UPDATE leads SET id = 0 WHERE phone = '5511999999999'`, nil},
			{"two leads swapping temperatures by SQL", `UPDATE leads SET temperature = CASE WHEN temperature = 'hot' THEN 'cold' ELSE 'hot' END WHERE id IN (?, ?)`,
				[]any{ids[2], ids[37]}},
			{"two leads swapping names by SQL", `UPDATE leads SET name = CASE WHEN id = ? THEN 'lead 11' ELSE 'lead 10' END WHERE id IN (?, ?)`, []any{ids[10], ids[10], ids[11]}},
		}
		for _, w := range writes {
			exec(w.query, w.args...)
			check(w.what)
		}
		// One lead gone and another come, with the totals as they were.
		exec(`DELETE FROM leads WHERE id = ?`, ids[9])
		exec(`INSERT INTO leads (organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at)
			SELECT organization_id, '5511999999998', 'a third', email, company_name, temperature, lead_score, deal_value, created_at, updated_at FROM leads WHERE id = ?`, ids[21])
		check("a lead deleted and another inserted by SQL")
		// And through the store.
		if _, err := f.s.Leads.UpdateLead(ctx, f.org, ids[5], func(l *impl.Lead) error { l.Name = ptr("lead 99"); return nil }); err != nil {
			t.Fatal(err)
		}
		check("a name changed through the store")
		if err := f.s.Leads.DeleteLead(ctx, f.org, ids[6]); err != nil {
			t.Fatal(err)
		}
		check("a lead deleted through the store")
		// Another organization's writes leave this one's marks standing.
		hits := f.s.Leads.marks.hits.Load()
		pages(f.s.Leads, true)
		exec(`UPDATE leads SET lead_score = 1 WHERE organization_id = ?`, f.other)
		before := f.s.Leads.marks.hits.Load()
		pages(f.s.Leads, true)
		if f.s.Leads.marks.hits.Load()-before != before-hits {
			t.Errorf("after another organization's write, %d pages read after a mark; want %d", f.s.Leads.marks.hits.Load()-before, before-hits)
		}
	})
}

// TestLeadPageMarksBounded: the marks a store keeps stay under marksMax
// however many lists and pages are asked for.
func TestLeadPageMarksBounded(t *testing.T) {
	var p pageMarks
	q := impl.LeadQuery{Sort: impl.LeadSort{Field: "name"}}
	for i := range marksMax + 100 {
		p.leave(1, q, int64(i+markFrom), leadCounts{Total: 10}, &impl.Lead{ID: int64(i + 1), Name: ptr("x")})
	}
	if len(p.byAt) != marksMax {
		t.Fatalf("%d marks kept, want %d", len(p.byAt), marksMax)
	}
	if _, ok := p.before(1, q, int64(marksMax+99+markFrom), leadCounts{Total: 10}); !ok {
		t.Errorf("the newest mark was not kept")
	}
	if _, ok := p.before(1, q, int64(marksMax+99+markFrom), leadCounts{Total: 10, Revision: 1}); ok {
		t.Errorf("a mark was taken at another revision")
	}
}

// TestLeadDeepPageCounts: DeepPageCounts (what /metrics shows) counts a
// deep page walked to when no mark holds, and read after a mark when one
// does: its own from an earlier read, or the one the page before it left.
func TestLeadDeepPageCounts(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.s.Leads.marks.from = 5
		var ids []int64
		for i := range 20 {
			ids = append(ids, f.mustCreate(t, f.org, &impl.Lead{Phone: fmt.Sprintf("55119%08d", i), Temperature: "hot"}).ID)
		}
		read := func(offset int64, wantAfter, wantWalked int64) {
			t.Helper()
			page, err := f.s.Leads.FindLeads(ctx, f.org, impl.LeadFilter{Sort: "id", Offset: offset, Limit: 5})
			if err != nil || len(page.Leads) != 5 || page.Leads[0].ID != ids[offset] {
				t.Fatalf("page at %d: %+v, %v", offset, page, err)
			}
			if after, walked := f.s.Leads.DeepPageCounts(); after != wantAfter || walked != wantWalked {
				t.Errorf("after the page at %d: %d after a mark, %d walked; want %d, %d", offset, after, walked, wantAfter, wantWalked)
			}
		}
		read(0, 0, 0)  // not deep
		read(10, 0, 1) // no mark yet
		read(10, 1, 1) // its own mark
		read(15, 2, 1) // the mark the page before it left
		if _, err := f.s.Leads.UpdateLead(ctx, f.org, ids[3], func(l *impl.Lead) error { l.LeadScore = 7; return nil }); err != nil {
			t.Fatal(err)
		}
		read(15, 3, 1) // a new score leaves the order by id as it was
		f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999999", Temperature: "hot"})
		read(15, 3, 2) // a new lead: walked again
	})
}

// TestLeadPageMarksOutliveOtherFields: a write leaves standing the marks
// of every order it cannot have changed, and only those: each sort's deep
// page is walked to again after a write that changes its field or the
// list's leads, and read after its mark after any other. Whichever it is,
// the page is the one a store without marks reads.
func TestLeadPageMarksOutliveOtherFields(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.s.Leads.marks.from = 1
		plain := &LeadStore{db: f.db}
		plain.marks.from = math.MaxInt64
		var ids []int64
		for i := range 30 {
			l := &impl.Lead{Phone: fmt.Sprintf("55119%08d", i), Name: ptr(fmt.Sprintf("lead %02d", 29-i)),
				LeadScore: int32(i * 3 % 10), Temperature: impl.TemperatureHot, DealValue: ptr(float64(i % 4 * 100))}
			if i%5 == 2 {
				l.Name, l.DealValue = nil, nil
			}
			f.clock.advance(time.Second)
			ids = append(ids, f.mustCreate(t, f.org, l).ID)
		}
		exec := func(query string, args ...any) {
			t.Helper()
			if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(query), args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		update := func(id int64, change func(*impl.Lead)) func() {
			return func() {
				if _, err := f.s.Leads.UpdateLead(ctx, f.org, id, func(l *impl.Lead) error { change(l); return nil }); err != nil {
					t.Fatal(err)
				}
			}
		}
		sorts := []string{"id", "name", "created_at", "updated_at", "lead_score", "deal_value"}
		all := map[string]bool{}
		for _, s := range sorts {
			all[s] = true
		}
		writes := []struct {
			what  string
			write func()
			walks map[string]bool // the sorts whose deep pages walk again
		}{
			{"a score through the store", update(ids[4], func(l *impl.Lead) { l.LeadScore = 99 }),
				map[string]bool{"lead_score": true, "updated_at": true}},
			{"a name through the store", update(ids[6], func(l *impl.Lead) { l.Name = ptr("a first") }),
				map[string]bool{"name": true, "updated_at": true}},
			{"a name given to a lead without one, by SQL", func() { exec(`UPDATE leads SET name = 'zz' WHERE id = ?`, ids[7]) },
				map[string]bool{"name": true}},
			{"a deal value by SQL", func() { exec(`UPDATE leads SET deal_value = 5 WHERE id = ?`, ids[9]) },
				map[string]bool{"deal_value": true}},
			{"a company by SQL", func() { exec(`UPDATE leads SET company_name = 'Acme' WHERE id = ?`, ids[10]) },
				map[string]bool{}},
			{"an update that changes nothing, by SQL", func() { exec(`UPDATE leads SET lead_score = lead_score WHERE organization_id = ?`, f.org) },
				map[string]bool{}},
			{"a creation time by SQL", func() {
				exec(`UPDATE leads SET created_at = (SELECT MIN(created_at) FROM leads) WHERE id = ?`, ids[25])
			},
				map[string]bool{"created_at": true}},
			{"a temperature by SQL", func() { exec(`UPDATE leads SET temperature = 'cold' WHERE id = ?`, ids[11]) }, all},
			{"a new lead through the store", func() { f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999999", Temperature: "hot"}) }, all},
			{"a lead deleted by SQL", func() { exec(`DELETE FROM leads WHERE id = ?`, ids[12]) }, all},
		}
		// deep reads the page at 10 of each sort from the store, and says
		// which were walked to.
		deep := func(after string) map[string]bool {
			t.Helper()
			walked := map[string]bool{}
			for _, sort := range sorts {
				for _, s := range []string{sort, "-" + sort} {
					q := impl.LeadFilter{Sort: s, Offset: 10, Limit: 5, Temperature: ptr(impl.TemperatureHot)}
					_, before := f.s.Leads.DeepPageCounts()
					got, err := f.s.Leads.FindLeads(ctx, f.org, q)
					if err != nil {
						t.Fatal(err)
					}
					if _, now := f.s.Leads.DeepPageCounts(); now != before {
						walked[s] = true
					}
					want, err := plain.FindLeads(ctx, f.org, q)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(idsOf(got.Leads), idsOf(want.Leads)) || got.Total != want.Total {
						t.Fatalf("after %s, sort=%s: page %v of %d, want %v of %d", after, s, idsOf(got.Leads), got.Total, idsOf(want.Leads), want.Total)
					}
				}
			}
			return walked
		}
		deep("the leads were made")
		if walked := deep("nothing"); len(walked) != 0 {
			t.Fatalf("with nothing written, pages walked to again: %v", walked)
		}
		// revision, 00012's, still moves on every write: the servers of the
		// version before 00014 read it during a rolling restart.
		revision := func() int64 {
			t.Helper()
			var r int64
			if err := f.db.pool.GetContext(ctx, &r, f.db.rebind(`SELECT COALESCE(SUM(revision), 0) FROM lead_counts WHERE organization_id = ?`), f.org); err != nil {
				t.Fatal(err)
			}
			return r
		}
		for _, w := range writes {
			f.clock.advance(time.Second) // what the store writes, now
			before := revision()
			w.write()
			if revision() == before {
				t.Errorf("after %s, lead_counts.revision did not move", w.what)
			}
			walked := deep(w.what)
			for _, sort := range sorts {
				for _, s := range []string{sort, "-" + sort} {
					if walked[s] != w.walks[sort] {
						t.Errorf("after %s, sort=%s: walked to again %v, want %v", w.what, s, walked[s], w.walks[sort])
					}
				}
			}
		}
	})
}
